/*
 * Guest page walk: guest-linear → guest-physical, with the caller's access rights, as the CPU
 * would do it, but returning a typed fault instead of raising #PF.
 *
 * Supported: paging off (CR0.PG=0: linear = physical, 32-bit addresses), 4-level and 5-level
 * (CR4.LA57) long-mode paging, 4 KiB / 2 MiB / 1 GiB pages, PCID in CR3 (CR4.PCIDE).
 * Not supported: legacy 32-bit and PAE paging (CR0.PG=1 with EFER.LMA=0) → GML_E_UNSUPPORTED_MODE;
 * the guest is 64-bit Linux. Supervisor protection keys (CR4.PKS) are not modelled.
 *
 * Semantics (see core/README.md for the reasoning):
 *  - canonical check for 48 (LA57=0) or 57 bits;
 *  - reserved bits: address bits from MAXPHYADDR to 51, XD (bit 63) when EFER.NXE=0, PS in
 *    PML5E/PML4E, bits 29:13 of a 1 GiB PDPTE and 20:13 of a 2 MiB PDE; also CR3 address bits
 *    at or above MAXPHYADDR (fault level 0). CR3 bits 63:52 are ignored (bit 63 is the PCID
 *    no-flush hint of MOV CR3, not part of the address);
 *  - permissions are combined over all levels: writable only if R/W=1 at every level, user only
 *    if U/S=1 at every level, executable unless XD=1 at some level (when EFER.NXE=1);
 *  - CPL3: never reaches a supervisor page; writes need R/W=1;
 *  - CPL0: writes need R/W=1 only when CR0.WP=1; a data access to a user page is refused when
 *    CR4.SMAP=1 and RFLAGS.AC=0 (the hypervisor acts as an *explicit* access of the caller's
 *    instruction, so a kernel that did STAC before the hypercall may pass a user buffer);
 *    an execute access to a user page is refused when CR4.SMEP=1;
 *  - protection keys (CR4.PKE): for user pages, PKRU.AD forbids data access, PKRU.WD forbids
 *    writes by CPL3 and by CPL0 when CR0.WP=1;
 *  - accessed/dirty: only a *successful* translation leaves a trace: then A is set in every
 *    entry used and D in the leaf for writes, each by an atomic compare-and-set of the entry
 *    read; if an entry changed meanwhile the walk restarts (at most GML_WALK_MAX_RESTARTS
 *    times, then GML_E_PT_CHANGED). A faulting walk writes nothing.
 */
#ifndef GML_PAGEWALK_H
#define GML_PAGEWALK_H
#include "gml_types.h"
#include "gml_errors.h"
#include "gml_memmap.h"
#include "x86_bits.h" /* CR0/CR4/EFER/RFLAGS bits the walker reads */

#define GML_PTE_P (1ULL << 0)
#define GML_PTE_RW (1ULL << 1)
#define GML_PTE_US (1ULL << 2)
#define GML_PTE_A (1ULL << 5)
#define GML_PTE_D (1ULL << 6)
#define GML_PTE_PS (1ULL << 7)
#define GML_PTE_XD (1ULL << 63)

#define GML_WALK_MAX_RESTARTS 8

/* Snapshot of the calling vCPU (from the VMCB / VMCS at the hypercall exit). */
struct gml_cpu_state {
	u64 cr0, cr3, cr4, efer, rflags;
	u32 pkru;       /* only read when CR4.PKE=1 */
	u8 cpl;         /* 0..3; 1 and 2 count as supervisor, like the CPU */
	u8 maxphyaddr;  /* CPUID 0x80000008 EAX[7:0], 32..52; 0 means 52 */
};

/*
 * Paging-structure access. read: load the 8-byte entry at gpa (8-byte aligned).
 * cas: atomically replace the entry at gpa by `desired` if it still equals `expected`;
 * *swapped tells which. Both return GML_OK or an error (normally GML_E_PT_OUTSIDE_RAM /
 * GML_E_PT_HV_REGION); the walker reports that error at the level being read.
 */
struct gml_pt_ops {
	gml_err (*read)(void *ctx, u64 gpa, u64 *value);
	gml_err (*cas)(void *ctx, u64 gpa, u64 expected, u64 desired, bool *swapped);
	void *ctx;
};

/* The standard ops: memmap check (RAM only; ROM/MMIO/outside → GML_E_PT_OUTSIDE_RAM,
 * hypervisor region → GML_E_PT_HV_REGION), then phys->map_gpa and an atomic load / CAS.
 * ctx must be a `const struct gml_phys *`. */
gml_err gml_pt_read_phys(void *phys, u64 gpa, u64 *value);
gml_err gml_pt_cas_phys(void *phys, u64 gpa, u64 expected, u64 desired, bool *swapped);
void gml_pt_ops_init_phys(struct gml_pt_ops *ops, const struct gml_phys *phys);

/* Everything a translation needs. */
struct gml_walker {
	struct gml_cpu_state cpu;
	struct gml_pt_ops pt;
};

/* Access kinds (flags). */
#define GML_ACC_READ 0u
#define GML_ACC_WRITE 1u
#define GML_ACC_EXEC 2u
#define GML_ACC_NO_AD 4u /* probe only: check and translate but set no A/D bit */

/* Paging levels as reported in gml_walk.level. */
#define GML_LEVEL_CR3 0 /* fault in CR3 itself or in the paging mode */
#define GML_LEVEL_PT 1
#define GML_LEVEL_PD 2
#define GML_LEVEL_PDPT 3
#define GML_LEVEL_PML4 4
#define GML_LEVEL_PML5 5

struct gml_walk {
	gml_err err;
	u8 level;       /* fault: level of the entry at fault (for permission faults: the
			   highest level whose bit removed the right); ok: level of the leaf
			   (1 = 4 KiB, 2 = 2 MiB, 3 = 1 GiB), 0 with paging off */
	u8 levels;      /* 4 or 5 in long mode, 0 with paging off */
	u32 restarts;   /* walks restarted because the A/D compare-and-set lost a race */
	u64 gpa;        /* ok: translation of the linear address */
	u64 page_size;  /* ok: 4096, 2 MiB or 1 GiB (4096 with paging off) */
	u64 entry;      /* the entry at `level` as read (fault or leaf); 0 if none */
	u64 entry_gpa;  /* where that entry lives */
};

/* Translate one linear address. Returns out->err. out must not be NULL. */
gml_err gml_translate(const struct gml_walker *w, u64 gva, unsigned access, struct gml_walk *out);

/*
 * Paging-structure cache for a run of translations with one walker (the copy engine keeps one
 * per linear copy; hardware keeps the same kind of cache). It remembers the entries of the last
 * successful walk; a translation whose address shares the upper levels with it (same PML5E,
 * PML4E, PDPTE or PDE) starts below the shared part and reads only the rest — for consecutive
 * 4 KiB pages, only the PTE. Everything else is the full walk above, on the remembered values
 * and the outcome of their checks (present, reserved bits, and the rights they remove, which
 * depend only on the entries and the cache's key): the same reserved-bit, canonical and
 * permission checks (rights combined over all levels; the caller's CPL, CR0.WP, SMAP/SMEP with
 * RFLAGS.AC, NX, PKRU are evaluated on every call), the
 * same A/D compare-and-sets (an entry remembered without A gets it by compare-and-set of the
 * remembered value), and a lost race drops the cache and restarts with full walks (the restart
 * counts as in gml_translate). So as long as no one else changes the paging structures in
 * between, the result — gml_walk and side effects alike — is exactly gml_translate's; a change
 * by someone else (another vCPU, or data written over the tables by the same copy) may not be
 * seen for the cached levels, as with the CPU's own paging-structure caches until INVLPG.
 *
 * With the standard ops it also remembers the last paging-structure page it found to be RAM
 * as a whole, and reads that page's entries through map_gpa without checking the memory map
 * for each (the check of the whole page implies the check of every entry in it).
 *
 * The cache checks that it is used with the walker state it was filled under (CR3 address,
 * paging mode, MAXPHYADDR, EFER.NXE, paging-structure ops) and misses otherwise; CR3's PCID and
 * the permission-related state (CPL, CR0.WP, CR4.SMAP/SMEP/PKE, RFLAGS.AC, PKRU) may change
 * between calls. Call gml_walk_cache_init before first use and whenever the tables or the
 * memory map may have changed.
 */
struct gml_walk_cache {
	bool valid;
	bool upper_a;   /* every remembered entry above the leaf has A set */
	u8 levels;      /* 4 or 5 */
	u8 leaf;        /* leaf level of the remembered walk: levels above it can be reused */
	u64 gva;        /* the remembered walk's linear address */
	/* key: the walker state the entries were read and checked under (masked as compared) */
	u64 key_cr0, key_cr3, key_cr4, key_efer;
	u8 key_maxphyaddr;
	struct gml_pt_ops pt;
	/* Set by a caller that uses the cache with one walker whose state it does not change
	   (the copy engine, for one call): the key is then not compared again once filled. */
	bool fixed_walker;
	/* what the walk derived from it */
	u64 root, addr_mask, rsvd;
	u64 entries[6]; /* by level, as in memory after the walk's A/D updates */
	u64 entry_gpas[6];
	/* by level: the highest level at or above it whose entry removed R/W, U/S, or had XD
	   (with EFER.NXE), 0 if none — the walk's rights as combined down to that level */
	u8 rw_lvl[6], us_lvl[6], xd_lvl[6];
	/* With the standard ops (gml_pt_ops_init_phys): the last paging-structure page found to
	 * be RAM as a whole, so its entries are read without checking the memory map again
	 * (still through map_gpa); GPA + 1, 0 = none. */
	u64 ram_table;
	const void *ram_table_phys;
	const struct gml_phys *std_phys; /* the standard ops' memory, else NULL (keyed) */
	/* statistics (never reset by the walk): entries read through pt.read, and entries
	   taken from the cache instead */
	u64 reads, reused;
};

void gml_walk_cache_init(struct gml_walk_cache *cache);

/* gml_translate with a paging-structure cache (may be NULL: then exactly gml_translate). */
gml_err gml_translate_cached(const struct gml_walker *w, struct gml_walk_cache *cache, u64 gva,
			     unsigned access, struct gml_walk *out);

/* Canonical for the current mode (48 or 57 bits; < 4 GiB with paging off)? Inline: fault-in's
 * decision (gml_faultin.c) needs it on BitVisor too, where the lab's walker is not built. */
static inline bool gml_is_canonical(const struct gml_cpu_state *cpu, u64 gva)
{
	unsigned bits;
	u64 top;

	if (!(cpu->cr0 & X86_CR0_PG))
		return gva <= 0xFFFFFFFFULL;
	bits = (cpu->cr4 & X86_CR4_LA57) ? 57 : 48;
	/* Bits 63..bits-1 must all equal bit bits-1. */
	top = gva >> (bits - 1);
	return top == 0 || top == (~0ULL >> (bits - 1));
}

#endif
