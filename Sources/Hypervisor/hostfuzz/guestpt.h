/* Guest page tables for the host fuzzer: a builder that writes them into modelled guest RAM
 * (from the fuzz input), and an independent reference translation used by the invariants to
 * locate the bytes a linear service may touch. The reference only computes addresses and the
 * rights every level grants (present, R/W, U/S, CR0.WP); it is deliberately simpler than the
 * core's walker (no reserved-bit, SMAP, SMEP or protection-key refusals): it is used to decide
 * what the caller is *allowed* to touch at most, never what the walker must refuse. */
#ifndef HF_GUESTPT_H
#define HF_GUESTPT_H
#include "model.h"

#define HF_PTE_P (1ULL << 0)
#define HF_PTE_RW (1ULL << 1)
#define HF_PTE_US (1ULL << 2)
#define HF_PTE_A (1ULL << 5)
#define HF_PTE_D (1ULL << 6)
#define HF_PTE_PS (1ULL << 7)
#define HF_PTE_XD (1ULL << 63)

#define HF_POOL_PAGES 64

struct hf_pt {
	u64 pool;      /* guest-physical base of the table pool */
	int used;      /* pages of the pool in use */
	u64 root;      /* guest-physical address of the top table */
	int levels;    /* 4 or 5 */
};

/* Start a tree in a pool of HF_POOL_PAGES pages at guest-physical `pool` (RAM). */
bool hf_pt_init(struct hf_pt *pt, u64 pool, int levels);
/* Map the page of size 4 KiB << (9 * (level - 1)) at gva to gpa with the leaf flags; missing
 * tables get table_flags. A leaf at level 2/3 gets PS. False if the pool is full, gva is not
 * canonical for the tree, or an existing entry leads out of RAM. *entry_gpa (may be NULL)
 * receives where the leaf entry lives. */
bool hf_pt_map(struct hf_pt *pt, u64 gva, u64 gpa, int level, u64 leaf_flags, u64 table_flags,
	       u64 *entry_gpa);
/* Guest-physical address of the entry at `level` (leaf_level..levels) on gva's path, or ~0. */
u64 hf_pt_entry_gpa(struct hf_pt *pt, u64 gva, int level);

struct hf_xlate {
	bool ok;
	u64 gpa, page_size;
	bool may_read, may_write; /* the caller's CPL and CR0.WP against the combined rights */
	int ntables;
	u64 tables[5]; /* guest-physical pages of the paging structures read */
};
/* Reference translation of gva with the model's current CPU state, reading guest RAM. */
void hf_ref_translate(u64 gva, struct hf_xlate *x);
/* Canonical for the current paging mode? */
bool hf_canonical(u64 gva);

#endif
