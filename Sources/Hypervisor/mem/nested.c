/* Builds the identity nested page tables described in nested.h. */
#include "nested.h"
#include "hvmem.h"
#include "printf.h"
#include "fatal.h"
#include "lib.h"

#define NESTED_MIN_TOP (64ULL << 30) /* covers RAM, the PCI hole and 64-bit BARs of small VMs */
#define ADDR_MASK 0x000ffffffffff000ULL

/* Table pages for on-demand chunks come from a pool of at most NESTED_LAZY_TABLES heap pages
 * (a chunk needs at most two: a PDPT for a new 512 GiB slot, a PD without 1 GiB pages). When the
 * pool or the chunk list is full, every on-demand mapping is torn down and the pool reused: the
 * guest's next access to those addresses simply maps its chunk again. So any number of distinct
 * addresses works, with bounded heap, and no guest access pattern can exhaust anything. */
static u64 *table_alloc(struct nested *n)
{
	if (!n->lazy_mode) {
		n->tables++;
		return alloc_page();
	}
	if (n->lazy_pool_used == n->lazy_pool_pages) {
		if (n->lazy_pool_pages == NESTED_LAZY_TABLES)
			hv_fatal("nested: on-demand table pool exhausted inside one chunk (a bug)");
		n->lazy_pool[n->lazy_pool_pages++] = alloc_page();
		n->tables++;
	}
	return n->lazy_pool[n->lazy_pool_used++];
}

static bool is_pool_page(const struct nested *n, u64 pa)
{
	for (u32 i = 0; i < n->lazy_pool_used; i++)
		if (virt_to_phys(n->lazy_pool[i]) == pa)
			return true;
	return false;
}

/* Drop every on-demand mapping (callers flush the guest's TLB after any on-demand change). */
static void lazy_reset(struct nested *n)
{
	for (u32 i = 0; i < n->lazy_chunks; i++) {
		u64 g = n->lazy_gpa[i];
		u64 *pdpt = phys_to_virt(n->root[(g >> 39) & 511] & ADDR_MASK);
		pdpt[(g >> 30) & 511] = 0;
	}
	for (u32 r = 0; r < 512; r++)
		if ((n->root[r] & n->fmt->table) && is_pool_page(n, n->root[r] & ADDR_MASK))
			n->root[r] = 0;
	for (u32 i = 0; i < n->lazy_pool_used; i++)
		memset(n->lazy_pool[i], 0, PAGE_SIZE);
	n->lazy_pool_used = 0;
	n->lazy_chunks = 0;
	n->lazy_resets++;
}

static u64 *next_table(struct nested *n, u64 *entry)
{
	if (!(*entry & n->fmt->table))
		*entry = virt_to_phys(table_alloc(n)) | n->fmt->table;
	else if (*entry & n->fmt->large)
		hv_fatal("nested_build: large page where a table was expected");
	return phys_to_virt(*entry & ADDR_MASK);
}

static bool chunk_touches_region(u64 base, u64 size)
{
	return hv_region_overlaps(base, size);
}

struct map_stats {
	u64 n1g, n2m, n4k;
};

/* Identity-maps the 1 GiB chunk at g (4-level tables: g below 256 TiB). */
static void map_gib(struct nested *n, u64 g, struct map_stats *st)
{
	const struct nested_format *fmt = n->fmt;
	u64 *pdpt = next_table(n, &n->root[(g >> 39) & 511]);
	u64 *pdpte = &pdpt[(g >> 30) & 511];
	if (n->gbpages && !chunk_touches_region(g, PAGE_1G)) {
		*pdpte = g | fmt->leaf_rw | fmt->large;
		st->n1g++;
		return;
	}
	u64 *pd = next_table(n, pdpte);
	for (u64 m = g; m < g + PAGE_1G; m += PAGE_2M) {
		u64 *pde = &pd[(m >> 21) & 511];
		if (!chunk_touches_region(m, PAGE_2M)) {
			*pde = m | fmt->leaf_rw | fmt->large;
			st->n2m++;
			continue;
		}
		u64 *pt = next_table(n, pde);
		for (u64 p = m; p < m + PAGE_2M; p += PAGE_SIZE) {
			pt[(p >> 12) & 511] = hv_region_overlaps(p, PAGE_SIZE) ? nested_rom_entry(n)
										 : (p | fmt->leaf_rw);
			st->n4k++;
		}
	}
}

void nested_build(struct nested *n, const struct nested_format *fmt, bool gbpages, u8 maxphyaddr)
{
	memset(n, 0, sizeof(*n));
	n->fmt = fmt;
	n->gbpages = gbpages;
	n->limit = maxphyaddr >= 48 ? (1ULL << 48) : (1ULL << maxphyaddr);
	n->root = table_alloc(n);
	n->root_pa = virt_to_phys(n->root);
	n->zero_page_pa = virt_to_phys(alloc_page());
	n->top = ALIGN_UP(memmap_ram_top(), PAGE_1G);
	if (n->top < NESTED_MIN_TOP)
		n->top = NESTED_MIN_TOP;
	if (n->top > n->limit)
		hv_fatal("nested_build: RAM top 0x%llx beyond the physical address width", n->top);
	struct map_stats st = { 0 };
	for (u64 g = 0; g < n->top; g += PAGE_1G)
		map_gib(n, g, &st);
	printf("GMLAB-HV: nested paging (%s): identity 0-%llu GiB, %llu x 1 GiB, %llu x 2 MiB, "
	       "%llu x 4 KiB pages (region pages -> zero page 0x%llx, read-only), %llu table pages; "
	       "higher addresses (64-bit BARs) are mapped on first access\n",
	       fmt->name, n->top >> 30, st.n1g, st.n2m, st.n4k, n->zero_page_pa, n->tables);
}

enum nested_demand nested_map_on_demand(struct nested *n, u64 gpa)
{
	if (gpa >= n->limit)
		return NESTED_BEYOND_WIDTH;
	if (gpa < n->top)
		return NESTED_NOT_ON_DEMAND;
	if (n->lazy_chunks == NESTED_LAZY_MAX || n->lazy_pool_used + 2 > NESTED_LAZY_TABLES)
		lazy_reset(n);
	struct map_stats st = { 0 };
	u64 g = ALIGN_DOWN(gpa, PAGE_1G);
	n->lazy_mode = true;
	map_gib(n, g, &st);
	n->lazy_mode = false;
	n->lazy_gpa[n->lazy_chunks++] = g;
	n->lazy_mapped++;
	return NESTED_MAPPED;
}

u64 *nested_region_pte(struct nested *n, u64 gpa)
{
	if (!hv_region_overlaps(gpa, 1) || gpa >= n->top)
		hv_fatal("nested_region_pte(0x%llx): not in a hypervisor region", gpa);
	u64 *pdpt = phys_to_virt(n->root[(gpa >> 39) & 511] & ADDR_MASK);
	u64 *pd = phys_to_virt(pdpt[(gpa >> 30) & 511] & ADDR_MASK);
	u64 *pt = phys_to_virt(pd[(gpa >> 21) & 511] & ADDR_MASK);
	return &pt[(gpa >> 12) & 511];
}
