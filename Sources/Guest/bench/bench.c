/*
 * bench: the guest side of `lab bench`. Times every transfer method between the guest and the
 * lab's hypervisor (the method services, ABI in Hypervisor/core/include/gml_methods.h, called with GML_XFER_RAW so
 * the hypervisor only copies: no pattern, no hash), with the baselines that give the numbers a meaning: the guest's own memcpy, a null hypercall through
 * our hypervisor, and a null hypercall handled in the kernel by a peer hypervisor (KVM run
 * inside this guest, backend none).
 *
 * Speaks the agent protocol like the other test programs (`--list`, `--run ID`, one RESULT
 * line); decides each case's status itself (a measurement makes no checks) and hands its
 * values, arrays mostly, and the status to lib/report.c, which writes the RESULT line. One
 * case per method and direction; it reports every size:
 *
 *   "values": {"kind":"sized","method":…,"direction":"read"|"write"|"copy",
 *              "sizes":[8,16,…], "samples":[[ns per transfer, …] per size],
 *              "batch":[transfers per sample], "hypercalls":[per transfer], "exits":[per transfer
 *              measured with gmlab.info, -1 when not measurable], "limit":bytes,
 *              "limit_reason":"…", optional "translate_samples" (phys-user: pagemap cost alone),
 *              "memcpy_samples" (hypervisor methods: the guest's memcpy of the same size, timed
 *              between the method's samples)}
 *   "values": {"kind":"scalar","method":…,"series":{"<name>":[ns per call, …]}, …}
 *
 * Direction is the hypervisor's: "read" = guest -> hypervisor, "write" = hypervisor -> guest.
 * The hypervisor side of a transfer is its chunk buffer (2 MiB, reused), or for the register
 * method its 64 KiB staging buffer (offsets wrap around it).
 *
 * Parameters come from the guest kernel command line (the lab puts them there; defaults when
 * run by hand): gmlab.bench.min=8 max=16777216 (powers of two), reps=15 warmup=3,
 * sample_ms=2 (a sample repeats small transfers until it lasts this long), byte_max=262144
 * (capped at the hypervisor's per-call limit GML_BYTEWISE_MAX, now 16 MiB),
 * reg_max=1048576, kvm_calls=20 (vmmcalls per KVM_RUN: short runs, like the other samples).
 * Timing: clock_gettime(CLOCK_MONOTONIC) (vDSO), or ktime_get_ns() in gmlab_bench.ko for the
 * kernel methods.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <linux/kvm.h>

#include "hypercall.h"
#include "json.h"
#include "gml_errors.h"
#include "report.h"
#include "gml_methods.h"
#include "gmlab_bench_ioctl.h"

#define MIB (1ull << 20)
#define PAGE 4096ull

/* ---- parameters ----------------------------------------------------------------------------- */

static struct params {
	uint64_t min, max, reps, warmup, sample_ms, byte_max, reg_max, kvm_calls;
} P = { 8, 16 * MIB, 15, 3, 2, 256 << 10, 1 * MIB, 20 };

static const struct { const char *key; uint64_t *value; } param_keys[] = {
	{ "min", &P.min }, { "max", &P.max }, { "reps", &P.reps }, { "warmup", &P.warmup },
	{ "sample_ms", &P.sample_ms }, { "byte_max", &P.byte_max }, { "reg_max", &P.reg_max },
	{ "kvm_calls", &P.kvm_calls },
};

static const char *cur_id = "?";
static struct sbuf errors;	/* non-empty: status error with this message */

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (errors.len)
		sb_puts(&errors, "; ");
	sb_puts(&errors, buf);
	fprintf(stderr, "%s: ERROR: %s\n", cur_id, buf);
}

static int is_pow2(uint64_t v) { return v && !(v & (v - 1)); }

/* gmlab.bench.KEY=VALUE words of /proc/cmdline; a bad one is an error naming it. */
static void read_params(void)
{
	char line[4096], *word, *save;
	FILE *f = fopen("/proc/cmdline", "r");
	size_t i;

	if (!f)
		return;	/* run by hand on a host: defaults */
	if (!fgets(line, sizeof(line), f))
		line[0] = 0;
	fclose(f);
	for (word = strtok_r(line, " \n", &save); word; word = strtok_r(NULL, " \n", &save)) {
		char *eq, *end;
		unsigned long long v;

		if (strncmp(word, "gmlab.bench.", 12) != 0)
			continue;
		eq = strchr(word, '=');
		if (!eq) {
			fail("kernel command line: %s: expected gmlab.bench.KEY=NUMBER", word);
			continue;
		}
		*eq = 0;
		v = strtoull(eq + 1, &end, 10);
		for (i = 0; i < sizeof(param_keys) / sizeof(param_keys[0]); i++)
			if (strcmp(word + 12, param_keys[i].key) == 0)
				break;
		if (i == sizeof(param_keys) / sizeof(param_keys[0]))
			fail("kernel command line: unknown parameter %s", word);
		else if (*end || eq[1] == 0 || (v == 0 && strcmp(param_keys[i].key, "warmup") != 0))
			/* warmup=0 is no warm-up (lab bench --warmup 0 is valid: 0...100) */
			fail("kernel command line: %s=%s: expected a positive whole number", word, eq + 1);
		else
			*param_keys[i].value = v;
	}
	if (!is_pow2(P.min) || !is_pow2(P.max) || P.min > P.max || P.max > 16 * MIB)
		fail("sizes: gmlab.bench.min=%" PRIu64 " max=%" PRIu64 ": expected powers of two, "
		     "min <= max <= 16 MiB", P.min, P.max);
}

/* ---- time ----------------------------------------------------------------------------------- */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- hypervisor services -------------------------------------------------------------------- */

static int have_hv;

static unsigned long service(const char *name)
{
	unsigned long n = have_hv ? hc_lookup(name) : 0;

	if (have_hv && n == 0)
		fail("hypervisor service %s is not registered (look-up returned 0)", name);
	return n;
}

/* VM exits so far, from gmlab.info rdi; -1 without a hypervisor. */
static long long hv_exits(void)
{
	static unsigned long info;
	struct hc_regs r = { 0 };

	if (!have_hv)
		return -1;
	if (!info)
		info = hc_lookup("gmlab.info");
	if (!info)
		return -1;
	hc_call(info, &r);
	return (long long)r.rdi;
}

/* The guest's TSC ticks per nanosecond, measured once against CLOCK_MONOTONIC over 50 ms (the
 * hypervisor reads the same TSC: no offset or scaling is set up). */
static double tsc_per_ns(void)
{
	static double rate;
	struct timespec a, b;
	uint32_t lo, hi;
	uint64_t t0, t1;

	if (rate > 0)
		return rate;
	clock_gettime(CLOCK_MONOTONIC, &a);
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	t0 = (uint64_t)hi << 32 | lo;
	do
		clock_gettime(CLOCK_MONOTONIC, &b);
	while ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec) < 50e6);
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	t1 = (uint64_t)hi << 32 | lo;
	rate = (double)(t1 - t0) / ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec));
	return rate;
}

/* gmlab.holds (the lab's hypervisor only, vmm/hypercall.c): the longest single stay of the
 * vCPU in the hypervisor's dispatch since the last reset. hv_hold_ns() answers for the time
 * since hv_hold_reset(), in ns, or -1 where the service does not exist (BitVisor, none). */
static unsigned long holds_svc;

static void hv_hold_reset(void)
{
	struct hc_regs r = { .rbx = 1 };

	if (!have_hv)
		return;
	if (!holds_svc)
		holds_svc = hc_lookup("gmlab.holds");
	if (holds_svc)
		hc_call(holds_svc, &r);
}

static double hv_hold_ns(void)
{
	struct hc_regs r = { 0 };

	if (!have_hv || !holds_svc)
		return -1;
	hc_call(holds_svc, &r);
	return r.rax == 0 ? (double)r.rbx / tsc_per_ns() : -1;
}

/* ---- buffers -------------------------------------------------------------------------------- */

/* Locked, populated, 4 KiB pages (no THP: the common case, and one walk per 4 KiB page). */
static uint8_t *guest_buffer(uint64_t size)
{
	uint8_t *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		fail("mmap %" PRIu64 " bytes: %s", size, strerror(errno));
		return NULL;
	}
	madvise(p, size, MADV_NOHUGEPAGE);
	for (uint64_t i = 0; i < size; i++)
		p[i] = (uint8_t)(i * 131 + 7);
	if (mlock(p, size) != 0)
		fail("mlock %" PRIu64 " bytes: %s", size, strerror(errno));
	return p;
}

/* ---- methods -------------------------------------------------------------------------------- */

/* Performs k transfers of size bytes; returns elapsed ns, or 0 after fail(). */
typedef uint64_t (*xfer_fn)(uint64_t size, uint64_t k);

static uint8_t *buf_a, *buf_b;		/* guest buffers of P.max bytes */
static unsigned long svc;		/* the service the current case calls */
static int is_write;			/* direction of the current case */
static unsigned long xfer_flags;	/* GML_XFER_RAW, | GML_XFER_WRITE for writes */
static uint64_t calls_per_xfer;		/* hypercalls one transfer of the last size made */

static uint64_t xfer_memcpy(uint64_t size, uint64_t k)
{
	uint64_t t0 = now_ns();

	for (uint64_t i = 0; i < k; i++) {
		memcpy(buf_b, buf_a, size);
		asm volatile("" : : "r"(buf_b) : "memory");	/* the copy is used */
	}
	calls_per_xfer = 0;
	return now_ns() - t0;
}

static int check_call(const struct hc_regs *r, uint64_t want_done, const char *what)
{
	if (r->rax == 0 && r->rbx == want_done)
		return 1;
	fail("%s: rax=%#lx (error), rbx=%lu bytes done, expected 0 and %" PRIu64, what, r->rax,
	     r->rbx, want_done);
	return 0;
}

/* One hypercall with a guest-linear buffer (gml.linear.pagewise, gml.linear.bytewise). */
static uint64_t xfer_linear(uint64_t size, uint64_t k)
{
	uint64_t t0 = now_ns();

	for (uint64_t i = 0; i < k; i++) {
		struct hc_regs r = { .rbx = (unsigned long)buf_a, .rcx = size, .rdx = xfer_flags };

		hc_call(svc, &r);
		if (!check_call(&r, size, "linear transfer"))
			return 0;
	}
	calls_per_xfer = 1;
	return now_ns() - t0;
}

/* Data in the registers: gml.regs.put / gml.regs.get, GML_REGS_CHUNK (24) bytes per hypercall
 * in rdx rsi rdi; rbx = offset in the staging buffer (wrapping), rcx = count. */
static uint64_t xfer_regs(uint64_t size, uint64_t k)
{
	uint64_t t0 = now_ns();

	for (uint64_t i = 0; i < k; i++) {
		for (uint64_t off = 0; off < size; off += GML_REGS_CHUNK) {
			uint64_t n = size - off < GML_REGS_CHUNK ? size - off : GML_REGS_CHUNK;
			uint64_t w[3] = { 0, 0, 0 };
			struct hc_regs r = { .rbx = off % (GML_REGS_BUF / GML_REGS_CHUNK * GML_REGS_CHUNK),
					     .rcx = n };

			if (!is_write) {
				memcpy(w, buf_a + off, n);
				r.rdx = w[0], r.rsi = w[1], r.rdi = w[2];
			}
			hc_call(svc, &r);
			if (r.rax != 0) {
				fail("register transfer at offset %" PRIu64 ": rax=%#lx", off, r.rax);
				return 0;
			}
			if (is_write) {
				w[0] = r.rdx, w[1] = r.rsi, w[2] = r.rdi;
				memcpy(buf_a + off, w, n);
			}
		}
	}
	calls_per_xfer = (size + GML_REGS_CHUNK - 1) / GML_REGS_CHUNK;
	return now_ns() - t0;
}

/* Guest-physical from user space: translate through /proc/self/pagemap, then one hypercall per
 * physically contiguous run. translate_ns accumulates the pagemap part alone. */
static int pagemap_fd = -1;
static uint64_t translate_ns;
static uint64_t *pfns;

static int translate(const uint8_t *p, uint64_t pages)
{
	uint64_t first = (uint64_t)(uintptr_t)p / PAGE;
	ssize_t want = (ssize_t)(pages * 8);

	if (pread(pagemap_fd, pfns, (size_t)want, (off_t)(first * 8)) != want) {
		fail("pread /proc/self/pagemap: %s", strerror(errno));
		return 0;
	}
	for (uint64_t i = 0; i < pages; i++) {
		if (!(pfns[i] >> 63) || !(pfns[i] & ((1ull << 55) - 1))) {
			fail("pagemap: page %" PRIu64 " of the buffer is not present or its PFN reads 0 "
			     "(entry %#" PRIx64 "; PFNs need CAP_SYS_ADMIN)", i, pfns[i]);
			return 0;
		}
		pfns[i] &= (1ull << 55) - 1;
	}
	return 1;
}

static uint64_t xfer_phys_user(uint64_t size, uint64_t k)
{
	uint64_t pages = (size + PAGE - 1) / PAGE, runs = 0, t0 = now_ns();

	for (uint64_t i = 0; i < k; i++) {
		uint64_t t1 = now_ns(), p = 0;

		if (!translate(buf_a, pages))
			return 0;
		translate_ns += now_ns() - t1;
		runs = 0;
		while (p < pages) {
			uint64_t q = p + 1;

			while (q < pages && pfns[q] == pfns[q - 1] + 1)
				q++;
			uint64_t len = (q - p) * PAGE;
			if (q == pages)
				len = size - p * PAGE;
			struct hc_regs r = { .rbx = pfns[p] * PAGE, .rcx = len, .rdx = xfer_flags };

			hc_call(svc, &r);
			if (!check_call(&r, len, "physical transfer of a pagemap run"))
				return 0;
			runs++;
			p = q;
		}
	}
	calls_per_xfer = runs;
	return now_ns() - t0;
}

/* The answers to non-present pages (issue 14), page-wise on a cold buffer: before every
 * transfer the buffer's pages are dropped (MADV_DONTNEED, outside the timing), so none is
 * present when the transfer starts, as for memory allocated and not yet touched, or paged out.
 *   refuse:  the default mode; at GML_E_NOT_PRESENT the caller touches that page (a store for
 *            a write, a load for a read) and calls again for the rest -- one hypercall and one
 *            guest page fault per page;
 *   faultin: one call with GML_XFER_FAULTIN; the hypervisor gives the caller each page's #PF
 *            and the instruction runs on -- one exit and one guest page fault per page;
 *   mlock:   mlock() the buffer (the kernel populates and pins it in one system call), then
 *            one call; the munlock afterwards is outside the timing (cleanup). */
#define COLD_REFUSE 1
#define COLD_FAULTIN 2
#define COLD_MLOCK 3
static uint8_t *buf_cold;	/* P.max bytes, 4 KiB pages, not locked */
static int cold_strategy;

static uint64_t xfer_cold(uint64_t size, uint64_t k)
{
	uint64_t total = 0, calls = 0, span = (size + PAGE - 1) / PAGE * PAGE;

	for (uint64_t i = 0; i < k; i++) {
		uint64_t done = 0, t0;

		if (madvise(buf_cold, span, MADV_DONTNEED) != 0) {
			fail("madvise(MADV_DONTNEED): %s", strerror(errno));
			return 0;
		}
		calls = 0;
		t0 = now_ns();
		if (cold_strategy == COLD_MLOCK && mlock(buf_cold, span) != 0) {
			fail("mlock %" PRIu64 " bytes: %s", span, strerror(errno));
			return 0;
		}
		while (done < size) {
			struct hc_regs r = { .rbx = (unsigned long)(buf_cold + done), .rcx = size - done,
					     .rdx = xfer_flags |
						    (cold_strategy == COLD_FAULTIN ? GML_XFER_FAULTIN : 0) };

			hc_call(svc, &r);
			calls++;
			done += r.rbx;
			if (r.rax == GML_E_NOT_PRESENT && cold_strategy == COLD_REFUSE && done < size) {
				volatile uint8_t *page = buf_cold + done;

				if (is_write)
					*page = 0;
				else
					(void)*page;
				continue;
			}
			if (r.rax != 0) {
				fail("cold page-wise transfer: rax=%#lx at byte %" PRIu64 " of %" PRIu64,
				     r.rax, done, size);
				return 0;
			}
		}
		total += now_ns() - t0;
		if (cold_strategy == COLD_MLOCK)
			munlock(buf_cold, span);
	}
	calls_per_xfer = calls;
	return total ? total : 1;
}

/* Kernel methods: gmlab_bench.ko times them at CPL0. */
static int bench_fd = -1;
static unsigned kernel_method;

static uint64_t xfer_kernel(uint64_t size, uint64_t k)
{
	struct gmlab_bench_run run = { .method = kernel_method, .service = svc, .size = size,
				       .flags = xfer_flags, .iterations = k };

	if (ioctl(bench_fd, GMLAB_BENCH_IOC_RUN, &run) != 0) {
		fail("%s ioctl RUN (size %" PRIu64 "): %s", GMLAB_BENCH_DEVICE, size, strerror(errno));
		return 0;
	}
	if (run.faulted || run.rax != 0 ||
	    (kernel_method != GMLAB_BENCH_NULL && run.rbx != size)) {
		fail("kernel transfer of %" PRIu64 " bytes: %s rax=%#llx rbx=%llu", size,
		     run.faulted ? "#UD," : "", (unsigned long long)run.rax,
		     (unsigned long long)run.rbx);
		return 0;
	}
	calls_per_xfer = run.hypercalls;
	return run.ns ? run.ns : 1;
}

/* ---- measurement ---------------------------------------------------------------------------- */

struct series {
	uint64_t size, batch, hypercalls;
	long long exits;
	double hold_ns;		/* longest single stay in the hypervisor during one transfer, or -1 */
	double *ns, *translate;	/* P.reps samples each */
	double *memcpy_ns;	/* interleaved memcpy of the same size, or NULL */
};

/* Hypervisor cases also time the guest's memcpy of the same size between their own samples,
 * so a method and its baseline see the same host conditions (other work on the host slows
 * both alike) and their ratio stays meaningful on a busy machine. */
static int interleave_memcpy;

/* Warm-up, then P.reps samples; a sample repeats the transfer `batch` times so it lasts at
 * least sample_ms (calibrated from the first transfer). Returns 0 after fail(). */
static int measure(xfer_fn fn, uint64_t size, struct series *s, int with_translate)
{
	uint64_t t, target = P.sample_ms * 1000000ull;

	s->size = size;
	translate_ns = 0;
	t = fn(size, 1);
	if (!t)
		return 0;
	s->batch = t >= target ? 1 : (target + t - 1) / t;
	if (s->batch > 1000000)
		s->batch = 1000000;
	s->hypercalls = calls_per_xfer;
	/* Exits of one transfer: gmlab.info before and after; the second info call exits too. The
	 * least of three tries, because an unrelated exit of the guest's (a CPUID in the kernel, a
	 * first touch of memory the nested tables map lazily) can fall in between. */
	s->exits = -1;
	s->hold_ns = -1;
	for (int try = 0; try < 3; try++) {
		if (fn != xfer_memcpy) /* the baseline makes no hypercall: no hold to report */
			hv_hold_reset(); /* outside e0..e1: its hypercalls are not the transfer's exits */
		long long e0 = hv_exits();

		if (!fn(size, 1))
			return 0;
		long long e1 = hv_exits();
		/* the least of three as for the exits: a stay also lasts while the host deschedules
		 * the emulator, which is not the hypervisor's doing (the gmlab.info calls around the
		 * transfer are stays too, far shorter than any transfer's slice) */
		double hold = fn != xfer_memcpy ? hv_hold_ns() : -1;
		if (hold >= 0 && (s->hold_ns < 0 || hold < s->hold_ns))
			s->hold_ns = hold;
		if (e0 < 0 || e1 < 0)
			break;
		if (s->exits < 0 || e1 - e0 - 1 < s->exits)
			s->exits = e1 - e0 - 1;
	}
	for (uint64_t w = 0; w < P.warmup; w++)
		if (!fn(size, s->batch))
			return 0;
	s->ns = calloc(P.reps, sizeof(double));
	s->translate = calloc(P.reps, sizeof(double));
	s->memcpy_ns = NULL;
	uint64_t mbatch = 1;
	if (interleave_memcpy && buf_b) {
		uint64_t tm = xfer_memcpy(size, 1);

		mbatch = tm >= target ? 1 : (target + tm - 1) / (tm ? tm : 1);
		if (mbatch > 1000000)
			mbatch = 1000000;
		xfer_memcpy(size, mbatch);	/* its warm-up */
		s->memcpy_ns = calloc(P.reps, sizeof(double));
	}
	for (uint64_t r = 0; r < P.reps; r++) {
		translate_ns = 0;
		t = fn(size, s->batch);
		if (!t)
			return 0;
		s->ns[r] = (double)t / (double)s->batch;
		s->translate[r] = (double)translate_ns / (double)s->batch;
		if (s->memcpy_ns)
			s->memcpy_ns[r] = (double)xfer_memcpy(size, mbatch) / (double)mbatch;
	}
	(void)with_translate;
	return 1;
}

enum sample_kind { SAMPLES_NS, SAMPLES_TRANSLATE, SAMPLES_MEMCPY };

/* An array of arrays: P.reps samples of one kind for each of the n sizes. */
static void put_sample_rows(struct sbuf *sb, const struct series *s, unsigned n,
			    enum sample_kind kind)
{
	sb_putc(sb, '[');
	for (unsigned i = 0; i < n; i++) {
		if (i)
			sb_putc(sb, ',');
		sb_json_f64s(sb, kind == SAMPLES_NS ? s[i].ns : kind == SAMPLES_TRANSLATE
			     ? s[i].translate : s[i].memcpy_ns, P.reps, 1);
	}
	sb_putc(sb, ']');
}

/* Measures sizes P.min..min(P.max, limit) and reports them all. */
static void run_sized(const char *method, const char *direction, xfer_fn fn, uint64_t limit,
		      const char *limit_reason, int with_translate)
{
	struct series s[32];
	unsigned n = 0;
	struct sbuf a = { 0 };

	uint64_t u[32];
	int64_t e[32];

	report_value("kind", "sized");
	report_value("method", method);
	report_value("direction", direction);
	for (uint64_t size = P.min; size <= P.max && size <= limit && !errors.len; size *= 2) {
		if (!measure(fn, size, &s[n], with_translate))
			break;
		fprintf(stderr, "%s: %8" PRIu64 " B: %.0f ns (batch %" PRIu64 ")\n", cur_id, size,
			s[n].ns[0], s[n].batch);
		n++;
	}
	for (unsigned i = 0; i < n; i++)
		u[i] = s[i].size;
	report_value_u64s("sizes", u, n);
	put_sample_rows(&a, s, n, SAMPLES_NS);
	report_value_json("samples", sb_str(&a));
	if (with_translate) {
		sb_reset(&a);
		put_sample_rows(&a, s, n, SAMPLES_TRANSLATE);
		report_value_json("translate_samples", sb_str(&a));
	}
	if (n && s[0].memcpy_ns) {
		sb_reset(&a);
		put_sample_rows(&a, s, n, SAMPLES_MEMCPY);
		report_value_json("memcpy_samples", sb_str(&a));
	}
	for (unsigned i = 0; i < n; i++)
		u[i] = s[i].batch;
	report_value_u64s("batch", u, n);
	for (unsigned i = 0; i < n; i++)
		u[i] = s[i].hypercalls;
	report_value_u64s("hypercalls", u, n);
	for (unsigned i = 0; i < n; i++)
		e[i] = s[i].exits;
	report_value_i64s("exits", e, n);
	if (n && s[0].hold_ns >= 0) {
		double h[32];

		for (unsigned i = 0; i < n; i++)
			h[i] = s[i].hold_ns;
		sb_reset(&a);
		sb_json_f64s(&a, h, n, 0);
		report_value_json("longest_hold_ns", sb_str(&a));
	}
	report_value("limit", limit);
	if (limit < P.max && limit_reason)
		report_value("limit_reason", limit_reason);
	sb_free(&a);
	for (unsigned i = 0; i < n; i++) {
		free(s[i].ns);
		free(s[i].translate);
		free(s[i].memcpy_ns);
	}
}

/* ---- cases ---------------------------------------------------------------------------------- */

static int need_hv(void)
{
	const char *backend = getenv("GMLAB_BACKEND");

	if (backend && strcmp(backend, "none") == 0)
		return 0;
	return hc_probe() == HC_PRESENT;
}

static int setup_user(int two)
{
	buf_a = guest_buffer(P.max);
	if (two)
		buf_b = guest_buffer(P.max);
	return !errors.len;
}

static void case_memcpy(void)
{
	if (setup_user(1))
		run_sized("memcpy", "copy", xfer_memcpy, ~0ull, NULL, 0);
}

static void sized_hv(const char *method, const char *svc_name, int write, xfer_fn fn,
		     uint64_t limit, const char *reason, int with_translate)
{
	is_write = write;
	xfer_flags = GML_XFER_RAW | (write ? GML_XFER_WRITE : 0);
	interleave_memcpy = 1;
	svc = service(svc_name);
	if (!errors.len && setup_user(1))
		run_sized(method, write ? "write" : "read", fn, limit, reason, with_translate);
}

#define REG_REASON "24 bytes per hypercall: larger sizes only repeat the same exit (gmlab.bench.reg_max)"
static void case_regs_read(void)
{
	sized_hv("regs", GML_SVC_REGS_PUT, 0, xfer_regs, P.reg_max, REG_REASON, 0);
}
static void case_regs_write(void)
{
	sized_hv("regs", GML_SVC_REGS_GET, 1, xfer_regs, P.reg_max, REG_REASON, 0);
}
static void case_linear_page_read(void)
{
	sized_hv("linear-page", GML_SVC_LINEAR_PAGEWISE, 0, xfer_linear, ~0ull, NULL, 0);
}
static void case_linear_page_write(void)
{
	sized_hv("linear-page", GML_SVC_LINEAR_PAGEWISE, 1, xfer_linear, ~0ull, NULL, 0);
}

static void cold(const char *method, int strategy, int write)
{
	cold_strategy = strategy;
	buf_cold = mmap(NULL, P.max, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf_cold == MAP_FAILED) {
		fail("mmap %" PRIu64 " bytes: %s", P.max, strerror(errno));
		return;
	}
	madvise(buf_cold, P.max, MADV_NOHUGEPAGE);
	sized_hv(method, GML_SVC_LINEAR_PAGEWISE, write, xfer_cold, ~0ull, NULL, 0);
}
static void case_cold_refuse_read(void) { cold("linear-page-refuse", COLD_REFUSE, 0); }
static void case_cold_refuse_write(void) { cold("linear-page-refuse", COLD_REFUSE, 1); }
static void case_cold_faultin_read(void) { cold("linear-page-faultin", COLD_FAULTIN, 0); }
static void case_cold_faultin_write(void) { cold("linear-page-faultin", COLD_FAULTIN, 1); }
static void case_cold_mlock_read(void) { cold("linear-page-mlock", COLD_MLOCK, 0); }
static void case_cold_mlock_write(void) { cold("linear-page-mlock", COLD_MLOCK, 1); }

#define BYTE_REASON "a full page walk per byte: larger sizes take seconds each (gmlab.bench.byte_max)"
/* gmlab.bench.byte_max, but never above what the service accepts in one call */
static uint64_t byte_limit(void)
{
	return P.byte_max < GML_BYTEWISE_MAX ? P.byte_max : GML_BYTEWISE_MAX;
}
static void case_linear_byte_read(void)
{
	sized_hv("linear-byte", GML_SVC_LINEAR_BYTEWISE, 0, xfer_linear, byte_limit(), BYTE_REASON, 0);
}
static void case_linear_byte_write(void)
{
	sized_hv("linear-byte", GML_SVC_LINEAR_BYTEWISE, 1, xfer_linear, byte_limit(), BYTE_REASON, 0);
}

static void phys_user(int write)
{
	pagemap_fd = open("/proc/self/pagemap", O_RDONLY);
	if (pagemap_fd < 0) {
		fail("open /proc/self/pagemap: %s", strerror(errno));
		return;
	}
	pfns = calloc(P.max / PAGE + 1, sizeof(*pfns));
	sized_hv("phys-user", GML_SVC_PHYS_XFER, write,
		 xfer_phys_user, ~0ull, NULL, 1);
}
static void case_phys_user_read(void) { phys_user(0); }
static void case_phys_user_write(void) { phys_user(1); }

static void kernel_sized(const char *method, unsigned km, const char *svc_name, int write,
			 uint64_t limit, const char *reason)
{
	bench_fd = open(GMLAB_BENCH_DEVICE, O_RDWR);
	if (bench_fd < 0) {
		fail("%s: %s (gmlab_bench.ko not loaded?)", GMLAB_BENCH_DEVICE, strerror(errno));
		return;
	}
	kernel_method = km;
	is_write = write;
	xfer_flags = GML_XFER_RAW | (write ? GML_XFER_WRITE : 0);
	interleave_memcpy = 1;
	svc = service(svc_name);
	if (!errors.len && setup_user(1))
		run_sized(method, write ? "write" : "read", xfer_kernel, limit, reason, 0);
}

#define CONTIG_REASON "kmalloc's largest physically contiguous buffer is 4 MiB (order-10 pages)"
static void case_phys_kernel_read(void)
{
	kernel_sized("phys-kernel", GMLAB_BENCH_CONTIG, GML_SVC_PHYS_XFER, 0, GMLAB_BENCH_CONTIG_MAX,
		     CONTIG_REASON);
}
static void case_phys_kernel_write(void)
{
	kernel_sized("phys-kernel", GMLAB_BENCH_CONTIG, GML_SVC_PHYS_XFER, 1, GMLAB_BENCH_CONTIG_MAX,
		     CONTIG_REASON);
}
static void case_phys_list_read(void)
{
	kernel_sized("phys-kernel-list", GMLAB_BENCH_PAGELIST, GML_SVC_PHYS_LIST, 0, ~0ull, NULL);
}
static void case_phys_list_write(void)
{
	kernel_sized("phys-kernel-list", GMLAB_BENCH_PAGELIST, GML_SVC_PHYS_LIST, 1, ~0ull, NULL);
}

/* Scalar series: P.reps samples of ns per call, each over a calibrated batch. */
static void put_series(struct sbuf *sb, const char *name, const double *v)
{
	if (sb->len > 1)
		sb_putc(sb, ',');
	sb_json_str(sb, name);
	sb_putc(sb, ':');
	sb_json_f64s(sb, v, P.reps, 1);
}

/* The null hypercall's service: gmlab.echo (services/gmlab.c) is not built into the real
 * BitVisor, whose null round trip is then the register method's echo (rax 0, five registers
 * read and written: the same work). */
static const char *null_service(void)
{
	return gml_on_bitvisor() ? "gml.regs.echo" : "gmlab.echo";
}

static uint64_t null_user(uint64_t size, uint64_t k)
{
	uint64_t t0 = now_ns();

	(void)size;
	for (uint64_t i = 0; i < k; i++) {
		struct hc_regs r = { 0 };

		hc_call(svc, &r);
		if (r.rax != 0) {
			fail("%s(0,…) returned %#lx, expected 0", null_service(), r.rax);
			return 0;
		}
	}
	calls_per_xfer = 1;
	return now_ns() - t0;
}

/* The floor: GML_HC_FLOOR, answered before any dispatch (rax comes back unchanged). */
static uint64_t floor_user(uint64_t size, uint64_t k)
{
	uint64_t t0 = now_ns();

	(void)size;
	for (uint64_t i = 0; i < k; i++) {
		struct hc_regs r = { 0 };

		hc_call(GML_HC_FLOOR, &r);
		if (r.rax != GML_HC_FLOOR) {
			fail("the floor (rax %#llx) returned %#lx", GML_HC_FLOOR, r.rax);
			return 0;
		}
	}
	calls_per_xfer = 1;
	return now_ns() - t0;
}

/* Does this hypervisor answer the floor? (the lab's does; BitVisor answers rax = 0) */
static int have_floor(void)
{
	struct hc_regs r = { 0 };

	if (!have_hv)
		return 0;
	hc_call(GML_HC_FLOOR, &r);
	return r.rax == GML_HC_FLOOR;
}

static void case_null_hypercall(void)
{
	struct series user = { 0 }, kernel = { 0 }, floor = { 0 };
	struct sbuf sb = { 0 };

	svc = service(null_service());
	if (errors.len || !measure(null_user, 0, &user, 0))
		return;
	if (have_floor() && !measure(floor_user, 0, &floor, 0))
		return;
	bench_fd = open(GMLAB_BENCH_DEVICE, O_RDWR);
	kernel_method = GMLAB_BENCH_NULL;
	if (bench_fd < 0)
		fail("%s: %s (gmlab_bench.ko not loaded?)", GMLAB_BENCH_DEVICE, strerror(errno));
	else if (!measure(xfer_kernel, 0, &kernel, 0))
		return;
	report_value("kind", "scalar");
	report_value("method", "null-hypercall");
	sb_putc(&sb, '{');
	put_series(&sb, "cpl3", user.ns);
	if (kernel.ns)
		put_series(&sb, "cpl0", kernel.ns);
	if (floor.ns) /* the emulator's bare exit round trip, from CPL3 like "cpl3" */
		put_series(&sb, "floor-cpl3", floor.ns);
	sb_putc(&sb, '}');
	report_value_json("series", sb_str(&sb));
	report_value_i64("exits", user.exits);
	report_value("service", gml_on_bitvisor() ?
		     "gml.regs.echo with all arguments 0 on BitVisor: dispatch + register reads/writes" :
		     "gmlab.echo with all arguments 0: dispatch + register reads/writes");
	sb_free(&sb);
}

/* ---- peer hypervisor: KVM inside this guest ------------------------------------------------- */

/* 16-bit real-mode code at 0x1000: `1: vmmcall; addr32 loop 1b; out 0x10, al; hlt`.
 * ECX = number of vmmcalls. KVM handles VMMCALL in the kernel (kvm_emulate_hypercall: an
 * unknown number returns -KVM_ENOSYS in rax) and only the OUT returns to user space. */
static const uint8_t l2_code[] = { 0x0f, 0x01, 0xd9, 0x67, 0xe2, 0xfa, 0xe6, 0x10, 0xf4 };

struct kvm_l2 {
	int kvm, vm, vcpu;
	struct kvm_run *run;
};

static int kvm_setup(struct kvm_l2 *k)
{
	struct kvm_userspace_memory_region region;
	struct kvm_sregs sregs;
	uint8_t *mem;
	long mmap_size;

	if (access("/dev/kvm", F_OK) != 0) {
		/* stock modules in the initramfs (images/initramfs.sh STOCK_MODULES) */
		int rc = system("modprobe kvm-amd 2>&1 || modprobe kvm-intel 2>&1");

		if (rc != 0)
			fprintf(stderr, "%s: modprobe kvm-amd/kvm-intel exited with %d\n", cur_id, rc);
	}
	k->kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (k->kvm < 0) {
		fail("/dev/kvm: %s (kvm_amd did not load: does the guest CPU have svm? dmesg says why)",
		     strerror(errno));
		return 0;
	}
	k->vm = ioctl(k->kvm, KVM_CREATE_VM, 0);
	if (k->vm < 0) {
		fail("KVM_CREATE_VM: %s", strerror(errno));
		return 0;
	}
	mem = mmap(NULL, 0x10000, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		fail("mmap L2 memory: %s", strerror(errno));
		return 0;
	}
	memcpy(mem + 0x1000, l2_code, sizeof(l2_code));
	region = (struct kvm_userspace_memory_region){ .slot = 0, .guest_phys_addr = 0,
						       .memory_size = 0x10000,
						       .userspace_addr = (uintptr_t)mem };
	if (ioctl(k->vm, KVM_SET_USER_MEMORY_REGION, &region) != 0) {
		fail("KVM_SET_USER_MEMORY_REGION: %s", strerror(errno));
		return 0;
	}
	k->vcpu = ioctl(k->vm, KVM_CREATE_VCPU, 0);
	mmap_size = ioctl(k->kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (k->vcpu < 0 || mmap_size <= 0) {
		fail("KVM_CREATE_VCPU / KVM_GET_VCPU_MMAP_SIZE: %s", strerror(errno));
		return 0;
	}
	k->run = mmap(NULL, (size_t)mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, k->vcpu, 0);
	if (k->run == MAP_FAILED || ioctl(k->vcpu, KVM_GET_SREGS, &sregs) != 0) {
		fail("vCPU run area / KVM_GET_SREGS: %s", strerror(errno));
		return 0;
	}
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	if (ioctl(k->vcpu, KVM_SET_SREGS, &sregs) != 0) {
		fail("KVM_SET_SREGS: %s", strerror(errno));
		return 0;
	}
	return 1;
}

/* One KVM_RUN executing n vmmcalls; returns its elapsed ns, 0 after fail(). */
static uint64_t kvm_calls(struct kvm_l2 *k, uint64_t n)
{
	struct kvm_regs regs = { .rip = 0x1000, .rflags = 2, .rcx = n, .rax = 1 };
	uint64_t t0;

	if (ioctl(k->vcpu, KVM_SET_REGS, &regs) != 0) {
		fail("KVM_SET_REGS: %s", strerror(errno));
		return 0;
	}
	t0 = now_ns();
	if (ioctl(k->vcpu, KVM_RUN, 0) != 0) {
		fail("KVM_RUN: %s", strerror(errno));
		return 0;
	}
	t0 = now_ns() - t0;
	if (k->run->exit_reason != KVM_EXIT_IO || k->run->io.port != 0x10) {
		fail("L2 exited with reason %u (expected KVM_EXIT_IO on port 0x10)", k->run->exit_reason);
		return 0;
	}
	return t0 ? t0 : 1;
}

static void case_kvm_vmmcall(void)
{
	struct kvm_l2 k;
	uint64_t n = P.kvm_calls < 2 ? 2 : P.kvm_calls;
	double *per_call = calloc(P.reps, sizeof(double)), *exit_user = calloc(P.reps, sizeof(double));
	struct sbuf sb = { 0 };

	if (!kvm_setup(&k))
		return;
	for (uint64_t w = 0; w < P.warmup; w++)
		if (!kvm_calls(&k, n) || !kvm_calls(&k, 1))
			return;
	/* per in-kernel vmmcall: (run with n calls - run with 1 call) / (n - 1), which takes out the
	 * KVM_RUN entry and the exit to user space */
	for (uint64_t r = 0; r < P.reps; r++) {
		uint64_t tn = kvm_calls(&k, n), t1 = kvm_calls(&k, 1);

		if (!tn || !t1)
			return;
		per_call[r] = ((double)tn - (double)t1) / (double)(n - 1);
		exit_user[r] = (double)t1;
	}
	report_value("kind", "scalar");
	report_value("method", "kvm-vmmcall");
	sb_putc(&sb, '{');
	put_series(&sb, "l2-vmmcall-in-kernel", per_call);
	put_series(&sb, "kvm-run-one-call-and-exit-to-user", exit_user);
	sb_putc(&sb, '}');
	report_value_json("series", sb_str(&sb));
	report_value("calls_per_run", n);
	report_value("service", "L2 real-mode vmmcall loop handled by L1 KVM (kvm_amd) in the kernel");
	sb_free(&sb);
}

/* ---- table, --list, --run ------------------------------------------------------------------- */

#define HV	"\"hypervisor\""
#define KMOD	"\"hypervisor\",\"kmod\""
static const struct bench_case {
	const char *id, *description, *needs;
	void (*run)(void);
	int needs_hv;
} cases[] = {
	{ "bench/memcpy", "baseline: the guest's own memcpy of the same size", "", case_memcpy, 0 },
	{ "bench/null-hypercall", "baseline: gmlab.echo round trip at CPL3 and CPL0", KMOD,
	  case_null_hypercall, 1 },
	{ "bench/kvm-vmmcall", "baseline: L2 vmmcall handled in the kernel by KVM inside this guest",
	  "\"none\"", case_kvm_vmmcall, 0 },
	{ "bench/regs/read", "registers (gml.regs.put), guest -> hypervisor, 24 bytes per hypercall", HV,
	  case_regs_read, 1 },
	{ "bench/regs/write", "registers (gml.regs.get), hypervisor -> guest, 24 bytes per hypercall", HV,
	  case_regs_write, 1 },
	{ "bench/phys-kernel/read", "guest-physical, contiguous kmalloc buffer, guest -> hypervisor",
	  KMOD, case_phys_kernel_read, 1 },
	{ "bench/phys-kernel/write", "guest-physical, contiguous kmalloc buffer, hypervisor -> guest",
	  KMOD, case_phys_kernel_write, 1 },
	{ "bench/phys-kernel-list/read", "guest-physical page list of a vmalloc buffer, guest -> hypervisor",
	  KMOD, case_phys_list_read, 1 },
	{ "bench/phys-kernel-list/write", "guest-physical page list of a vmalloc buffer, hypervisor -> guest",
	  KMOD, case_phys_list_write, 1 },
	{ "bench/phys-user/read", "guest-physical from user space via pagemap, guest -> hypervisor",
	  HV, case_phys_user_read, 1 },
	{ "bench/phys-user/write", "guest-physical from user space via pagemap, hypervisor -> guest",
	  HV, case_phys_user_write, 1 },
	{ "bench/linear-byte/read", "guest-linear, one page walk per byte (BitVisor), guest -> hypervisor",
	  HV, case_linear_byte_read, 1 },
	{ "bench/linear-byte/write", "guest-linear, one page walk per byte (BitVisor), hypervisor -> guest",
	  HV, case_linear_byte_write, 1 },
	{ "bench/linear-page/read", "guest-linear, one page walk per page, guest -> hypervisor", HV,
	  case_linear_page_read, 1 },
	{ "bench/linear-page/write", "guest-linear, one page walk per page, hypervisor -> guest", HV,
	  case_linear_page_write, 1 },
	{ "bench/linear-page-refuse/read", "page-wise, cold buffer, refuse mode: touch the page at "
	  "the offset and call again, guest -> hypervisor", HV, case_cold_refuse_read, 1 },
	{ "bench/linear-page-refuse/write", "page-wise, cold buffer, refuse mode: touch the page at "
	  "the offset and call again, hypervisor -> guest", HV, case_cold_refuse_write, 1 },
	{ "bench/linear-page-faultin/read", "page-wise, cold buffer, fault-in mode: one call, a #PF "
	  "per page, guest -> hypervisor", HV, case_cold_faultin_read, 1 },
	{ "bench/linear-page-faultin/write", "page-wise, cold buffer, fault-in mode: one call, a #PF "
	  "per page, hypervisor -> guest", HV, case_cold_faultin_write, 1 },
	{ "bench/linear-page-mlock/read", "page-wise, cold buffer pinned by mlock first, guest -> "
	  "hypervisor", HV, case_cold_mlock_read, 1 },
	{ "bench/linear-page-mlock/write", "page-wise, cold buffer pinned by mlock first, hypervisor "
	  "-> guest", HV, case_cold_mlock_write, 1 },
};
#define NCASES (sizeof(cases) / sizeof(cases[0]))

static double ms_since(uint64_t t0) { return (double)(now_ns() - t0) / 1e6; }

static int run_case(const struct bench_case *c)
{
	struct sbuf msg = { 0 };
	const char *status = "pass";
	uint64_t t0 = now_ns();
	const char *backend = getenv("GMLAB_BACKEND");

	cur_id = c->id;
	read_params();
	if (c->needs_hv && !errors.len && !(have_hv = need_hv())) {
		status = "skip";
		sb_puts(&msg, backend && strcmp(backend, "none") == 0
			? "no hypervisor (GMLAB_BACKEND=none)" : "no hypervisor (hypercall raised #UD)");
	} else if (strcmp(c->id, "bench/kvm-vmmcall") == 0 && backend && strcmp(backend, "none") != 0) {
		status = "skip";
		sb_printf(&msg, "KVM needs a guest that owns SVM: backend none (this is %s)", backend);
	} else if (!errors.len) {
		if (!c->needs_hv)
			have_hv = backend && strcmp(backend, "none") != 0 && hc_probe() == HC_PRESENT;
		c->run();
	}
	if (errors.len) {
		status = "error";
		sb_reset(&msg);
		sb_puts(&msg, sb_str(&errors));
	} else if (!msg.len) {
		sb_printf(&msg, "measured: %" PRIu64 " samples per point after %" PRIu64 " warm-up",
			  P.reps, P.warmup);
	}
	{
		struct sbuf p = { 0 };

		sb_printf(&p, "{\"min\":%" PRIu64 ",\"max\":%" PRIu64 ",\"reps\":%" PRIu64
			  ",\"warmup\":%" PRIu64 ",\"sample_ms\":%" PRIu64 ",\"byte_max\":%" PRIu64
			  ",\"reg_max\":%" PRIu64 ",\"kvm_calls\":%" PRIu64 "}", P.min, P.max, P.reps,
			  P.warmup, P.sample_ms, P.byte_max, P.reg_max, P.kvm_calls);
		report_value_json("params", sb_str(&p));
		sb_free(&p);
	}
	report_value("clock", "CLOCK_MONOTONIC (user space), ktime_get_ns (gmlab_bench.ko)");
	report_emit(c->id, status, sb_str(&msg), ms_since(t0));
	sb_free(&msg);
	return strcmp(status, "error") == 0;
}

int main(int argc, char **argv)
{
	size_t i;

	if (argc == 2 && strcmp(argv[1], "--list") == 0) {
		for (i = 0; i < NCASES; i++) {
			struct sbuf l = { 0 };

			sb_puts(&l, "{\"id\":");
			sb_json_str(&l, cases[i].id);
			sb_puts(&l, ",\"suite\":\"bench\",\"description\":");
			sb_json_str(&l, cases[i].description);
			sb_printf(&l, ",\"needs\":[%s]}\n", cases[i].needs);
			fputs(sb_str(&l), stdout);
			sb_free(&l);
		}
		return fflush(stdout) == 0 ? 0 : 1;
	}
	if (argc != 3 || strcmp(argv[1], "--run") != 0) {
		fprintf(stderr, "usage: %s --list | --run CASE-ID\n", argv[0]);
		return 2;
	}
	for (i = 0; i < NCASES; i++)
		if (strcmp(cases[i].id, argv[2]) == 0)
			return run_case(&cases[i]);
	{
		struct sbuf msg = { 0 };

		sb_printf(&msg, "no such case in %s (see --list)", argv[0]);
		report_emit(argv[2], "error", sb_str(&msg), 0);
		sb_free(&msg);
	}
	return 2;
}
