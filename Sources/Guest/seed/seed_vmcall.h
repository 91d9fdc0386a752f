/*
 * The one change the seed's code needs here. Its author used Intel, so it writes
 *     asm volatile ("vmcall" : outputs : inputs);
 * On AMD the instruction is vmmcall, and each one raises #UD on the other vendor's CPU. The
 * seed's examples are written with
 *     SEED_VMCALL (: outputs : inputs);
 * which runs the instruction of this CPU with the seed's own operand list, unchanged, so the
 * examples keep their shape. Used by the raw-asm examples (phys_kernel/foo.c,
 * phys_user/phys_user.c); the call_vmm ones get the choice from the hypercall library.
 */
#ifndef SEED_VMCALL_H
#define SEED_VMCALL_H

#ifdef __KERNEL__
#include <asm/processor.h>
static inline int seed_cpu_is_amd (void)
{
	return boot_cpu_data.x86_vendor == X86_VENDOR_AMD ||
	       boot_cpu_data.x86_vendor == X86_VENDOR_HYGON;
}
#else
static inline int seed_cpu_is_amd (void)
{
	unsigned int a, b, c, d;

	asm volatile ("cpuid" : "=a" (a), "=b" (b), "=c" (c), "=d" (d) : "a" (0), "c" (0));
	/* "AuthenticAMD" or "HygonGenuine": ebx holds the first four characters */
	return b == 0x68747541 /* "Auth" */ || b == 0x6f677948 /* "Hygo" */;
}
#endif

#define SEED_VMCALL(...) \
	do { \
		if (seed_cpu_is_amd ()) \
			asm volatile ("vmmcall" __VA_ARGS__); \
		else \
			asm volatile ("vmcall" __VA_ARGS__); \
	} while (0)

#endif
