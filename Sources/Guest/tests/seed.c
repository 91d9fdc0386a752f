/*
 * Suite seed: the user's seed document's four examples, run as the seed runs them, checked
 * against what the seed shows. The examples themselves are in ../seed/ (written the way the
 * seed writes them; see each file's header for the few changes) and sit in the guest at
 * /gmlab/seed/ (next to /gmlab/tests/, located from this program's own path, or
 * GMLAB_SEED_DIR). The hypervisor side is services/seed_*.c.
 *
 * The seed also shows the hypervisor printing (rbx = 1 ..., [vmmcall foo] buf = abc): that
 * goes to the hypervisor's log, which the guest cannot read, so these cases check only what
 * the guest sees.
 *
 * Two more cases call the seed's services directly with lengths the seed never meant, which
 * they now refuse (issue 9): seed/phys-short-length and seed/linear-long-length.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "json.h"
#include "method_util.h"
#include "report.h"

/* ---- where the examples are ---------------------------------------------------------------- */

static const char *seed_path(const char *name)
{
	static char path[PATH_MAX];
	const char *dir = getenv("GMLAB_SEED_DIR");
	char exe[PATH_MAX - 64];	/* room for "/../seed/NAME" in path */
	ssize_t n;

	if (dir && *dir) {
		snprintf(path, sizeof(path), "%s/%s", dir, name);
		return path;
	}
	/* this program is DIR/tests/seed; the examples are DIR/seed/ (build dir and guest alike) */
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n < 0)
		snprintf(exe, sizeof(exe), "/gmlab/tests/seed");
	else
		exe[n] = 0;
	*strrchr(exe, '/') = 0;
	snprintf(path, sizeof(path), "%s/../seed/%s", exe, name);
	return path;
}

static int have_file(const char *path)
{
	if (access(path, R_OK) == 0)
		return 1;
	report_error("%s: %s (the seed's examples are built by 'make -C Sources/Guest' into "
		     "$(O)/seed/ and shipped to /gmlab/seed/)", path, strerror(errno));
	return 0;
}

/* ---- running a user-space example ---------------------------------------------------------- */

/* Runs path with no arguments; its stdout into *out, stderr straight to ours (the console).
 * Returns the wait status, or -1 after report_error(). */
static int run_example(const char *path, struct sbuf *out)
{
	int pipefd[2], status;
	char buf[512];
	ssize_t n;
	pid_t pid;

	if (pipe(pipefd) != 0) {
		report_error("pipe: %s", strerror(errno));
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		report_error("fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		dup2(pipefd[1], 1);
		close(pipefd[0]);
		close(pipefd[1]);
		execl(path, path, (char *)NULL);
		fprintf(stderr, "exec %s: %s\n", path, strerror(errno));
		_exit(127);
	}
	close(pipefd[1]);
	while ((n = read(pipefd[0], buf, sizeof(buf) - 1)) > 0 || (n < 0 && errno == EINTR))
		if (n > 0) {
			buf[n] = 0;
			sb_puts(out, buf);
		}
	close(pipefd[0]);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			report_error("waitpid: %s", strerror(errno));
			return -1;
		}
	return status;
}

/* Runs the example and checks its exit status and its whole stdout. */
static void expect_output(const char *name, const char *expected)
{
	const char *path = seed_path(name);
	struct sbuf out = { 0 };
	int status;

	if (!have_file(path))
		return;
	report_info("$ %s", path);
	status = run_example(path, &out);
	if (status == -1)
		goto done;
	report_info("%s", out.len ? sb_str(&out) : "(no output)");
	if (WIFSIGNALED(status))
		report(0, "%s exits normally: killed by signal %d (%s)", name, WTERMSIG(status),
		       strsignal(WTERMSIG(status)));
	else
		report(WEXITSTATUS(status) == 0, "%s exits with status 0 (got %d)", name,
		       WEXITSTATUS(status));
	report(strcmp(sb_str(&out), expected) == 0, "%s prints what the seed shows: expected "
	       "\"%s\", got \"%s\"", name, expected, sb_str(&out));
done:
	sb_free(&out);
}

static void regs_echo(void)
{
	expect_output("regs_echo", "ret: 10\n");
}

/* Under the strict access policy seed.phys refuses CPL3 callers, so the seed's user-space
 * example leaves its buffer as it was (it ignores rax, as the seed does): the case then expects
 * "abc" twice and checks the refusal itself with the same call (GML_ME_DENIED, nothing
 * stored). The default policy (bitvisor) serves it as BitVisor does. */
static void phys_user(void)
{
	unsigned char *page;
	unsigned long n;
	struct hc_regs in;
	uint64_t gpa;
	const char *why = "";

	if (!m_strict()) {
		expect_output("phys_user", "buf: abc\nbuf: foo\n");
		return;
	}
	expect_output("phys_user", "buf: abc\nbuf: abc\n");
	if (!(n = m_lookup("seed.phys")) || !(page = m_map(M_PAGE, 1)) ||
	    !report(mlock(page, M_PAGE) == 0, "mlock a page (%s)", strerror(errno)))
		return;
	memcpy(page, "abc", 4);
	if (!report(m_virt_to_gpa(page, &gpa, &why) == 0, "translate through pagemap: %s", why))
		return;
	in = (struct hc_regs){ .rbx = gpa, .rcx = M_PAGE };
	m_expect_denied("seed.phys (the seed's call: rbx = physical address, rcx = page size)", n, &in);
	report(memcmp(page, "abc", 4) == 0, "nothing stored by the refused call: expected \"abc\", "
	       "got \"%.3s\"", page);
}

static void linear(void)
{
	expect_output("linear", "buf: abc\nbuf: foo\n");
}

/* ---- the kernel-module example: insmod foo.ko; dmesg | tail -n2 ----------------------------- */

/* Appends the text of every new kernel log record mentioning "foo" to *lines, one per line. */
static void read_kmsg(int fd, struct sbuf *lines)
{
	char rec[1024];
	ssize_t n;

	for (;;) {
		char *msg, *nl;

		n = read(fd, rec, sizeof(rec) - 1);
		if (n < 0 && errno == EPIPE)	/* records overwritten under us: go on */
			continue;
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;	/* EAGAIN: no more records */
		rec[n] = 0;
		/* "prio,seq,usec,flags;text\n" plus optional " KEY=value" lines */
		msg = strchr(rec, ';');
		if (!msg)
			continue;
		msg++;
		nl = strchr(msg, '\n');
		if (nl)
			*nl = 0;
		if (strstr(msg, "foo")) {
			sb_puts(lines, msg);
			sb_putc(lines, '\n');
		}
	}
}

static int delete_module(const char *name)
{
	return (int)syscall(SYS_delete_module, name, O_NONBLOCK);
}

static void phys_kernel(void)
{
	const char *path = seed_path("foo.ko");
	struct sbuf lines = { 0 }, unload = { 0 };
	int ko, kmsg, rc;

	if (!have_file(path))
		return;
	/* a leftover from an earlier attempt in this guest would make insmod fail with EEXIST */
	if (access("/sys/module/foo", F_OK) == 0 && delete_module("foo") != 0) {
		report_error("module foo is already loaded and rmmod failed: %s", strerror(errno));
		return;
	}
	kmsg = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);
	if (kmsg < 0) {
		report_error("open /dev/kmsg: %s", strerror(errno));
		return;
	}
	lseek(kmsg, 0, SEEK_END);	/* only what the module prints from now on */
	ko = open(path, O_RDONLY | O_CLOEXEC);
	if (ko < 0) {
		report_error("open %s: %s", path, strerror(errno));
		goto out;
	}
	report_info("$ insmod %s", path);
	rc = (int)syscall(SYS_finit_module, ko, "", 0);
	if (!report(rc == 0, "insmod foo.ko succeeds (%s)", rc ? strerror(errno) : "ok")) {
		close(ko);
		read_kmsg(kmsg, &lines);
		report_info("kernel log: %s", lines.len ? sb_str(&lines) : "(nothing from foo)");
		goto out;
	}
	close(ko);
	read_kmsg(kmsg, &lines);
	report_info("$ dmesg | grep foo\n%s", lines.len ? sb_str(&lines) : "(nothing)");
	report(strcmp(sb_str(&lines), "[foo] buf: abc\n[foo] buf: foo\n") == 0,
	       "the module prints what the seed shows: expected \"[foo] buf: abc\\n[foo] buf: "
	       "foo\\n\", got \"%s\"", sb_str(&lines));

	/* the seed leaves it loaded; the case unloads it so it can run again in the same guest */
	rc = delete_module("foo");
	if (report(rc == 0, "rmmod foo succeeds (%s)", rc ? strerror(errno) : "ok")) {
		read_kmsg(kmsg, &unload);
		report(strcmp(sb_str(&unload), "[foo] exit\n") == 0,
		       "rmmod prints \"[foo] exit\" (got \"%s\")", sb_str(&unload));
	}
out:
	close(kmsg);
	sb_free(&lines);
	sb_free(&unload);
}

/* ---- lengths the seed's services refuse (issue 9, findings 2 and 9) ------------------------ */

/* seed.phys always stores 4 bytes ("foo\0"): a shorter range is refused (rax 1) and nothing
 * is stored, where it used to write past the range it was given (into the hypervisor's heap
 * when the range ended just below it). Called at CPL0 on a kernel buffer, so the policy never
 * refuses it and the guest-physical address needs no pagemap. */
static void phys_short(void)
{
	unsigned char img[64], back[64];
	struct gmlab_kbuf kb;
	unsigned long n;
	struct hc_regs r;
	uint64_t len;
	int fd = m_kmod_open();

	if (fd < 0 || !(n = m_lookup0(fd, "seed.phys")) ||
	    m_kbuf_alloc(fd, GMLAB_KBUF_KMALLOC, sizeof(img), &kb) != 0)
		goto out;
	for (len = 0; len <= 4; len++) {
		memset(img, 0xc3, sizeof(img));
		memcpy(img + 8, "abc", 4);
		if (m_kbuf_rw(fd, 1, 0, img, sizeof(img)) != 0)
			goto out;
		r = (struct hc_regs){ .rbx = kb.gpa + 8, .rcx = len };
		if (m_call0(fd, n, &r) != 0 || m_kbuf_rw(fd, 0, 0, back, sizeof(back)) != 0)
			goto out;
		if (len < 4) {
			report(r.rax == 1, "seed.phys with rcx = %llu (below the 4 bytes it stores) is "
			       "refused: rax expected 1, got %#lx", (unsigned long long)len, r.rax);
			m_check_same("nothing stored for the refused length", back, img, sizeof(img));
		} else {
			report(r.rax == 0, "seed.phys with rcx = 4: rax expected 0, got %#lx", r.rax);
			memcpy(img + 8, "foo", 4);
			m_check_same("rcx = 4 turns \"abc\" into \"foo\" and nothing else", back, img,
				     sizeof(img));
		}
	}
	m_alive();
out:
	if (fd >= 0)
		close(fd);
}

/* seed.linear walks and logs one byte at a time: a length above 256 is refused (rax 1),
 * nothing printed or written; 2^64 - 1 used to hold the vCPU forever. */
static void linear_long(void)
{
	static const uint64_t lens[] = { 257, 1ULL << 32, ~0ULL };
	unsigned char *buf = m_map(2 * M_PAGE, 1);
	unsigned long n = hc_lookup("seed.linear");
	struct hc_regs r;
	size_t i;

	if (!buf || !report(n != 0, "seed.linear looks up (got %#lx)", n))
		return;
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		memcpy(buf, "abc", 4);
		r = (struct hc_regs){ .rbx = (uintptr_t)buf, .rcx = lens[i] };
		hc_call(n, &r);
		report(r.rax == 1, "seed.linear with rcx = %#llx (above 256) is refused: rax expected 1, "
		       "got %#lx", (unsigned long long)lens[i], r.rax);
		report(memcmp(buf, "abc", 4) == 0, "nothing written for rcx = %#llx: buffer expected "
		       "\"abc\", got \"%.3s\"", (unsigned long long)lens[i], buf);
	}
	memcpy(buf, "abc", 4);
	r = (struct hc_regs){ .rbx = (uintptr_t)buf, .rcx = 256 };
	hc_call(n, &r);
	report(r.rax == 0 && memcmp(buf, "foo", 4) == 0, "rcx = 256 is still served: rax expected 0, "
	       "got %#lx; buffer expected \"foo\", got \"%.3s\"", r.rax, buf);
	m_alive();
}

static const struct gml_case cases[] = {
	{ "seed/regs-echo", "seed example 1: registers through call_vmm (seed.regs) print "
	  "\"ret: 10\"", GML_NEEDS_HYPERVISOR, regs_echo },
	{ "seed/phys-kernel", "seed example 2: kernel module, kmalloc + virt_to_phys (seed.phys): "
	  "dmesg shows \"[foo] buf: abc\" then \"[foo] buf: foo\"", GML_NEEDS_HYPERVISOR,
	  phys_kernel },
	{ "seed/phys-user", "seed example 3: user space, mlock + /proc/self/pagemap (seed.phys): "
	  "\"buf: abc\" then \"buf: foo\"; under the strict policy seed.phys refuses CPL3 "
	  "(GML_ME_DENIED) and the buffer stays \"abc\"", GML_NEEDS_HYPERVISOR, phys_user },
	{ "seed/linear", "seed example 4: guest-linear address through call_vmm (seed.linear): "
	  "\"buf: abc\" then \"buf: foo\"", GML_NEEDS_HYPERVISOR, linear },
	{ "seed/phys-short-length", "seed.phys (CPL0) refuses a range shorter than the 4 bytes it "
	  "stores (rax 1, nothing stored); rcx = 4 still works", GML_NEEDS_HYPERVISOR | GML_NEEDS_KMOD,
	  phys_short },
	{ "seed/linear-long-length", "seed.linear refuses rcx above 256 (257, 2^32, 2^64-1: rax 1, "
	  "nothing written, the vCPU comes straight back); 256 still works", GML_NEEDS_HYPERVISOR,
	  linear_long },
};

GML_MAIN("seed", cases)
