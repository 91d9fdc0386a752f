/* Guest page walk (gml_pagewalk.h). Reference: Intel SDM vol. 3 ch. 4 (4-level / 5-level
 * paging), AMD APM vol. 2 ch. 5. Freestanding: no libc, no hardware access. */
#include "gml_pagewalk.h"

/* ---- standard paging-structure access through the memory map ---- */

static gml_err pt_map(const struct gml_phys *p, u64 gpa, bool write, u64 **entry)
{
	gml_err err;

	if (!p || !p->map || !p->map_gpa || (gpa & 7))
		return GML_E_INVALID_ARG;
	/* Paging structures must be plain RAM (write=true excludes ROM-only ranges: the CPU must be
	 * able to set A/D bits in them). */
	err = gml_gpa_range_check(p->map, gpa, 8, true);
	if (err == GML_E_GPA_HV_REGION)
		return GML_E_PT_HV_REGION;
	if (err != GML_OK)
		return GML_E_PT_OUTSIDE_RAM;
	*entry = p->map_gpa(p->ctx, gpa, 8, write);
	return *entry ? GML_OK : GML_E_GPA_UNMAPPED;
}

gml_err gml_pt_read_phys(void *ctx, u64 gpa, u64 *value)
{
	const struct gml_phys *p = ctx;
	u64 *e;
	gml_err err = pt_map(p, gpa, false, &e);

	if (err != GML_OK)
		return err;
	/* One 8-byte load: another vCPU may be changing the entry. */
	*value = __atomic_load_n(e, __ATOMIC_ACQUIRE);
	if (p->unmap)
		p->unmap(p->ctx, e, 8);
	return GML_OK;
}

gml_err gml_pt_cas_phys(void *ctx, u64 gpa, u64 expected, u64 desired, bool *swapped)
{
	const struct gml_phys *p = ctx;
	u64 *e;
	gml_err err = pt_map(p, gpa, true, &e);

	if (err != GML_OK)
		return err;
	*swapped = __atomic_compare_exchange_n(e, &expected, desired, false, __ATOMIC_ACQ_REL,
					       __ATOMIC_ACQUIRE);
	if (p->unmap)
		p->unmap(p->ctx, e, 8);
	return GML_OK;
}

void gml_pt_ops_init_phys(struct gml_pt_ops *ops, const struct gml_phys *phys)
{
	ops->read = gml_pt_read_phys;
	ops->cas = gml_pt_cas_phys;
	ops->ctx = (void *)phys;
}

/* ---- the walk ---- */

static unsigned maxphyaddr_of(const struct gml_cpu_state *cpu)
{
	return cpu->maxphyaddr ? cpu->maxphyaddr : 52;
}

/* A paging-structure error from custom ops is reported as the PT-specific error. */
static gml_err pt_error(gml_err err)
{
	switch (err) {
	case GML_E_GPA_HV_REGION:
		return GML_E_PT_HV_REGION;
	case GML_E_GPA_OUTSIDE_RAM:
	case GML_E_GPA_MMIO:
	case GML_E_GPA_READ_ONLY:
		return GML_E_PT_OUTSIDE_RAM;
	default:
		return err;
	}
}

static gml_err fault(struct gml_walk *out, gml_err err, u8 level, u64 entry, u64 entry_gpa)
{
	out->err = err;
	out->level = level;
	out->entry = entry;
	out->entry_gpa = entry_gpa;
	out->gpa = 0;
	out->page_size = 0;
	return err;
}

#define BITS(hi, lo) ((~0ULL >> (63 - (hi))) & ~((1ULL << (lo)) - 1))

void gml_walk_cache_init(struct gml_walk_cache *cache)
{
	if (cache)
		gml_memset(cache, 0, sizeof(*cache));
}

/* Permissions, combined over all levels: rw/us/xd_lvl name the highest level whose entry
 * removed the right (0: none); entries / entry_gpas by level, leaf included. */
static inline __attribute__((always_inline)) gml_err
check_rights(const struct gml_cpu_state *cpu, unsigned access, unsigned leaf, u8 rw_lvl,
	     u8 us_lvl, u8 xd_lvl, const u64 *entries, const u64 *entry_gpas, struct gml_walk *out)
{
	u64 e = entries[leaf], egpa = entry_gpas[leaf];
	bool write = access & GML_ACC_WRITE, exec = access & GML_ACC_EXEC;
	bool user_caller = cpu->cpl == 3;
	bool user_page = us_lvl == 0;
	bool wp = (cpu->cr0 & X86_CR0_WP) != 0;

	if (user_caller && !user_page)
		return fault(out, GML_E_USER_SUPERVISOR, us_lvl, entries[us_lvl], entry_gpas[us_lvl]);
	if (write && rw_lvl && (user_caller || wp))
		return fault(out, GML_E_READ_ONLY, rw_lvl, entries[rw_lvl], entry_gpas[rw_lvl]);
	if (exec) {
		if (xd_lvl)
			return fault(out, GML_E_NX, xd_lvl, entries[xd_lvl], entry_gpas[xd_lvl]);
		if (!user_caller && user_page && (cpu->cr4 & X86_CR4_SMEP))
			return fault(out, GML_E_SMEP, (u8)leaf, e, egpa);
	} else {
		if (!user_caller && user_page && (cpu->cr4 & X86_CR4_SMAP) &&
		    !(cpu->rflags & X86_RFLAGS_AC))
			return fault(out, GML_E_SMAP, (u8)leaf, e, egpa);
		if ((cpu->cr4 & X86_CR4_PKE) && user_page) {
			unsigned key = (unsigned)((e >> 59) & 15);
			bool ad = (cpu->pkru >> (2 * key)) & 1;
			bool wd = (cpu->pkru >> (2 * key + 1)) & 1;
			if (ad || (write && wd && (user_caller || wp)))
				return fault(out, GML_E_PKEY, (u8)leaf, e, egpa);
		}
	}
	return GML_OK;
}

/* The walker state a cache entry depends on: paging on, the mode, MAXPHYADDR, NXE (reserved
 * bits, XD), CR3's address bits (the root, and its reserved-bit check), the ops. */
#define KEY_CR0 X86_CR0_PG
#define KEY_CR3 BITS(51, 12)
#define KEY_CR4 (X86_CR4_PAE | X86_CR4_LA57)
#define KEY_EFER (X86_EFER_LMA | X86_EFER_NXE)

static bool cache_key_matches(const struct gml_walk_cache *c, const struct gml_walker *w)
{
	const struct gml_cpu_state *cpu = &w->cpu;

	return c && c->valid && c->key_cr0 == (cpu->cr0 & KEY_CR0) &&
	       c->key_cr3 == (cpu->cr3 & KEY_CR3) && c->key_cr4 == (cpu->cr4 & KEY_CR4) &&
	       c->key_efer == (cpu->efer & KEY_EFER) && c->key_maxphyaddr == cpu->maxphyaddr &&
	       c->pt.read == w->pt.read && c->pt.cas == w->pt.cas && c->pt.ctx == w->pt.ctx;
}

/* Lowest level whose entry the cache supplies for gva (its entries at that level and above are
 * the ones a walk of gva would read), or 0. Only levels above the remembered leaf point to
 * tables; an entry at level L is selected by the linear-address bits from 12 + 9 (L - 1) up. */
static unsigned cache_hit(const struct gml_walk_cache *c, unsigned levels, u64 gva)
{
	for (unsigned lvl = c->leaf + 1u; lvl <= levels; lvl++)
		if ((gva >> (12 + 9 * (lvl - 1))) == (c->gva >> (12 + 9 * (lvl - 1))))
			return lvl;
	return 0;
}

/* The standard ops' memory (gml_pt_ops_init_phys), or NULL for other ops. */
static const struct gml_phys *std_phys(const struct gml_walker *w)
{
	const struct gml_phys *p = w->pt.ctx;

	return w->pt.read == gml_pt_read_phys && p && p->map && p->map_gpa ? p : NULL;
}

/*
 * Read one paging entry. With a cache and the standard ops (std: their gml_phys), a page of
 * paging structures that is RAM as a whole (one memory-map check for its 4 KiB) has its entries
 * read through map_gpa directly: gml_pt_read_phys would check each 8-byte entry, and every 8
 * bytes of a page that passed the check pass it too, so the result is the same. Anything else
 * takes w->pt.read.
 */
static gml_err read_entry(const struct gml_walker *w, struct gml_walk_cache *cache,
			  const struct gml_phys *std, u64 egpa, u64 *e)
{
	u64 page = egpa & ~(GML_PAGE_SIZE - 1);
	u64 *ptr;

	if (!cache || !std)
		return w->pt.read(w->pt.ctx, egpa, e);
	if (cache->ram_table != page + 1 || cache->ram_table_phys != std) {
		if (gml_gpa_range_check(std->map, page, GML_PAGE_SIZE, true) != GML_OK)
			return w->pt.read(w->pt.ctx, egpa, e); /* the per-entry check names the error */
		cache->ram_table = page + 1;
		cache->ram_table_phys = std;
	}
	ptr = std->map_gpa(std->ctx, egpa, 8, false);
	if (!ptr)
		return GML_E_GPA_UNMAPPED;
	*e = __atomic_load_n(ptr, __ATOMIC_ACQUIRE);
	if (std->unmap)
		std->unmap(std->ctx, ptr, 8);
	return GML_OK;
}

/*
 * The general walk below for a cache hit at level 2 above a 4 KiB leaf, with A set in every
 * cached entry (so nothing to do above the leaf), spelt out: only the PTE is read, checked,
 * combined with the cached rights and, for A/D, compared-and-set. Returns false when done
 * (out->err is the result), true when the compare-and-set lost a race (the caller restarts
 * with full walks, as the general loop would). The leaf slot of the cache is never used for a
 * hit, so it holds the new PTE from the start (the rights check reports entries from the
 * cache's arrays).
 */
static bool walk_same_table(const struct gml_walker *w, struct gml_walk_cache *cache, u64 gva,
			    unsigned access, u64 addr_mask, u64 rsvd_common, unsigned levels,
			    struct gml_walk *out)
{
	const struct gml_cpu_state *cpu = &w->cpu;
	u64 egpa = (cache->entries[2] & addr_mask) + ((gva >> 12) & 511) * 8, e, want;
	u8 rw_lvl = cache->rw_lvl[2], us_lvl = cache->us_lvl[2], xd_lvl = cache->xd_lvl[2];
	bool swapped = false;
	gml_err err = read_entry(w, cache, cache->std_phys, egpa, &e);

	cache->reads++;
	cache->reused += levels - 1;
	if (err != GML_OK)
		return fault(out, pt_error(err), 1, 0, egpa), false;
	if (!(e & GML_PTE_P))
		return fault(out, GML_E_NOT_PRESENT, 1, e, egpa), false;
	if (e & rsvd_common)
		return fault(out, GML_E_RESERVED_BIT, 1, e, egpa), false;
	if (!(e & GML_PTE_RW) && !rw_lvl)
		rw_lvl = 1;
	if (!(e & GML_PTE_US) && !us_lvl)
		us_lvl = 1;
	if ((cpu->efer & X86_EFER_NXE) && (e & GML_PTE_XD) && !xd_lvl)
		xd_lvl = 1;
	cache->entries[1] = e;
	cache->entry_gpas[1] = egpa;
	if (check_rights(cpu, access, 1, rw_lvl, us_lvl, xd_lvl, cache->entries, cache->entry_gpas,
			 out))
		return false;
	out->level = 1;
	out->entry = e;
	out->entry_gpa = egpa;
	out->page_size = GML_PAGE_SIZE;
	out->gpa = (e & addr_mask & ~(GML_PAGE_SIZE - 1)) | (gva & (GML_PAGE_SIZE - 1));
	want = e | GML_PTE_A | ((access & GML_ACC_WRITE) ? GML_PTE_D : 0);
	if (!(access & GML_ACC_NO_AD) && want != e) {
		err = w->pt.cas(w->pt.ctx, egpa, e, want, &swapped);
		if (err != GML_OK) {
			cache->valid = false;
			return fault(out, pt_error(err), 1, e, egpa), false;
		}
		if (!swapped)
			return true;
		/* an upper entry in the same place (recursive mapping) now holds it too */
		for (unsigned lvl = 2; lvl <= levels; lvl++)
			if (cache->entry_gpas[lvl] == egpa)
				cache->entries[lvl] = want;
		cache->entries[1] = want;
	}
	cache->rw_lvl[1] = rw_lvl;
	cache->us_lvl[1] = us_lvl;
	cache->xd_lvl[1] = xd_lvl;
	cache->gva = gva;
	return false;
}

static gml_err walk(const struct gml_walker *w, struct gml_walk_cache *cache, u64 gva,
		    unsigned access, struct gml_walk *out)
{
	const struct gml_cpu_state *cpu;
	unsigned m, levels;
	u64 addr_mask, rsvd_common, root;
	bool write = access & GML_ACC_WRITE, keyed;
	u32 first_attempt = 0;
	const struct gml_phys *std;

	out->err = GML_OK;
	out->level = 0;
	out->levels = 0;
	out->restarts = 0;
	out->gpa = 0;
	out->page_size = 0;
	out->entry = 0;
	out->entry_gpa = 0;
	if (!w || !w->pt.read || !w->pt.cas)
		return fault(out, GML_E_INVALID_ARG, 0, 0, 0);
	cpu = &w->cpu;
	keyed = cache && cache->valid && (cache->fixed_walker || cache_key_matches(cache, w));
	if (keyed) {
		/* The mode checks below passed for this state when the cache was filled. */
		levels = cache->levels;
		addr_mask = cache->addr_mask;
		rsvd_common = cache->rsvd;
		root = cache->root;
		if (cpu->cpl > 3)
			return fault(out, GML_E_INVALID_ARG, 0, 0, 0);
		out->levels = (u8)levels;
		/* Consecutive 4 KiB pages: the same page table as the last walk (whose address
		 * had the same bits from 21 up, so this one is canonical too). */
		if (cache->leaf == 1 && cache->upper_a && (gva >> 21) == (cache->gva >> 21)) {
			if (!walk_same_table(w, cache, gva, access, addr_mask, rsvd_common, levels, out))
				return out->err;
			/* Lost the race: as the general case, walk again from the top. */
			cache->valid = false;
			keyed = false;
			first_attempt = 1;
		} else if (!gml_is_canonical(cpu, gva)) {
			return fault(out, GML_E_NONCANONICAL, 0, 0, 0);
		}
		goto walk;
	}
	m = maxphyaddr_of(cpu);
	if (cpu->cpl > 3 || m < 32 || m > 52)
		return fault(out, GML_E_INVALID_ARG, 0, 0, 0);

	if (!(cpu->cr0 & X86_CR0_PG)) {
		/* Paging off: linear = physical, 32-bit, no protection. */
		if (!gml_is_canonical(cpu, gva))
			return fault(out, GML_E_NONCANONICAL, 0, 0, 0);
		out->gpa = gva;
		out->page_size = GML_PAGE_SIZE;
		return GML_OK;
	}
	if (!(cpu->efer & X86_EFER_LMA) || !(cpu->cr4 & X86_CR4_PAE))
		return fault(out, GML_E_UNSUPPORTED_MODE, 0, 0, 0);

	levels = (cpu->cr4 & X86_CR4_LA57) ? 5 : 4;
	out->levels = (u8)levels;
	if (!gml_is_canonical(cpu, gva))
		return fault(out, GML_E_NONCANONICAL, 0, 0, 0);

	addr_mask = BITS(m - 1, 12);     /* frame-address bits of an entry / CR3 */
	rsvd_common = m < 52 ? BITS(51, m) : 0;
	if (!(cpu->efer & X86_EFER_NXE))
		rsvd_common |= GML_PTE_XD;
	/* CR3: bits 11:0 are PWT/PCD or the PCID (CR4.PCIDE); bits 63:52 are ignored (bit 63 is the
	 * no-flush hint of MOV CR3 with PCIDE). Address bits at or above MAXPHYADDR are reserved. */
	if (m < 52 && (cpu->cr3 & BITS(51, m)))
		return fault(out, GML_E_RESERVED_BIT, 0, cpu->cr3, 0);
	root = cpu->cr3 & addr_mask;

walk:
	std = cache ? (keyed ? cache->std_phys : std_phys(w)) : NULL;
	for (u32 attempt = first_attempt; attempt <= GML_WALK_MAX_RESTARTS; attempt++) {
		u64 entries[6], entry_gpas[6];
		u64 table = root, page_size = 0;
		u8 rw_lvl = 0, us_lvl = 0, xd_lvl = 0; /* highest level that removed the right */
		u8 rw_at[6], us_at[6], xd_at[6];       /* … as combined down to each level */
		unsigned lvl, leaf = 0, top = levels, ad_top = levels;
		/* Levels >= hit come from the cache (first attempt only: a restart means entries
		 * changed under us, so it reads everything again, as gml_translate does). */
		unsigned hit = attempt == 0 && keyed ? cache_hit(cache, levels, gva) : 0;
		bool retry = false, wrote = false;

		out->restarts = attempt;
		if (hit) {
			/* The entries a read would return (the tables did not change since), and the
			 * outcome of the checks below on them: present, no reserved bit, not a leaf
			 * (functions of the entry, its level and the cache's key), and the rights
			 * they remove. */
			for (lvl = levels; lvl >= hit; lvl--) {
				entries[lvl] = cache->entries[lvl];
				entry_gpas[lvl] = cache->entry_gpas[lvl];
			}
			rw_lvl = cache->rw_lvl[hit];
			us_lvl = cache->us_lvl[hit];
			xd_lvl = cache->xd_lvl[hit];
			table = entries[hit] & addr_mask;
			top = hit - 1;
			if (cache->upper_a)
				ad_top = hit - 1; /* A already set above: nothing to do there */
			cache->reused += levels - hit + 1;
		}
		/* top >= 1 (a hit is above a leaf); the level-1 entry is always a leaf, so every
		 * way out of this loop is the break below or a fault. */
		for (lvl = top;; lvl--) {
			unsigned shift = 12 + 9 * (lvl - 1);
			u64 egpa = table + ((gva >> shift) & 511) * 8, e, rsvd;
			bool ps;
			gml_err err = read_entry(w, cache, std, egpa, &e);

			if (cache)
				cache->reads++;
			if (err != GML_OK)
				return fault(out, pt_error(err), (u8)lvl, 0, egpa);
			if (!(e & GML_PTE_P))
				return fault(out, GML_E_NOT_PRESENT, (u8)lvl, e, egpa);
			ps = (e & GML_PTE_PS) != 0;
			rsvd = e & rsvd_common;
			if (lvl >= 4 && ps)
				rsvd |= GML_PTE_PS;
			if (lvl == 3 && ps)
				rsvd |= e & BITS(29, 13);
			if (lvl == 2 && ps)
				rsvd |= e & BITS(20, 13);
			if (rsvd)
				return fault(out, GML_E_RESERVED_BIT, (u8)lvl, e, egpa);
			if (!(e & GML_PTE_RW) && !rw_lvl)
				rw_lvl = (u8)lvl;
			if (!(e & GML_PTE_US) && !us_lvl)
				us_lvl = (u8)lvl;
			if ((cpu->efer & X86_EFER_NXE) && (e & GML_PTE_XD) && !xd_lvl)
				xd_lvl = (u8)lvl;
			entries[lvl] = e;
			entry_gpas[lvl] = egpa;
			rw_at[lvl] = rw_lvl;
			us_at[lvl] = us_lvl;
			xd_at[lvl] = xd_lvl;
			if (lvl == 1 || ((lvl == 2 || lvl == 3) && ps)) {
				leaf = lvl;
				page_size = 1ULL << shift;
				break;
			}
			table = e & addr_mask;
		}

		if (check_rights(cpu, access, leaf, rw_lvl, us_lvl, xd_lvl, entries, entry_gpas, out))
			return out->err;
		out->level = (u8)leaf;
		out->entry = entries[leaf];
		out->entry_gpa = entry_gpas[leaf];
		out->page_size = page_size;
		out->gpa = (entries[leaf] & addr_mask & ~(page_size - 1)) | (gva & (page_size - 1));

		/* Accessed in every entry used, dirty in the leaf for a write: as the CPU, by
		 * locked compare-and-set of the value the walk read. */
		for (lvl = ad_top; !(access & GML_ACC_NO_AD) && lvl >= leaf; lvl--) {
			u64 e = entries[lvl], want = e | GML_PTE_A;
			bool swapped = false;
			gml_err err;

			if (lvl == leaf && write)
				want |= GML_PTE_D;
			if (want == e)
				continue;
			err = w->pt.cas(w->pt.ctx, entry_gpas[lvl], e, want, &swapped);
			if (err != GML_OK) {
				if (cache)
					cache->valid = false; /* entries above may have changed */
				return fault(out, pt_error(err), (u8)lvl, e, entry_gpas[lvl]);
			}
			if (!swapped) {
				retry = true; /* changed under us: walk again with fresh entries */
				break;
			}
			entries[lvl] = want;
			wrote = true;
		}
		if (retry) {
			if (cache)
				cache->valid = false;
			keyed = false; /* so that a later success fills the cache anew */
			continue;
		}
		if (cache) {
			/* Remember the entries as they now are in memory. An entry used at two levels
			 * (a recursive mapping) was last written by the lower one: in a walk that
			 * succeeded, an upper compare-and-set of a shared entry makes the lower one
			 * lose its race, so only the lower one can have written. Levels taken from
			 * the cache are there already (with their rights) unless this walk wrote. */
			unsigned fill = hit && !wrote ? hit - 1 : levels;
			u64 all = ~0ULL;

			for (lvl = leaf; lvl <= fill; lvl++) {
				u64 v = entries[lvl];

				for (unsigned l2 = leaf; wrote && l2 < lvl; l2++) {
					if (entry_gpas[l2] == entry_gpas[lvl]) {
						v = entries[l2];
						break;
					}
				}
				cache->entries[lvl] = v;
				if (hit && lvl >= hit)
					continue;
				cache->entry_gpas[lvl] = entry_gpas[lvl];
				cache->rw_lvl[lvl] = rw_at[lvl];
				cache->us_lvl[lvl] = us_at[lvl];
				cache->xd_lvl[lvl] = xd_at[lvl];
			}
			for (lvl = leaf + 1; lvl <= levels; lvl++)
				all &= cache->entries[lvl];
			cache->upper_a = (all & GML_PTE_A) != 0;
			cache->leaf = (u8)leaf;
			cache->gva = gva;
			if (!keyed) {
				cache->valid = true;
				cache->key_cr0 = cpu->cr0 & KEY_CR0;
				cache->key_cr3 = cpu->cr3 & KEY_CR3;
				cache->key_cr4 = cpu->cr4 & KEY_CR4;
				cache->key_efer = cpu->efer & KEY_EFER;
				cache->key_maxphyaddr = cpu->maxphyaddr;
				cache->pt = w->pt;
				cache->std_phys = std;
				cache->levels = (u8)levels;
				cache->addr_mask = addr_mask;
				cache->rsvd = rsvd_common;
				cache->root = root;
			}
		}
		return GML_OK;
	}
	return fault(out, GML_E_PT_CHANGED, 0, 0, 0);
}

gml_err gml_translate(const struct gml_walker *w, u64 gva, unsigned access, struct gml_walk *out)
{
	return walk(w, NULL, gva, access, out);
}

gml_err gml_translate_cached(const struct gml_walker *w, struct gml_walk_cache *cache, u64 gva,
			     unsigned access, struct gml_walk *out)
{
	return walk(w, cache, gva, access, out);
}
