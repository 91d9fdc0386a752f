/* Seed API on BitVisor: one datum at a guest-linear address with BitVisor's own
 * read_linearaddr_{b,w,l,q} / write_linearaddr_{b,w,l,q} (core/x86/cpu_mmu.h), which walk the
 * guest's page tables from its CR3 on every call. Their enum vmmerr results are turned into
 * the lab's gml_err (gmlab_bv_err: the nearest value; 0 stays success), so a service sees the
 * same error numbers on both hypervisors.
 *
 * Beyond the seed (the lab's cpu_mmu.h), on BitVisor:
 *  - guest_copy_{from,to}_linear: the page-wise copy of the unmerged 2012 "BitVisor-copy"
 *    patch: one translation per 4 KiB page with BitVisor's cpu_mmu_get_pte (walked as
 *    BitVisor's own accessors walk: as supervisor, so U/S is never checked; R/W only with
 *    CR0.WP; A/D set), the page mapped with mapmem_as and copied. Stops at the first page it
 *    cannot use; status->done = bytes moved, status->level = 0 (BitVisor's walker reports no
 *    level).
 *  - guest_copy_{from,to}_phys: all or nothing through mapmem_as, after the whole range passed
 *    BitVisor's address space (its own memory is refused for writes: GML_E_GPA_HV_REGION). */
#ifndef GMLAB_BV_CPU_MMU_H
#define GMLAB_BV_CPU_MMU_H
#include "types.h"
#include "gml_errors.h"
#include "gml_copy.h"
#include "../cpu_mmu.h"

/* enum vmmerr → gml_err */
gml_err gmlab_bv_err(int vmmerr);

int gmlab_bv_read_linearaddr_b(ulong linear, void *data);
int gmlab_bv_read_linearaddr_w(ulong linear, void *data);
int gmlab_bv_read_linearaddr_l(ulong linear, void *data);
int gmlab_bv_read_linearaddr_q(ulong linear, void *data);
int gmlab_bv_write_linearaddr_b(ulong linear, u8 data);
int gmlab_bv_write_linearaddr_w(ulong linear, u16 data);
int gmlab_bv_write_linearaddr_l(ulong linear, u32 data);
int gmlab_bv_write_linearaddr_q(ulong linear, u64 data);

#define read_linearaddr_b(linear, data) gmlab_bv_read_linearaddr_b((linear), (data))
#define read_linearaddr_w(linear, data) gmlab_bv_read_linearaddr_w((linear), (data))
#define read_linearaddr_l(linear, data) gmlab_bv_read_linearaddr_l((linear), (data))
#define read_linearaddr_q(linear, data) gmlab_bv_read_linearaddr_q((linear), (data))
#define write_linearaddr_b(linear, data) gmlab_bv_write_linearaddr_b((linear), (data))
#define write_linearaddr_w(linear, data) gmlab_bv_write_linearaddr_w((linear), (data))
#define write_linearaddr_l(linear, data) gmlab_bv_write_linearaddr_l((linear), (data))
#define write_linearaddr_q(linear, data) gmlab_bv_write_linearaddr_q((linear), (data))

gml_err guest_copy_from_linear(void *dst, ulong linear, u64 len, struct gml_copy_status *status);
gml_err guest_copy_to_linear(ulong linear, const void *src, u64 len, struct gml_copy_status *status);
gml_err guest_copy_from_phys(void *dst, u64 gpa, u64 len, struct gml_copy_status *status);
gml_err guest_copy_to_phys(u64 gpa, const void *src, u64 len, struct gml_copy_status *status);

#endif
