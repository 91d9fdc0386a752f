#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hypercall.h"
#include "json.h"
#include "report.h"

/* State of the one case this process runs. */
static const char *cur_id = "?";
static unsigned n_pass, n_fail;
static struct sbuf failures;	/* "check; check; ..." */
static struct sbuf skip_reason, error_reason;

static void vappend(struct sbuf *sb, const char *sep, const char *fmt, va_list ap)
{
	char buf[1024];

	vsnprintf(buf, sizeof(buf), fmt, ap);
	if (sb->len)
		sb_puts(sb, sep);
	sb_puts(sb, buf);
}

int report(int pass, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (pass) {
		n_pass++;
	} else {
		n_fail++;
		vappend(&failures, "; ", fmt, ap);
	}
	va_end(ap);
	/* every check on the console too, so a failing run can be read without the host */
	fprintf(stderr, "%s: %s: ", cur_id, pass ? "PASS" : "FAIL");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return pass;
}

int report_eq_u64(const char *what, uint64_t expected, uint64_t got)
{
	if (expected == got)
		return report(1, "%s: %#llx", what, (unsigned long long)got);
	return report(0, "%s: expected %#llx, got %#llx", what, (unsigned long long)expected,
		      (unsigned long long)got);
}

void report_skip(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vappend(&skip_reason, "; ", fmt, ap);
	va_end(ap);
}

void report_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vappend(&error_reason, "; ", fmt, ap);
	va_end(ap);
}

void report_info(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", cur_id);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Measured values by key; reporting a key again replaces its value (JSON keys are unique). */
#define MAX_VALUES 64
static struct value {
	char key[64];
	struct sbuf json;
} vals[MAX_VALUES];
static unsigned n_vals;

static struct sbuf *value_slot(const char *key)
{
	unsigned i;

	for (i = 0; i < n_vals; i++)
		if (strcmp(vals[i].key, key) == 0) {
			sb_reset(&vals[i].json);
			return &vals[i].json;
		}
	if (n_vals == MAX_VALUES) {
		report_error("more than %d values reported; '%s' dropped", MAX_VALUES, key);
		return NULL;
	}
	snprintf(vals[n_vals].key, sizeof(vals[n_vals].key), "%s", key);
	return &vals[n_vals++].json;
}

void report_value_str(const char *key, const char *value)
{
	struct sbuf *sb = value_slot(key);

	if (sb)
		sb_json_str(sb, value ? value : "");
}

void report_value_u64(const char *key, uint64_t value)
{
	struct sbuf *sb = value_slot(key);

	if (sb)
		sb_printf(sb, "%llu", (unsigned long long)value);
}

void report_value_i64(const char *key, int64_t value)
{
	struct sbuf *sb = value_slot(key);

	if (sb)
		sb_printf(sb, "%lld", (long long)value);
}

void report_value_f64(const char *key, double value)
{
	struct sbuf *sb = value_slot(key);

	if (!sb)
		return;
	if (value != value || value - value != 0)	/* NaN or infinite: not JSON numbers */
		sb_puts(sb, "null");
	else
		sb_printf(sb, "%.6g", value);
}

void report_value_u64s(const char *key, const uint64_t *v, size_t n)
{
	struct sbuf *sb = value_slot(key);

	if (sb)
		sb_json_u64s(sb, v, n);
}

void report_value_i64s(const char *key, const int64_t *v, size_t n)
{
	struct sbuf *sb = value_slot(key);

	if (sb)
		sb_json_i64s(sb, v, n);
}

void report_value_f64s(const char *key, const double *v, size_t n, int decimals)
{
	struct sbuf *sb = value_slot(key);

	if (sb)
		sb_json_f64s(sb, v, n, decimals);
}

void report_value_json(const char *key, const char *json)
{
	struct sbuf *sb = value_slot(key);

	if (sb)
		sb_puts(sb, json);
}

const char *gml_backend(void)
{
	const char *b = getenv("GMLAB_BACKEND");

	return b && *b ? b : NULL;
}

int gml_on_bitvisor(void)
{
	const char *b = gml_backend();

	return b && strcmp(b, "bitvisor") == 0;
}

int gml_on_kvm_host(void)
{
	const char *h = getenv("GMLAB_HOST");

	return h && strcmp(h, "kvm") == 0;
}

const char *gml_policy(void)
{
	const char *p = getenv("GMLAB_POLICY");

	return p && *p ? p : NULL;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

void gml_result_line(struct sbuf *line, const char *id, const char *status, const char *message,
		     const char *values, double ms)
{
	sb_puts(line, "GMLAB-RESULT {\"id\":");
	sb_json_str(line, id);
	sb_puts(line, ",\"status\":");
	sb_json_str(line, status);
	sb_puts(line, ",\"message\":");
	sb_json_str(line, message);
	sb_printf(line, ",\"values\":{%s},\"duration_ms\":%.0f}", values ? values : "", ms);
}

void report_emit(const char *id, const char *status, const char *message, double ms)
{
	struct sbuf line = { 0 }, values = { 0 };
	unsigned i;

	for (i = 0; i < n_vals; i++) {
		if (i)
			sb_putc(&values, ',');
		sb_json_str(&values, vals[i].key);
		sb_putc(&values, ':');
		sb_puts(&values, sb_str(&vals[i].json));
	}
	gml_result_line(&line, id, status, message, sb_str(&values), ms);
	sb_putc(&line, '\n');
	fputs(sb_str(&line), stdout);
	fflush(stdout);
	sb_free(&values);
	sb_free(&line);
}

/* Requirements from the case table, checked before the case body runs. Returns 0 to run. */
static int check_needs(const struct gml_case *c)
{
	const char *backend = gml_backend();
	const char *only = c->needs & GML_NEEDS_SVM ? "svm" : c->needs & GML_NEEDS_VMX ? "vmx" : NULL;

	if (only && backend && strcmp(backend, only) != 0) {
		report_skip("needs backend %s (GMLAB_BACKEND=%s)", only, backend);
		return -1;
	}
	if (gml_on_bitvisor() && c->bitvisor && strncmp(c->bitvisor, "skip:", 5) == 0) {
		report_skip("not on BitVisor:%s", c->bitvisor + 5);
		return -1;
	}
	if (c->needs & (GML_NEEDS_HYPERVISOR | GML_NEEDS_SVM | GML_NEEDS_VMX)) {
		if (backend && strcmp(backend, "none") == 0) {
			report_skip("no hypervisor (GMLAB_BACKEND=none)");
			return -1;
		}
		if (hc_probe() == HC_ABSENT) {
			if (!backend) {
				report_skip("no hypervisor (%s raised #UD)", hc_insn_name(hc_insn()));
				return -1;
			}
			report(0, "hypercall instruction works under GMLAB_BACKEND=%s: %s raised #UD",
			       backend, hc_insn_name(hc_insn()));
			return -1;
		}
	}
	if ((c->needs & GML_NEEDS_KMOD) && access("/dev/gmlab", R_OK | W_OK) != 0) {
		report_error("kernel module not loaded: /dev/gmlab: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static int run_case(const struct gml_case *c)
{
	struct sbuf msg = { 0 };
	const char *status;
	double t0 = now_ms(), ms;

	cur_id = c->id;
	if (check_needs(c) == 0)
		c->run();
	ms = now_ms() - t0;

	if (n_fail) {
		status = "fail";
		sb_printf(&msg, "%u of %u checks failed: %s", n_fail, n_fail + n_pass,
			  sb_str(&failures));
		if (error_reason.len)
			sb_printf(&msg, "; error: %s", sb_str(&error_reason));
	} else if (error_reason.len) {
		status = "error";
		sb_puts(&msg, sb_str(&error_reason));
	} else if (skip_reason.len) {
		status = "skip";
		sb_puts(&msg, sb_str(&skip_reason));
	} else if (n_pass == 0) {
		status = "error";
		sb_puts(&msg, "the case made no check (a test that cannot fail is a bug)");
	} else {
		status = "pass";
		sb_printf(&msg, "%u check%s passed", n_pass, n_pass == 1 ? "" : "s");
	}
	report_emit(c->id, status, sb_str(&msg), ms);
	sb_free(&msg);
	return strcmp(status, "pass") == 0 || strcmp(status, "skip") == 0 ? 0 : 1;
}

/* "needs" as cases.json spells them (LabModel CaseNeed) */
static void list_needs(struct sbuf *sb, unsigned needs)
{
	static const struct { unsigned bit; const char *name; } names[] = {
		{ GML_NEEDS_HYPERVISOR, "hypervisor" }, { GML_NEEDS_KMOD, "kmod" },
		{ GML_NEEDS_SVM, "svm" }, { GML_NEEDS_VMX, "vmx" },
		{ GML_NEEDS_FAST_HOST, "fast-host" },
	};
	size_t i;
	int first = 1;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (needs & names[i].bit) {
			sb_printf(sb, "%s\"%s\"", first ? "" : ",", names[i].name);
			first = 0;
		}
}

static void list_cases(const char *suite, const struct gml_case *cases, size_t n)
{
	struct sbuf line = { 0 };
	size_t i;

	for (i = 0; i < n; i++) {
		sb_reset(&line);
		sb_puts(&line, "{\"id\":");
		sb_json_str(&line, cases[i].id);
		sb_puts(&line, ",\"suite\":");
		sb_json_str(&line, suite);
		sb_puts(&line, ",\"description\":");
		sb_json_str(&line, cases[i].description);
		sb_puts(&line, ",\"needs\":[");
		list_needs(&line, cases[i].needs);
		sb_puts(&line, "]");
		if (cases[i].bitvisor) {
			sb_puts(&line, ",\"bitvisor\":");
			sb_json_str(&line, cases[i].bitvisor);
		}
		sb_puts(&line, "}\n");
		fputs(sb_str(&line), stdout);
	}
	sb_free(&line);
}

static int usage(const char *prog)
{
	fprintf(stderr, "usage: %s --list | --run CASE-ID\n", prog);
	return 2;
}

int gml_main(int argc, char **argv, const char *suite, const struct gml_case *cases, size_t n)
{
	size_t i;

	if (argc == 2 && strcmp(argv[1], "--list") == 0) {
		list_cases(suite, cases, n);
		return fflush(stdout) == 0 ? 0 : 1;
	}
	if (argc != 3 || strcmp(argv[1], "--run") != 0)
		return usage(argv[0]);
	for (i = 0; i < n; i++)
		if (strcmp(cases[i].id, argv[2]) == 0)
			return run_case(&cases[i]);
	/* still one RESULT line, so the agent records why */
	{
		struct sbuf msg = { 0 };

		sb_printf(&msg, "no case '%s' in %s (see --list)", argv[2], argv[0]);
		report_emit(argv[2], "error", sb_str(&msg), 0);
		sb_free(&msg);
	}
	return 2;
}
