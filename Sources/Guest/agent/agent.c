/*
 * gmlab-agent: runs the planned cases inside the guest and reports on the results stream.
 * Protocol: docs/architecture.md "Guest agent protocol (on ttyS1)". In short:
 *
 *   GMLAB-AGENT {"event":"start","kernel":…,"vendor":…,"backend":…,"cases":N}
 *   GMLAB-BEGIN <id>            before each case, so a case that kills the VM is known
 *   GMLAB-RESULT {…}            the program's own line, or one the agent writes (status error)
 *   GMLAB-AGENT {"event":"error","message":…}   a problem not tied to one case (bad plan, …)
 *   GMLAB-AGENT {"event":"done"}
 *
 * Each case runs as `PROG --run ID` in its own process group with GMLAB_BACKEND set (and
 * GMLAB_POLICY, when the plan names the hypervisor's access policy, and GMLAB_HOST=kvm when the
 * plan says the VM runs under a KVM host), under the plan's timeout.
 * The agent never trusts a child: timeouts, signals, missing or mismatched RESULT lines all
 * become error records, and the agent carries on with the next case.
 *
 * usage: gmlab-agent OUTPUT [--plan FILE] [--tests DIR]   (defaults /gmlab/plan, /gmlab/tests)
 * OUTPUT is the results stream (/dev/ttyS1 in the guest; any file or /dev/stdout for tests on
 * the host). Every line is also mirrored to stderr (the guest console) for humans.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "hypercall.h"
#include "json.h"
#include "report.h"

#define LIST_TIMEOUT_S	20		/* `PROG --list` must answer within this */
#define CAPTURE_MAX	(256u << 10)	/* stdout kept from one child; the rest is dropped */
#define ID_MAX		256

static int out_fd = -1;
/* Error events found before the start line (plan, catalog) wait here, so start comes first. */
static int started;
static struct sbuf deferred;

/* ---- output ------------------------------------------------------------------------------ */

static void write_all(int fd, const char *s, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, s, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;	/* nowhere left to complain to; the host sees a truncated stream */
		s += w;
		n -= (size_t)w;
	}
}

/* One protocol line (without the newline): one write() on the stream, mirrored to stderr. */
static void emit(const char *line)
{
	struct sbuf sb = { 0 };

	sb_puts(&sb, line);
	sb_putc(&sb, '\n');
	write_all(out_fd, sb.p, sb.len);
	sb_reset(&sb);
	sb_printf(&sb, "gmlab-agent: %s\n", line);
	write_all(2, sb.p, sb.len);
	sb_free(&sb);
}

static void emit_error_event(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void emit_error_event(const char *fmt, ...)
{
	struct sbuf sb = { 0 };
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	sb_puts(&sb, "GMLAB-AGENT {\"event\":\"error\",\"message\":");
	sb_json_str(&sb, msg);
	sb_puts(&sb, "}");
	if (started) {
		emit(sb_str(&sb));
	} else {
		sb_puts(&deferred, sb_str(&sb));
		sb_putc(&deferred, '\n');
	}
	sb_free(&sb);
}

/* A RESULT line written by the agent itself: always status error. */
static void emit_error_result(const char *id, double ms, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void emit_error_result(const char *id, double ms, const char *fmt, ...)
{
	struct sbuf sb = { 0 };
	char msg[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	gml_result_line(&sb, id, "error", msg, NULL, ms);
	emit(sb_str(&sb));
	sb_free(&sb);
}

/* Raw mode: no \n -> \r\n translation or echo on the serial line. */
static void make_raw(int fd)
{
	struct termios t;

	if (!isatty(fd) || tcgetattr(fd, &t) != 0)
		return;
	cfmakeraw(&t);
	cfsetispeed(&t, B115200);
	cfsetospeed(&t, B115200);
	tcsetattr(fd, TCSANOW, &t);
}

/* ---- running children ------------------------------------------------------------------ */

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

struct outcome {
	int timed_out;
	int status;		/* waitpid status, valid when !timed_out && !spawn_errno */
	int spawn_errno;	/* fork/pipe failed */
	double ms;
};

/* Reads what is available now. Returns 1 at end of file. */
static int drain(int fd, struct sbuf *out)
{
	char buf[4096];

	for (;;) {
		ssize_t r = read(fd, buf, sizeof(buf));

		if (r > 0) {
			if (out->len + (size_t)r <= CAPTURE_MAX)
				sb_printf(out, "%.*s", (int)r, buf);
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		return r == 0 || errno != EAGAIN;
	}
}

/* Runs argv with stdout captured into *out (stderr goes to ours, the console), killing its
 * whole process group after timeout_s seconds. */
static char policy[16];	/* the plan's optional 'policy' line: "bitvisor", "strict" or "" */
static char host[8];	/* the plan's optional 'host' line: "kvm" or "" */

static void run_child(char *const argv[], const char *backend, unsigned timeout_s,
		      struct sbuf *out, struct outcome *oc)
{
	double t0 = now_ms(), deadline = t0 + timeout_s * 1e3;
	int fds[2], eof = 0;
	pid_t pid;

	memset(oc, 0, sizeof(*oc));
	sb_reset(out);
	if (pipe2(fds, O_CLOEXEC) != 0) {
		oc->spawn_errno = errno;
		return;
	}
	pid = fork();
	if (pid < 0) {
		oc->spawn_errno = errno;
		close(fds[0]);
		close(fds[1]);
		return;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);

		setpgid(0, 0);
		if (null >= 0)
			dup2(null, 0);
		dup2(fds[1], 1);
		if (backend)
			setenv("GMLAB_BACKEND", backend, 1);
		if (policy[0])
			setenv("GMLAB_POLICY", policy, 1);
		if (host[0])
			setenv("GMLAB_HOST", host, 1);
		signal(SIGPIPE, SIG_DFL);
		execv(argv[0], argv);
		fprintf(stderr, "gmlab-agent: cannot execute %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	setpgid(pid, pid);	/* also here, so the group exists before we might kill it */
	close(fds[1]);

	/* Non-blocking reads: the loop also notices the child's exit while a grandchild it left
	 * behind still holds the pipe open (that grandchild is killed with the group below). */
	fcntl(fds[0], F_SETFL, O_NONBLOCK);
	for (;;) {
		double left = deadline - now_ms();

		if (left <= 0) {
			oc->timed_out = 1;
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			waitpid(pid, &oc->status, 0);
			break;
		}
		if (!eof) {
			struct pollfd p = { .fd = fds[0], .events = POLLIN };

			poll(&p, 1, left > 100 ? 100 : (int)left + 1);
			eof = drain(fds[0], out);
		} else {
			usleep(2000);
		}
		if (waitpid(pid, &oc->status, WNOHANG) == pid) {
			/* what it wrote before exiting is in the pipe */
			if (!eof)
				drain(fds[0], out);
			break;
		}
	}
	/* anything the case left behind in its group goes too */
	kill(-pid, SIGKILL);
	close(fds[0]);
	oc->ms = now_ms() - t0;
}

/* ---- catalog: case id -> program ----------------------------------------------------------- */

struct entry {
	char id[ID_MAX];
	char prog[512];
};
static struct entry *catalog;
static size_t n_catalog;

static const char *program_of(const char *id)
{
	size_t i;

	for (i = 0; i < n_catalog; i++)
		if (strcmp(catalog[i].id, id) == 0)
			return catalog[i].prog;
	return NULL;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void build_catalog(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, i;
	struct sbuf out = { 0 };

	if (!d) {
		emit_error_event("cannot open test directory %s: %s", dir, strerror(errno));
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		names = realloc(names, (n + 1) * sizeof(*names));
		names[n++] = strdup(de->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(*names), cmp_names);

	for (i = 0; i < n; i++) {
		char path[512];
		struct stat st;
		struct outcome oc;
		char *line, *save;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) || !(st.st_mode & 0111))
			continue;
		run_child((char *[]){ path, "--list", NULL }, NULL, LIST_TIMEOUT_S, &out, &oc);
		if (oc.spawn_errno || oc.timed_out || !WIFEXITED(oc.status) ||
		    WEXITSTATUS(oc.status) != 0) {
			emit_error_event("%s --list failed (%s); its cases are unknown", path,
					 oc.spawn_errno ? strerror(oc.spawn_errno) :
					 oc.timed_out ? "timed out" : "bad exit status");
			continue;
		}
		for (line = strtok_r(out.p ? out.p : (char[]){ 0 }, "\n", &save); line;
		     line = strtok_r(NULL, "\n", &save)) {
			struct entry e;

			if (json_get_string(line, "id", e.id, sizeof(e.id)) != 0) {
				emit_error_event("%s --list printed a line without an id: %.200s",
						 path, line);
				continue;
			}
			if (program_of(e.id)) {
				emit_error_event("case %s is listed by both %s and %s; using the first",
						 e.id, program_of(e.id), path);
				continue;
			}
			snprintf(e.prog, sizeof(e.prog), "%s", path);
			catalog = realloc(catalog, (n_catalog + 1) * sizeof(*catalog));
			catalog[n_catalog++] = e;
		}
	}
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	sb_free(&out);
}

/* ---- plan ------------------------------------------------------------------------------ */

struct planned {
	char id[ID_MAX];
	unsigned timeout_s;
	char error[160];	/* non-empty: the plan line was bad; report instead of running */
};

/* Reads the plan: 'backend none|svm|vmx|bitvisor', optionally 'policy bitvisor|strict' (the hypervisor's
 * access policy, into `policy`) and 'host kvm' (the VM runs under a KVM host, into `host`), then '<case-id> <timeout>' lines. Returns the backend (static
 * storage) or NULL after reporting why. */
static const char *read_plan(const char *path, struct planned **cases, size_t *n)
{
	static char backend[16];
	FILE *f = fopen(path, "r");
	char line[1024];
	int lineno = 0, have_backend = 0;

	*cases = NULL;
	*n = 0;
	if (!f) {
		emit_error_event("cannot read the plan %s: %s", path, strerror(errno));
		return NULL;
	}
	while (fgets(line, sizeof(line), f)) {
		char a[ID_MAX + 1], b[64], extra[2];
		int fields;

		lineno++;
		line[strcspn(line, "\r\n")] = 0;
		fields = sscanf(line, "%256s %63s %1s", a, b, extra);
		if (fields <= 0 || a[0] == '#')
			continue;
		if (!have_backend) {
			if (strcmp(a, "backend") != 0 || fields != 2 ||
			    (strcmp(b, "none") && strcmp(b, "svm") && strcmp(b, "vmx") &&
			     strcmp(b, "bitvisor"))) {
				emit_error_event("%s line %d: expected 'backend none|svm|vmx|bitvisor' first, "
						 "got '%.200s'", path, lineno, line);
				fclose(f);
				return NULL;
			}
			strcpy(backend, b);	/* one of the four names above */
			have_backend = 1;
			continue;
		}
		if (strcmp(a, "policy") == 0 && *n == 0 && !policy[0]) {
			if (fields != 2 || (strcmp(b, "bitvisor") && strcmp(b, "strict"))) {
				emit_error_event("%s line %d: expected 'policy bitvisor|strict', got "
						 "'%.200s'", path, lineno, line);
				fclose(f);
				return NULL;
			}
			strcpy(policy, b);	/* one of the two names above */
			continue;
		}
		if (strcmp(a, "host") == 0 && *n == 0 && !host[0]) {
			if (fields != 2 || strcmp(b, "kvm")) {
				emit_error_event("%s line %d: expected 'host kvm', got '%.200s'", path,
						 lineno, line);
				fclose(f);
				return NULL;
			}
			strcpy(host, b);
			continue;
		}
		*cases = realloc(*cases, (*n + 1) * sizeof(**cases));
		struct planned *p = &(*cases)[(*n)++];
		char *end;
		unsigned long t;

		memset(p, 0, sizeof(*p));
		memcpy(p->id, a, strnlen(a, ID_MAX - 1));	/* an overlong id is reported below */
		t = fields >= 2 ? strtoul(b, &end, 10) : 0;
		if (strlen(a) >= ID_MAX)
			snprintf(p->error, sizeof(p->error), "plan line %d: case id longer than %d",
				 lineno, ID_MAX - 1);
		else if (fields != 2 || *end || t == 0 || t > 86400)
			snprintf(p->error, sizeof(p->error), "plan line %d: expected '<case-id> "
				 "<timeout-seconds 1..86400>', got '%.80s'", lineno, line);
		else
			p->timeout_s = (unsigned)t;
	}
	fclose(f);
	if (!have_backend) {
		emit_error_event("%s: empty plan (no 'backend' line)", path);
		return NULL;
	}
	return backend;
}

/* ---- one case ------------------------------------------------------------------------------ */

static void run_planned(const struct planned *c, const char *backend)
{
	struct sbuf out = { 0 };
	struct outcome oc;
	const char *prog = program_of(c->id);
	char *result = NULL, *line, *save;
	int n_results = 0;

	{
		struct sbuf b = { 0 };

		sb_printf(&b, "GMLAB-BEGIN %s", c->id);
		emit(sb_str(&b));
		sb_free(&b);
		/* BEGIN (and the RESULT before it) must have left the UART before the case can
		 * kill the machine, or the host blames the wrong case: an emulated UART (Bochs)
		 * lags behind the CPU. Not a tty (tests on the host): returns at once. */
		tcdrain(out_fd);
	}
	if (c->error[0]) {
		emit_error_result(c->id, 0, "%s", c->error);
		return;
	}
	if (!prog) {
		emit_error_result(c->id, 0, "unknown case id: no program in the guest's test "
				  "directory lists '%s'", c->id);
		return;
	}
	run_child((char *[]){ (char *)prog, "--run", (char *)c->id, NULL }, backend, c->timeout_s,
		  &out, &oc);

	for (line = strtok_r(out.p ? out.p : (char[]){ 0 }, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "GMLAB-RESULT ", 13) == 0) {
			if (!n_results++)
				result = line;
		} else {
			/* stray stdout: show it on the console, it is not protocol */
			fprintf(stderr, "gmlab-agent: %s stdout: %s\n", c->id, line);
		}
	}

	if (oc.spawn_errno) {
		emit_error_result(c->id, oc.ms, "could not start %s: %s", prog,
				  strerror(oc.spawn_errno));
	} else if (oc.timed_out) {
		emit_error_result(c->id, oc.ms, "timed out after %us in guest", c->timeout_s);
	} else if (WIFSIGNALED(oc.status)) {
		int sig = WTERMSIG(oc.status);

		emit_error_result(c->id, oc.ms, "%s killed by signal %d (SIG%s: %s)%s", prog, sig,
				  sigabbrev_np(sig) ? sigabbrev_np(sig) : "?", strsignal(sig),
				  result ? " after printing its result" : "");
	} else if (!result) {
		emit_error_result(c->id, oc.ms, "%s exited with status %d without a GMLAB-RESULT "
				  "line%s", prog, WEXITSTATUS(oc.status),
				  WEXITSTATUS(oc.status) == 127 ? " (could not be executed)" : "");
	} else {
		char id[ID_MAX], status[16];
		const char *obj = result + 13;

		if (json_get_string(obj, "id", id, sizeof(id)) != 0 || strcmp(id, c->id) != 0)
			emit_error_result(c->id, oc.ms, "%s printed a RESULT for another id: %.300s",
					  prog, obj);
		else if (json_get_string(obj, "status", status, sizeof(status)) != 0 ||
			 (strcmp(status, "pass") && strcmp(status, "fail") && strcmp(status, "skip") &&
			  strcmp(status, "error")))
			emit_error_result(c->id, oc.ms, "%s printed a RESULT without a status of "
					  "pass|fail|skip|error: %.300s", prog, obj);
		else if (n_results > 1)
			emit_error_result(c->id, oc.ms, "%s printed %d RESULT lines, expected one; "
					  "first: %.300s", prog, n_results, obj);
		else
			emit(result);
	}
	sb_free(&out);
}

int main(int argc, char **argv)
{
	const char *plan_path = "/gmlab/plan", *tests_dir = "/gmlab/tests", *backend;
	struct planned *plan;
	size_t n_plan, i;
	struct utsname u;
	char vendor[13];
	struct sbuf sb = { 0 };
	int a;

	if (argc < 2 || argv[1][0] == '-') {
		fprintf(stderr, "usage: %s OUTPUT [--plan FILE] [--tests DIR]\n", argv[0]);
		return 2;
	}
	for (a = 2; a < argc; a++) {
		if (strcmp(argv[a], "--plan") == 0 && a + 1 < argc)
			plan_path = argv[++a];
		else if (strcmp(argv[a], "--tests") == 0 && a + 1 < argc)
			tests_dir = argv[++a];
		else {
			fprintf(stderr, "%s: unknown or incomplete argument '%s'\n", argv[0], argv[a]);
			return 2;
		}
	}
	out_fd = open(argv[1], O_WRONLY | O_CREAT | O_NOCTTY | O_APPEND | O_CLOEXEC, 0644);
	if (out_fd < 0) {
		fprintf(stderr, "gmlab-agent: cannot open the results stream %s: %s\n", argv[1],
			strerror(errno));
		return 1;
	}
	make_raw(out_fd);
	signal(SIGPIPE, SIG_IGN);

	backend = read_plan(plan_path, &plan, &n_plan);
	build_catalog(tests_dir);

	uname(&u);
	hc_cpu_vendor(vendor);
	sb_puts(&sb, "GMLAB-AGENT {\"event\":\"start\",\"kernel\":");
	sb_json_str(&sb, u.release);
	sb_puts(&sb, ",\"vendor\":");
	sb_json_str(&sb, vendor);
	sb_puts(&sb, ",\"backend\":");
	sb_json_str(&sb, backend ? backend : "");
	if (policy[0]) {
		sb_puts(&sb, ",\"policy\":");
		sb_json_str(&sb, policy);
	}
	sb_printf(&sb, ",\"cases\":%zu,\"catalog\":%zu}", backend ? n_plan : 0, n_catalog);
	emit(sb_str(&sb));
	sb_free(&sb);
	started = 1;
	if (deferred.len) {
		char *line, *save;

		for (line = strtok_r(deferred.p, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
			emit(line);
		sb_free(&deferred);
	}

	for (i = 0; backend && i < n_plan; i++)
		run_planned(&plan[i], backend);

	emit("GMLAB-AGENT {\"event\":\"done\"}");
	free(plan);
	free(catalog);
	return 0;
}
