/*
 * Typed errors of the hypervisor core.
 *
 * The numeric values are ABI: they are returned to guests in hypercall results and mirrored by
 * the guest-side library. Never renumber; append new values before GML_E__COUNT.
 * This header has no dependencies so guest code can include (or copy) it as is.
 */
#ifndef GML_ERRORS_H
#define GML_ERRORS_H

/* What rax holds after a call of an unused service number (BitVisor returns 0 here, which is
 * indistinguishable from success; we return all ones). */
#define GML_HC_ENOSYS 0xFFFFFFFFFFFFFFFFull

typedef enum gml_err {
	GML_OK = 0,
	/* lengths */
	GML_E_LEN_ZERO = 1,          /* length 0 */
	GML_E_LEN_WRAP = 2,          /* address + length wraps past 2^64 */
	/* linear-address translation (level of the fault in the walk result) */
	GML_E_NONCANONICAL = 3,      /* not canonical for 48/57-bit paging, or >= 4 GiB with paging off */
	GML_E_NOT_PRESENT = 4,       /* paging entry P=0 */
	GML_E_READ_ONLY = 5,         /* write through R/W=0 (CPL3, or CPL0 with CR0.WP=1) */
	GML_E_USER_SUPERVISOR = 6,   /* CPL3 caller, U/S=0 at some level */
	GML_E_SMAP = 7,              /* CPL0 data access to a user page, CR4.SMAP=1, RFLAGS.AC=0 */
	GML_E_SMEP = 8,              /* CPL0 execute of a user page with CR4.SMEP=1 */
	GML_E_NX = 9,                /* execute of an XD page (EFER.NXE=1) */
	GML_E_PKEY = 10,             /* protection key (CR4.PKE, PKRU) forbids the access */
	GML_E_RESERVED_BIT = 11,     /* reserved bit set in a paging entry (or CR3) */
	/* guest-physical ranges */
	GML_E_GPA_OUTSIDE_RAM = 12,  /* not guest RAM (hole, beyond end, above MAXPHYADDR) */
	GML_E_GPA_MMIO = 13,         /* inside a known MMIO range */
	GML_E_GPA_HV_REGION = 14,    /* overlaps the hypervisor's own region */
	GML_E_GPA_READ_ONLY = 15,    /* write to a range registered as read-only (ROM) */
	GML_E_GPA_UNMAPPED = 16,     /* checks passed but the map hook could not map it */
	GML_E_PT_OUTSIDE_RAM = 17,   /* a paging-structure page is not guest RAM */
	GML_E_PT_HV_REGION = 18,     /* a paging-structure page is in the hypervisor's region */
	GML_E_PT_CHANGED = 19,       /* page tables kept changing under the A/D update; retry */
	GML_E_UNSUPPORTED_MODE = 20, /* legacy 32-bit / PAE paging (the guest is 64-bit Linux) */
	/* service registry */
	GML_E_UNKNOWN_SERVICE = 21,
	GML_E_NAME_UNTERMINATED = 22, /* no NUL within 256 bytes */
	GML_E_NAME_TOO_LONG = 23,     /* more than 255 characters */
	GML_E_NAME_EMPTY = 24,
	GML_E_NAME_DUPLICATE = 25,
	GML_E_REGISTRY_FULL = 26,
	/* misc */
	GML_E_INVALID_ARG = 27,      /* NULL pointer or impossible parameter from hypervisor code */
	GML_E_MEMMAP_FULL = 28,      /* too many ranges for struct gml_memmap */
	GML_E__COUNT
} gml_err;

/* Short stable name ("GML_E_NOT_PRESENT") and a one-line description. Never NULL. */
const char *gml_errname(gml_err e);
const char *gml_strerror(gml_err e);

#endif
