/*
 * Test-program framework in the kvm-unit-tests style. A program is a table of cases:
 *
 *     static void echo_case(void) { ... report(got == want, "echo sum"); ... }
 *     static const struct gml_case cases[] = {
 *         { "hv/echo", "gmlab.echo returns the sum", GML_NEEDS_HYPERVISOR, echo_case },
 *     };
 *     GML_MAIN("hv", cases)
 *
 * `PROG --list` prints one JSON object per case; `PROG --run ID` runs one case and prints
 * exactly one `GMLAB-RESULT {...}` line on stdout (diagnostics go to stderr = guest console).
 *
 * A case's status: skip if report_skip() was called (and nothing failed), error if
 * report_error() was called or the case made no check at all, fail if any check failed,
 * else pass. The message of a failure names every failed check.
 */
#ifndef GML_REPORT_H
#define GML_REPORT_H

#include <stddef.h>
#include <stdint.h>

/* What a case needs; printed as "needs":[...] by --list so the host can plan without booting. */
#define GML_NEEDS_HYPERVISOR	(1u << 0)	/* skipped under GMLAB_BACKEND=none */
#define GML_NEEDS_KMOD		(1u << 1)	/* the gmlab kernel module (/dev/gmlab) */
/* Exactly this backend (a finding about one backend's code): skipped under any other
 * GMLAB_BACKEND; the lab skips it before booting, from --list. Implies the hypervisor. */
#define GML_NEEDS_SVM		(1u << 2)
#define GML_NEEDS_VMX		(1u << 3)
/* A host that runs guest code at QEMU TCG speed or better: the case's work (e.g. 16 MiB moved
 * byte by byte, a full page walk per byte) does not fit its deadline under Bochs, which
 * interprets every instruction about ten times slower. The lab skips it there before
 * booting, from --list; the guest cannot tell its emulator, so nothing is checked here. */
#define GML_NEEDS_FAST_HOST	(1u << 4)

struct gml_case {
	const char *id;			/* "suite/name" */
	const char *description;
	unsigned needs;			/* GML_NEEDS_* */
	void (*run)(void);
	/* What the case expects of the real BitVisor (backend bitvisor), declared in advance and
	 * listed as "bitvisor" by --list:
	 *   NULL          the same as of the lab's hypervisor;
	 *   "FINDING: …"  BitVisor differs by design; the case asserts BitVisor's behaviour there
	 *                 (gml_on_bitvisor()) and the lab reports a pass as this named finding;
	 *   "FINDING (machine stops: \"TEXT\"): …"  the difference is that BitVisor stops the
	 *                 machine (it panics): the case's last act provokes it once every check
	 *                 before passed, and the lab counts the VM's end during this case, with
	 *                 TEXT on BitVisor's log, as a pass (the finding); anything else fails;
	 *   "skip: …"     the case tests what only the lab's hypervisor has: skipped there, with
	 *                 the reason (the lab skips it before booting). */
	const char *bitvisor;
};

int gml_main(int argc, char **argv, const char *suite, const struct gml_case *cases, size_t n);
#define GML_MAIN(suite, cases) \
	int main(int argc, char **argv) \
	{ return gml_main(argc, argv, (suite), (cases), sizeof(cases) / sizeof((cases)[0])); }

/* One named check. On failure the formatted text is the message, so say what was expected
 * and what came back: report(x == 3, "x is 3 (got %d)", x). Returns pass, for early exits. */
int report(int pass, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* report() for integers: "what: expected 0x…, got 0x…" on failure. */
int report_eq_u64(const char *what, uint64_t expected, uint64_t got);
/* The case does not apply here (status skip unless a check failed). */
void report_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The case could not run (broken setup, not a finding about the system under test). */
void report_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Diagnostic line on stderr (guest console), prefixed with the case id. */
void report_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Measured values, emitted in "values":{...} in the order reported. */
void report_value_str(const char *key, const char *value);
void report_value_u64(const char *key, uint64_t value);
void report_value_i64(const char *key, int64_t value);
void report_value_f64(const char *key, double value);
#define report_value(key, v) _Generic((v), \
	char *: report_value_str, const char *: report_value_str, \
	double: report_value_f64, float: report_value_f64, \
	int: report_value_i64, long: report_value_i64, long long: report_value_i64, \
	default: report_value_u64)((key), (v))

/* Arrays and other composite values (lab bench): one-dimensional arrays of integers or of
 * numbers with `decimals` digits after the point (NaN and infinities become null), and any
 * value already written as JSON (nested arrays, objects: built with json.h's sb_json_*). */
void report_value_u64s(const char *key, const uint64_t *v, size_t n);
void report_value_i64s(const char *key, const int64_t *v, size_t n);
void report_value_f64s(const char *key, const double *v, size_t n, int decimals);
void report_value_json(const char *key, const char *json);

/*
 * The one writer of the result line. Every program's line, the agent's own error lines and
 * the user-case runner's come from here:
 *
 *   GMLAB-RESULT {"id":…,"status":…,"message":…,"values":{…},"duration_ms":N}
 *
 * gml_result_line appends it to *line without the newline; values are the members of
 * "values" without braces (NULL or "" for none). report_emit prints it on stdout with the
 * values this process reported (report_value*), for programs that decide the status
 * themselves (the bench); gml_main's cases get theirs from the framework.
 */
struct sbuf;
void gml_result_line(struct sbuf *line, const char *id, const char *status, const char *message,
		     const char *values, double ms);
void report_emit(const char *id, const char *status, const char *message, double ms);

/* GMLAB_BACKEND from the plan ("none", "svm", "vmx", "bitvisor"), or NULL when run by hand. */
const char *gml_backend(void);
/* 1 under the real BitVisor (GMLAB_BACKEND=bitvisor). */
int gml_on_bitvisor(void);
/* 1 when the plan says the VM runs under a KVM host (GMLAB_HOST=kvm): KVM's nested SVM acts on
 * some guest events itself before the hypervisor under test sees them. */
int gml_on_kvm_host(void);
/* GMLAB_POLICY from the plan: the hypervisor's access policy ("bitvisor", "strict"), or NULL
 * when the plan names none (run by hand: ask gmlab.info, rdx bits 15:8). */
const char *gml_policy(void);

#endif
