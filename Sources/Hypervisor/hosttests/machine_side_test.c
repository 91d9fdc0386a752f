/*
 * Host tests of machine-side logic that the lab's emulators cannot drive from a guest (issue 9):
 * the ROM write-discard step with 64 region pages in one instruction (an AVX-512 scatter; no
 * emulator here has AVX-512), and nested paging for guest-physical addresses >= 2^48 and for
 * more distinct high GiB than the on-demand budget (no emulator here offers > 46 physical
 * address bits). The real vmm/romwrite.c and mem/nested.c are compiled with the image's headers
 * and linked against host memory: host pointers stand in for physical addresses (the image's
 * identity map), allocation comes from the host. Any hv_fatal fails the test.
 * Run: make -C Sources/Hypervisor/hosttests check
 */
#include "vcpu.h"
#include "nested.h"
#include "romwrite.h"
#include "hvmem.h"
#include "printf.h"
#include "lib.h"

void abort(void);
void *aligned_alloc(size_t align, size_t size);
noreturn void exit(int status);

static int failures, checks;
#define CHECK(cond, ...)                                                                    \
	do {                                                                                \
		checks++;                                                                   \
		if (!(cond)) {                                                              \
			failures++;                                                         \
			printf("FAIL %s:%d: ", __FILE__, __LINE__);                         \
			printf(__VA_ARGS__);                                                \
			printf("\n");                                                       \
		}                                                                           \
	} while (0)

/* ---- the machine the tested files expect ---- */

static u64 pages_allocated;

void *alloc_pages(u64 npages)
{
	void *p = aligned_alloc(PAGE_SIZE, npages * PAGE_SIZE);
	if (!p)
		abort();
	memset(p, 0, npages * PAGE_SIZE);
	pages_allocated += npages;
	return p;
}

/* One hypervisor region page range, below the start-up map's top (as the real heap is). */
#define REGION_BASE 0x3ee00000ULL
#define REGION_PAGES 128ULL

bool hv_region_overlaps(u64 gpa, u64 len)
{
	return gpa < REGION_BASE + REGION_PAGES * PAGE_SIZE && REGION_BASE < gpa + len;
}

u64 memmap_ram_top(void)
{
	return 1ULL << 30;
}

noreturn void hv_fatal(const char *fmt, ...)
{
	printf("FAIL: hv_fatal called (the guest would have powered the machine off): %s\n", fmt);
	exit(1);
}

static const struct nested_format fmt = {
	.name = "test NPT", .table = 0x7, .leaf_rw = 0x7, .leaf_ro = 0x5, .large = 0x80,
};

/* The leaf entry translating gpa, by walking the 4-level tables as the CPU would. */
static u64 leaf_for(const struct nested *n, u64 gpa)
{
	u64 e = n->root[(gpa >> 39) & 511];
	if (!(e & fmt.table))
		return 0;
	e = ((u64 *)phys_to_virt(e & 0x000ffffffffff000ULL))[(gpa >> 30) & 511];
	if (!(e & fmt.table) || (e & fmt.large))
		return e;
	e = ((u64 *)phys_to_virt(e & 0x000ffffffffff000ULL))[(gpa >> 21) & 511];
	if (!(e & fmt.table) || (e & fmt.large))
		return e;
	return ((u64 *)phys_to_virt(e & 0x000ffffffffff000ULL))[(gpa >> 12) & 511];
}

static void nested_tests(bool gbpages)
{
	struct nested n;
	nested_build(&n, &fmt, gbpages, 52);
	CHECK(n.limit == 1ULL << 48, "limit %llx", n.limit);

	/* Beyond what 4-level nested tables can express: refused (the guest gets #GP), no fatal. */
	CHECK(nested_map_on_demand(&n, 1ULL << 48) == NESTED_BEYOND_WIDTH, "2^48");
	CHECK(nested_map_on_demand(&n, ~0ULL) == NESTED_BEYOND_WIDTH, "2^64-1");
	CHECK(nested_map_on_demand(&n, 0x1000) == NESTED_NOT_ON_DEMAND, "below top");

	/* 1000 distinct GiB above the start-up map, spread over several 512 GiB slots: every one
	 * maps, with bounded heap, recycling the on-demand budget. */
	u64 before = pages_allocated;
	for (u64 i = 0; i < 1000; i++) {
		u64 gpa = n.top + i * (3ULL << 30) + 0x1234000;
		enum nested_demand d = nested_map_on_demand(&n, gpa);
		CHECK(d == NESTED_MAPPED, "chunk %llu at %llx: %d", i, gpa, (int)d);
		u64 leaf = leaf_for(&n, gpa);
		u64 size = gbpages ? PAGE_1G : PAGE_2M;
		CHECK((leaf & fmt.leaf_rw) == fmt.leaf_rw && (leaf & fmt.large) &&
			      (leaf & 0x000ffffffffff000ULL & ~(size - 1)) == ALIGN_DOWN(gpa, size),
		      "identity leaf for %llx: %llx", gpa, leaf);
	}
	CHECK(n.lazy_resets >= 1, "1000 chunks > %d: the budget was recycled", NESTED_LAZY_MAX);
	CHECK(pages_allocated - before <= NESTED_LAZY_TABLES, "heap pages for on-demand maps: %llu",
	      pages_allocated - before);
	/* The start-up map is untouched by the recycling: RAM and the region still translate. */
	CHECK((leaf_for(&n, 0x200000) & 0x000ffffffffff000ULL) == 0x200000 || gbpages, "RAM at 2 MiB");
	CHECK(leaf_for(&n, REGION_BASE) == nested_rom_entry(&n), "region page is the zero page");
	printf("nested (%s pages): 1000 high chunks mapped, %llu resets, %llu heap pages\n",
	       gbpages ? "1 GiB" : "2 MiB", n.lazy_resets, pages_allocated - before);
}

/* ---- ROM write step ---- */

static struct nested rn;
static int flushes, arms, disarms, gps;
static void t_flush(void) { flushes++; }
static void t_arm(void) { arms++; }
static void t_disarm(void) { disarms++; }
static void t_gp(void) { gps++; }

static void romwrite_tests(void)
{
	nested_build(&rn, &fmt, true, 40);
	static const struct romwrite_hooks hooks = {
		.nested = &rn, .flush = t_flush, .step_arm = t_arm, .step_disarm = t_disarm,
		.inject_gp = t_gp,
	};
	romwrite_init(&hooks);
	struct vcpu v;
	memset(&v, 0, sizeof(v));

	/* One instruction writes 64 distinct region pages (an AVX-512 scatter with straddling
	 * elements reaches 32): each is backed by its own scratch page, one step. */
	for (u64 i = 0; i < ROMWRITE_MAX_PAGES; i++) {
		u64 gpa = REGION_BASE + i * PAGE_SIZE + 8;
		romwrite_fault(&v, gpa);
		u64 e = *nested_region_pte(&rn, gpa);
		CHECK(e != nested_rom_entry(&rn) && (e & fmt.leaf_rw) == fmt.leaf_rw, "page %llu writable", i);
		/* the guest's store lands in the scratch page */
		((u8 *)phys_to_virt(e & 0x000ffffffffff000ULL))[8] = 0xab;
	}
	CHECK(arms == 1 && romwrite_stepping(), "one step armed for the instruction (%d)", arms);
	CHECK(v.rom_writes == ROMWRITE_MAX_PAGES, "rom writes counted: %llu", v.rom_writes);
	/* The same page faulting again (a stale translation) only flushes. */
	int f = flushes;
	romwrite_fault(&v, REGION_BASE + 8);
	CHECK(flushes == f + 1 && v.rom_writes == ROMWRITE_MAX_PAGES, "refault on a backed page");
	/* The instruction completes (or faults): every page back to the zero page, scratch wiped. */
	romwrite_end();
	CHECK(!romwrite_stepping() && disarms == 1, "step ended");
	for (u64 i = 0; i < ROMWRITE_MAX_PAGES; i++)
		CHECK(*nested_region_pte(&rn, REGION_BASE + i * PAGE_SIZE) == nested_rom_entry(&rn),
		      "page %llu back to the zero page", i);
	/* A second instruction gets wiped scratch pages: nothing of the first one's data. */
	romwrite_fault(&v, REGION_BASE);
	u64 e = *nested_region_pte(&rn, REGION_BASE);
	CHECK(((u8 *)phys_to_virt(e & 0x000ffffffffff000ULL))[8] == 0, "scratch wiped between steps");
	romwrite_end();

	/* More region pages than any instruction can write: #GP, the step undone, never fatal. */
	for (u64 i = 0; i <= ROMWRITE_MAX_PAGES; i++)
		romwrite_fault(&v, REGION_BASE + i * PAGE_SIZE);
	CHECK(gps == 1 && !romwrite_stepping(), "page %d of one instruction: #GP, step undone",
	      ROMWRITE_MAX_PAGES + 1);
	for (u64 i = 0; i <= ROMWRITE_MAX_PAGES; i++)
		CHECK(*nested_region_pte(&rn, REGION_BASE + i * PAGE_SIZE) == nested_rom_entry(&rn),
		      "page %llu back to the zero page after the #GP", i);
	romwrite_end(); /* no step live: nothing happens */
	CHECK(disarms == 3, "disarmed once per step (%d)", disarms);
	printf("romwrite: %d region pages in one step, the %dth refused with #GP\n",
	       ROMWRITE_MAX_PAGES, ROMWRITE_MAX_PAGES + 1);
}

int main(void)
{
	nested_tests(true);
	nested_tests(false);
	romwrite_tests();
	printf("%d checks, %d failed\n", checks, failures);
	if (failures == 0)
		printf("machine-side host tests: all passed\n");
	return failures != 0;
}
