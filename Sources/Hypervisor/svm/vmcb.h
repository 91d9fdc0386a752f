/* AMD SVM VMCB layout (AMD64 APM vol. 2, appendix B), only the fields this backend uses. */
#ifndef HV_SVM_VMCB_H
#define HV_SVM_VMCB_H
#include "types.h"

struct vmcb_seg {
	u16 selector, attrib;
	u32 limit;
	u64 base;
} packed;

struct vmcb_control {
	u16 intercept_cr_read, intercept_cr_write;  /* 0x000 */
	u16 intercept_dr_read, intercept_dr_write;  /* 0x004 */
	u32 intercept_exceptions;                   /* 0x008 */
	u32 intercept_misc1;                        /* 0x00c */
	u32 intercept_misc2;                        /* 0x010 */
	u32 intercept_misc3;                        /* 0x014 */
	u8 reserved1[0x03c - 0x018];
	u16 pause_filter_threshold, pause_filter_count; /* 0x03c */
	u64 iopm_base_pa;                           /* 0x040 */
	u64 msrpm_base_pa;                          /* 0x048 */
	u64 tsc_offset;                             /* 0x050 */
	u32 asid;                                   /* 0x058 */
	u8 tlb_control;                             /* 0x05c */
	u8 reserved2[3];
	u64 vintr;                                  /* 0x060 */
	u64 interrupt_shadow;                       /* 0x068 */
	u64 exitcode;                               /* 0x070 */
	u64 exitinfo1;                              /* 0x078 */
	u64 exitinfo2;                              /* 0x080 */
	u64 exitintinfo;                            /* 0x088 */
	u64 np_enable;                              /* 0x090 */
	u64 avic_apic_bar;                          /* 0x098 */
	u64 ghcb_pa;                                /* 0x0a0 */
	u64 eventinj;                               /* 0x0a8 */
	u64 n_cr3;                                  /* 0x0b0 */
	u64 lbr_virt;                               /* 0x0b8 */
	u64 clean_bits;                             /* 0x0c0 */
	u64 next_rip;                               /* 0x0c8 */
	u8 insn_len;                                /* 0x0d0 */
	u8 insn_bytes[15];
	u8 reserved3[0x400 - 0x0e0];
} packed;

struct vmcb_save {
	struct vmcb_seg es, cs, ss, ds, fs, gs, gdtr, ldtr, idtr, tr; /* 0x400 */
	u8 reserved1[0x4cb - 0x4a0];
	u8 cpl;                                     /* 0x4cb */
	u32 reserved2;
	u64 efer;                                   /* 0x4d0 */
	u8 reserved3[0x548 - 0x4d8];
	u64 cr4, cr3, cr0, dr7, dr6, rflags, rip;   /* 0x548 .. 0x578 */
	u8 reserved4[0x5d8 - 0x580];
	u64 rsp;                                    /* 0x5d8 */
	u8 reserved5[0x5f8 - 0x5e0];
	u64 rax;                                    /* 0x5f8 */
	u64 star, lstar, cstar, sfmask, kernel_gs_base; /* 0x600 */
	u64 sysenter_cs, sysenter_esp, sysenter_eip;
	u64 cr2;                                    /* 0x640 */
	u8 reserved6[0x668 - 0x648];
	u64 g_pat;                                  /* 0x668 */
	u64 dbgctl;                                 /* 0x670 */
} packed;

struct vmcb {
	struct vmcb_control ctl;
	struct vmcb_save save;
} packed;

_Static_assert(sizeof(struct vmcb_control) == 0x400, "VMCB control area layout");
_Static_assert(__builtin_offsetof(struct vmcb, save.cpl) == 0x4cb, "VMCB CPL offset");
_Static_assert(__builtin_offsetof(struct vmcb, save.efer) == 0x4d0, "VMCB EFER offset");
_Static_assert(__builtin_offsetof(struct vmcb, save.cr4) == 0x548, "VMCB CR4 offset");
_Static_assert(__builtin_offsetof(struct vmcb, save.rip) == 0x578, "VMCB RIP offset");
_Static_assert(__builtin_offsetof(struct vmcb, save.rsp) == 0x5d8, "VMCB RSP offset");
_Static_assert(__builtin_offsetof(struct vmcb, save.rax) == 0x5f8, "VMCB RAX offset");
_Static_assert(__builtin_offsetof(struct vmcb, save.cr2) == 0x640, "VMCB CR2 offset");
_Static_assert(__builtin_offsetof(struct vmcb, save.g_pat) == 0x668, "VMCB G_PAT offset");

/* intercept_misc1 */
#define INTERCEPT_CPUID (1u << 18)
#define INTERCEPT_INVLPGA (1u << 26)
#define INTERCEPT_IOIO_PROT (1u << 27)
#define INTERCEPT_MSR_PROT (1u << 28)
#define INTERCEPT_SHUTDOWN (1u << 31)
/* intercept_misc2 */
#define INTERCEPT_VMRUN (1u << 0)
#define INTERCEPT_VMMCALL (1u << 1)
#define INTERCEPT_VMLOAD (1u << 2)
#define INTERCEPT_VMSAVE (1u << 3)
#define INTERCEPT_STGI (1u << 4)
#define INTERCEPT_CLGI (1u << 5)
#define INTERCEPT_SKINIT (1u << 6)

/* exit codes */
#define SVM_EXIT_EXCP_BASE 0x040 /* + vector: exception intercepts 0x40-0x5f */
#define SVM_EXIT_EXCP_DB 0x041
#define SVM_EXIT_EXCP_LAST 0x05f
#define SVM_EXIT_CPUID 0x072
#define SVM_EXIT_INVLPGA 0x07a
#define SVM_EXIT_IOIO 0x07b
#define SVM_EXIT_MSR 0x07c
#define SVM_EXIT_SHUTDOWN 0x07f
#define SVM_EXIT_VMRUN 0x080
#define SVM_EXIT_VMMCALL 0x081
#define SVM_EXIT_VMLOAD 0x082
#define SVM_EXIT_VMSAVE 0x083
#define SVM_EXIT_STGI 0x084
#define SVM_EXIT_CLGI 0x085
#define SVM_EXIT_SKINIT 0x086
#define SVM_EXIT_NPF 0x400
#define SVM_EXIT_INVALID 0xffffffffffffffffULL

/* EVENTINJ / EXITINTINFO */
/* interrupt_shadow bit 0: the guest is in a STI or MOV SS shadow */
#define SVM_INTERRUPT_SHADOW (1ULL << 0)
#define SVM_EVTINJ_VALID (1ULL << 31)
#define SVM_EVTINJ_TYPE_EXCEPTION (3ULL << 8)
#define SVM_EVTINJ_ERR_VALID (1ULL << 11)
#define SVM_EVTINJ_TYPE_MASK (7ULL << 8)

/* NPF EXITINFO1 */
#define NPF_PRESENT (1ULL << 0)
#define NPF_WRITE (1ULL << 1)

/* MSR permission map (AMD APM vol. 2, 15.11): three 2 KiB ranges, 2 bits per MSR (read, write). */
#define MSRPM_SIZE_PAGES 2

#endif
