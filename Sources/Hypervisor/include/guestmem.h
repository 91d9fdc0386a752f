/* Guest memory access for common code: the core's memory map and walker, bound to the calling
 * vCPU. Guest-physical == host-physical except the hypervisor's regions. */
#ifndef HV_GUESTMEM_H
#define HV_GUESTMEM_H
#include "types.h"
#include "gml_memmap.h"
#include "gml_pagewalk.h"

/* Builds the core's memory map (RAM, MMIO holes, hypervisor regions) from the firmware map. */
void guestmem_init(void);
const struct gml_phys *guest_phys(void);
/* The calling vCPU's paging state at this exit, as the core's walker wants it. */
void guest_walker(struct gml_walker *w);

#endif
