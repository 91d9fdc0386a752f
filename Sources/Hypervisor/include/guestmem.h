/* Guest memory access for common code: the core's memory map and walker, bound to the calling
 * vCPU. Guest-physical == host-physical except the hypervisor's regions. */
#ifndef HV_GUESTMEM_H
#define HV_GUESTMEM_H
#include "types.h"
#include "gml_memmap.h"
#include "gml_pagewalk.h"
#include "gml_guestinput.h"

/* Builds the core's memory map (RAM, MMIO holes, hypervisor regions) from the firmware map. */
void guestmem_init(void);
const struct gml_phys *guest_phys(void);
/* The calling vCPU's paging state at this exit, as the core's walker wants it. */
void guest_walker(struct gml_walker *w);
/* The length of the instruction at guest-linear lin (CS.base + RIP outside 64-bit mode), read
 * with the calling vCPU's fetch rights, prefixes included, if it is `want`; else 0
 * (gml_insn_len_at: unreadable, or another instruction). For exits that do not report the
 * length (SVM without NRIP-save, exception exits). */
unsigned guest_insn_len(u64 lin, bool mode64, enum gml_insn want);

#endif
