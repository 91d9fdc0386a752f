/*
 * Guest-physical memory map, bounds checks, and the guest-physical access hook.
 *
 * Guest-physical = host-physical in this hypervisor (identity nested paging) except the
 * hypervisor's own region, which the guest sees as ROM. Every guest-physical access the core
 * makes — page-table entries and data — is checked here first, so a hostile GPA yields a typed
 * error, never a crash.
 *
 * Ranges are [base, base+len). They may be added in any order; adjacent or overlapping RAM
 * ranges (as e820 produces) together cover their union. A range whose end would pass 2^64 is
 * refused (GML_E_LEN_WRAP).
 */
#ifndef GML_MEMMAP_H
#define GML_MEMMAP_H
#include "gml_types.h"
#include "gml_errors.h"

#define GML_MEMMAP_MAX 64 /* per kind */

struct gml_range {
	u64 base;
	u64 last; /* inclusive: base + len - 1, so a range may end exactly at 2^64 - 1 */
};

struct gml_memmap {
	u32 nram, nrom, nmmio, nhv;
	struct gml_range ram[GML_MEMMAP_MAX];  /* guest RAM (e820 type 1) */
	struct gml_range rom[GML_MEMMAP_MAX];  /* readable, not writable guest memory */
	struct gml_range mmio[GML_MEMMAP_MAX]; /* known device ranges (better error than "outside RAM") */
	struct gml_range hv[GML_MEMMAP_MAX];   /* the hypervisor's own region(s) */
};

void gml_memmap_init(struct gml_memmap *map);
/* Each returns GML_OK, GML_E_LEN_ZERO, GML_E_LEN_WRAP or GML_E_MEMMAP_FULL. */
gml_err gml_memmap_add_ram(struct gml_memmap *map, u64 base, u64 len);
gml_err gml_memmap_add_rom(struct gml_memmap *map, u64 base, u64 len);
gml_err gml_memmap_add_mmio(struct gml_memmap *map, u64 base, u64 len);
gml_err gml_memmap_add_hv(struct gml_memmap *map, u64 base, u64 len);

/*
 * May the hypervisor access [gpa, gpa+len) on the guest's behalf?
 * Checked in this order, first failure wins:
 *   len == 0 → GML_E_LEN_ZERO; gpa+len wraps past 2^64 → GML_E_LEN_WRAP;
 *   any byte in a hypervisor range → GML_E_GPA_HV_REGION (reads too: they would leak it);
 *   any byte not covered by RAM ∪ ROM → GML_E_GPA_MMIO if that byte is in an MMIO range,
 *     else GML_E_GPA_OUTSIDE_RAM;
 *   write and any byte in ROM and not in RAM → GML_E_GPA_READ_ONLY.
 * Overflow-safe for every u64 input. `bad` (may be NULL) receives the first offending GPA.
 */
gml_err gml_gpa_range_check(const struct gml_memmap *map, u64 gpa, u64 len, bool write);
gml_err gml_gpa_range_check_at(const struct gml_memmap *map, u64 gpa, u64 len, bool write,
			       u64 *bad);

/*
 * Guest-physical access: the memory map plus a hook that turns a checked GPA range into a host
 * pointer. In the image map_gpa is the identity ((void *)gpa, all RAM is mapped); in the host
 * tests it points into a synthetic buffer. map_gpa is only called after gml_gpa_range_check
 * passed, never for a range that crosses a 4 KiB boundary, and may return NULL
 * (→ GML_E_GPA_UNMAPPED). unmap may be NULL.
 */
struct gml_phys {
	const struct gml_memmap *map;
	void *(*map_gpa)(void *ctx, u64 gpa, u64 len, bool write);
	void (*unmap)(void *ctx, void *p, u64 len);
	void *ctx;
};

#endif
