/* Guest page-table builder and reference translation (guestpt.h). */
#include <string.h>
#include "guestpt.h"

#define ADDR_MASK_52 0x000ffffffffff000ULL

static u64 rd_entry(u64 gpa, bool *ok)
{
	u64 v = 0;
	*ok = (gpa & 7) == 0 && hf_guest_read(gpa, &v, 8);
	return v;
}

bool hf_pt_init(struct hf_pt *pt, u64 pool, int levels)
{
	pt->pool = pool & ~(HF_PAGE - 1);
	pt->used = 1;
	pt->root = pt->pool;
	pt->levels = levels;
	return hf_guest_fill(pt->root, 0, HF_PAGE) == HF_PAGE;
}

static u64 new_table(struct hf_pt *pt)
{
	if (pt->used >= HF_POOL_PAGES)
		return ~0ULL;
	u64 t = pt->pool + (u64)pt->used * HF_PAGE;
	if (hf_guest_fill(t, 0, HF_PAGE) != HF_PAGE)
		return ~0ULL;
	pt->used++;
	return t;
}

static bool tree_canonical(const struct hf_pt *pt, u64 gva)
{
	unsigned bits = pt->levels == 5 ? 57 : 48;
	u64 top = gva >> (bits - 1);
	return top == 0 || top == (~0ULL >> (bits - 1));
}

bool hf_pt_map(struct hf_pt *pt, u64 gva, u64 gpa, int level, u64 leaf_flags, u64 table_flags,
	       u64 *entry_gpa)
{
	if (level < 1 || level > 3 || !tree_canonical(pt, gva))
		return false;
	u64 table = pt->root;
	for (int lvl = pt->levels; lvl > level; lvl--) {
		u64 egpa = table + ((gva >> (12 + 9 * (lvl - 1))) & 511) * 8;
		bool ok;
		u64 e = rd_entry(egpa, &ok);
		if (!ok)
			return false;
		if (!(e & HF_PTE_P) || ((lvl == 2 || lvl == 3) && (e & HF_PTE_PS)) ||
		    !hf_is_ram(e & ADDR_MASK_52)) {
			u64 t = new_table(pt);
			if (t == ~0ULL)
				return false;
			e = t | table_flags;
			if (hf_guest_write(egpa, &e, 8) != 8)
				return false;
		}
		table = e & ADDR_MASK_52;
	}
	u64 shift = 12 + 9 * (level - 1);
	u64 egpa = table + ((gva >> shift) & 511) * 8;
	u64 e = (gpa & ADDR_MASK_52 & ~((1ULL << shift) - 1)) | leaf_flags | (level > 1 ? HF_PTE_PS : 0);
	if (entry_gpa)
		*entry_gpa = egpa;
	return hf_guest_write(egpa, &e, 8) == 8;
}

u64 hf_pt_entry_gpa(struct hf_pt *pt, u64 gva, int level)
{
	u64 table = pt->root;
	for (int lvl = pt->levels; lvl >= 1; lvl--) {
		u64 egpa = table + ((gva >> (12 + 9 * (lvl - 1))) & 511) * 8;
		if (lvl == level)
			return egpa;
		bool ok;
		u64 e = rd_entry(egpa, &ok);
		if (!ok || !(e & HF_PTE_P) || ((lvl == 2 || lvl == 3) && (e & HF_PTE_PS)))
			return ~0ULL;
		table = e & ADDR_MASK_52;
	}
	return ~0ULL;
}

#define CR0_PG (1ULL << 31)
#define CR0_WP (1ULL << 16)
#define CR4_PAE (1ULL << 5)
#define CR4_LA57 (1ULL << 12)
#define EFER_LMA (1ULL << 10)

bool hf_canonical(u64 gva)
{
	const struct hf_cpu *c = &hf_m.cpu.c;
	if (!(c->cr0 & CR0_PG))
		return gva <= 0xffffffffULL;
	unsigned bits = (c->cr4 & CR4_LA57) ? 57 : 48;
	u64 top = gva >> (bits - 1);
	return top == 0 || top == (~0ULL >> (bits - 1));
}

void hf_ref_translate(u64 gva, struct hf_xlate *x)
{
	const struct hf_cpu *c = &hf_m.cpu.c;
	unsigned m = hf_m.cpu.maxphyaddr;
	u64 mask = (m >= 52 ? ADDR_MASK_52 : ((1ULL << m) - 1)) & ~(HF_PAGE - 1);

	memset(x, 0, sizeof(*x));
	if (!(c->cr0 & CR0_PG)) {
		if (gva > 0xffffffffULL)
			return;
		x->ok = x->may_read = x->may_write = true;
		x->gpa = gva;
		x->page_size = HF_PAGE;
		return;
	}
	if (!(c->efer & EFER_LMA) || !(c->cr4 & CR4_PAE) || !hf_canonical(gva))
		return;
	int levels = (c->cr4 & CR4_LA57) ? 5 : 4;
	bool rw = true, us = true;
	u64 table = c->cr3 & mask;
	for (int lvl = levels; lvl >= 1; lvl--) {
		unsigned shift = 12 + 9 * (lvl - 1);
		u64 egpa = table + ((gva >> shift) & 511) * 8;
		bool ok;
		u64 e = rd_entry(egpa, &ok);
		if (!ok)
			return;
		x->tables[x->ntables++] = egpa & ~(HF_PAGE - 1);
		if (!(e & HF_PTE_P))
			return;
		if (lvl >= 4 && (e & HF_PTE_PS))
			return;
		rw = rw && (e & HF_PTE_RW);
		us = us && (e & HF_PTE_US);
		if (lvl == 1 || (e & HF_PTE_PS)) {
			u64 ps = 1ULL << shift;
			x->ok = true;
			x->page_size = ps;
			x->gpa = (e & mask & ~(ps - 1)) | (gva & (ps - 1));
			break;
		}
		table = e & mask;
	}
	if (c->cpl == 3) {
		x->may_read = us;
		x->may_write = us && rw;
	} else {
		x->may_read = true;
		x->may_write = rw || !(c->cr0 & CR0_WP);
	}
}
