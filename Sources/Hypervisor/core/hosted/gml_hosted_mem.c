/* Synthetic guest-physical memory for the host unit tests (gml_hosted.h). Host only. */
#ifdef GML_HOSTED
#include <stdlib.h>
#include <stdint.h>
#include "gml_hosted.h"

struct chunk {
	u64 gpa, size;
	u8 *mem;
};

struct gml_hmem {
	u32 nchunks;
	struct chunk chunks[GML_HMEM_MAX_CHUNKS];
	struct gml_hmem_stats stats;
	u64 interfere_gpa;
	u32 interfere_left;
};

struct gml_hmem *gml_hmem_create(void)
{
	struct gml_hmem *m = calloc(1, sizeof(*m));
	if (m)
		gml_hmem_reset_stats(m);
	return m;
}

void gml_hmem_destroy(struct gml_hmem *m)
{
	if (!m)
		return;
	for (u32 i = 0; i < m->nchunks; i++)
		free(m->chunks[i].mem);
	free(m);
}

gml_err gml_hmem_add_chunk(struct gml_hmem *m, u64 gpa, u64 size)
{
	if (!m || size == 0 || (gpa | size) & (GML_PAGE_SIZE - 1))
		return GML_E_INVALID_ARG;
	if (size - 1 > UINT64_MAX - gpa)
		return GML_E_LEN_WRAP;
	if (m->nchunks >= GML_HMEM_MAX_CHUNKS)
		return GML_E_MEMMAP_FULL;
	for (u32 i = 0; i < m->nchunks; i++) {
		struct chunk *c = &m->chunks[i];
		if (gpa <= c->gpa + (c->size - 1) && c->gpa <= gpa + (size - 1))
			return GML_E_INVALID_ARG; /* overlapping chunks */
	}
	m->chunks[m->nchunks].mem = calloc(1, size);
	if (!m->chunks[m->nchunks].mem)
		return GML_E_INVALID_ARG;
	m->chunks[m->nchunks].gpa = gpa;
	m->chunks[m->nchunks].size = size;
	m->nchunks++;
	return GML_OK;
}

u8 *gml_hmem_ptr(struct gml_hmem *m, u64 gpa, u64 len)
{
	if (!m || len == 0 || len - 1 > UINT64_MAX - gpa)
		return NULL;
	for (u32 i = 0; i < m->nchunks; i++) {
		struct chunk *c = &m->chunks[i];
		if (gpa >= c->gpa && gpa + (len - 1) <= c->gpa + (c->size - 1))
			return c->mem + (gpa - c->gpa);
	}
	return NULL;
}

static void *hmem_map(void *ctx, u64 gpa, u64 len, bool write)
{
	struct gml_hmem *m = ctx;
	u8 *p = gml_hmem_ptr(m, gpa, len);

	if (!p) {
		m->stats.map_fails++;
		return NULL;
	}
	if (write && len == 8 && m->interfere_left && gpa == m->interfere_gpa) {
		*(u64 *)p ^= 1ULL << 9; /* "another vCPU" touched the entry */
		m->interfere_left--;
	}
	m->stats.maps++;
	if (write)
		m->stats.write_maps++;
	if (gpa < m->stats.lowest_gpa)
		m->stats.lowest_gpa = gpa;
	if (gpa + (len - 1) > m->stats.highest_gpa)
		m->stats.highest_gpa = gpa + (len - 1);
	return p;
}

static void hmem_unmap(void *ctx, void *p, u64 len)
{
	struct gml_hmem *m = ctx;
	(void)p;
	(void)len;
	m->stats.unmaps++;
}

void gml_hmem_phys(struct gml_hmem *m, const struct gml_memmap *map, struct gml_phys *phys)
{
	phys->map = map;
	phys->map_gpa = hmem_map;
	phys->unmap = hmem_unmap;
	phys->ctx = m;
}

void gml_hmem_stats(const struct gml_hmem *m, struct gml_hmem_stats *out)
{
	*out = m->stats;
}

void gml_hmem_reset_stats(struct gml_hmem *m)
{
	m->stats.maps = m->stats.map_fails = m->stats.unmaps = m->stats.write_maps = 0;
	m->stats.lowest_gpa = UINT64_MAX;
	m->stats.highest_gpa = 0;
}

void gml_hmem_interfere(struct gml_hmem *m, u64 gpa, u32 times)
{
	m->interfere_gpa = gpa;
	m->interfere_left = times;
}
#endif
