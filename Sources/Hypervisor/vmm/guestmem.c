/* The seed's guest-memory API (mapmem_gphys, read/write_linearaddr_*) and the page-wise copy,
 * all on top of the core's bounds checks, walker and copy engine. */
#include "guestmem.h"
#include "current.h"
#include "hvmem.h"
#include "mm.h"
#include "cpu_mmu.h"
#include "gml_copy.h"
#include "printf.h"
#include "fatal.h"
#include "x86.h"

static struct gml_memmap gmap;
static struct gml_phys gphys;
static u8 maxphyaddr;

static void *identity_map(void *ctx, u64 gpa, u64 len, bool write)
{
	(void)ctx, (void)len, (void)write;
	return guest_ram_ptr(gpa);
}

static void add_or_die(gml_err e, const char *what, u64 base, u64 len)
{
	if (e != GML_OK)
		hv_fatal("core memory map: cannot add %s [0x%llx+0x%llx): %s", what, base, len,
			 gml_errname(e));
}

void guestmem_init(void)
{
	gml_memmap_init(&gmap);
	const struct e820_entry *e;
	int n = memmap_entries(&e);
	u64 low_top = 0; /* end of RAM below 4 GiB: the PCI hole starts above it */
	for (int i = 0; i < n; i++) {
		if (e[i].type != E820_RAM || !e[i].size)
			continue;
		add_or_die(gml_memmap_add_ram(&gmap, e[i].addr, e[i].size), "RAM", e[i].addr, e[i].size);
		u64 end = e[i].addr + e[i].size;
		if (end <= (4ULL << 30) && end > low_top)
			low_top = end;
	}
	add_or_die(gml_memmap_add_mmio(&gmap, 0xA0000, 0x60000), "legacy VGA/ROM", 0xA0000, 0x60000);
	if (low_top && low_top < (4ULL << 30))
		add_or_die(gml_memmap_add_mmio(&gmap, low_top, (4ULL << 30) - low_top), "PCI hole",
			   low_top, (4ULL << 30) - low_top);
	for (int i = 0; i < HV_NREGIONS; i++)
		add_or_die(gml_memmap_add_hv(&gmap, hv_region(i)->base, hv_region(i)->size),
			   "hypervisor region", hv_region(i)->base, hv_region(i)->size);
	gphys.map = &gmap;
	gphys.map_gpa = identity_map;
	gphys.unmap = NULL;
	gphys.ctx = NULL;

	u32 a, b, c, d;
	cpuid(0x80000000, 0, &a, &b, &c, &d);
	maxphyaddr = 36;
	if (a >= 0x80000008) {
		cpuid(0x80000008, 0, &a, &b, &c, &d);
		maxphyaddr = (u8)a;
	}
}

const struct gml_phys *guest_phys(void)
{
	return &gphys;
}

/* The guest's PKRU: not switched by VMRUN/VMEXIT and never touched by the hypervisor, so the
 * live register is the guest's. RDPKRU needs CR4.PKE in the *host* CR4, set briefly. */
static u32 guest_pkru(void)
{
	u64 cr4 = read_cr4();
	asm volatile("mov %0, %%cr4" : : "r"(cr4 | X86_CR4_PKE));
	u32 eax, edx;
	asm volatile(".byte 0x0f, 0x01, 0xee" : "=a"(eax), "=d"(edx) : "c"(0)); /* rdpkru */
	asm volatile("mov %0, %%cr4" : : "r"(cr4));
	return eax;
}

void guest_walker(struct gml_walker *w)
{
	struct guest_paging_state s;
	current->ops->paging_state(current, &s);
	w->cpu.cr0 = s.cr0;
	w->cpu.cr3 = s.cr3;
	w->cpu.cr4 = s.cr4;
	w->cpu.efer = s.efer;
	w->cpu.rflags = s.rflags;
	/* CR4.PKE can only be set by the guest when the CPU has PKU, so RDPKRU is safe then. */
	w->cpu.pkru = (s.cr4 & X86_CR4_PKE) ? guest_pkru() : 0;
	w->cpu.cpl = s.cpl;
	w->cpu.maxphyaddr = maxphyaddr;
	gml_pt_ops_init_phys(&w->pt, &gphys);
}

unsigned guest_insn_len(u64 lin, bool mode64, enum gml_insn want)
{
	struct gml_walker w;
	enum gml_insn got;
	guest_walker(&w);
	unsigned len = gml_insn_len_at(&w, &gphys, lin, mode64, &got);
	return got == want ? len : 0;
}

void *mapmem_gphys(u64 gphys_addr, ulong len, int flags)
{
	if (gml_gpa_range_check(&gmap, gphys_addr, len, flags & MAPMEM_WRITE) != GML_OK)
		return NULL;
	return guest_ram_ptr(gphys_addr);
}

void unmapmem(void *virt, ulong len)
{
	(void)virt, (void)len; /* identity mapping: nothing to undo */
}

#define LINEAR_READ(suffix, type)                                                           \
	int read_linearaddr_##suffix(ulong linear, void *data)                             \
	{                                                                                   \
		struct gml_walker w;                                                        \
		guest_walker(&w);                                                           \
		return (int)gml_access_linear_datum(&w, &gphys, linear, data, sizeof(type), \
						    false, NULL);                           \
	}
#define LINEAR_WRITE(suffix, type)                                                          \
	int write_linearaddr_##suffix(ulong linear, type data)                             \
	{                                                                                   \
		struct gml_walker w;                                                        \
		guest_walker(&w);                                                           \
		return (int)gml_access_linear_datum(&w, &gphys, linear, &data, sizeof(type), \
						    true, NULL);                            \
	}
LINEAR_READ(b, u8)
LINEAR_READ(w, u16)
LINEAR_READ(l, u32)
LINEAR_READ(q, u64)
LINEAR_WRITE(b, u8)
LINEAR_WRITE(w, u16)
LINEAR_WRITE(l, u32)
LINEAR_WRITE(q, u64)

gml_err guest_copy_from_linear(void *dst, ulong linear, u64 len, struct gml_copy_status *status)
{
	struct gml_walker w;
	guest_walker(&w);
	return gml_copy_from_guest_linear(&w, &gphys, dst, linear, len, status);
}

gml_err guest_copy_to_linear(ulong linear, const void *src, u64 len, struct gml_copy_status *status)
{
	struct gml_walker w;
	guest_walker(&w);
	return gml_copy_to_guest_linear(&w, &gphys, linear, src, len, status);
}

gml_err guest_copy_from_phys(void *dst, u64 gpa, u64 len, struct gml_copy_status *status)
{
	return gml_copy_from_guest_phys(&gphys, dst, gpa, len, status);
}

gml_err guest_copy_to_phys(u64 gpa, const void *src, u64 len, struct gml_copy_status *status)
{
	return gml_copy_to_guest_phys(&gphys, gpa, src, len, status);
}
