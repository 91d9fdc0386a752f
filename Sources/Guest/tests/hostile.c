/*
 * Suite hostile: the guest attacks its hypervisor on purpose, one case per finding of issue 9
 * (plus the CPUID/MSR items of the hardening contracts), and each case asserts what the FIXED
 * hypervisor does (/work/notes/hardening-contracts.md, numbered like the findings):
 *
 *   - a #GP where the CPU gives one (privileged instructions run through the gmlab module's
 *     GMLAB_IOC_TRY, whose exception-table entry reports the vector the guest got);
 *   - the hypervisor's region still reads zeros, the staging chunk never leaks a read;
 *   - every service returns within HOSTILE_BOUND_S seconds (a hang is the failure: against an
 *     unfixed hypervisor the case times out);
 *   - the hypervisor alive afterwards: every case ends with alive(), which asks gmlab.info
 *     (magic, exit counter grown since the case began) and gmlab.echo.
 *
 * Against the unfixed hypervisor several cases power the machine off (the hypervisor's fatal
 * path): the lab then reports that case as error and runs the rest in a fresh VM.
 *
 * What the lab's emulators cannot express is skipped with the exact reason (AVX-512 scatter,
 * AMX, SMCA MSRs, guest-physical addresses >= 2^48, INT n re-injection); host tests of the
 * hypervisor's logic stand in there.
 *
 * Memory discipline: a case writes only into its own buffers (user pages, kernel buffers of
 * the gmlab module) or where the hypervisor must refuse or discard the write (its region).
 * Writes to MSRs write back the value read, or a value that is harmless if it goes through.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <termios.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include <linux/hw_breakpoint.h>
#include <linux/perf_event.h>

#include "method_util.h"
#include "report.h"

#define SEED_LINEAR_MAX 256		/* contract 9: seed.linear refuses rcx above this */
#define HOSTILE_BOUND_S 20.0		/* a service call must come back within this */
#define GP 13u
#define PAGE M_PAGE
#define ADDR_BITS_51_12 0x000ffffffffff000ULL
#define RFLAGS_TF (1UL << 8)
#define MSR_EFER 0xc0000080u

/* ---- every case: the hypervisor is asked before and must answer after ------------------- */

static unsigned long info_nr;
static struct hc_regs info_before;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Before an action that may end the machine: the checks so far must have left the console
 * UART (an emulated one lags behind the CPU), or the evidence dies with the VM. */
static void sync_console(void)
{
	fflush(stderr);
	tcdrain(2);
}

static void begin(void)
{
	info_nr = hc_lookup("gmlab.info");
	memset(&info_before, 0, sizeof(info_before));
	if (info_nr)
		hc_call(info_nr, &info_before);
}

/* The hypervisor still answers: gmlab.info with its magic and an exit counter that grew
 * during the case, and gmlab.echo adds. */
static void alive(void)
{
	struct hc_regs r = { 0 };

	if (!report(info_nr != 0, "hypervisor alive: gmlab.info registered"))
		return;
	hc_call(info_nr, &r);
	report_eq_u64("hypervisor alive: gmlab.info magic", GML_INFO_MAGIC, r.rax);
	report(r.rdi > info_before.rdi, "hypervisor alive: its exit counter grew during the case "
	       "(%#lx -> %#lx)", info_before.rdi, r.rdi);
	m_alive();
}

#define HOSTILE(name)							\
	static void name##_body(void);					\
	static void name(void) { begin(); name##_body(); alive(); }	\
	static void name##_body(void)

/* ---- CPL0 actions through the gmlab module ---------------------------------------------- */

static int kfd = -1;

static int kmod(void)
{
	if (kfd < 0)
		kfd = m_kmod_open();
	return kfd;
}

static const char *trap_name(uint32_t trap)
{
	static char buf[24];

	switch (trap) {
	case GMLAB_TRAP_NONE: return "no exception";
	case 1: return "#DB";
	case 6: return "#UD";
	case 13: return "#GP";
	case 14: return "#PF";
	}
	snprintf(buf, sizeof(buf), "vector %u", trap);
	return buf;
}

/* One GMLAB_IOC_TRY; 0, or -errno (reported as an error: the action could not be tried). */
static int try0(uint32_t op, uint64_t a0, uint64_t a1, uint64_t a2, struct gmlab_try *t)
{
	*t = (struct gmlab_try){ .op = op, .arg = { a0, a1, a2 } };
	if (kmod() < 0)
		return -ENODEV;
	sync_console();
	if (ioctl(kfd, GMLAB_IOC_TRY, t) != 0) {
		int e = errno;

		report_error("GMLAB_IOC_TRY op %u (%#llx, %#llx): %s", op, (unsigned long long)a0,
			     (unsigned long long)a1, strerror(e));
		return -e;
	}
	return 0;
}

static int expect_gp(const struct gmlab_try *t, const char *fmt, unsigned msr)
{
	char what[128];

	snprintf(what, sizeof(what), fmt, msr);
	return report(t->trap == GP, "%s raises #GP (got %s%s)", what, trap_name(t->trap),
		      t->trap == GMLAB_TRAP_NONE && t->op == GMLAB_TRY_RDMSR ? ", value read" : "");
}

/* RDMSR must #GP; then WRMSR of write_value (or of what was read, if the read completed)
 * must #GP too. */
static void msr_must_gp(uint32_t msr, int write, uint64_t write_value)
{
	struct gmlab_try t;
	char key[32];

	if (try0(GMLAB_TRY_RDMSR, msr, 0, 0, &t) != 0)
		return;
	if (!expect_gp(&t, "RDMSR %#x", msr)) {
		snprintf(key, sizeof(key), "msr_%x_read", msr);
		report_value(key, (uint64_t)t.out[0]);
		write_value = t.out[0];	/* write back what is there: harmless if it goes through */
	}
	if (!write)
		return;
	if (try0(GMLAB_TRY_WRMSR, msr, write_value, 0, &t) != 0)
		return;
	expect_gp(&t, "WRMSR %#x", msr);
}

/* ---- finding 1: SVM's own MSRs ------------------------------------------------------------ */

HOSTILE(svm_msrs)
{
	/* VM_CR, IGNNE, SMM_CTL, VM_HSAVE_PA, SVM_KEY: writable by a guest, they would let it
	 * choose where the host state comes from at the next #VMEXIT */
	static const uint32_t msrs[] = { 0xc0010114, 0xc0010115, 0xc0010116, 0xc0010117,
					 0xc0010118 };
	size_t i;

	for (i = 0; i < sizeof(msrs) / sizeof(msrs[0]); i++)
		msr_must_gp(msrs[i], 1, 0);
}

/* ---- finding 2: seed.phys stores 4 bytes whatever rcx says --------------------------------- */

static void seed_phys_range(const char *cpl, unsigned char *view, unsigned long svc,
			    int (*call)(unsigned long svc, uint64_t gpa, uint64_t len, uint64_t *rax,
					void *ctx),
			    void *ctx, uint64_t gpa, int (*refresh)(unsigned char *view, void *ctx))
{
	static const unsigned char text[16] = "abcdefghijklmno";
	unsigned char before[PAGE];
	uint64_t len, rax;

	memcpy(before, view, PAGE);
	for (len = 0; len < 4; len++) {
		if (call(svc, gpa + 100, len, &rax, ctx) != 0)
			return;
		report(rax == 1, "%s seed.phys with rcx = %llu (shorter than the 4 bytes it stores) "
		       "is refused: rax expected 1, got %#llx", cpl, (unsigned long long)len,
		       (unsigned long long)rax);
		if (refresh && refresh(view, ctx) != 0)
			return;
		if (!m_check_same(len == 0 ? "buffer after rcx = 0" : len == 1 ? "buffer after rcx = 1"
				  : len == 2 ? "buffer after rcx = 2" : "buffer after rcx = 3", view,
				  before, PAGE))
			memcpy(before, view, PAGE);	/* one report per length, not cascades */
	}
	/* the seed's own use still works: "abc" -> "foo" */
	if (call(svc, gpa + 100, 4, &rax, ctx) != 0)
		return;
	report(rax == 0, "%s seed.phys with rcx = 4: rax expected 0, got %#llx", cpl,
	       (unsigned long long)rax);
	if (refresh && refresh(view, ctx) != 0)
		return;
	report(memcmp(view + 100, "foo\0", 4) == 0 && view[104] == text[4],
	       "%s seed.phys with rcx = 4 turns \"abcd\" into \"foo\\0\" and nothing more", cpl);
}

static int call3(unsigned long svc, uint64_t gpa, uint64_t len, uint64_t *rax, void *ctx)
{
	struct hc_regs r = { .rbx = gpa, .rcx = len };

	hc_call(svc, &r);
	*rax = r.rax;
	return 0;
}

static int call0(unsigned long svc, uint64_t gpa, uint64_t len, uint64_t *rax, void *ctx)
{
	struct hc_regs r = { .rbx = gpa, .rcx = len };

	if (m_call0(kfd, svc, &r) != 0)
		return -1;
	*rax = r.rax;
	return 0;
}

static int kbuf_view(unsigned char *view, void *ctx)
{
	return m_kbuf_rw(kfd, 0, 0, view, PAGE);
}

static void fill_text(unsigned char *p)
{
	size_t i;

	for (i = 0; i < PAGE; i++)
		p[i] = (unsigned char)('a' + i % 15);
	p[PAGE - 1] = 0;
	memcpy(p + 100, "abcdefghijklmno", 15);
}

HOSTILE(seed_phys_short)
{
	unsigned long svc = m_lookup("seed.phys");
	unsigned char *u, kview[PAGE];
	struct gmlab_kbuf kb;
	const char *why;
	uint64_t gpa;

	if (!svc)
		return;
	/* CPL3: a locked user page by pagemap */
	u = m_map(PAGE, 1);
	if (!u || mlock(u, PAGE) != 0) {
		report_error("mmap/mlock of a page: %s", strerror(errno));
		return;
	}
	fill_text(u);
	if (m_virt_to_gpa(u, &gpa, &why) != 0) {
		report_error("guest-physical address of the user page: %s", why);
		return;
	}
	seed_phys_range("CPL3", u, svc, call3, NULL, gpa, NULL);

	/* CPL0: a kmalloc buffer of the module */
	if (kmod() < 0 || m_kbuf_alloc(kfd, GMLAB_KBUF_KMALLOC, PAGE, &kb) != 0)
		return;
	fill_text(kview);
	if (m_kbuf_rw(kfd, 1, 0, kview, PAGE) != 0)
		return;
	seed_phys_range("CPL0", kview, svc, call0, NULL, kb.gpa, kbuf_view);
}

/* ---- finding 3: the staging chunk and raw writes ------------------------------------------ */

HOSTILE(staging_no_leak)
{
	unsigned long page_svc = m_lookup(GML_SVC_LINEAR_PAGEWISE);
	unsigned long byte_svc = m_lookup(GML_SVC_LINEAR_BYTEWISE);
	unsigned long phys_svc = m_lookup(GML_SVC_PHYS_XFER);
	unsigned char *dst, *own, secret[PAGE];
	struct gmlab_kbuf kb;
	const char *why;
	uint64_t dst_gpa;
	struct mres r;
	int round;

	if (!page_svc || !byte_svc || !phys_svc || kmod() < 0)
		return;
	dst = m_map(PAGE, 1);
	own = m_map(PAGE, 1);
	if (!dst || !own || mlock(dst, PAGE) != 0) {
		report_error("mmap/mlock: %s", strerror(errno));
		return;
	}
	if (m_virt_to_gpa(dst, &dst_gpa, &why) != 0) {
		report_error("guest-physical address of the destination page: %s", why);
		return;
	}
	/* a kernel buffer holding data a CPL3 process must never see */
	if (m_kbuf_alloc(kfd, GMLAB_KBUF_KMALLOC, PAGE, &kb) != 0)
		return;
	/* Each round: a raw write primes the chunk (the unfixed service then believes it holds
	 * GML_XFER_RAW_BYTE everywhere), a read puts other data into the chunk (CPL0 reading the
	 * kernel buffer, or CPL3 reading its own page), then a CPL3 raw write through one of the
	 * three writers must still store GML_XFER_RAW_BYTE in every byte. */
	for (round = 0; round < 6; round++) {
		static const char *writer[3] = { "gml.linear.pagewise", "gml.linear.bytewise",
						 "gml.phys.xfer (pagemap)" };
		unsigned char mark = (unsigned char)(0xc0 + round);
		int w = round % 3, cpl0_read = round < 3;
		char what[160];

		memset(dst, 0x11, PAGE);
		r = m_xfer(page_svc, (uintptr_t)dst, PAGE, GML_XFER_WRITE | GML_XFER_RAW, 0, 0);
		if (!m_expect("priming raw write", &r, GML_OK, PAGE))
			return;
		memset(secret, mark, sizeof(secret));
		if (cpl0_read) {
			if (m_kbuf_rw(kfd, 1, 0, secret, PAGE) != 0)
				return;
			r = m_xfer0(kfd, phys_svc, kb.gpa, PAGE, 0, 0, 0);
			if (!m_expect("CPL0 read of the kernel buffer (gml.phys.xfer)", &r, GML_OK, PAGE))
				return;
		} else {
			memcpy(own, secret, PAGE);
			r = m_xfer(page_svc, (uintptr_t)own, PAGE, GML_XFER_RAW, 0, 0);
			if (!m_expect("CPL3 raw read of its own page", &r, GML_OK, PAGE))
				return;
		}
		memset(dst, 0x11, PAGE);
		if (w == 0)
			r = m_xfer(page_svc, (uintptr_t)dst, PAGE, GML_XFER_WRITE | GML_XFER_RAW, 0, 0);
		else if (w == 1)
			r = m_xfer(byte_svc, (uintptr_t)dst, PAGE, GML_XFER_WRITE | GML_XFER_RAW, 0, 0);
		else
			r = m_xfer(phys_svc, dst_gpa, PAGE, GML_XFER_WRITE | GML_XFER_RAW, 0, 0);
		snprintf(what, sizeof(what), "raw write by %s after a %s read of bytes %#x",
			 writer[w], cpl0_read ? "CPL0 (kernel buffer)" : "CPL3 (own page)", mark);
		if (!m_expect(what, &r, GML_OK, PAGE))
			continue;
		m_check_fill(what, dst, PAGE, GML_XFER_RAW_BYTE);
	}
}

/* ---- finding 4: MSR exits, CPUID hypervisor range ------------------------------------------ */

HOSTILE(msr_hypervisor_range)
{
	static const uint32_t msrs[] = { 0x40000000, 0x40000001, 0x40000080, 0x400000ff };
	size_t i;

	for (i = 0; i < sizeof(msrs) / sizeof(msrs[0]); i++)
		msr_must_gp(msrs[i], 1, 0);
}

static int clocksource_is_kvm(void)
{
	char buf[64] = "";
	FILE *f = fopen("/sys/devices/system/clocksource/clocksource0/current_clocksource", "r");

	if (f) {
		if (!fgets(buf, sizeof(buf), f))
			buf[0] = 0;
		fclose(f);
	}
	return strncmp(buf, "kvm-clock", 9) == 0;
}

HOSTILE(msr_kvm_pv)
{
	/* kvmclock (old/new: wall clock, system time), async PF, steal time, PV EOI, poll
	 * control, async PF int/ack: the outer KVM would write guest memory at the address the
	 * guest puts there */
	static const uint32_t wall[] = { 0x11, 0x4b564d00 };
	static const uint32_t others[] = { 0x12, 0x4b564d01, 0x4b564d02, 0x4b564d03, 0x4b564d04,
					   0x4b564d05, 0x4b564d06, 0x4b564d07, 0x4b564dff };
	unsigned char buf[PAGE], ref[PAGE];
	struct gmlab_kbuf kb;
	int kvmclock = clocksource_is_kvm();
	size_t i;

	if (kmod() < 0 || m_kbuf_alloc(kfd, GMLAB_KBUF_KMALLOC, PAGE, &kb) != 0)
		return;
	memset(ref, 0xee, sizeof(ref));
	if (m_kbuf_rw(kfd, 1, 0, ref, PAGE) != 0)
		return;
	/* the wall-clock MSRs make KVM write the time once, at the address written: point
	 * them at this kernel buffer, which must stay untouched */
	for (i = 0; i < sizeof(wall) / sizeof(wall[0]); i++)
		msr_must_gp(wall[i], 1, kb.gpa);
	/* the rest hold an enable bit 0: writing 0 turns nothing on (unless this guest runs on
	 * kvm-clock, which the fixed hypervisor's hidden CPUID range rules out) */
	if (kvmclock)
		report_info("clocksource is kvm-clock: KVM's CPUID range is visible; reads only");
	for (i = 0; i < sizeof(others) / sizeof(others[0]); i++)
		msr_must_gp(others[i], !kvmclock, 0);
	report(!kvmclock, "the guest does not run on kvm-clock (the outer hypervisor's CPUID "
	       "signature is hidden)");
	if (m_kbuf_rw(kfd, 0, 0, buf, PAGE) == 0)
		m_check_same("kernel buffer named in the wall-clock MSR writes", buf, ref, PAGE);
}

HOSTILE(msr_other_exits)
{
	/* outside SVM's permission-map ranges and VMX's bitmap ranges, so they always exit, and
	 * no CPU has them: the hypervisor tries them on the host (rdmsr_safe/wrmsr_safe) and gives
	 * the guest what the host gave, a #GP, or a value where the host CPU ignores unknown MSRs
	 * (Bochs' default ignore_bad_msrs=1). Never a power-off. */
	static const uint32_t msrs[] = { 0x00002000, 0x80000000, 0xc0020000 };
	struct gmlab_try t;
	unsigned gp = 0;
	size_t i;

	for (i = 0; i < sizeof(msrs) / sizeof(msrs[0]); i++) {
		if (try0(GMLAB_TRY_RDMSR, msrs[i], 0, 0, &t) != 0)
			return;
		gp += t.trap == GP;
		report(t.trap == GP || t.trap == GMLAB_TRAP_NONE, "RDMSR %#x: #GP or a value, as the "
		       "host CPU answers (got %s)", msrs[i], trap_name(t.trap));
		if (try0(GMLAB_TRY_WRMSR, msrs[i], t.trap == GMLAB_TRAP_NONE ? t.out[0] : 0, 0, &t))
			return;
		report(t.trap == GP || t.trap == GMLAB_TRAP_NONE, "WRMSR %#x: #GP or done, as the "
		       "host CPU answers (got %s)", msrs[i], trap_name(t.trap));
	}
	report_value("reads_with_gp", gp);
}

HOSTILE(msr_smca)
{
	unsigned a, b, c, d, i;
	struct gmlab_try t;

	hc_cpuid(0x80000000u, &a, &b, &c, &d);
	if (a >= 0x80000007u)
		hc_cpuid(0x80000007u, &a, &b, &c, &d);
	else
		b = 0;
	if (!(b & (1u << 3))) {
		report_skip("the guest CPU has no scalable MCA (CPUID 0x80000007 EBX[3] = 0; neither "
			    "QEMU TCG nor Bochs emulates SMCA): the SMCA MSRs 0xc0002000+ that Linux "
			    "reads at boot on AMD Zen cannot be read here; the hypervisor's host test "
			    "of its MSR exit handler stands in");
		return;
	}
	for (i = 0; i < 4; i++) {
		if (try0(GMLAB_TRY_RDMSR, 0xc0002000u + i, 0, 0, &t) != 0)
			return;
		report(t.trap == GMLAB_TRAP_NONE, "RDMSR %#x (SMCA bank 0) completes on a CPU with "
		       "SMCA (got %s)", 0xc0002000u + i, trap_name(t.trap));
	}
}

HOSTILE(cpuid_hypervisor_range)
{
	unsigned leaf, a, b, c, d, nonzero = 0, first = 0;

	for (leaf = 0x40000000u; leaf <= 0x400000ffu; leaf++) {
		hc_cpuid(leaf, &a, &b, &c, &d);
		if ((a | b | c | d) && !nonzero++) {
			first = leaf;
			report_info("CPUID %#x: eax %#x ebx %#x ecx %#x edx %#x", leaf, a, b, c, d);
		}
	}
	report_value("nonzero_leaves", nonzero);
	report(nonzero == 0, "CPUID leaves 0x40000000-0x400000ff read as zeros (%u of 256 are not; "
	       "the first: %#x)", nonzero, first);
	report(!clocksource_is_kvm(), "the guest does not run on kvm-clock");
}

/* ---- finding 5: I/O overlapping the log port ---------------------------------------------- */

static sigjmp_buf io_jump;
static volatile long io_trapno;

static void on_io_fault(int sig, siginfo_t *si, void *ctx)
{
	io_trapno = ((ucontext_t *)ctx)->uc_mcontext.gregs[REG_TRAPNO];
	siglongjmp(io_jump, 1);
}

HOSTILE(io_log_port_overlap)
{
	struct sigaction sa = { .sa_sigaction = on_io_fault, .sa_flags = SA_SIGINFO }, old;
	unsigned v;

	/* 0x3e0-0x3ff: the log port COM3 (0x3e8-0x3ef) and its neighbours */
	if (ioperm(0x3e0, 0x20, 1) != 0) {
		report_error("ioperm(0x3e0, 0x20): %s", strerror(errno));
		return;
	}
	/* A #GP here (SIGSEGV) comes from the CPU's I/O permission check, before any intercept
	 * (seen under the KVM box, where QEMU's TCG refused ioperm()'s ports while TR held a busy
	 * TSS type, until the hypervisor normalised it: gml_svm_tr_attrib). */
	sigaction(SIGSEGV, &sa, &old);
	if (sigsetjmp(io_jump, 1)) {
		report(0, "IN/OUT to ports ioperm() allowed raised trap %ld in the guest (13 = #GP: "
		       "the I/O permission check refused it; no exit reached the hypervisor)",
		       (long)io_trapno);
		sigaction(SIGSEGV, &old, NULL);
		ioperm(0x3e0, 0x20, 0);
		return;
	}
	v = inb(0x3e8);
	report(v == 0xff, "inb 0x3e8 (the log port itself) reads 0xff (got %#x)", v);
	sync_console();
	v = inw(0x3e7);
	report(v == 0xffff, "inw 0x3e7 (overlaps 0x3e8) reads 0xffff (got %#x)", v);
	v = inl(0x3e5);
	report(v == 0xffffffffu, "inl 0x3e5 (overlaps 0x3e8) reads 0xffffffff (got %#x)", v);
	v = inw(0x3ef);
	report(v == 0xffff, "inw 0x3ef (overlaps 0x3ef) reads 0xffff (got %#x)", v);
	v = inl(0x3ed);
	report(v == 0xffffffffu, "inl 0x3ed (overlaps 0x3ed-0x3ef) reads 0xffffffff (got %#x)", v);
	outw(0x4142, 0x3e7);
	outl(0x41424344, 0x3e5);
	outb('A', 0x3e8);
	report(1, "outw 0x3e7, outl 0x3e5 and outb 0x3e8 came back (dropped)");
	sigaction(SIGSEGV, &old, NULL);
	ioperm(0x3e0, 0x20, 0);
}

/* ---- finding 6: the ROM write-discard step ------------------------------------------------- */

static sigjmp_buf jump;
static volatile sig_atomic_t sig_seen, traps;
static volatile unsigned long sig_flags;
static void *volatile sig_addr;

static void on_segv(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t *uc = ctx;

	sig_seen = sig;
	sig_addr = si->si_addr;
	sig_flags = (unsigned long)uc->uc_mcontext.gregs[REG_EFL];
	siglongjmp(jump, 1);
}

static void on_trap(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t *uc = ctx;

	traps++;
	uc->uc_mcontext.gregs[REG_EFL] &= ~(greg_t)RFLAGS_TF;	/* one step is enough */
}

static volatile sig_atomic_t ills;

/* ICEBP is undefined on some emulators (QEMU TCG decodes 0xf1 as an illegal opcode): skip it */
static void on_ill(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t *uc = ctx;

	ills++;
	uc->uc_mcontext.gregs[REG_RIP] += 1;
}

static void store8(void *p, uint64_t v)
{
	asm volatile("movq %1, (%0)" : : "r"(p), "r"(v) : "memory");
}

/* n region pages at gpa, gpa + PAGE, ... mapped through /dev/mem; with guards, page i sits at
 * slot 2i and slot 2i+1 stays PROT_NONE (no page-table entry). NULL after report_error. */
static unsigned char *map_region(uint64_t gpa, unsigned n, int guards)
{
	unsigned slots = guards ? 2 * n : n, i;
	unsigned char *area;
	int fd = open("/dev/mem", O_RDWR | O_SYNC);

	if (fd < 0) {
		report_error("open /dev/mem: %s", strerror(errno));
		return NULL;
	}
	area = mmap(NULL, slots * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (area == MAP_FAILED) {
		report_error("mmap of %u reserved pages: %s", slots, strerror(errno));
		close(fd);
		return NULL;
	}
	for (i = 0; i < n; i++) {
		void *slot = area + (guards ? 2 * i : i) * PAGE;

		if (mmap(slot, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd,
			 (off_t)(gpa + i * PAGE)) == MAP_FAILED) {
			report_error("mmap of /dev/mem at %#llx (a region page): %s",
				     (unsigned long long)(gpa + i * PAGE), strerror(errno));
			close(fd);
			return NULL;
		}
	}
	close(fd);
	return area;
}

/* Offset of the first non-zero byte, or n. */
static size_t first_nonzero(const unsigned char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n && !p[i]; i++)
		;
	return i;
}

static int all_zero(const unsigned char *p, size_t n)
{
	return first_nonzero(p, n) == n;
}

/* A hardware data breakpoint on addr (perf, this thread); -1 when the kernel refuses one. */
static int watch(void *addr)
{
	struct perf_event_attr a;

	memset(&a, 0, sizeof(a));
	a.type = PERF_TYPE_BREAKPOINT;
	a.size = sizeof(a);
	a.bp_type = HW_BREAKPOINT_W;
	a.bp_addr = (uintptr_t)addr;
	a.bp_len = HW_BREAKPOINT_LEN_8;
	a.exclude_kernel = 1;
	a.exclude_hv = 1;
	return (int)syscall(__NR_perf_event_open, &a, 0, -1, -1, 0);
}

static uint64_t watch_count(int fd)
{
	uint64_t n = 0;

	if (read(fd, &n, sizeof(n)) != sizeof(n))
		return ~0ULL;
	return n;
}

#define STRADDLE_PAGES 16	/* more than the 8 pages the unfixed step could hold */

HOSTILE(rom_step_fault)
{
	uint64_t base, size;
	unsigned char *area, *r0;
	struct sigaction sa, old_segv, old_trap, old_ill;
	static volatile uint64_t plain;
	volatile unsigned i, ok_sig = 0, ok_tf = 0;
	int fd;

	if (m_hv_region(&base, &size) != 0)
		return;
	if (size < STRADDLE_PAGES * PAGE) {
		report_error("hypervisor region of %#llx bytes: fewer than %u pages",
			     (unsigned long long)size, STRADDLE_PAGES);
		return;
	}
	area = map_region(base, STRADDLE_PAGES, 1);
	if (!area)
		return;
	r0 = area;
	memset(&sa, 0, sizeof(sa));
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sa.sa_sigaction = on_segv;
	sigaction(SIGSEGV, &sa, &old_segv);
	sa.sa_sigaction = on_trap;
	sigaction(SIGTRAP, &sa, &old_trap);
	sa.sa_sigaction = on_ill;
	sigaction(SIGILL, &sa, &old_ill);

	/* 1. an 8-byte store from the last 4 bytes of a region page into a page with no
	 * page-table entry: the nested fault starts the step, the guest's #PF must end it */
	sig_seen = 0;
	if (sigsetjmp(jump, 1) == 0)
		store8(r0 + PAGE - 4, 0x1122334455667788ULL);
	report(sig_seen == SIGSEGV && sig_addr == r0 + PAGE, "a store straddling a region page "
	       "and an unmapped page gets SIGSEGV at the unmapped page (signal %d at %p, expected "
	       "SIGSEGV at %p)", (int)sig_seen, sig_addr, (void *)(r0 + PAGE));
	report(!(sig_flags & RFLAGS_TF), "no TF in the fault's frame (RFLAGS %#lx)", sig_flags);
	report_value("straddle_fault_rflags", (uint64_t)sig_flags);

	/* 2. the step is over: the region page is ROM again, a store into it is discarded */
	store8(r0 + 8, 0xa5a5a5a5a5a5a5a5ULL);
	i = first_nonzero(r0, PAGE);
	report(i == PAGE, "after the faulting store, a store into the region page is discarded: "
	       "the page reads zeros (first non-zero byte at offset %#x: %#x)", i,
	       i < PAGE ? r0[i] : 0);

	/* 3. ICEBP (int1): a #DB of the guest's own, delivered as SIGTRAP */
	traps = ills = 0;
	sync_console();
	asm volatile(".byte 0xf1" ::: "memory");
	if (ills)
		report_info("ICEBP raised #UD here (QEMU TCG does not implement it): check left out");
	else
		report(traps == 1, "ICEBP after the faulting store is delivered to the guest "
		       "(SIGTRAPs: %d, expected 1)", (int)traps);

	/* 4. the guest's own TF across a region store: its #DB is delivered after the store */
	traps = 0;
	asm volatile("pushfq\n\t"
		     "orq $0x100, (%%rsp)\n\t"
		     "popfq\n\t"
		     "movq %1, (%0)\n\t"
		     "nop"
		     : : "r"(r0 + 16), "r"(0x5a5a5a5a5a5a5a5aULL) : "memory", "cc");
	report(traps >= 1, "the guest's own single-step over a region store is delivered "
	       "(SIGTRAPs: %d)", (int)traps);
	i = first_nonzero(r0, PAGE);
	report(i == PAGE, "the region page reads zeros after the single-stepped store (first "
	       "non-zero byte at offset %#x)", i);

	/* 5. a hardware data breakpoint on the region address: its #DB is the guest's too.
	 * Only where the emulator implements data breakpoints (checked on a plain variable). */
	fd = watch((void *)&plain);
	if (fd < 0) {
		report_info("no hardware breakpoint from perf (%s): breakpoint check left out",
			    strerror(errno));
	} else {
		plain = 1;
		if (watch_count(fd) != 1) {
			report_info("a data breakpoint on a plain variable counted %llu (emulator "
				    "without DR breakpoints?): breakpoint check left out",
				    (unsigned long long)watch_count(fd));
			close(fd);
		} else {
			int rfd;

			close(fd);
			rfd = watch(r0 + 24);
			if (rfd < 0) {
				report_error("perf breakpoint on the region page: %s", strerror(errno));
			} else {
				store8(r0 + 24, 0x77);
				report(watch_count(rfd) == 1, "a data breakpoint on a region address "
				       "fires for a discarded store (count %llu, expected 1)",
				       (unsigned long long)watch_count(rfd));
				close(rfd);
			}
		}
	}

	/* 6. straddling stores on STRADDLE_PAGES distinct region pages, one after the other */
	sync_console();
	for (i = 0; i < STRADDLE_PAGES; i++) {
		unsigned char *ri = area + 2 * i * PAGE;

		sig_seen = 0;
		sig_flags = 0;
		if (sigsetjmp(jump, 1) == 0)
			store8(ri + PAGE - 4, 0x1122334455667788ULL + i);
		ok_sig += sig_seen == SIGSEGV && sig_addr == ri + PAGE;
		ok_tf += !(sig_flags & RFLAGS_TF);
	}
	report(ok_sig == STRADDLE_PAGES, "straddling stores on %u region pages: each got SIGSEGV "
	       "(%u did)", STRADDLE_PAGES, ok_sig);
	report(ok_tf == STRADDLE_PAGES, "no TF in any of their frames (%u clean)", ok_tf);
	for (i = 0; i < STRADDLE_PAGES && all_zero(area + 2 * i * PAGE, PAGE); i++)
		;
	report(i == STRADDLE_PAGES, "all %u region pages read zeros afterwards (first not: %u)",
	       STRADDLE_PAGES, i);

	sigaction(SIGSEGV, &old_segv, NULL);
	sigaction(SIGTRAP, &old_trap, NULL);
	sigaction(SIGILL, &old_ill, NULL);
	munmap(area, 2 * STRADDLE_PAGES * PAGE);
}

__attribute__((target("avx512f"))) static void scatter16(unsigned char *base)
{
	int idx[16], val[16], i;

	for (i = 0; i < 16; i++) {
		idx[i] = i * (int)(PAGE / 4) + 2;	/* dword index: page i, byte 8 */
		val[i] = 0x01010101 * (i + 1);
	}
	asm volatile("vmovdqu32 %1, %%zmm1\n\t"
		     "vmovdqu32 %2, %%zmm2\n\t"
		     "kxnorw %%k0, %%k0, %%k1\n\t"
		     "vpscatterdd %%zmm2, (%0,%%zmm1,4) %{%%k1%}"
		     : : "r"(base), "m"(idx), "m"(val) : "memory", "xmm1", "xmm2", "k1");
}

HOSTILE(rom_step_scatter)
{
	uint64_t base, size;
	unsigned char *area;
	unsigned i;

	if (!m_cpu_has("avx512f")) {
		report_skip("the guest CPU has no AVX-512 (no avx512f in /proc/cpuinfo; QEMU's "
			    "qemu64 and Bochs' model lack it): a scatter storing into 16 region pages "
			    "in one instruction cannot run here; the hypervisor's host test of the "
			    "step with 64 pages stands in");
		return;
	}
	if (m_hv_region(&base, &size) != 0)
		return;
	area = map_region(base, 16, 0);
	if (!area)
		return;
	scatter16(area);
	for (i = 0; i < 16 && all_zero(area + i * PAGE, PAGE); i++)
		;
	report(i == 16, "a 16-page AVX-512 scatter into the region is discarded: all pages "
	       "read zeros (first not: %u)", i);
	munmap(area, 16 * PAGE);
}

/* ---- finding 7: nested paging far above RAM ------------------------------------------------- */

/* Guest physical address width from /proc/cpuinfo "address sizes", 0 if unknown. */
static unsigned phys_bits(void)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[256];
	unsigned bits = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "address sizes : %u bits physical", &bits) == 1)
			break;
	fclose(f);
	return bits;
}

#define HIGH_BASE (64ULL << 30)
#define HIGH_GIBS 300

HOSTILE(nested_high_gpa)
{
	unsigned bits = phys_bits();
	struct gmlab_try t;
	double t0;

	report_value("phys_bits", bits);
	if (bits && bits < 39) {
		report_skip("the guest CPU has %u-bit physical addresses: %u GiB above 64 GiB need "
			    "39 bits", bits, HIGH_GIBS);
		return;
	}
	/* one 8-byte read in each of 300 distinct GiB above the initial identity map: nothing
	 * there (reads float or return zeros), but each needs its nested mapping */
	t0 = now_s();
	if (try0(GMLAB_TRY_PHYS_READ, HIGH_BASE + 0x1000, HIGH_GIBS, 1ULL << 30, &t) != 0)
		return;
	report_value("seconds", now_s() - t0);
	report(t.trap == GMLAB_TRAP_NONE && t.out[0] == HIGH_GIBS, "reads at 64 GiB + 0x1000 + "
	       "n GiB, n = 0..%u, all complete (%llu did; %s)", HIGH_GIBS - 1,
	       (unsigned long long)t.out[0], trap_name(t.trap));
	report_value("last_value", (uint64_t)t.out[2]);
}

HOSTILE(nested_gpa_2p48)
{
	unsigned bits = phys_bits();
	struct gmlab_try t;

	report_value("phys_bits", bits);
	if (bits <= 48) {
		report_skip("the guest CPU has %u-bit physical addresses (/proc/cpuinfo address "
			    "sizes; QEMU TCG and Bochs offer at most 40-46): no guest-physical address "
			    ">= 2^48 can be formed; the hypervisor's host test of its nested tables "
			    "stands in", bits);
		return;
	}
	if (try0(GMLAB_TRY_PHYS_READ, 1ULL << 48, 1, 0, &t) != 0)
		return;
	report(t.trap == GP, "a read at guest-physical 2^48 raises #GP (got %s)",
	       trap_name(t.trap));
}

/* ---- finding 8: guest values that would break the next VM entry --------------------------- */

HOSTILE(vmx_cr0_high)
{
	struct gmlab_try t;
	uint64_t cr0;

	if (try0(GMLAB_TRY_READ_CR0, 0, 0, 0, &t) != 0)
		return;
	cr0 = t.out[0];
	report_value("cr0", cr0);
	/* toggling NE makes VMX exit (NE is pinned); bit 32 is reserved */
	if (try0(GMLAB_TRY_CR0, (cr0 ^ (1ULL << 5)) | (1ULL << 32), 0, 0, &t) != 0)
		return;
	report(t.trap == GP, "MOV CR0 with NE toggled and bit 32 set raises #GP (got %s; CR0 read "
	       "after it: %#llx)", trap_name(t.trap), (unsigned long long)t.out[1]);
	if (try0(GMLAB_TRY_CR0, cr0 | (1ULL << 63), 0, 0, &t) != 0)
		return;
	report(t.trap == GP, "MOV CR0 with bit 63 set raises #GP (got %s)", trap_name(t.trap));
}

HOSTILE(xsetbv_amx)
{
	unsigned a, b, c, d;
	struct gmlab_try t;
	uint64_t xcr0;

	hc_cpuid(0, &a, &b, &c, &d);
	if (a >= 0xd)
		hc_cpuid(0xd, &a, &b, &c, &d);
	else
		a = 0;
	if ((a & (3u << 17)) != (3u << 17)) {
		report_skip("the guest CPU offers no AMX state (CPUID.(EAX=0DH,ECX=0):EAX[18:17] = "
			    "%u; neither QEMU TCG nor Bochs emulates AMX): XSETBV's rule that "
			    "XTILECFG and XTILEDATA go together cannot be tried here; the hypervisor's "
			    "host test of its XSETBV check stands in", (a >> 17) & 3);
		return;
	}
	if (try0(GMLAB_TRY_XSETBV, 0, 0, 0, &t) != 0)
		return;
	xcr0 = t.out[0] & ~(3ULL << 17);
	if (try0(GMLAB_TRY_XSETBV, xcr0 | (1ULL << 17), 0, 0, &t) != 0)
		return;
	report(t.trap == GP, "XSETBV with XTILECFG without XTILEDATA raises #GP (got %s)",
	       trap_name(t.trap));
	if (try0(GMLAB_TRY_XSETBV, xcr0 | (1ULL << 18), 0, 0, &t) != 0)
		return;
	report(t.trap == GP, "XSETBV with XTILEDATA without XTILECFG raises #GP (got %s)",
	       trap_name(t.trap));
}

HOSTILE(svm_efer_unsupported)
{
	struct { unsigned bit; const char *name, *why; int lacking; } bits[] = {
		{ 11, "NXE", "CPUID 0x80000001 EDX[20] = 0", 0 },
		{ 13, "LMSLE", "CPUID 0x80000008 EBX[20] = 1 (LMSLE unsupported)", 0 },
		{ 14, "FFXSR", "CPUID 0x80000001 EDX[25] = 0", 0 },
		{ 15, "TCE", "CPUID 0x80000001 ECX[17] = 0", 0 },
	};
	unsigned a, b, c, d, max, i, tried = 0;
	struct gmlab_try t;

	hc_cpuid(0x80000000u, &max, &b, &c, &d);
	hc_cpuid(0x80000001u, &a, &b, &c, &d);
	bits[0].lacking = !(d & (1u << 20));
	bits[2].lacking = !(d & (1u << 25));
	bits[3].lacking = !(c & (1u << 17));
	if (max >= 0x80000008u) {
		hc_cpuid(0x80000008u, &a, &b, &c, &d);
		bits[1].lacking = !!(b & (1u << 20));
	}
	for (i = 0; i < sizeof(bits) / sizeof(bits[0]); i++) {
		if (!bits[i].lacking)
			continue;
		tried++;
		if (try0(GMLAB_TRY_RDMSR, MSR_EFER, 0, 0, &t) != 0)
			return;
		if (try0(GMLAB_TRY_WRMSR_RESTORE, MSR_EFER, t.out[0] | (1ULL << bits[i].bit), 0, &t))
			return;
		report(t.trap == GP, "WRMSR EFER with %s (bit %u) set, which this CPU lacks (%s), "
		       "raises #GP (got %s; EFER read after it %#llx)", bits[i].name, bits[i].bit,
		       bits[i].why, trap_name(t.trap), (unsigned long long)t.out[1]);
	}
	report_value("bits_tried", tried);
	if (!tried)
		report_skip("this CPU has every EFER bit the hypervisor could let through (NXE, "
			    "LMSLE, FFXSR, TCE): nothing to refuse");
}

/* ---- finding 9: bounded work per call ----------------------------------------------------- */

static double timed_call(unsigned long svc, struct hc_regs *r)
{
	double t0 = now_s();

	hc_call(svc, r);
	return now_s() - t0;
}

HOSTILE(seed_linear_bounded)
{
	unsigned long svc = m_lookup("seed.linear");
	unsigned char *buf, ref[PAGE];
	struct hc_regs r;
	double s;

	if (!svc)
		return;
	buf = m_map(PAGE, 1);
	if (!buf)
		return;
	fill_text(buf);
	memcpy(ref, buf, PAGE);
	r = (struct hc_regs){ .rbx = (uintptr_t)buf + 100, .rcx = SEED_LINEAR_MAX + 1 };
	hc_call(svc, &r);
	report(r.rax == 1, "seed.linear with rcx = %d is refused: rax expected 1, got %#lx",
	       SEED_LINEAR_MAX + 1, r.rax);
	m_check_same("buffer after the refused call", buf, ref, PAGE);

	r = (struct hc_regs){ .rbx = (uintptr_t)buf + 100, .rcx = ~0UL };
	sync_console();
	s = timed_call(svc, &r);
	report_value("seconds_rcx_max", s);
	report(s < HOSTILE_BOUND_S, "seed.linear with rcx = 2^64-1 comes back within %.0f s "
	       "(took %.2f s)", HOSTILE_BOUND_S, s);
	report(r.rax == 1, "seed.linear with rcx = 2^64-1 is refused: rax expected 1, got %#lx",
	       r.rax);
	m_check_same("buffer after rcx = 2^64-1", buf, ref, PAGE);

	/* the seed's own use within the limit still works */
	r = (struct hc_regs){ .rbx = (uintptr_t)buf + 100, .rcx = 3 };
	hc_call(svc, &r);
	report(r.rax == 0 && memcmp(buf + 100, "foo\0", 4) == 0, "seed.linear with rcx = 3 "
	       "still turns \"abcd\" into \"foo\\0\" (rax %#lx)", r.rax);
}

HOSTILE(bytewise_bounded)
{
	unsigned long byte_svc = m_lookup(GML_SVC_LINEAR_BYTEWISE);
	unsigned long page_svc = m_lookup(GML_SVC_LINEAR_PAGEWISE);
	size_t big = 16u << 20, small = 256u << 10;
	unsigned char *buf;
	struct hc_regs r;
	struct mres m;
	double s;

	if (!byte_svc || !page_svc)
		return;
	/* one page more than the request limit, so the refused write's range is ours to check */
	buf = m_map(big + PAGE, 1);
	if (!buf)
		return;
	memset(buf, 0x11, big + PAGE);
	/* the bench's byte-wise range still works, and comes back in time */
	r = (struct hc_regs){ .rbx = (uintptr_t)buf, .rcx = small };
	s = timed_call(byte_svc, &r);
	report_value("seconds_bytewise_256kib", s);
	report(r.rax == 0 && s < HOSTILE_BOUND_S, "byte-wise read of 256 KiB: status 0 within "
	       "%.0f s (status %#lx, %.2f s)", HOSTILE_BOUND_S, r.rax, s);
	m = m_xfer(byte_svc, (uintptr_t)buf, small, 0, 0, 0);
	m_expect_read("byte-wise read of 256 KiB", &m, buf, small);
	/*
	 * Since continuations (issue 14) a byte-wise call may be as long as any other
	 * (GML_BYTEWISE_MAX = GML_XFER_MAX): the hypervisor leaves the vCPU between slices, so a
	 * long call no longer holds it (suite modes, cases modes/bytewise/latency measure the
	 * interrupts it lets through). Past the request limit it is still refused, untouched.
	 */
	m = m_xfer(byte_svc, (uintptr_t)buf, GML_BYTEWISE_MAX + 1, 0, 0, 0);
	m_expect("byte-wise read of GML_BYTEWISE_MAX + 1", &m, GML_ME_TOO_LONG, 0);
	m = m_xfer(byte_svc, (uintptr_t)buf, GML_BYTEWISE_MAX + 1, GML_XFER_WRITE, 7, 0);
	m_expect("byte-wise write of GML_BYTEWISE_MAX + 1", &m, GML_ME_TOO_LONG, 0);
	m_check_fill("buffer after the refused write", buf, GML_BYTEWISE_MAX + 1, 0x11);

	/* the page-wise method moves 16 MiB in one call, and comes back in time */
	r = (struct hc_regs){ .rbx = (uintptr_t)buf, .rcx = big };
	s = timed_call(page_svc, &r);
	report_value("seconds_pagewise_16mib", s);
	report(r.rax == 0 && s < HOSTILE_BOUND_S, "page-wise read of 16 MiB: status 0 within "
	       "%.0f s (status %#lx, %.2f s)", HOSTILE_BOUND_S, r.rax, s);
	munmap(buf, big + PAGE);
}

/* ---- finding 10: what CPL3 learns; SVM re-injection ---------------------------------------- */

HOSTILE(cpl3_no_frames)
{
	unsigned long probe = m_lookup(GML_SVC_LINEAR_PROBE);
	unsigned char *buf = m_map(PAGE, 1);
	struct m_paging p;
	struct hc_regs r;

	if (!probe || !buf)
		return;
	r = (struct hc_regs){ .rbx = (uintptr_t)buf, .rcx = 0 };
	hc_call(probe, &r);
	if (!report(r.rax == 0, "CPL3 gml.linear.probe of its own page: status 0 (got %s)",
		    m_errname(r.rax)))
		return;
	report(r.rsi & 1, "the leaf entry it returns is present (rsi %#lx)", r.rsi);
	report((r.rsi & ADDR_BITS_51_12) == 0, "the leaf entry given to CPL3 has its address "
	       "bits 51:12 cleared (rsi %#lx)", r.rsi);
	if (m_cpu_paging(&p) != 0)
		return;
	report((p.cr3 & ADDR_BITS_51_12) == 0, "gml.cpu.paging gives CPL3 a CR3 with bits 51:12 "
	       "cleared (rcx %#llx)", (unsigned long long)p.cr3);
	/* CPL0 keeps seeing the frames */
	if (kmod() >= 0) {
		unsigned long n0 = m_lookup0(kfd, GML_SVC_LINEAR_PROBE);
		struct gmlab_kbuf kb;

		if (n0 && m_kbuf_alloc(kfd, GMLAB_KBUF_KMALLOC, PAGE, &kb) == 0) {
			r = (struct hc_regs){ .rbx = kb.kva, .rcx = 0 };
			if (m_call0(kfd, n0, &r) == 0)
				report(r.rax == 0 && (r.rsi & ADDR_BITS_51_12) != 0, "CPL0 "
				       "gml.linear.probe still returns the leaf's frame (status %s, "
				       "rsi %#lx)", m_errname(r.rax), r.rsi);
		}
	}
}

HOSTILE(svm_int_reinject)
{
	report_skip("an INT n / INT3 / INTO whose delivery takes a nested page fault cannot be "
		    "made from the guest (the IDT, GDT and kernel stacks it goes through are "
		    "ordinary RAM, nested-mapped before the guest starts); the hypervisor's host "
		    "test of the SVM re-injection rule stands in");
}

/* ---- prefixed instructions the hypervisor emulates: RIP must land after all of them ------- */

/*
 * CPUID, RDMSR/WRMSR and the hypercall instructions exit to the hypervisor, which emulates them
 * and moves RIP past them. Prefixes the CPU ignores (segment overrides, 66, REX; up to the
 * 15-byte limit) are part of the instruction: a hypervisor that adds the unprefixed length
 * resumes inside it. Each sequence below is followed by bytes that make such a resume visible
 * without harm: a wrong second CPUID or hypercall, a changed register, or a store to page 0
 * (SIGSEGV, caught).
 */
static sigjmp_buf pfx_jump;
static volatile sig_atomic_t pfx_sig;

static void on_pfx_signal(int sig, siginfo_t *si, void *ctx)
{
	pfx_sig = sig;
	siglongjmp(pfx_jump, 1);
}

/* CPUID leaf 0 written as prefixes + 0f a2, then `jmp +6` over six zero bytes: resumed at the
 * a2, the CPU stores AL at absolute address 0x6eb (page 0: SIGSEGV); resumed at an earlier
 * prefix or the 0f, it runs CPUID again on the first one's EAX. */
#define PFX_CPUID(fn, bytes)								\
	static void fn(unsigned r[4])							\
	{										\
		unsigned a = 0, b, c = 0, d;						\
											\
		asm volatile(".byte " bytes ", 0x0f, 0xa2\n\t"				\
			     ".byte 0xeb, 0x06, 0, 0, 0, 0, 0, 0"			\
			     : "+a"(a), "=b"(b), "+c"(c), "=d"(d) : : "memory");	\
		r[0] = a, r[1] = b, r[2] = c, r[3] = d;					\
	}
PFX_CPUID(cpuid_cs, "0x2e")
PFX_CPUID(cpuid_66_cs, "0x66, 0x2e")
PFX_CPUID(cpuid_rexw, "0x48")
PFX_CPUID(cpuid_15, "0x2e, 0x3e, 0x26, 0x36, 0x64, 0x65, 0x2e, 0x3e, 0x26, 0x36, 0x2e, 0x66, 0x48")

/* A hypercall written as prefixes + 0f 01 d9 (VMMCALL) or 0f 01 c1 (VMCALL), then bytes that a
 * resume at the last opcode byte turns into register operations: for d9, `eb 01 c0` (jmp +1)
 * becomes `fldpi; add eax, eax`; for c1, `eb 01 90` becomes `shr ebx, 1; nop`. A resume at an
 * earlier byte adds ECX to itself or runs a second hypercall on the first one's RAX. */
#define PFX_HC(fn, bytes, insn, tail)							\
	static void fn(struct hc_regs *r)						\
	{										\
		asm volatile(".byte " bytes ", 0x0f, 0x01, " insn "\n\t"		\
			     ".byte " tail						\
			     : "+a"(r->rax), "+b"(r->rbx), "+c"(r->rcx), "+d"(r->rdx),	\
			       "+S"(r->rsi), "+D"(r->rdi) : : "memory", "cc");		\
	}
PFX_HC(vmmcall_cs, "0x2e", "0xd9", "0xeb, 0x01, 0xc0")
PFX_HC(vmmcall_ds_cs, "0x3e, 0x2e", "0xd9", "0xeb, 0x01, 0xc0")
PFX_HC(vmmcall_15, "0x2e, 0x3e, 0x26, 0x36, 0x64, 0x65, 0x2e, 0x3e, 0x26, 0x36, 0x2e, 0x48",
       "0xd9", "0xeb, 0x01, 0xc0")
PFX_HC(vmcall_cs, "0x2e", "0xc1", "0xeb, 0x01, 0x90")
PFX_HC(vmcall_ds_cs, "0x3e, 0x2e", "0xc1", "0xeb, 0x01, 0x90")
PFX_HC(vmcall_15, "0x2e, 0x3e, 0x26, 0x36, 0x64, 0x65, 0x2e, 0x3e, 0x26, 0x36, 0x2e, 0x48",
       "0xc1", "0xeb, 0x01, 0x90")

/* Run fn(arg) with SIGSEGV/SIGILL/SIGBUS/SIGTRAP caught: 0, or the signal it raised. */
static int pfx_guarded(void (*fn)(void *), void *arg)
{
	static const int sigs[] = { SIGSEGV, SIGILL, SIGBUS, SIGTRAP };
	struct sigaction sa = { .sa_sigaction = on_pfx_signal, .sa_flags = SA_SIGINFO }, old[4];
	size_t i;

	for (i = 0; i < 4; i++)
		sigaction(sigs[i], &sa, &old[i]);
	pfx_sig = 0;
	if (sigsetjmp(pfx_jump, 1) == 0)
		fn(arg);
	for (i = 0; i < 4; i++)
		sigaction(sigs[i], &old[i], NULL);
	return pfx_sig;
}

struct pfx_cpuid_run { void (*fn)(unsigned r[4]); unsigned r[4]; };
struct pfx_hc_run { void (*fn)(struct hc_regs *r); struct hc_regs r; };

static void pfx_run_cpuid(void *p)
{
	struct pfx_cpuid_run *x = p;

	x->fn(x->r);
}

static void pfx_run_hc(void *p)
{
	struct pfx_hc_run *x = p;

	x->fn(&x->r);
}

HOSTILE(prefixed_exits)
{
	static const struct { const char *name; void (*fn)(unsigned r[4]); } cpuids[] = {
		{ "2e 0f a2 (CS)", cpuid_cs },
		{ "66 2e 0f a2 (operand size, CS)", cpuid_66_cs },
		{ "48 0f a2 (REX.W)", cpuid_rexw },
		{ "13 prefixes + 0f a2 (15 bytes)", cpuid_15 },
	};
	static const struct { const char *name; void (*fn)(struct hc_regs *r); } hcs[] = {
		{ "2e 0f 01 d9 (CS VMMCALL)", vmmcall_cs },
		{ "3e 2e 0f 01 d9 (DS CS VMMCALL)", vmmcall_ds_cs },
		{ "12 prefixes + 0f 01 d9 (15-byte VMMCALL)", vmmcall_15 },
		{ "2e 0f 01 c1 (CS VMCALL)", vmcall_cs },
		{ "3e 2e 0f 01 c1 (DS CS VMCALL)", vmcall_ds_cs },
		{ "12 prefixes + 0f 01 c1 (15-byte VMCALL)", vmcall_15 },
	};
	static const uint32_t msrs[] = { MSR_EFER, 0x3a /* IA32_FEATURE_CONTROL */ };
	const struct hc_regs in = { .rbx = 0x1000000000000001UL, .rcx = 0x20, .rdx = 0x300,
				    .rsi = 0x4000, .rdi = 0x50000 };
	unsigned long echo = m_lookup("gmlab.echo");
	unsigned ref[4];
	struct gmlab_try t, t0;
	size_t i;
	int sig;

	/* CPUID at CPL3: leaf 0 as the unprefixed instruction gives it */
	hc_cpuid(0, &ref[0], &ref[1], &ref[2], &ref[3]);
	for (i = 0; i < sizeof(cpuids) / sizeof(cpuids[0]); i++) {
		struct pfx_cpuid_run x = { .fn = cpuids[i].fn };

		sync_console();
		sig = pfx_guarded(pfx_run_cpuid, &x);
		if (!report(sig == 0, "CPUID %s continues after the instruction (got signal %d)",
			    cpuids[i].name, sig))
			continue;
		report(memcmp(x.r, ref, sizeof(ref)) == 0, "CPUID %s returns leaf 0 as unprefixed "
		       "CPUID does (eax %#x ebx %#x ecx %#x edx %#x, expected %#x %#x %#x %#x)",
		       cpuids[i].name, x.r[0], x.r[1], x.r[2], x.r[3], ref[0], ref[1], ref[2],
		       ref[3]);
	}

	/* hypercalls at CPL3: gmlab.echo, rax = the sum of rbx..rdi, nothing else changes */
	for (i = 0; echo && i < sizeof(hcs) / sizeof(hcs[0]); i++) {
		struct pfx_hc_run x = { .fn = hcs[i].fn, .r = in };

		x.r.rax = echo;
		sync_console();
		sig = pfx_guarded(pfx_run_hc, &x);
		if (!report(sig == 0, "%s to gmlab.echo continues after the instruction (got "
			    "signal %d)", hcs[i].name, sig))
			continue;
		report(x.r.rax == in.rbx + in.rcx + in.rdx + in.rsi + in.rdi && x.r.rbx == in.rbx &&
		       x.r.rcx == in.rcx && x.r.rdx == in.rdx && x.r.rsi == in.rsi &&
		       x.r.rdi == in.rdi, "%s to gmlab.echo: rax %#lx (expected %#lx), rbx rcx rdx "
		       "rsi rdi %#lx %#lx %#lx %#lx %#lx unchanged", hcs[i].name, x.r.rax,
		       in.rbx + in.rcx + in.rdx + in.rsi + in.rdi, x.r.rbx, x.r.rcx, x.r.rdx,
		       x.r.rsi, x.r.rdi);
	}

	/* RDMSR at CPL0, CS-prefixed: EFER exits under SVM, IA32_FEATURE_CONTROL under VMX */
	for (i = 0; i < sizeof(msrs) / sizeof(msrs[0]); i++) {
		uint32_t want_rcx = (uint32_t)((int32_t)msrs[i] >> 1);

		if (try0(GMLAB_TRY_RDMSR, msrs[i], 0, 0, &t0) != 0)
			return;
		if (t0.trap != GMLAB_TRAP_NONE) {
			report_info("RDMSR %#x raises %s here: its prefixed form is not tried",
				    msrs[i], trap_name(t0.trap));
			continue;
		}
		if (try0(GMLAB_TRY_RDMSR_PREFIXED, msrs[i], 0, 0, &t) != 0)
			return;
		report(t.trap == GMLAB_TRAP_NONE && t.out[0] == t0.out[0] && t.out[1] == want_rcx,
		       "RDMSR %#x written 2e 0f 32 (CS) continues after the instruction: %s, value "
		       "%#llx (unprefixed %#llx), RCX after the next instruction %#llx (expected "
		       "%#x)", msrs[i], trap_name(t.trap), (unsigned long long)t.out[0],
		       (unsigned long long)t0.out[0], (unsigned long long)t.out[1], want_rcx);
	}
}

#define HV GML_NEEDS_HYPERVISOR
#define KM (GML_NEEDS_HYPERVISOR | GML_NEEDS_KMOD)
/* What BitVisor gets instead (struct gml_case.bitvisor): these are the lab hypervisor's own fixes
 * and contracts */
#define LAB_ONLY "skip: tests a hostile-input fix or contract of the lab's own hypervisor (issue 9)"
static const struct gml_case cases[] = {
	{ "hostile/svm-msrs", "finding 1: RDMSR/WRMSR of VM_CR, IGNNE, SMM_CTL, VM_HSAVE_PA, "
	  "SVM_KEY (0xc0010114-8) raise #GP (both backends)", KM, svm_msrs, LAB_ONLY },
	{ "hostile/seed-phys-short", "finding 2: seed.phys refuses rcx < 4 (it stores 4 bytes) "
	  "at CPL3 and CPL0, the buffer untouched; rcx = 4 still turns abc into foo", KM,
	  seed_phys_short, LAB_ONLY },
	{ "hostile/staging-no-leak", "finding 3: a raw write stores 0x5a in every byte after any "
	  "read (CPL0 kernel buffer, CPL3 own page) through every writer", KM, staging_no_leak,
	  LAB_ONLY },
	{ "hostile/msr-hypervisor-range", "finding 4: RDMSR/WRMSR of 0x40000000-0x400000ff raise "
	  "#GP, never a power-off", KM, msr_hypervisor_range, LAB_ONLY },
	{ "hostile/msr-kvm-pv", "finding 4: KVM's paravirtual MSRs (0x11, 0x12, 0x4b564d00-ff) "
	  "raise #GP and never reach an outer KVM (the address written stays untouched)", KM,
	  msr_kvm_pv, LAB_ONLY },
	{ "hostile/msr-other-exits", "finding 4: MSRs outside every permission map (0x2000, "
	  "0x80000000, 0xc0020000) are tried on the host: the guest gets its #GP or value, never "
	  "a power-off", KM,
	  msr_other_exits, LAB_ONLY },
	{ "hostile/msr-smca", "finding 4: AMD's SMCA MSRs, which Linux reads at boot on Zen, "
	  "complete (skipped without SMCA)", KM, msr_smca, LAB_ONLY },
	{ "hostile/cpuid-hypervisor-range", "contract 4: CPUID 0x40000000-0x400000ff read as "
	  "zeros (the outer hypervisor's signature is hidden)", HV, cpuid_hypervisor_range,
	  LAB_ONLY },
	{ "hostile/io-log-port-overlap", "finding 5: IN/OUT overlapping the log port (inw 0x3e7, "
	  "inl 0x3e5, ...) read all ones / are dropped, never a power-off", HV,
	  io_log_port_overlap, LAB_ONLY },
	{ "hostile/rom-step-fault", "finding 6: a region store that faults ends the step: "
	  "SIGSEGV without TF, the region reads zeros, ICEBP, own TF and data breakpoints reach "
	  "the guest, 16 such pages in a row", HV, rom_step_fault, LAB_ONLY },
	{ "hostile/rom-step-scatter", "finding 6: an AVX-512 scatter into 16 region pages is "
	  "discarded (skipped without avx512f)", HV, rom_step_scatter, LAB_ONLY },
	{ "hostile/nested-high-gpa", "finding 7: reads in 300 distinct GiB above 64 GiB all "
	  "complete (nested mapping on demand, no budget)", KM, nested_high_gpa, LAB_ONLY },
	{ "hostile/nested-gpa-2p48", "finding 7: a guest-physical address >= 2^48 gets #GP "
	  "(skipped unless the CPU has more than 48 physical address bits)", KM,
	  nested_gpa_2p48, LAB_ONLY },
	{ "hostile/vmx-cr0-high", "finding 8: MOV CR0 with bits 63:32 set (and NE toggled) "
	  "raises #GP under VMX", KM | GML_NEEDS_VMX, vmx_cr0_high, LAB_ONLY },
	{ "hostile/xsetbv-amx", "finding 8: XSETBV with only one of XTILECFG/XTILEDATA raises "
	  "#GP (skipped without AMX)", KM, xsetbv_amx, LAB_ONLY },
	{ "hostile/svm-efer-unsupported", "finding 8: WRMSR EFER with a bit this CPU lacks "
	  "(LMSLE, FFXSR, TCE, NXE) raises #GP under SVM", KM | GML_NEEDS_SVM,
	  svm_efer_unsupported, LAB_ONLY },
	{ "hostile/seed-linear-bounded", "finding 9: seed.linear refuses rcx > 256, and rcx = "
	  "2^64-1 comes back at once refused", HV, seed_linear_bounded, LAB_ONLY },
	{ "hostile/bytewise-bounded", "finding 9: gml.linear.bytewise refuses more than 256 KiB "
	  "(GML_ME_TOO_LONG); a 16 MiB call comes back within 20 s", HV, bytewise_bounded,
	  LAB_ONLY },
	{ "hostile/cpl3-no-frames", "finding 10: CPL3 gets no physical addresses from "
	  "gml.linear.probe (leaf bits 51:12) or gml.cpu.paging (CR3 bits 51:12); CPL0 still "
	  "does", KM, cpl3_no_frames, LAB_ONLY },
	{ "hostile/svm-int-reinject", "finding 10: SVM leaves INT n/INT3/INTO to re-execute "
	  "after a nested fault in their delivery (skipped: not expressible in a guest)",
	  HV | GML_NEEDS_SVM, svm_int_reinject, LAB_ONLY },
	{ "hostile/prefixed-exits", "CPUID, hypercalls (VMMCALL and VMCALL, to gmlab.echo) and "
	  "RDMSR written with prefixes the CPU ignores (segment, 66, REX; up to 15 bytes) resume "
	  "after the whole instruction with the unprefixed results", KM, prefixed_exits,
	  "skip: needs gmlab.echo, which BitVisor lacks; not measured there (its svm_main.c "
	  "advances RIP by 2/3 bytes without NRIP-save, as ours did)" },
};

GML_MAIN("hostile", cases)
