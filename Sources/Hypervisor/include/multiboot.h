/* Multiboot v1 information structure (the parts the hypervisor reads). */
#ifndef HV_MULTIBOOT_H
#define HV_MULTIBOOT_H
#include "types.h"

#define MULTIBOOT_BOOTLOADER_MAGIC 0x2BADB002u
#define MBI_FLAG_MEM (1u << 0)
#define MBI_FLAG_CMDLINE (1u << 2)
#define MBI_FLAG_MODS (1u << 3)
#define MBI_FLAG_MMAP (1u << 6)

struct multiboot_info {
	u32 flags;
	u32 mem_lower, mem_upper;
	u32 boot_device;
	u32 cmdline;
	u32 mods_count, mods_addr;
	u32 syms[4];
	u32 mmap_length, mmap_addr;
} packed;

struct multiboot_mmap_entry {
	u32 size; /* of the rest of the entry */
	u64 addr, len;
	u32 type;
} packed;

struct multiboot_module {
	u32 mod_start, mod_end, string, reserved;
} packed;

#endif
