/* Firmware memory map, hypervisor regions, guest e820. */
#include "hvmem.h"
#include "printf.h"
#include "lib.h"
#include "fatal.h"

extern char _image_start[], _image_end[];

static struct e820_entry fw_map[E820_MAX];
static int fw_count;
static struct mem_range regions[HV_NREGIONS];
static u64 heap_next;
#define LOADER_MAX 64
static struct { u64 base, end; } loader[LOADER_MAX];
static int nloader;

void memmap_add_loader_range(u64 base, u64 size)
{
	if (!size)
		return;
	if (nloader == LOADER_MAX)
		hv_fatal("more than %d loader ranges (modules?)", LOADER_MAX);
	loader[nloader].base = ALIGN_DOWN(base, PAGE_SIZE);
	loader[nloader].end = ALIGN_UP(base + size, PAGE_SIZE);
	nloader++;
}

bool loader_range_overlaps(u64 base, u64 size)
{
	for (int i = 0; i < nloader; i++)
		if (base < loader[i].end && base + size > loader[i].base)
			return true;
	return false;
}

u64 guest_find_free(u64 size, u64 align, u64 min)
{
	for (u64 a = ALIGN_UP(min, align); a + size <= (4ULL << 30) && a + size > a; a += align)
		if (memmap_is_ram(a, size) && !hv_region_overlaps(a, size) && !loader_range_overlaps(a, size))
			return a;
	return 0;
}

static const char *type_name(u32 t)
{
	switch (t) {
	case 1: return "usable";
	case 2: return "reserved";
	case 3: return "ACPI data";
	case 4: return "ACPI NVS";
	case 5: return "bad";
	default: return "other";
	}
}

void memmap_init(const struct multiboot_info *mbi)
{
	if (!(mbi->flags & MBI_FLAG_MMAP))
		hv_fatal("multiboot info has no memory map (flags 0x%x)", mbi->flags);
	u64 p = mbi->mmap_addr, end = p + mbi->mmap_length;
	while (p < end && fw_count < E820_MAX) {
		const struct multiboot_mmap_entry *e = phys_to_virt(p);
		fw_map[fw_count].addr = e->addr;
		fw_map[fw_count].size = e->len;
		fw_map[fw_count].type = e->type;
		fw_count++;
		p += e->size + 4;
	}
	printf("GMLAB-HV: firmware memory map (%d entries):\n", fw_count);
	for (int i = 0; i < fw_count; i++)
		printf("  [%016llx-%016llx) %s\n", fw_map[i].addr, fw_map[i].addr + fw_map[i].size,
		       type_name(fw_map[i].type));

	regions[HV_REGION_IMAGE].base = ALIGN_DOWN((u64)(uintptr_t)_image_start, PAGE_SIZE);
	regions[HV_REGION_IMAGE].size = ALIGN_UP((u64)(uintptr_t)_image_end, PAGE_SIZE) - regions[0].base;
	regions[HV_REGION_IMAGE].what = "image (code, data, stack)";

	/* Heap: the highest 2 MiB-aligned HV_HEAP_SIZE window of usable RAM below 4 GiB that is
	 * clear of the image and of everything the loader placed (modules, multiboot info). */
	u64 best = 0;
	for (int i = 0; i < fw_count; i++) {
		if (fw_map[i].type != E820_RAM)
			continue;
		u64 lo = fw_map[i].addr, hi = fw_map[i].addr + fw_map[i].size;
		if (hi > (4ULL << 30))
			hi = 4ULL << 30;
		for (u64 top = ALIGN_DOWN(hi, PAGE_2M); top >= HV_HEAP_SIZE && top - HV_HEAP_SIZE >= lo;
		     top -= PAGE_2M) {
			u64 base = top - HV_HEAP_SIZE;
			if (top <= best)
				break;
			if (loader_range_overlaps(base, HV_HEAP_SIZE) ||
			    (base < regions[0].base + regions[0].size && top > regions[0].base))
				continue;
			best = top;
			break;
		}
	}
	if (!best)
		hv_fatal("no usable RAM below 4 GiB has a free %llu MiB window for the heap",
			 HV_HEAP_SIZE >> 20);
	regions[HV_REGION_HEAP].base = best - HV_HEAP_SIZE;
	regions[HV_REGION_HEAP].size = HV_HEAP_SIZE;
	regions[HV_REGION_HEAP].what = "heap (nested page tables, VMCB, buffers)";
	heap_next = regions[HV_REGION_HEAP].base;

	u64 total = regions[0].size + regions[1].size;
	if (total > HV_TOTAL_LIMIT)
		hv_fatal("hypervisor footprint %llu KiB exceeds the %llu MiB limit", total >> 10,
			 HV_TOTAL_LIMIT >> 20);
	printf("GMLAB-HV: hypervisor regions (ROM to the guest, reserved in its e820), %llu KiB total:\n",
	       total >> 10);
	for (int i = 0; i < HV_NREGIONS; i++)
		printf("  region %d [%016llx-%016llx) %s\n", i, regions[i].base,
		       regions[i].base + regions[i].size, regions[i].what);
}

int memmap_entries(const struct e820_entry **out)
{
	*out = fw_map;
	return fw_count;
}

const struct mem_range *hv_region(int i)
{
	return &regions[i];
}

bool hv_region_overlaps(u64 gpa, u64 len)
{
	if (!len)
		return false;
	u64 last = gpa + len - 1;
	if (last < gpa)
		return true; /* wraps: treat as overlapping everything */
	for (int i = 0; i < HV_NREGIONS; i++) {
		const struct mem_range *r = &regions[i];
		if (r->size && gpa <= r->base + r->size - 1 && last >= r->base)
			return true;
	}
	return false;
}

bool memmap_is_ram(u64 gpa, u64 len)
{
	if (!len || gpa + len < gpa)
		return false;
	/* The range may span adjacent usable entries: walk forward from gpa. */
	u64 cur = gpa, end = gpa + len;
	for (int pass = 0; pass < fw_count && cur < end; pass++) {
		bool advanced = false;
		for (int i = 0; i < fw_count; i++) {
			const struct e820_entry *e = &fw_map[i];
			if (e->type == E820_RAM && cur >= e->addr && cur < e->addr + e->size) {
				cur = e->addr + e->size;
				advanced = true;
			}
		}
		if (!advanced)
			return false;
	}
	return cur >= end;
}

u64 memmap_ram_top(void)
{
	u64 top = 0;
	for (int i = 0; i < fw_count; i++)
		if (fw_map[i].type == E820_RAM && fw_map[i].addr + fw_map[i].size > top)
			top = fw_map[i].addr + fw_map[i].size;
	return top;
}

/* Emits [addr, addr+size) of type t, appending to out. */
static int emit(struct e820_entry *out, int n, int max, u64 addr, u64 size, u32 t)
{
	if (!size)
		return n;
	if (n >= max)
		hv_fatal("guest e820 needs more than %d entries", max);
	if (n && out[n - 1].type == t && out[n - 1].addr + out[n - 1].size == addr) {
		out[n - 1].size += size;
		return n;
	}
	out[n].addr = addr;
	out[n].size = size;
	out[n].type = t;
	return n + 1;
}

int guest_e820(struct e820_entry *out, int max)
{
	int n = 0;
	for (int i = 0; i < fw_count; i++) {
		const struct e820_entry *e = &fw_map[i];
		if (e->type != E820_RAM) {
			n = emit(out, n, max, e->addr, e->size, e->type);
			continue;
		}
		/* Split the usable range around the regions (regions sorted: image below heap). */
		u64 cur = e->addr, end = e->addr + e->size;
		for (int r = 0; r < HV_NREGIONS; r++) {
			u64 rb = regions[r].base, re = rb + regions[r].size;
			if (re <= cur || rb >= end)
				continue;
			if (rb > cur)
				n = emit(out, n, max, cur, rb - cur, E820_RAM);
			u64 rs = rb > cur ? rb : cur, rend = re < end ? re : end;
			n = emit(out, n, max, rs, rend - rs, E820_RESERVED);
			cur = rend;
		}
		n = emit(out, n, max, cur, end - cur, E820_RAM);
	}
	return n;
}

void *alloc_pages(u64 npages)
{
	const struct mem_range *h = &regions[HV_REGION_HEAP];
	if (!h->size)
		hv_fatal("alloc_pages before memmap_init");
	if (npages > (h->base + h->size - heap_next) / PAGE_SIZE)
		hv_fatal("heap exhausted: %llu pages requested, %llu KiB used of %llu KiB", npages,
			 (heap_next - h->base) >> 10, h->size >> 10);
	void *p = phys_to_virt(heap_next);
	heap_next += npages * PAGE_SIZE;
	memset(p, 0, npages * PAGE_SIZE);
	return p;
}

u64 heap_used(void)
{
	return heap_next - regions[HV_REGION_HEAP].base;
}
