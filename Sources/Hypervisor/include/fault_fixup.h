/* Instructions the hypervisor lets fault: a #GP at a listed instruction resumes at its fixup
 * instead of being fatal (arch/idt.c looks the table up). Used for RDMSR/WRMSR of MSRs the guest
 * names, which the CPU may not implement; the guest then gets the #GP the CPU would give it. */
#ifndef HV_FAULT_FIXUP_H
#define HV_FAULT_FIXUP_H
#include "types.h"

struct fault_fixup {
	u64 insn, resume;
};
/* Linker-collected table (hv.ld: .fixup_table). */
extern const struct fault_fixup _fixup_start[], _fixup_end[];

/* Records "1b may #GP: continue at 3f", where 3f sets the failure flag and jumps back to 2f. */
#define FIXUP_ENTRY(flag)                                                      \
	".pushsection .fixup_table, \"a\"\n\t.quad 1b, 3f\n\t.popsection\n\t" \
	".pushsection .text.fixup, \"ax\"\n3:\tmovl $1, " flag "\n\tjmp 2b\n\t.popsection\n\t"

/* false if the CPU raised #GP (MSR not implemented, or a reserved bit for wrmsr). */
static inline bool rdmsr_safe(u32 msr, u64 *val)
{
	u32 lo = 0, hi = 0, failed = 0;
	asm volatile("1: rdmsr\n2:\n\t" FIXUP_ENTRY("%2")
		     : "+a"(lo), "+d"(hi), "+r"(failed) : "c"(msr));
	*val = ((u64)hi << 32) | lo;
	return !failed;
}

static inline bool wrmsr_safe(u32 msr, u64 val)
{
	u32 failed = 0;
	asm volatile("1: wrmsr\n2:\n\t" FIXUP_ENTRY("%0")
		     : "+r"(failed) : "c"(msr), "a"((u32)val), "d"((u32)(val >> 32)) : "memory");
	return !failed;
}

#endif
