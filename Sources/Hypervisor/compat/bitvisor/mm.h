/* Seed API on BitVisor: mapmem_gphys(gpa, len, flags) maps guest-physical memory.
 * BitVisor removed mapmem_gphys in 2020; its way is mapmem_as(gmm_arch_current_as(), …),
 * and that is what this calls, with MAPMEM_CANFAIL added so that a refused range gives NULL
 * (as the seed expects) instead of a panic. NULL also for len 0, len ≥ 4 GiB (BitVisor takes a
 * 32-bit length) and a range wrapping past 2^64. The flags are BitVisor's (MAPMEM_WRITE,
 * MAPMEM_UC, MAPMEM_PCD, …). unmapmem(p, len) is BitVisor's.
 *
 * What BitVisor refuses is its own memory for writing (its address space maps it read-only to
 * a zero page); reads of its memory give zeros, and every other address, RAM or not, is mapped
 * as it is. */
#ifndef GMLAB_BV_MM_H
#define GMLAB_BV_MM_H
#include "types.h"
#include <core/mm.h>
#include <arch/gmm.h>
#include "../mm.h"

void *mapmem_gphys(u64 gphys, ulong len, int flags);

#endif
