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
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "json.h"
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

static void phys_user(void)
{
	expect_output("phys_user", "buf: abc\nbuf: foo\n");
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

static const struct gml_case cases[] = {
	{ "seed/regs-echo", "seed example 1: registers through call_vmm (seed.regs) print "
	  "\"ret: 10\"", GML_NEEDS_HYPERVISOR, regs_echo },
	{ "seed/phys-kernel", "seed example 2: kernel module, kmalloc + virt_to_phys (seed.phys): "
	  "dmesg shows \"[foo] buf: abc\" then \"[foo] buf: foo\"", GML_NEEDS_HYPERVISOR,
	  phys_kernel },
	{ "seed/phys-user", "seed example 3: user space, mlock + /proc/self/pagemap (seed.phys): "
	  "\"buf: abc\" then \"buf: foo\"", GML_NEEDS_HYPERVISOR, phys_user },
	{ "seed/linear", "seed example 4: guest-linear address through call_vmm (seed.linear): "
	  "\"buf: abc\" then \"buf: foo\"", GML_NEEDS_HYPERVISOR, linear },
};

GML_MAIN("seed", cases)
