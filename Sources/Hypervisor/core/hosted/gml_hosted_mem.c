/* Synthetic guest-physical memory for the host unit tests (gml_hosted.h). Host only. */
#ifdef GML_HOSTED
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
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
	u32 nwritten;            /* pages write-mapped since the last stats reset … */
	bool written_overflow;   /* … or more than the log holds */
	u64 written[1024];
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
		munmap(m->chunks[i].mem, m->chunks[i].size);
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
	/* Anonymous mappings, not calloc: zero pages appear on first touch, so a fixture costs only
	 * what a test uses (calloc of a size malloc has freed before clears it all eagerly). */
	void *mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return GML_E_INVALID_ARG;
	m->chunks[m->nchunks].mem = mem;
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

static bool same_layout(const struct gml_hmem *a, const struct gml_hmem *b)
{
	if (!a || !b || a->nchunks != b->nchunks)
		return false;
	for (u32 i = 0; i < a->nchunks; i++)
		if (a->chunks[i].gpa != b->chunks[i].gpa || a->chunks[i].size != b->chunks[i].size)
			return false;
	return true;
}

static bool page_differs(const struct gml_hmem *a, const struct gml_hmem *b, u32 i, u64 off,
			 u64 size, u64 *gpa)
{
	const u8 *x = a->chunks[i].mem + off, *y = b->chunks[i].mem + off;

	if (memcmp(x, y, size) == 0)
		return false;
	for (u64 k = 0; k < size; k++) {
		if (x[k] != y[k]) {
			*gpa = a->chunks[i].gpa + off + k;
			return true;
		}
	}
	return false;
}

bool gml_hmem_differs(const struct gml_hmem *a, const struct gml_hmem *b, u64 *gpa)
{
	*gpa = UINT64_MAX;
	if (!same_layout(a, b))
		return true;
	for (u32 i = 0; i < a->nchunks; i++)
		if (page_differs(a, b, i, 0, a->chunks[i].size, gpa))
			return true;
	return false;
}

static bool log_differs(const struct gml_hmem *log, const struct gml_hmem *a,
			const struct gml_hmem *b, u64 *gpa)
{
	for (u32 n = 0; n < log->nwritten; n++) {
		u64 page = log->written[n];

		for (u32 i = 0; i < a->nchunks; i++) {
			const struct chunk *c = &a->chunks[i];
			if (page >= c->gpa && page - c->gpa < c->size) {
				if (page_differs(a, b, i, page - c->gpa, GML_PAGE_SIZE, gpa))
					return true;
				break;
			}
		}
	}
	return false;
}

bool gml_hmem_written_differs(const struct gml_hmem *a, const struct gml_hmem *b, u64 *gpa)
{
	*gpa = UINT64_MAX;
	if (!same_layout(a, b))
		return true;
	if (a->written_overflow || b->written_overflow)
		return gml_hmem_differs(a, b, gpa);
	return log_differs(a, a, b, gpa) || log_differs(b, a, b, gpa);
}

static void log_write(struct gml_hmem *m, u64 gpa)
{
	u64 page = gpa & ~(GML_PAGE_SIZE - 1);

	for (u32 n = m->nwritten; n-- > 0 && n + 8 >= m->nwritten;)
		if (m->written[n] == page)
			return; /* recently logged */
	if (m->nwritten == sizeof(m->written) / sizeof(m->written[0]))
		m->written_overflow = true;
	else
		m->written[m->nwritten++] = page;
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
	if (write) {
		m->stats.write_maps++;
		log_write(m, gpa);
	}
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
	m->nwritten = 0;
	m->written_overflow = false;
}

void gml_hmem_interfere(struct gml_hmem *m, u64 gpa, u32 times)
{
	m->interfere_gpa = gpa;
	m->interfere_left = times;
}
#endif
