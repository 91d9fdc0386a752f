/* Host-fuzzer shim over the real include/x86.h: cpuid answers from the model (MAXPHYADDR is part
 * of the fuzz input), not from the host CPU, so runs replay identically on every machine. The
 * other wrappers are the real ones; the model never sets CR4.PKE, so guestmem.c never executes
 * its privileged RDPKRU sequence here. */
#ifndef HF_SHIM_X86_H
#define HF_SHIM_X86_H
#define cpuid hf_host_cpuid
#include_next "x86.h"
#undef cpuid
void cpuid(u32 leaf, u32 sub, u32 *a, u32 *b, u32 *c, u32 *d);
#endif
