/*
 * /gmlab/tests/user: runs the user-supplied cases (docs/user-cases.md) behind the same
 * `--list` / `--run ID` interface as the lab's own test programs, so the agent needs nothing
 * new. The lab turns each case directory's cases.json into one spec file, /gmlab/user/spec
 * (or $GMLAB_USER_SPEC), shipped in the user overlay of the initramfs:
 *
 *   case "user/<prefix>/<name>"      starts a case
 *   list {"id":…,"suite":"user",…}   printed verbatim by --list
 *   dir "/gmlab/user/<prefix>"       working directory of the program
 *   user root|nobody                 nobody = uid/gid 65534, no supplementary groups
 *   need hypervisor|kmod             checked here too (skip / error), like report.c does
 *   arg "…"                          argv in order; the first is the program (path or applet)
 *   exit N | exit any                expected exit status (default 0)
 *   contains "…"                     stdout must contain this
 *   regex "…"                        stdout must match (POSIX ERE, REG_NEWLINE)
 *   broken "…"                       the case cannot run (build or description error): report
 *                                    status error with this message instead
 *   end
 *
 * Values are JSON string literals (\" \\ \n \t \r \/ and \u00XX escapes). Blank lines and
 * lines starting with # are ignored. One case's program runs in a child in our process group
 * (the agent's timeout kills the whole group); its stdout is captured and mirrored to stderr
 * (the guest console), and exactly one GMLAB-RESULT line is printed on our stdout.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <regex.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "json.h"
#include "report.h"

#define SPEC_DEFAULT	"/gmlab/user/spec"
#define CAPTURE_MAX	(256u << 10)	/* stdout kept for checking; the rest is counted, dropped */
#define TAIL_SHOWN	600		/* bytes of stdout quoted in a failure message */
#define NOBODY		65534

struct spec_case {
	char *id, *list, *dir, *broken;
	int nobody, need_hv, need_kmod;
	int exit_any, exit_status;
	char **argv;
	size_t argc;
	char **contains, **regexes;
	size_t n_contains, n_regexes;
};

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("gmlab-user: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(2);
}

static void push(char ***list, size_t *n, char *s)
{
	*list = realloc(*list, (*n + 2) * sizeof(**list));
	(*list)[(*n)++] = s;
	(*list)[*n] = NULL;
}

/* Decodes a JSON string literal at s (leading spaces allowed); NULL if malformed. */
static char *literal(const char *s)
{
	struct sbuf out = { 0 };

	while (*s == ' ')
		s++;
	if (*s++ != '"')
		return NULL;
	sb_puts(&out, "");
	for (; *s && *s != '"'; s++) {
		char c = *s;

		if (c == '\\') {
			switch (*++s) {
			case 'n': c = '\n'; break;
			case 't': c = '\t'; break;
			case 'r': c = '\r'; break;
			case '"': case '\\': case '/': c = *s; break;
			case 'u':
				if (strspn(s + 1, "0123456789abcdefABCDEF") < 4 || strncmp(s + 1, "00", 2))
					goto bad;	/* the lab writes \u00XX only */
				c = (char)strtol((char[]){ s[3], s[4], 0 }, NULL, 16);
				s += 4;
				break;
			default: goto bad;
			}
		}
		sb_putc(&out, c);
	}
	if (*s != '"')
		goto bad;
	return out.p;
bad:
	sb_free(&out);
	return NULL;
}

/* Reads the whole spec. A malformed spec is the lab's bug: fail loudly with the line. */
static struct spec_case *read_spec(const char *path, size_t *n)
{
	FILE *f = fopen(path, "r");
	struct spec_case *cases = NULL, *c = NULL;
	char *line = NULL;
	size_t cap = 0;
	int lineno = 0;

	*n = 0;
	if (!f) {
		if (errno == ENOENT)
			return NULL;	/* no user cases in this image */
		die("cannot read %s: %s", path, strerror(errno));
	}
	while (getline(&line, &cap, f) > 0) {
		char *key = line, *rest, *value = NULL;

		lineno++;
		line[strcspn(line, "\n")] = 0;
		if (!*line || *line == '#')
			continue;
		rest = strchr(line, ' ');
		if (rest)
			*rest++ = 0;
		else
			rest = "";
		if (strcmp(key, "case") == 0) {
			if (c)
				die("%s:%d: 'case' inside case %s (missing 'end')", path, lineno, c->id);
			cases = realloc(cases, (*n + 1) * sizeof(*cases));
			c = &cases[(*n)++];
			memset(c, 0, sizeof(*c));
			if (!(c->id = literal(rest)))
				die("%s:%d: bad case id", path, lineno);
			continue;
		}
		if (!c)
			die("%s:%d: '%s' outside a case", path, lineno, key);
		if (strcmp(key, "end") == 0) {
			if (!c->list || (!c->broken && (!c->argc || !c->dir)))
				die("%s:%d: case %s lacks list, dir or arg", path, lineno, c->id);
			c = NULL;
		} else if (strcmp(key, "list") == 0) {
			c->list = strdup(rest);
		} else if (strcmp(key, "user") == 0) {
			if (strcmp(rest, "root") && strcmp(rest, "nobody"))
				die("%s:%d: user must be root or nobody", path, lineno);
			c->nobody = strcmp(rest, "nobody") == 0;
		} else if (strcmp(key, "need") == 0) {
			c->need_hv |= strcmp(rest, "hypervisor") == 0;
			c->need_kmod |= strcmp(rest, "kmod") == 0;
		} else if (strcmp(key, "exit") == 0) {
			char *end;

			c->exit_any = strcmp(rest, "any") == 0;
			c->exit_status = (int)strtol(rest, &end, 10);
			if (!c->exit_any && (*end || !*rest || c->exit_status < 0 || c->exit_status > 255))
				die("%s:%d: exit must be 0-255 or any", path, lineno);
		} else {
			if (!(value = literal(rest)))
				die("%s:%d: bad string literal after '%s'", path, lineno, key);
			if (strcmp(key, "dir") == 0)
				c->dir = value;
			else if (strcmp(key, "arg") == 0)
				push(&c->argv, &c->argc, value);
			else if (strcmp(key, "contains") == 0)
				push(&c->contains, &c->n_contains, value);
			else if (strcmp(key, "regex") == 0)
				push(&c->regexes, &c->n_regexes, value);
			else if (strcmp(key, "broken") == 0)
				c->broken = value;
			else
				die("%s:%d: unknown key '%s'", path, lineno, key);
		}
	}
	if (c)
		die("%s: case %s has no 'end'", path, c->id);
	free(line);
	fclose(f);
	return cases;
}

/* ---- result ------------------------------------------------------------------------------ */

static void result(const char *id, const char *status, const char *message, const struct sbuf *values,
		   double ms)
{
	struct sbuf line = { 0 };

	gml_result_line(&line, id, status, message, values ? sb_str(values) : NULL, ms);
	sb_putc(&line, '\n');
	fputs(sb_str(&line), stdout);
	fflush(stdout);
	fprintf(stderr, "%s: %s: %s\n", id, status, message);
	sb_free(&line);
}

/* ---- running the program ---------------------------------------------------------------- */

/* Appends what is readable now to out (up to CAPTURE_MAX), mirroring whole lines to stderr.
 * Returns 1 at end of file. */
static int drain(int fd, const char *id, struct sbuf *out, size_t *total, size_t *mirrored)
{
	char buf[4096];

	for (;;) {
		ssize_t r = read(fd, buf, sizeof(buf));

		if (r > 0) {
			*total += (size_t)r;
			if (out->len + (size_t)r <= CAPTURE_MAX)
				sb_printf(out, "%.*s", (int)r, buf);
			while (*mirrored < out->len) {
				char *nl = memchr(out->p + *mirrored, '\n', out->len - *mirrored);

				if (!nl)
					break;
				fprintf(stderr, "%s: stdout: %.*s\n", id, (int)(nl - (out->p + *mirrored)),
					out->p + *mirrored);
				*mirrored = (size_t)(nl - out->p) + 1;
			}
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		return r == 0 || errno != EAGAIN;
	}
}

static int run_case(const struct spec_case *c)
{
	double t0 = now_ms();
	int out[2], err[2], status = 0, eof = 0, exec_errno = 0;
	size_t total = 0, mirrored = 0, i;
	struct sbuf stdout_buf = { 0 }, msg = { 0 }, values = { 0 };
	const char *backend = getenv("GMLAB_BACKEND");
	pid_t pid;

	if (c->broken) {
		result(c->id, "error", c->broken, NULL, 0);
		return 0;
	}
	if (c->need_hv && backend && strcmp(backend, "none") == 0) {
		result(c->id, "skip", "no hypervisor", NULL, 0);
		return 0;
	}
	if (c->need_kmod && access("/dev/gmlab", F_OK) != 0) {
		result(c->id, "error", "needs the gmlab kernel module, but /dev/gmlab is missing", NULL, 0);
		return 0;
	}
	/* err carries the child's errno if setup or exec fails (closed by a successful exec) */
	if (pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC))
		die("pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY), e;

		if (null >= 0)
			dup2(null, 0);
		dup2(out[1], 1);
		signal(SIGPIPE, SIG_DFL);
		if (chdir(c->dir) != 0)
			goto fail;
		if (c->nobody && (setgroups(0, NULL) || setgid(NOBODY) || setuid(NOBODY)))
			goto fail;
		execvp(c->argv[0], c->argv);
fail:
		e = errno;
		if (write(err[1], &e, sizeof(e)) < 0)
			_exit(126);
		_exit(127);
	}
	close(out[1]);
	close(err[1]);

	fcntl(out[0], F_SETFL, O_NONBLOCK);
	for (;;) {
		if (!eof) {
			struct pollfd p = { .fd = out[0], .events = POLLIN };

			poll(&p, 1, 100);
			eof = drain(out[0], c->id, &stdout_buf, &total, &mirrored);
		} else {
			usleep(2000);
		}
		/* a background process may hold stdout open: the program's own exit ends the case */
		if (waitpid(pid, &status, WNOHANG) == pid) {
			if (!eof)
				drain(out[0], c->id, &stdout_buf, &total, &mirrored);
			break;
		}
	}
	if (mirrored < stdout_buf.len)
		fprintf(stderr, "%s: stdout: %s\n", c->id, stdout_buf.p + mirrored);
	if (read(err[0], &exec_errno, sizeof(exec_errno)) != sizeof(exec_errno))
		exec_errno = 0;
	close(out[0]);
	close(err[0]);

	if (exec_errno) {
		sb_printf(&msg, "cannot run %s%s in %s: %s", c->argv[0], c->nobody ? " as nobody" : "",
			  c->dir, strerror(exec_errno));
		result(c->id, "error", sb_str(&msg), NULL, now_ms() - t0);
		goto done;
	}

	/* every unmet expectation goes into the message, separated by "; " */
	if (WIFSIGNALED(status)) {
		int sig = WTERMSIG(status);

		sb_printf(&values, "\"signal\":%d,", sig);
		sb_printf(&msg, "%s was killed by signal %d (SIG%s: %s)", c->argv[0], sig,
			  sigabbrev_np(sig) ? sigabbrev_np(sig) : "?", strsignal(sig));
	} else {
		int code = WEXITSTATUS(status);

		sb_printf(&values, "\"exit_status\":%d,", code);
		if (!c->exit_any && code != c->exit_status)
			sb_printf(&msg, "exit status %d, expected %d", code, c->exit_status);
	}
	sb_printf(&values, "\"stdout_bytes\":%zu", total);
	for (i = 0; i < c->n_contains; i++) {
		if (stdout_buf.p && strstr(stdout_buf.p, c->contains[i]))
			continue;
		sb_puts(&msg, msg.len ? "; " : "");
		sb_puts(&msg, "stdout lacks ");
		sb_json_str(&msg, c->contains[i]);
	}
	for (i = 0; i < c->n_regexes; i++) {
		regex_t re;
		int rc = regcomp(&re, c->regexes[i], REG_EXTENDED | REG_NEWLINE | REG_NOSUB);

		if (rc == 0) {
			rc = regexec(&re, stdout_buf.p ? stdout_buf.p : "", 0, NULL, 0);
			regfree(&re);
			if (rc == 0)
				continue;
			sb_puts(&msg, msg.len ? "; " : "");
			sb_puts(&msg, "stdout does not match ");
		} else {
			sb_puts(&msg, msg.len ? "; " : "");
			sb_puts(&msg, "cannot compile the regular expression ");
		}
		sb_json_str(&msg, c->regexes[i]);
	}
	if (total > CAPTURE_MAX) {
		sb_puts(&msg, msg.len ? "; " : "");
		sb_printf(&msg, "stdout was %zu bytes, only the first %u were checked", total, CAPTURE_MAX);
	}
	if (msg.len) {
		size_t len = stdout_buf.len, from = len > TAIL_SHOWN ? len - TAIL_SHOWN : 0;

		sb_printf(&msg, " — stdout%s: %s", from ? " (end)" : "", len ? stdout_buf.p + from : "(empty)");
		result(c->id, "fail", sb_str(&msg), &values, now_ms() - t0);
	} else {
		const char *prog = strrchr(c->argv[0], '/') ? strrchr(c->argv[0], '/') + 1 : c->argv[0];

		if (WIFEXITED(status))
			sb_printf(&msg, "%s exited with status %d%s", prog, WEXITSTATUS(status),
				  c->exit_any ? " (any accepted)" : ", as expected");
		else
			sb_printf(&msg, "%s ended by a signal (any exit accepted)", prog);
		if (c->n_contains)
			sb_printf(&msg, "; stdout has the %zu expected substring%s", c->n_contains,
				  c->n_contains == 1 ? "" : "s");
		if (c->n_regexes)
			sb_printf(&msg, "; stdout matches the %zu expected pattern%s", c->n_regexes,
				  c->n_regexes == 1 ? "" : "s");
		result(c->id, "pass", sb_str(&msg), &values, now_ms() - t0);
	}
done:
	sb_free(&stdout_buf);
	sb_free(&msg);
	sb_free(&values);
	return 0;
}

int main(int argc, char **argv)
{
	const char *path = getenv("GMLAB_USER_SPEC") ? getenv("GMLAB_USER_SPEC") : SPEC_DEFAULT;
	struct spec_case *cases;
	size_t n, i;

	setvbuf(stderr, NULL, _IOLBF, 0);
	if (argc == 2 && strcmp(argv[1], "--list") == 0) {
		cases = read_spec(path, &n);
		for (i = 0; i < n; i++)
			printf("%s\n", cases[i].list);
		return 0;
	}
	if (argc != 3 || strcmp(argv[1], "--run") != 0) {
		fprintf(stderr, "usage: %s --list | --run ID   (spec: %s, or $GMLAB_USER_SPEC)\n", argv[0], path);
		return 2;
	}
	cases = read_spec(path, &n);
	for (i = 0; i < n; i++)
		if (strcmp(cases[i].id, argv[2]) == 0)
			return run_case(&cases[i]);
	result(argv[2], "error", "no such user case in the spec (the image and the plan disagree)", NULL, 0);
	return 0;
}
