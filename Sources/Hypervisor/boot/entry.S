/* Multiboot v1 entry: 32-bit protected mode, paging off -> own identity page tables
 * (0-4 GiB, 2 MiB pages) -> long mode -> hv_main(magic, mbi). */
#define MB_MAGIC 0x1BADB002
#define MB_FLAGS 0x00010003 /* page-align modules | memory info | address fields (bit 16) */
#define STACK_SIZE (64 * 1024)

	.section .multiboot, "a"
	.align 4
mb_header:
	.long MB_MAGIC
	.long MB_FLAGS
	.long -(MB_MAGIC + MB_FLAGS)
	.long mb_header		/* header_addr */
	.long _image_start	/* load_addr */
	.long _load_end		/* load_end_addr */
	.long _bss_end		/* bss_end_addr */
	.long _start32		/* entry_addr */

	.section .bss.pagetables, "aw", @nobits
	.align 4096
	.globl boot_pml4, boot_pdpt, boot_pd
boot_pml4:	.skip 4096
boot_pdpt:	.skip 4096
boot_pd:	.skip 4 * 4096	/* 4 page directories: 0-4 GiB */

	.section .bss
	.align 16
	.globl hv_stack_top
hv_stack:	.skip STACK_SIZE
hv_stack_top:

	.section .rodata
	.align 16
boot_gdt:
	.quad 0
	.quad 0x00af9a000000ffff	/* 0x08: 64-bit code */
	.quad 0x00cf92000000ffff	/* 0x10: data */
boot_gdt_end:
	.globl boot_gdt_ptr
boot_gdt_ptr:
	.word boot_gdt_end - boot_gdt - 1
	.quad boot_gdt

	.section .text.boot, "ax"
	.code32
	.globl _start32
_start32:
	cli
	cld
	mov %eax, %ebp		/* multiboot magic */
	mov %ebx, %esi		/* multiboot info */

	/* The loader zeroes bss per the spec; do it again, cheaply, for loaders that do not. */
	mov $_bss_start, %edi
	mov $_bss_end, %ecx
	sub %edi, %ecx
	shr $2, %ecx
	xor %eax, %eax
	rep stosl

	/* PML4[0] -> PDPT, PDPT[0..3] -> PD0..3, PD entries: 2 MiB identity pages. */
	mov $boot_pdpt, %eax
	or $0x3, %eax
	mov %eax, boot_pml4
	mov $boot_pd, %eax
	or $0x3, %eax
	mov $boot_pdpt, %edi
	mov $4, %ecx
1:	mov %eax, (%edi)
	add $4096, %eax
	add $8, %edi
	loop 1b
	mov $boot_pd, %edi
	mov $0x83, %eax		/* present | writable | 2 MiB */
	xor %edx, %edx		/* high dword of physical address */
	mov $2048, %ecx
2:	mov %eax, (%edi)
	mov %edx, 4(%edi)
	add $0x200000, %eax
	adc $0, %edx
	add $8, %edi
	loop 2b

	mov %cr4, %eax
	or $0x20, %eax		/* PAE */
	mov %eax, %cr4
	mov $boot_pml4, %eax
	mov %eax, %cr3
	mov $0xC0000080, %ecx	/* EFER.LME */
	rdmsr
	or $0x100, %eax
	wrmsr
	mov %cr0, %eax
	or $0x80000001, %eax	/* PG | PE */
	and $~0x60000000, %eax	/* caches on (CD=NW=0) */
	mov %eax, %cr0
	lgdt boot_gdt_ptr
	ljmp $0x08, $long_mode

	.code64
long_mode:
	mov $0x10, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	xor %eax, %eax
	mov %ax, %fs
	mov %ax, %gs
	lea hv_stack_top(%rip), %rsp
	mov %ebp, %edi		/* hv_main(magic, mbi) */
	mov %esi, %esi
	xor %ebp, %ebp
	call hv_main
3:	cli
	hlt
	jmp 3b
