/* Seed API: one datum at a guest-linear address of the calling vCPU, walking the guest's page
 * tables from its CR3 with the caller's CPL on every access (core/ gml_access_linear_datum).
 * Return 0 on success, else a gml_err value (core/include/gml_errors.h); *data is only
 * written on success.
 * Beyond the seed: guest_copy_from_linear / guest_copy_to_linear copy page-wise (one
 * translation per page) and report the bytes done and the fault. */
#ifndef HV_CPU_MMU_H
#define HV_CPU_MMU_H
#include "types.h"
#include "gml_errors.h"
#include "gml_copy.h"

int read_linearaddr_b(ulong linear, void *data);
int read_linearaddr_w(ulong linear, void *data);
int read_linearaddr_l(ulong linear, void *data);
int read_linearaddr_q(ulong linear, void *data);
int write_linearaddr_b(ulong linear, u8 data);
int write_linearaddr_w(ulong linear, u16 data);
int write_linearaddr_l(ulong linear, u32 data);
int write_linearaddr_q(ulong linear, u64 data);

/* Page-wise copies with the calling vCPU's rights. status may be NULL. */
gml_err guest_copy_from_linear(void *dst, ulong linear, u64 len, struct gml_copy_status *status);
gml_err guest_copy_to_linear(ulong linear, const void *src, u64 len, struct gml_copy_status *status);
/* All-or-nothing guest-physical copies with the same checks as mapmem_gphys. */
gml_err guest_copy_from_phys(void *dst, u64 gpa, u64 len, struct gml_copy_status *status);
gml_err guest_copy_to_phys(u64 gpa, const void *src, u64 len, struct gml_copy_status *status);

#endif
