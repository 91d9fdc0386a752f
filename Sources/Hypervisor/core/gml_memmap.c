/* Guest-physical memory map and overflow-safe range checks (gml_memmap.h). */
#include "gml_memmap.h"

void gml_memmap_init(struct gml_memmap *map)
{
	map->nram = map->nrom = map->nmmio = map->nhv = 0;
}

static gml_err add_range(struct gml_range *arr, u32 *n, u64 base, u64 len)
{
	if (len == 0)
		return GML_E_LEN_ZERO;
	if (len - 1 > ~0ULL - base) /* base + len - 1 would pass 2^64 - 1 */
		return GML_E_LEN_WRAP;
	if (*n >= GML_MEMMAP_MAX)
		return GML_E_MEMMAP_FULL;
	arr[*n].base = base;
	arr[*n].last = base + (len - 1);
	(*n)++;
	return GML_OK;
}

gml_err gml_memmap_add_ram(struct gml_memmap *map, u64 base, u64 len)
{
	return add_range(map->ram, &map->nram, base, len);
}

gml_err gml_memmap_add_rom(struct gml_memmap *map, u64 base, u64 len)
{
	return add_range(map->rom, &map->nrom, base, len);
}

gml_err gml_memmap_add_mmio(struct gml_memmap *map, u64 base, u64 len)
{
	return add_range(map->mmio, &map->nmmio, base, len);
}

gml_err gml_memmap_add_hv(struct gml_memmap *map, u64 base, u64 len)
{
	return add_range(map->hv, &map->nhv, base, len);
}

static const struct gml_range *containing(const struct gml_range *arr, u32 n, u64 addr)
{
	for (u32 i = 0; i < n; i++)
		if (arr[i].base <= addr && addr <= arr[i].last)
			return &arr[i];
	return NULL;
}

/* Does [first, last] intersect any range? *at = lowest intersecting address. */
static bool intersects(const struct gml_range *arr, u32 n, u64 first, u64 last, u64 *at)
{
	bool hit = false;
	u64 low = 0;
	for (u32 i = 0; i < n; i++) {
		if (arr[i].base <= last && first <= arr[i].last) {
			u64 a = arr[i].base > first ? arr[i].base : first;
			if (!hit || a < low)
				low = a;
			hit = true;
		}
	}
	if (hit)
		*at = low;
	return hit;
}

/*
 * Walk [first, last] through the union of one or two range lists; return false with *gap =
 * first uncovered address. Each step jumps to the end of a covering range, so at most
 * n1 + n2 + 1 steps run.
 */
static bool covered(const struct gml_range *a1, u32 n1, const struct gml_range *a2, u32 n2,
		    u64 first, u64 last, u64 *gap)
{
	u64 cur = first;
	for (;;) {
		const struct gml_range *r = containing(a1, n1, cur);
		const struct gml_range *r2 = containing(a2, n2, cur);
		/* either list may cover cur; take the range reaching further (fewer steps) */
		if (!r || (r2 && r2->last > r->last))
			r = r2;
		if (!r) {
			*gap = cur;
			return false;
		}
		if (r->last >= last)
			return true;
		cur = r->last + 1; /* r->last < last ≤ 2^64 - 1: no wrap */
	}
}

gml_err gml_gpa_range_check_at(const struct gml_memmap *map, u64 gpa, u64 len, bool write,
			       u64 *bad)
{
	u64 at = gpa, last;
	gml_err err = GML_OK;

	if (!map)
		return GML_E_INVALID_ARG;
	if (len == 0) {
		err = GML_E_LEN_ZERO;
		goto out;
	}
	if (len - 1 > ~0ULL - gpa) {
		err = GML_E_LEN_WRAP;
		goto out;
	}
	last = gpa + (len - 1);
	if (intersects(map->hv, map->nhv, gpa, last, &at)) {
		err = GML_E_GPA_HV_REGION;
		goto out;
	}
	if (!covered(map->ram, map->nram, map->rom, map->nrom, gpa, last, &at)) {
		err = containing(map->mmio, map->nmmio, at) ? GML_E_GPA_MMIO : GML_E_GPA_OUTSIDE_RAM;
		goto out;
	}
	/* Writable only where RAM covers: every ROM byte not also RAM is a write fault. */
	if (write && !covered(map->ram, map->nram, NULL, 0, gpa, last, &at)) {
		err = GML_E_GPA_READ_ONLY;
		goto out;
	}
	at = gpa;
out:
	if (bad)
		*bad = at;
	return err;
}

gml_err gml_gpa_range_check(const struct gml_memmap *map, u64 gpa, u64 len, bool write)
{
	return gml_gpa_range_check_at(map, gpa, len, write, NULL);
}
