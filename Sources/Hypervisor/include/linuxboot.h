/* Guest start: the bundle, the Linux x86 64-bit boot protocol (bzImage) and uncompressed
 * vmlinux ELF loading. Produces the guest's initial 64-bit state. */
#ifndef HV_LINUXBOOT_H
#define HV_LINUXBOOT_H
#include "types.h"

struct bundle {
	u64 base, size;            /* the module in guest RAM */
	const u8 *kernel;
	u64 kernel_size;
	u64 initrd_gpa, initrd_size; /* used in place */
	const char *cmdline;
	u64 cmdline_len;
};

/* Parses the module at [base, base+size); every malformation is fatal with a clear message. */
void bundle_parse(u64 base, u64 size, struct bundle *out);

/* The guest's initial state: 64-bit mode, identity page tables, flat GDT. */
struct guest_entry {
	u64 rip, rsi, rsp;
	u64 cr0, cr3, cr4, efer;
	u64 gdt_base;
	u16 gdt_limit;
	u16 cs, ds; /* __BOOT_CS 0x10, __BOOT_DS 0x18 */
	u64 kernel_base, kernel_end; /* for the log */
};

/* Loads the kernel at the lowest free 2 MiB-aligned address >= 16 MiB (clear of the
 * hypervisor and of loader data), builds boot_params with the guest e820, the command line
 * (bundle's + extra), initrd, page tables and GDT in free guest low memory. */
void linux_prepare(const struct bundle *b, const char *extra_cmdline, struct guest_entry *out);

#endif
