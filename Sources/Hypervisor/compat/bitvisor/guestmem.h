/* The lab's guest-memory view for common code, on BitVisor.
 *
 * guest_walker(w) fills w->cpu (CR0, CR3, CR4, EFER, RFLAGS, CPL) from BitVisor's vCPU: what
 * gml.cpu.paging reports. w->pt stays empty: the lab's own page walker (gml_translate) is not
 * part of BitVisor; the one service that needs it (gml.linear.probe) is left out here and
 * gml_translate only says so.
 *
 * guest_phys()->map is NULL: on BitVisor gml_gpa_range_check_at() asks BitVisor's address
 * space (gmm_arch_current_as()) page by page, the same verdict mapmem_as gives, instead of the
 * lab's memory map. */
#ifndef GMLAB_BV_GUESTMEM_H
#define GMLAB_BV_GUESTMEM_H
#include "types.h"
#include "gml_memmap.h"
#include "gml_pagewalk.h"

const struct gml_phys *guest_phys(void);
void guest_walker(struct gml_walker *w);

#endif
