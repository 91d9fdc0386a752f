/* Seed API: map guest-physical memory into the hypervisor.
 * mapmem_gphys(gpa, len, flags) returns a pointer valid for len bytes, or NULL unless the whole
 * range is guest RAM, outside the hypervisor's region, len > 0 and gpa+len does not overflow.
 * Guest-physical equals host-physical here, so the pointer is the identity mapping; unmapmem()
 * is still required by the API (it is a no-op today). */
#ifndef HV_MM_H
#define HV_MM_H
#include "types.h"

#define MAPMEM_WRITE 0x1
#define MAPMEM_PCD 0x2 /* accepted, ignored: RAM only */
#define MAPMEM_PWT 0x4

void *mapmem_gphys(u64 gphys, ulong len, int flags);
void unmapmem(void *virt, ulong len);

#endif
