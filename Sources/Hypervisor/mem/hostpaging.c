/* Extends the boot identity map (0-4 GiB, built in boot/entry.S) over RAM above 4 GiB so that
 * mapmem_gphys() can hand out plain pointers: guest-physical == host-physical == host-virtual,
 * and maps it once more at HV_GUEST_ALIAS, where guest-physical 0 is not the NULL pointer. */
#include "hvmem.h"
#include "x86.h"
#include "printf.h"
#include "fatal.h"

extern u64 boot_pml4[512], boot_pdpt[512];

void hostpaging_init(void)
{
	u64 top = memmap_ram_top();
	u64 gib = ALIGN_UP(top, PAGE_1G) >> 30;
	if (gib > 512)
		hv_fatal("RAM top 0x%llx is above the 512 GiB the host identity map covers", top);
	u32 a, b, c, d;
	cpuid(0x80000001, 0, &a, &b, &c, &d);
	bool gbpages = d & (1u << 26);
	for (u64 i = 4; i < gib; i++) {
		if (gbpages) {
			boot_pdpt[i] = (i << 30) | 0x83;
			continue;
		}
		u64 *pd = alloc_page();
		for (u64 j = 0; j < 512; j++)
			pd[j] = (i << 30) + (j << 21) + 0x83;
		boot_pdpt[i] = virt_to_phys(pd) | 0x3;
	}
	/* The same map again at HV_GUEST_ALIAS (hvmem.h): PML4 slot 256 shares the PDPT. */
	boot_pml4[(HV_GUEST_ALIAS >> 39) & 511] = boot_pml4[0];
	write_cr3(read_cr3());
	if (gib > 4)
		printf("GMLAB-HV: host identity map extended to %llu GiB (%s pages)\n", gib,
		       gbpages ? "1 GiB" : "2 MiB");
}
