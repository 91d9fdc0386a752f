/* Nested page tables (guest-physical -> host-physical), common to NPT and EPT: the two differ
 * only in entry bits, given by struct nested_format.
 *
 * The map is the identity over [0, top) (RAM and MMIO holes: devices go straight to the guest;
 * higher MMIO is mapped on first access)
 * with the largest pages possible (1 GiB where the CPU has them, else 2 MiB), except the 2 MiB
 * chunks touching a hypervisor region, which get 4 KiB tables: region pages map a shared zero
 * page read-only (the region is ROM to the guest), the others stay identity. */
#ifndef HV_NESTED_H
#define HV_NESTED_H
#include "types.h"

struct nested_format {
	const char *name;
	u64 table;   /* bits of a non-leaf entry */
	u64 leaf_rw; /* bits of a writable leaf */
	u64 leaf_ro; /* bits of a read-only leaf (reads and fetches allowed) */
	u64 large;   /* page-size bit of 2 MiB / 1 GiB leaves */
};

#define NESTED_LAZY_MAX 256    /* on-demand 1 GiB chunks mapped at one time */
#define NESTED_LAZY_TABLES 320 /* table pages they may use (heap pages, allocated as needed) */

struct nested {
	const struct nested_format *fmt;
	u64 *root;
	u64 root_pa;
	u64 top;          /* mapped up to here at start-up */
	u64 limit;        /* 2^MAXPHYADDR (at most 2^48): nothing is mapped above */
	bool gbpages;
	/* 1 GiB chunks above top mapped on first access; when full, all are dropped (mem/nested.c) */
	u64 lazy_gpa[NESTED_LAZY_MAX];
	u32 lazy_chunks;
	u64 *lazy_pool[NESTED_LAZY_TABLES];
	u32 lazy_pool_pages, lazy_pool_used;
	bool lazy_mode;   /* table_alloc draws from lazy_pool */
	u64 lazy_mapped, lazy_resets; /* counters for the fatal dumps */
	u64 zero_page_pa; /* what region pages show the guest */
	u64 tables;       /* table pages used */
};

void nested_build(struct nested *n, const struct nested_format *fmt, bool gbpages, u8 maxphyaddr);
enum nested_demand {
	NESTED_MAPPED,        /* the 1 GiB chunk of gpa is now identity-mapped */
	NESTED_BEYOND_WIDTH,  /* gpa >= limit: the tables cannot express it (the guest gets #GP) */
	NESTED_NOT_ON_DEMAND, /* gpa < top was mapped at start-up: a not-present fault is a bug */
};
/* A guest access above `top` (e.g. a 64-bit PCI BAR): identity-map its 1 GiB chunk. */
enum nested_demand nested_map_on_demand(struct nested *n, u64 gpa);
/* The 4 KiB leaf entry for gpa, which must lie in a hypervisor region. */
u64 *nested_region_pte(struct nested *n, u64 gpa);
/* Entry values for a region page: the zero page read-only, or hpa writable. */
static inline u64 nested_rom_entry(const struct nested *n) { return n->zero_page_pa | n->fmt->leaf_ro; }
static inline u64 nested_rw_entry(const struct nested *n, u64 hpa) { return hpa | n->fmt->leaf_rw; }

#endif
