/* Physical memory: the firmware's map, the hypervisor's own region(s), the guest's e820 and
 * the page allocator.
 *
 * Layout (see README.md): the image (code, data, bss with the boot stack and boot page tables)
 * is linked at 1 MiB; QEMU's multiboot loader puts the modules right after it, so the heap is
 * carved from the top of the highest usable RAM range below 4 GiB. Both ranges are the
 * "hypervisor region": reserved in the guest's e820, ROM (zeros, writes discarded) in the
 * nested page tables. */
#ifndef HV_HVMEM_H
#define HV_HVMEM_H
#include "types.h"
#include "multiboot.h"

#define E820_RAM 1
#define E820_RESERVED 2
#define E820_MAX 128

#define HV_HEAP_SIZE (16ULL << 20)   /* heap: NPT, VMCB, bitmaps, service buffers */
#define HV_TOTAL_LIMIT (32ULL << 20) /* the hypervisor takes at most this much RAM */

struct e820_entry {
	u64 addr, size;
	u32 type;
} packed;

struct mem_range {
	u64 base, size;
	const char *what;
};

#define HV_REGION_IMAGE 0
#define HV_REGION_HEAP 1
#define HV_NREGIONS 2

/* Memory the loader filled that must survive until the guest starts (modules, multiboot info,
 * strings): the heap and the guest kernel are placed around it. Call before memmap_init. */
void memmap_add_loader_range(u64 base, u64 size);
/* Parses the multiboot memory map, picks the heap (highest 2 MiB-aligned window below 4 GiB
 * clear of loader data), prints the map and the regions. */
void memmap_init(const struct multiboot_info *mbi);
/* Lowest `align`-aligned address >= min where [addr, addr+size) is RAM, outside the
 * hypervisor's regions and clear of loader data; 0 if none below 4 GiB. */
u64 guest_find_free(u64 size, u64 align, u64 min);
bool loader_range_overlaps(u64 base, u64 size);
/* The firmware map as the hypervisor saw it. */
int memmap_entries(const struct e820_entry **out);
/* The hypervisor's regions (image, heap), 4 KiB-aligned. */
const struct mem_range *hv_region(int i);
/* True if any byte of [gpa, gpa+len) lies in a hypervisor region. */
bool hv_region_overlaps(u64 gpa, u64 len);
/* True if [gpa, gpa+len) is inside usable RAM of the firmware map, no overflow. */
bool memmap_is_ram(u64 gpa, u64 len);
/* End of the highest RAM (any address). */
u64 memmap_ram_top(void);
/* The guest's e820: firmware map with the hypervisor's regions marked reserved. */
int guest_e820(struct e820_entry *out, int max);

/* Zeroed pages from the heap; fatal when exhausted (never returns NULL). */
void *alloc_pages(u64 npages);
static inline void *alloc_page(void) { return alloc_pages(1); }
u64 heap_used(void);

/* Host paging: the boot tables map 0-4 GiB; this extends the identity map over all RAM so the
 * hypervisor can reach any guest-physical RAM address as a pointer. */
void hostpaging_init(void);
static inline void *phys_to_virt(u64 pa) { return (void *)(uintptr_t)pa; }
static inline u64 virt_to_phys(const void *p) { return (u64)(uintptr_t)p; }
/* Guest RAM as services and the copy engine reach it: the same identity map seen a second time
 * at HV_GUEST_ALIAS (hostpaging_init), so that guest-physical 0 — RAM, and a legal argument —
 * is not the NULL pointer that every "could not map" check takes it for. */
#define HV_GUEST_ALIAS 0xffff800000000000ULL
static inline void *guest_ram_ptr(u64 gpa) { return (void *)(uintptr_t)(HV_GUEST_ALIAS + gpa); }

#endif
