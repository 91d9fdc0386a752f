/*
 * The lab's hypercall ABI, seen from the guest (BitVisor-compatible; see
 * shared/docs/methods.md "Guest-visible ABI"):
 *   look-up: rax = 0, rbx = linear address of a NUL-terminated name -> rax = number (> 0) or 0
 *   call:    rax = number, arguments in rbx rcx rdx rsi rdi -> results in rax (and those
 *            registers where a service says so); every other register is preserved.
 * The instruction is vmcall on Intel and vmmcall on AMD; the other one raises #UD.
 *
 * This header is shared by user space and the kernel module (kmod/gmlab.c), so it is
 * header-only inline asm with no libc types. In the kernel every instruction carries an
 * exception-table entry: a #UD (no hypervisor, or the wrong vendor instruction) is fixed up
 * and reported as `faulted` instead of oopsing. In user space the #UD arrives as SIGILL;
 * hc_probe() (hypercall.c) catches it, and callers must probe before calling.
 */
#ifndef GML_HYPERCALL_H
#define GML_HYPERCALL_H

#ifdef __KERNEL__
#include <asm/asm.h>
#define GML_HC_EXTABLE(from, to) _ASM_EXTABLE(from, to)
#else
#define GML_HC_EXTABLE(from, to) ""
#endif

/* What an unused service number returns in rax (the lab's defined error; BitVisor returns 0). */
#define GML_HC_ENOSYS 0xFFFFFFFFFFFFFFFFull
/* The floor: the lab's hypervisor answers this number at the top of its exit path, RIP past the
 * instruction and rax unchanged (Sources/Hypervisor/include/gml_hypercall.h); elsewhere it is an
 * unused number. */
#define GML_HC_FLOOR 0x474d4c464c4f4f52ull /* "GMLFLOOR" */
/* gmlab.info returns this in rax: "GMLAB" in ASCII. */
#define GML_INFO_MAGIC 0x474d4c4142ull
/* gmlab.info rdx */
#define GML_BACKEND_SVM 1
#define GML_BACKEND_VMX 2
/* Longest service name the ABI accepts, without the NUL. */
#define GML_HC_NAME_MAX 255

enum hc_insn {
	HC_INSN_VMCALL = 1,	/* Intel VMX */
	HC_INSN_VMMCALL = 2,	/* AMD SVM */
};

/* Registers in and out of one hypercall. */
struct hc_regs {
	unsigned long rax, rbx, rcx, rdx, rsi, rdi;
};

static inline void hc_cpuid(unsigned int leaf, unsigned int *a, unsigned int *b,
			    unsigned int *c, unsigned int *d)
{
	asm volatile("cpuid" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d) : "a"(leaf), "c"(0));
}

/* CPUID leaf 0 vendor string into buf (13 bytes incl. NUL). */
static inline void hc_cpu_vendor(char buf[13])
{
	unsigned int a, b, c, d, i;

	hc_cpuid(0, &a, &b, &c, &d);
	for (i = 0; i < 4; i++) {
		buf[i] = (char)(b >> (8 * i));
		buf[4 + i] = (char)(d >> (8 * i));
		buf[8 + i] = (char)(c >> (8 * i));
	}
	buf[12] = 0;
}

/* vmcall on GenuineIntel, vmmcall on AuthenticAMD (and Hygon, which is SVM). Other vendors
 * get vmcall, the more common one; a wrong pick shows up as #UD, never as a silent success. */
static inline enum hc_insn hc_insn_for_cpu(void)
{
	char v[13];

	hc_cpu_vendor(v);
	if ((v[0] == 'A' && v[1] == 'u' && v[2] == 't' && v[3] == 'h') ||	/* AuthenticAMD */
	    (v[0] == 'H' && v[1] == 'y' && v[2] == 'g' && v[3] == 'o'))		/* HygonGenuine */
		return HC_INSN_VMMCALL;
	return HC_INSN_VMCALL;
}

/*
 * One hypercall with the given instruction; r is both input and output.
 * Returns 0 when the instruction completed, 1 when it raised #UD (kernel only: fixed up by
 * the exception table, registers unchanged). In user space a #UD is SIGILL instead.
 */
static inline int hc_raw(enum hc_insn insn, struct hc_regs *r)
{
	unsigned long faulted;

	if (insn == HC_INSN_VMMCALL)
		asm volatile("mov $1, %[f]\n\t"
			     "1: vmmcall\n\t"
			     "xor %k[f], %k[f]\n\t"
			     "2:\n\t"
			     GML_HC_EXTABLE(1b, 2b)
			     : [f] "=&r"(faulted), "+a"(r->rax), "+b"(r->rbx), "+c"(r->rcx),
			       "+d"(r->rdx), "+S"(r->rsi), "+D"(r->rdi)
			     :
			     : "memory", "cc");
	else
		asm volatile("mov $1, %[f]\n\t"
			     "1: vmcall\n\t"
			     "xor %k[f], %k[f]\n\t"
			     "2:\n\t"
			     GML_HC_EXTABLE(1b, 2b)
			     : [f] "=&r"(faulted), "+a"(r->rax), "+b"(r->rbx), "+c"(r->rcx),
			       "+d"(r->rdx), "+S"(r->rsi), "+D"(r->rdi)
			     :
			     : "memory", "cc");
	return (int)faulted;
}

/* Look up a service by name. Returns its number (> 0) or 0; *faulted as in hc_raw. */
static inline unsigned long hc_lookup_insn(enum hc_insn insn, const char *name, int *faulted)
{
	struct hc_regs r = { .rax = 0, .rbx = (unsigned long)name };
	int f = hc_raw(insn, &r);

	if (faulted)
		*faulted = f;
	return f ? 0 : r.rax;
}

/* Call service `num` with args in io->rbx..rdi; io receives every result register. */
static inline int hc_call_insn(enum hc_insn insn, unsigned long num, struct hc_regs *io)
{
	io->rax = num;
	return hc_raw(insn, io);
}

#ifndef __KERNEL__
/* ---- user-space helpers (hypercall.c) ---- */

enum hc_presence {
	HC_ABSENT = 0,	/* the instruction raised #UD (SIGILL): no hypervisor serves it */
	HC_PRESENT = 1,	/* the instruction completed */
};

/* The instruction this CPU uses (cached CPUID). */
enum hc_insn hc_insn(void);
const char *hc_insn_name(enum hc_insn insn);
/* Try one look-up of `name` under a SIGILL guard. *number gets the look-up result when present. */
enum hc_presence hc_probe_name(const char *name, unsigned long *number);
/* hc_probe_name("gmlab.info", NULL) */
enum hc_presence hc_probe(void);
/* Unguarded: only after hc_probe() said HC_PRESENT (a #UD here kills the process with SIGILL). */
unsigned long hc_lookup(const char *name);
/* rax = result; io holds all five argument registers in and their values out. */
unsigned long hc_call(unsigned long num, struct hc_regs *io);
#endif

#endif
