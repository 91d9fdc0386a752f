/* The lab's heap on BitVisor: alloc_pages(n) returns n zeroed, contiguous pages and never NULL
 * (BitVisor panics when its memory is exhausted, as the lab's hypervisor does). BitVisor's own
 * alloc_pages(&virt, &phys, n) is declared first, so the macro below does not touch it. The
 * lab's region report (hv_region, …) does not exist here: BitVisor's memory is its own. */
#ifndef GMLAB_BV_HVMEM_H
#define GMLAB_BV_HVMEM_H
#include "types.h"
#include <core/mm.h>

void *gmlab_bv_alloc_pages(u64 npages);

#define alloc_pages(npages) gmlab_bv_alloc_pages(npages)
#define alloc_page() gmlab_bv_alloc_pages(1)

#endif
