/*
 * Host-only test support (implemented in core/hosted/, compiled only with GML_HOSTED; the
 * freestanding image neither includes nor links this).
 *
 * Synthetic guest-physical memory: sparse zeroed chunks at chosen GPAs, backed by host heap
 * memory, plus a gml_phys whose map hook points into them and counts what it mapped.
 */
#ifndef GML_HOSTED_H
#define GML_HOSTED_H
#include "gml_types.h"
#include "gml_errors.h"
#include "gml_memmap.h"

#define GML_HMEM_MAX_CHUNKS 32

struct gml_hmem; /* opaque */

struct gml_hmem *gml_hmem_create(void);
void gml_hmem_destroy(struct gml_hmem *m);
/* Back [gpa, gpa+size) with zeroed host memory (page-aligned gpa and size). Only backs memory;
 * what is RAM is the test's memmap's business. */
gml_err gml_hmem_add_chunk(struct gml_hmem *m, u64 gpa, u64 size);
/* Host pointer to [gpa, gpa+len) if fully inside one chunk, else NULL. */
u8 *gml_hmem_ptr(struct gml_hmem *m, u64 gpa, u64 len);
/* Fill *phys with map hooks into m and the given map (which must outlive phys). */
void gml_hmem_phys(struct gml_hmem *m, const struct gml_memmap *map, struct gml_phys *phys);

/* For tests that run one operation two ways on identical guests: two synthetic memories with
 * the same chunks (same GPAs and sizes, added in the same order). gml_hmem_differs: the first
 * GPA where their contents differ (true, *gpa set; false with *gpa = UINT64_MAX when equal).
 * gml_hmem_written_differs: the same, looking only at the 4 KiB pages either memory handed out
 * for writing (map_gpa with write=true: all the core ever writes through) since its last
 * gml_hmem_reset_stats — everything if more pages were written than the log holds.
 * Both return true with *gpa = UINT64_MAX when the layouts differ. */
bool gml_hmem_differs(const struct gml_hmem *a, const struct gml_hmem *b, u64 *gpa);
bool gml_hmem_written_differs(const struct gml_hmem *a, const struct gml_hmem *b, u64 *gpa);

/* Statistics of map_gpa calls since the last reset. */
struct gml_hmem_stats {
	u64 maps;        /* successful map_gpa calls */
	u64 map_fails;   /* map_gpa calls outside every chunk */
	u64 unmaps;
	u64 lowest_gpa;  /* lowest / highest byte mapped (UINT64_MAX / 0 when none) */
	u64 highest_gpa;
	u64 write_maps;
};
void gml_hmem_stats(const struct gml_hmem *m, struct gml_hmem_stats *out);
void gml_hmem_reset_stats(struct gml_hmem *m);

/* Simulate another vCPU changing a paging entry: the next `times` write-mappings of the 8 bytes
 * at `gpa` (what the A/D compare-and-set does) first flip bit 9 (ignored by the CPU) of the entry
 * there, so the compare-and-set sees a changed entry. */
void gml_hmem_interfere(struct gml_hmem *m, u64 gpa, u32 times);

#endif
