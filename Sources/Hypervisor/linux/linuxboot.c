/* Linux x86 64-bit boot protocol (Documentation/arch/x86/boot.rst) for a bzImage, plus an
 * uncompressed vmlinux ELF (head_64.S copes with a 2 MiB-aligned physical load delta).
 *
 * Guest boot structures live in guest RAM (not in the hypervisor's region, which reads as zeros
 * to the guest), in the lowest free 100 KiB window at or above 64 KiB (clear of loader data —
 * GRUB puts its multiboot info in low memory), laid out from its base A:
 *   A+0x00000 64 KiB initial stack   A+0x10000 boot_params ("zero page")
 *   A+0x11000 command line   A+0x12000 GDT   A+0x13000 PML4   A+0x14000 PDPT
 *   A+0x15000-0x18fff four PDs: identity 0-4 GiB, 2 MiB pages */
#include "linuxboot.h"
#include "hvmem.h"
#include "lib.h"
#include "printf.h"
#include "fatal.h"
#include "x86.h"

static u64 boot_area;
#define BOOT_AREA_SIZE 0x19000ULL
#define BOOT_STACK_TOP (boot_area + 0x10000)
#define BOOT_PARAMS (boot_area + 0x10000)
#define BOOT_CMDLINE (boot_area + 0x11000)
#define BOOT_GDT (boot_area + 0x12000)
#define BOOT_PML4 (boot_area + 0x13000)
#define BOOT_PDPT (boot_area + 0x14000)
#define BOOT_PD (boot_area + 0x15000)
#define CMDLINE_MAX 4095

/* boot_params / setup header offsets */
#define BP_EXT_RAMDISK_IMAGE 0x0c0
#define BP_EXT_RAMDISK_SIZE 0x0c4
#define BP_EXT_CMD_LINE_PTR 0x0c8
#define BP_E820_ENTRIES 0x1e8
#define BP_SENTINEL 0x1ef
#define BP_SETUP_SECTS 0x1f1
#define BP_BOOT_FLAG 0x1fe
#define BP_JUMP 0x200
#define BP_HEADER 0x202
#define BP_VERSION 0x206
#define BP_TYPE_OF_LOADER 0x210
#define BP_LOADFLAGS 0x211
#define BP_CODE32_START 0x214
#define BP_RAMDISK_IMAGE 0x218
#define BP_RAMDISK_SIZE 0x21c
#define BP_CMD_LINE_PTR 0x228
#define BP_INITRD_ADDR_MAX 0x22c
#define BP_KERNEL_ALIGNMENT 0x230
#define BP_RELOCATABLE 0x234
#define BP_XLOADFLAGS 0x236
#define BP_CMDLINE_SIZE 0x238
#define BP_PREF_ADDRESS 0x258
#define BP_INIT_SIZE 0x260
#define BP_E820_TABLE 0x2d0
#define BP_E820_MAX 128

#define LOADED_HIGH 0x01
#define XLF_KERNEL_64 0x01
#define LOAD_PHYSICAL_ADDR (16ULL << 20) /* x86-64 default; the decompressor never goes below */

#define R8(p, o) (*(const u8 *)((p) + (o)))
#define R16(p, o) (*(const u16 *)((p) + (o)))
#define R32(p, o) (*(const u32 *)((p) + (o)))
#define R64(p, o) (*(const u64 *)((p) + (o)))
#define W8(p, o, v) (*(u8 *)((p) + (o)) = (v))
#define W16(p, o, v) (*(u16 *)((p) + (o)) = (v))
#define W32(p, o, v) (*(u32 *)((p) + (o)) = (v))

/* The guest range [base, base+size) must be RAM and outside the hypervisor. */
static void check_guest_range(const char *what, u64 base, u64 size)
{
	if (!memmap_is_ram(base, size) || hv_region_overlaps(base, size))
		hv_fatal("%s [0x%llx-0x%llx) is not free guest RAM (outside RAM or overlapping the "
			 "hypervisor's region)", what, base, base + size);
}

static void build_cmdline(const struct bundle *b, const char *extra, u64 limit)
{
	char *cmd = phys_to_virt(BOOT_CMDLINE);
	memset(cmd, 0, CMDLINE_MAX + 1);
	if (b->cmdline_len > CMDLINE_MAX)
		hv_fatal("bundle cmdline is %llu bytes; at most %u fit", b->cmdline_len, CMDLINE_MAX);
	memcpy(cmd, b->cmdline ? b->cmdline : "", b->cmdline_len);
	/* Trim trailing newlines a text file may carry. */
	for (u64 n = strlen(cmd); n && (cmd[n - 1] == '\n' || cmd[n - 1] == '\r'); n--)
		cmd[n - 1] = 0;
	if ((cmd[0] && !strlcat_ok(cmd, " ", CMDLINE_MAX + 1)) || !strlcat_ok(cmd, extra, CMDLINE_MAX + 1))
		hv_fatal("guest command line too long after appending \"%s\"", extra);
	if (limit && strlen(cmd) > limit)
		hv_fatal("guest command line is %llu bytes; the kernel accepts %llu (cmdline_size)",
			 (u64)strlen(cmd), limit);
	printf("GMLAB-HV: guest command line: %s\n", cmd);
}

/* boot_params fields common to both kernel formats. */
static void fill_boot_params(u8 *bp, const struct bundle *b)
{
	W8(bp, BP_TYPE_OF_LOADER, 0xff);
	W8(bp, BP_LOADFLAGS, R8(bp, BP_LOADFLAGS) | LOADED_HIGH);
	W32(bp, BP_CMD_LINE_PTR, (u32)BOOT_CMDLINE);
	W32(bp, BP_EXT_CMD_LINE_PTR, 0);
	if (b->initrd_size) {
		W32(bp, BP_RAMDISK_IMAGE, (u32)b->initrd_gpa);
		W32(bp, BP_EXT_RAMDISK_IMAGE, (u32)(b->initrd_gpa >> 32));
		W32(bp, BP_RAMDISK_SIZE, (u32)b->initrd_size);
		W32(bp, BP_EXT_RAMDISK_SIZE, (u32)(b->initrd_size >> 32));
		printf("GMLAB-HV: initrd at 0x%llx, %llu bytes (in place in the bundle)\n",
		       b->initrd_gpa, b->initrd_size);
	}
	struct e820_entry e[BP_E820_MAX];
	int n = guest_e820(e, BP_E820_MAX);
	memcpy(bp + BP_E820_TABLE, e, (u64)n * sizeof(e[0]));
	W8(bp, BP_E820_ENTRIES, (u8)n);
	printf("GMLAB-HV: guest e820 (%d entries):\n", n);
	for (int i = 0; i < n; i++)
		printf("  [%016llx-%016llx) %s\n", e[i].addr, e[i].addr + e[i].size,
		       e[i].type == E820_RAM ? "usable" : e[i].type == E820_RESERVED ? "reserved" : "other");
}

static void build_page_tables_and_gdt(struct guest_entry *out)
{
	u64 *pml4 = phys_to_virt(BOOT_PML4), *pdpt = phys_to_virt(BOOT_PDPT), *pd = phys_to_virt(BOOT_PD);
	memset(pml4, 0, 4096);
	memset(pdpt, 0, 4096);
	pml4[0] = BOOT_PDPT | 0x3;
	for (u64 i = 0; i < 4; i++)
		pdpt[i] = (BOOT_PD + i * 4096) | 0x3;
	for (u64 i = 0; i < 2048; i++)
		pd[i] = (i << 21) | 0x83;
	u64 *gdt = phys_to_virt(BOOT_GDT);
	memset(gdt, 0, 4096);
	gdt[2] = 0x00af9b000000ffffULL; /* 0x10 __BOOT_CS: 64-bit code, accessed */
	gdt[3] = 0x00cf93000000ffffULL; /* 0x18 __BOOT_DS: data, accessed */
	out->gdt_base = BOOT_GDT;
	out->gdt_limit = 4 * 8 - 1;
	out->cs = 0x10;
	out->ds = 0x18;
	out->cr3 = BOOT_PML4;
	out->cr0 = 0x80050033ULL; /* PG AM WP NE ET MP PE */
	out->cr4 = 0x20;           /* PAE */
	out->efer = X86_EFER_LME | X86_EFER_LMA;
	out->rsi = BOOT_PARAMS;
	out->rsp = BOOT_STACK_TOP - 16; /* the kernel sets up its own stack first thing */
}

/* Lowest free load address >= 16 MiB for size bytes. */
static u64 pick_load_address(u64 size, u64 align)
{
	if (align < PAGE_2M || (align & (align - 1)))
		align = PAGE_2M;
	u64 a = guest_find_free(size, align, LOAD_PHYSICAL_ADDR);
	if (!a)
		hv_fatal("no free %llu MiB of guest RAM below 4 GiB for the kernel", size >> 20);
	return a;
}

static void load_bzimage(const struct bundle *b, const char *extra, struct guest_entry *out)
{
	const u8 *k = b->kernel;
	if (b->kernel_size < 0x1000)
		hv_fatal("kernel: %llu bytes, too small for a bzImage", b->kernel_size);
	if (R32(k, BP_HEADER) != 0x53726448) /* "HdrS" */
		hv_fatal("kernel: no \"HdrS\" setup header at 0x202 and no ELF magic: neither a "
			 "bzImage nor a vmlinux");
	u16 version = R16(k, BP_VERSION);
	if (version < 0x020c)
		hv_fatal("kernel: boot protocol %x.%02x, need >= 2.12 for the 64-bit entry",
			 version >> 8, version & 0xff);
	if (!(R16(k, BP_XLOADFLAGS) & XLF_KERNEL_64))
		hv_fatal("kernel: xloadflags lacks XLF_KERNEL_64 (no 64-bit entry point)");
	if (!R8(k, BP_RELOCATABLE))
		hv_fatal("kernel: not relocatable; this loader needs a relocatable kernel");
	u64 setup_sects = R8(k, BP_SETUP_SECTS) ? R8(k, BP_SETUP_SECTS) : 4;
	u64 pm_off = (setup_sects + 1) * 512;
	if (pm_off >= b->kernel_size)
		hv_fatal("kernel: setup_sects %llu leaves no protected-mode code", setup_sects);
	u64 pm_size = b->kernel_size - pm_off;
	u64 init_size = R32(k, BP_INIT_SIZE);
	if (init_size < pm_size)
		init_size = pm_size;
	u64 load = pick_load_address(init_size, R32(k, BP_KERNEL_ALIGNMENT));
	check_guest_range("kernel load range (load address + init_size)", load, init_size);

	u8 *bp = phys_to_virt(BOOT_PARAMS);
	memset(bp, 0, 4096);
	u64 hdr_end = 0x202 + R8(k, 0x201); /* end of the setup header: jump target at 0x200 */
	memcpy(bp + BP_SETUP_SECTS, k + BP_SETUP_SECTS, hdr_end - BP_SETUP_SECTS);
	memcpy(phys_to_virt(load), k + pm_off, pm_size);
	W32(bp, BP_CODE32_START, (u32)load);
	build_cmdline(b, extra, R32(k, BP_CMDLINE_SIZE));
	fill_boot_params(bp, b);
	u64 initrd_max = R32(k, BP_INITRD_ADDR_MAX);
	if (b->initrd_size && b->initrd_gpa + b->initrd_size - 1 > initrd_max && !(R16(k, BP_XLOADFLAGS) & 0x2))
		hv_fatal("initrd ends above the kernel's initrd_addr_max 0x%llx", initrd_max);
	out->rip = load + 0x200;
	out->kernel_base = load;
	out->kernel_end = load + init_size;
	printf("GMLAB-HV: bzImage protocol %x.%02x, %llu bytes protected-mode code loaded at 0x%llx, "
	       "init_size 0x%llx, entry 0x%llx\n", version >> 8, version & 0xff, pm_size, load,
	       init_size, out->rip);
}

/* ELF64 structures (only what is read). */
struct elf64_ehdr {
	u8 ident[16];
	u16 type, machine;
	u32 version;
	u64 entry, phoff, shoff;
	u32 flags;
	u16 ehsize, phentsize, phnum, shentsize, shnum, shstrndx;
} packed;
struct elf64_phdr {
	u32 type, flags;
	u64 offset, vaddr, paddr, filesz, memsz, align;
} packed;

static void load_vmlinux(const struct bundle *b, const char *extra, struct guest_entry *out)
{
	const struct elf64_ehdr *eh = (const void *)b->kernel;
	if (b->kernel_size < sizeof(*eh) || eh->ident[4] != 2 || eh->machine != 62)
		hv_fatal("kernel: ELF but not ELF64 x86-64");
	if (eh->phentsize != sizeof(struct elf64_phdr) || eh->phoff > b->kernel_size ||
	    (u64)eh->phnum * sizeof(struct elf64_phdr) > b->kernel_size - eh->phoff)
		hv_fatal("kernel: ELF program headers outside the file");
	const struct elf64_phdr *ph = (const void *)(b->kernel + eh->phoff);
	u64 lo = ~0ULL, hi = 0;
	for (u16 i = 0; i < eh->phnum; i++) {
		if (ph[i].type != 1) /* PT_LOAD */
			continue;
		if (ph[i].offset > b->kernel_size || ph[i].filesz > b->kernel_size - ph[i].offset ||
		    ph[i].filesz > ph[i].memsz || ph[i].paddr + ph[i].memsz < ph[i].paddr)
			hv_fatal("kernel: ELF PT_LOAD %u malformed (offset 0x%llx filesz 0x%llx memsz 0x%llx)",
				 i, ph[i].offset, ph[i].filesz, ph[i].memsz);
		if (ph[i].paddr < lo)
			lo = ph[i].paddr;
		if (ph[i].paddr + ph[i].memsz > hi)
			hi = ph[i].paddr + ph[i].memsz;
	}
	if (lo >= hi)
		hv_fatal("kernel: ELF has no PT_LOAD segment");
	if (lo % PAGE_2M)
		hv_fatal("kernel: ELF lowest p_paddr 0x%llx is not 2 MiB-aligned", lo);
	/* Load at p_paddr when that range is free, else shift by a 2 MiB-aligned delta. */
	u64 load = lo;
	if (!memmap_is_ram(lo, hi - lo) || hv_region_overlaps(lo, hi - lo) || loader_range_overlaps(lo, hi - lo))
		load = pick_load_address(hi - lo, PAGE_2M);
	u64 delta = load - lo;
	check_guest_range("vmlinux load range", load, hi - lo);
	for (u16 i = 0; i < eh->phnum; i++) {
		if (ph[i].type != 1)
			continue;
		u8 *dst = phys_to_virt(ph[i].paddr + delta);
		memcpy(dst, b->kernel + ph[i].offset, ph[i].filesz);
		memset(dst + ph[i].filesz, 0, ph[i].memsz - ph[i].filesz);
	}
	/* No setup header in a vmlinux: provide the fields the kernel reads. */
	u8 *bp = phys_to_virt(BOOT_PARAMS);
	memset(bp, 0, 4096);
	W16(bp, BP_BOOT_FLAG, 0xAA55);
	W32(bp, BP_HEADER, 0x53726448);
	W16(bp, BP_VERSION, 0x020f);
	W32(bp, BP_KERNEL_ALIGNMENT, (u32)PAGE_2M);
	W8(bp, BP_RELOCATABLE, 1);
	W16(bp, BP_XLOADFLAGS, XLF_KERNEL_64);
	W32(bp, BP_CMDLINE_SIZE, 2047);
	W32(bp, BP_INITRD_ADDR_MAX, 0x7fffffff);
	W32(bp, BP_CODE32_START, (u32)load);
	build_cmdline(b, extra, 2047);
	fill_boot_params(bp, b);
	out->rip = eh->entry + delta;
	out->kernel_base = load;
	out->kernel_end = hi + delta;
	printf("GMLAB-HV: vmlinux ELF p_paddr 0x%llx-0x%llx loaded at 0x%llx (delta 0x%llx), entry 0x%llx\n",
	       lo, hi, load, delta, out->rip);
}

void linux_prepare(const struct bundle *b, const char *extra, struct guest_entry *out)
{
	memset(out, 0, sizeof(*out));
	boot_area = guest_find_free(BOOT_AREA_SIZE, PAGE_SIZE, 0x10000);
	if (!boot_area)
		hv_fatal("no free %llu KiB of guest RAM below 4 GiB for the boot structures",
			 BOOT_AREA_SIZE >> 10);
	printf("GMLAB-HV: guest boot structures at 0x%llx-0x%llx\n", boot_area, boot_area + BOOT_AREA_SIZE);
	build_page_tables_and_gdt(out);
	const u8 *k = b->kernel;
	if (b->kernel_size >= 4 && k[0] == 0x7f && k[1] == 'E' && k[2] == 'L' && k[3] == 'F')
		load_vmlinux(b, extra, out);
	else
		load_bzimage(b, extra, out);
	if (b->initrd_size && out->kernel_end > b->initrd_gpa && out->kernel_base < b->initrd_gpa + b->initrd_size)
		hv_fatal("kernel range [0x%llx-0x%llx) overlaps the initrd", out->kernel_base, out->kernel_end);
}
