/* Intel VMX: VMCS field encodings, exit reasons, capability MSRs and the VMX instructions
 * (Intel SDM vol. 3, appendices A-C), only what this backend uses. */
#ifndef HV_VMX_VMCS_H
#define HV_VMX_VMCS_H
#include "types.h"

/* Capability and control MSRs */
#define FEATURE_CONTROL_LOCK (1u << 0)
#define FEATURE_CONTROL_VMX_IN_SMX (1u << 1)
#define FEATURE_CONTROL_VMX_OUTSIDE_SMX (1u << 2)
#define MSR_IA32_VMX_BASIC 0x480u
#define MSR_IA32_VMX_PINBASED_CTLS 0x481u
#define MSR_IA32_VMX_PROCBASED_CTLS 0x482u
#define MSR_IA32_VMX_EXIT_CTLS 0x483u
#define MSR_IA32_VMX_ENTRY_CTLS 0x484u
#define MSR_IA32_VMX_CR0_FIXED0 0x486u
#define MSR_IA32_VMX_CR0_FIXED1 0x487u
#define MSR_IA32_VMX_CR4_FIXED0 0x488u
#define MSR_IA32_VMX_CR4_FIXED1 0x489u
#define MSR_IA32_VMX_PROCBASED_CTLS2 0x48bu
#define MSR_IA32_VMX_EPT_VPID_CAP 0x48cu
#define MSR_IA32_VMX_TRUE_PINBASED_CTLS 0x48du
#define MSR_IA32_VMX_TRUE_PROCBASED_CTLS 0x48eu
#define MSR_IA32_VMX_TRUE_EXIT_CTLS 0x48fu
#define MSR_IA32_VMX_TRUE_ENTRY_CTLS 0x490u
#define MSR_IA32_VMX_FIRST 0x480u /* the VMX capability MSRs: #GP to the guest (VMX hidden) */
#define MSR_IA32_VMX_LAST 0x493u

#define VMX_BASIC_TRUE_CTLS (1ULL << 55)
#define VMX_BASIC_MEMTYPE_SHIFT 50
#define VMX_BASIC_SIZE_SHIFT 32

/* IA32_VMX_EPT_VPID_CAP */
#define EPT_CAP_WALK4 (1ULL << 6)
#define EPT_CAP_WB (1ULL << 14)
#define EPT_CAP_2M (1ULL << 16)
#define EPT_CAP_1G (1ULL << 17)
#define EPT_CAP_INVEPT (1ULL << 20)
#define EPT_CAP_INVEPT_SINGLE (1ULL << 25)
#define EPT_CAP_INVEPT_ALL (1ULL << 26)

/* Pin-based controls: none wanted (interrupts and NMIs go straight to the guest). */
/* Primary processor-based controls */
#define CPU_CR3_LOAD_EXIT (1u << 15)
#define CPU_CR3_STORE_EXIT (1u << 16)
#define CPU_MTF (1u << 27)
#define CPU_IO_BITMAPS (1u << 25)
#define CPU_MSR_BITMAPS (1u << 28)
#define CPU_SECONDARY (1u << 31)
/* Secondary processor-based controls */
#define CPU2_EPT (1u << 1)
#define CPU2_RDTSCP (1u << 3)
#define CPU2_UNRESTRICTED (1u << 7)
#define CPU2_INVPCID (1u << 12)
#define CPU2_XSAVES (1u << 20)
#define CPU2_USER_WAIT_PAUSE (1u << 26)
/* VM-exit controls */
#define EXIT_SAVE_DEBUG (1u << 2)
#define EXIT_HOST_64 (1u << 9)
#define EXIT_SAVE_PAT (1u << 18)
#define EXIT_LOAD_PAT (1u << 19)
#define EXIT_SAVE_EFER (1u << 20)
#define EXIT_LOAD_EFER (1u << 21)
/* VM-entry controls */
#define ENTRY_LOAD_DEBUG (1u << 2)
#define ENTRY_IA32E_GUEST (1u << 9)
#define ENTRY_LOAD_PAT (1u << 14)
#define ENTRY_LOAD_EFER (1u << 15)

/* VMCS fields: 16-bit */
#define GUEST_ES_SELECTOR 0x0800
#define GUEST_CS_SELECTOR 0x0802
#define GUEST_SS_SELECTOR 0x0804
#define GUEST_DS_SELECTOR 0x0806
#define GUEST_FS_SELECTOR 0x0808
#define GUEST_GS_SELECTOR 0x080a
#define GUEST_LDTR_SELECTOR 0x080c
#define GUEST_TR_SELECTOR 0x080e
#define HOST_ES_SELECTOR 0x0c00
#define HOST_CS_SELECTOR 0x0c02
#define HOST_SS_SELECTOR 0x0c04
#define HOST_DS_SELECTOR 0x0c06
#define HOST_FS_SELECTOR 0x0c08
#define HOST_GS_SELECTOR 0x0c0a
#define HOST_TR_SELECTOR 0x0c0c
/* 64-bit */
#define IO_BITMAP_A 0x2000
#define IO_BITMAP_B 0x2002
#define MSR_BITMAP 0x2004
#define VM_EXIT_MSR_STORE_ADDR 0x2006
#define VM_EXIT_MSR_LOAD_ADDR 0x2008
#define VM_ENTRY_MSR_LOAD_ADDR 0x200a
#define TSC_OFFSET 0x2010
#define EPT_POINTER 0x201a
#define XSS_EXIT_BITMAP 0x202c
#define GUEST_PHYSICAL_ADDRESS 0x2400
#define VMCS_LINK_POINTER 0x2800
#define GUEST_IA32_DEBUGCTL 0x2802
#define GUEST_IA32_PAT 0x2804
#define GUEST_IA32_EFER 0x2806
#define HOST_IA32_PAT 0x2c00
#define HOST_IA32_EFER 0x2c02
/* 32-bit */
#define PIN_BASED_CONTROLS 0x4000
#define CPU_BASED_CONTROLS 0x4002
#define EXCEPTION_BITMAP 0x4004
#define PAGE_FAULT_ERROR_MASK 0x4006
#define PAGE_FAULT_ERROR_MATCH 0x4008
#define CR3_TARGET_COUNT 0x400a
#define VM_EXIT_CONTROLS 0x400c
#define VM_EXIT_MSR_STORE_COUNT 0x400e
#define VM_EXIT_MSR_LOAD_COUNT 0x4010
#define VM_ENTRY_CONTROLS 0x4012
#define VM_ENTRY_MSR_LOAD_COUNT 0x4014
#define VM_ENTRY_INTR_INFO 0x4016
#define VM_ENTRY_EXCEPTION_ERROR_CODE 0x4018
#define VM_ENTRY_INSTRUCTION_LEN 0x401a
#define TPR_THRESHOLD 0x401c
#define SECONDARY_CONTROLS 0x401e
#define VM_INSTRUCTION_ERROR 0x4400
#define VM_EXIT_REASON 0x4402
#define VM_EXIT_INTR_INFO 0x4404
#define VM_EXIT_INTR_ERROR_CODE 0x4406
#define IDT_VECTORING_INFO 0x4408
#define IDT_VECTORING_ERROR_CODE 0x440a
#define VM_EXIT_INSTRUCTION_LEN 0x440c
#define GUEST_ES_LIMIT 0x4800
#define GUEST_CS_LIMIT 0x4802
#define GUEST_SS_LIMIT 0x4804
#define GUEST_DS_LIMIT 0x4806
#define GUEST_FS_LIMIT 0x4808
#define GUEST_GS_LIMIT 0x480a
#define GUEST_LDTR_LIMIT 0x480c
#define GUEST_TR_LIMIT 0x480e
#define GUEST_GDTR_LIMIT 0x4810
#define GUEST_IDTR_LIMIT 0x4812
#define GUEST_ES_AR 0x4814
#define GUEST_CS_AR 0x4816
#define GUEST_SS_AR 0x4818
#define GUEST_DS_AR 0x481a
#define GUEST_FS_AR 0x481c
#define GUEST_GS_AR 0x481e
#define GUEST_LDTR_AR 0x4820
#define GUEST_TR_AR 0x4822
#define GUEST_INTERRUPTIBILITY 0x4824
#define GUEST_ACTIVITY_STATE 0x4826
#define GUEST_SYSENTER_CS 0x482a
#define HOST_IA32_SYSENTER_CS 0x4c00
/* natural width */
#define CR0_GUEST_HOST_MASK 0x6000
#define CR4_GUEST_HOST_MASK 0x6002
#define CR0_READ_SHADOW 0x6004
#define CR4_READ_SHADOW 0x6006
#define EXIT_QUALIFICATION 0x6400
#define GUEST_LINEAR_ADDRESS 0x640a
#define GUEST_CR0 0x6800
#define GUEST_CR3 0x6802
#define GUEST_CR4 0x6804
#define GUEST_ES_BASE 0x6806
#define GUEST_CS_BASE 0x6808
#define GUEST_SS_BASE 0x680a
#define GUEST_DS_BASE 0x680c
#define GUEST_FS_BASE 0x680e
#define GUEST_GS_BASE 0x6810
#define GUEST_LDTR_BASE 0x6812
#define GUEST_TR_BASE 0x6814
#define GUEST_GDTR_BASE 0x6816
#define GUEST_IDTR_BASE 0x6818
#define GUEST_DR7 0x681a
#define GUEST_RSP 0x681c
#define GUEST_RIP 0x681e
#define GUEST_RFLAGS 0x6820
#define GUEST_PENDING_DBG_EXCEPTIONS 0x6822
#define GUEST_SYSENTER_ESP 0x6824
#define GUEST_SYSENTER_EIP 0x6826
#define HOST_CR0 0x6c00
#define HOST_CR3 0x6c02
#define HOST_CR4 0x6c04
#define HOST_FS_BASE 0x6c06
#define HOST_GS_BASE 0x6c08
#define HOST_TR_BASE 0x6c0a
#define HOST_GDTR_BASE 0x6c0c
#define HOST_IDTR_BASE 0x6c0e
#define HOST_IA32_SYSENTER_ESP 0x6c10
#define HOST_IA32_SYSENTER_EIP 0x6c12
#define HOST_RSP 0x6c14
#define HOST_RIP 0x6c16

/* Basic exit reasons (bits 15:0 of VM_EXIT_REASON; bit 31 = VM-entry failure) */
#define EXIT_EXCEPTION_NMI 0
#define EXIT_EXTERNAL_INTERRUPT 1
#define EXIT_TRIPLE_FAULT 2
#define EXIT_INIT 3
#define EXIT_SIPI 4
#define EXIT_TASK_SWITCH 9
#define EXIT_CPUID 10
#define EXIT_GETSEC 11
#define EXIT_INVD 13
#define EXIT_VMCALL 18
#define EXIT_VMCLEAR 19
#define EXIT_VMLAUNCH 20
#define EXIT_VMPTRLD 21
#define EXIT_VMPTRST 22
#define EXIT_VMREAD 23
#define EXIT_VMRESUME 24
#define EXIT_VMWRITE 25
#define EXIT_VMXOFF 26
#define EXIT_VMXON 27
#define EXIT_CR_ACCESS 28
#define EXIT_IO 30
#define EXIT_RDMSR 31
#define EXIT_WRMSR 32
#define EXIT_INVALID_GUEST_STATE 33
#define EXIT_MSR_LOADING 34
#define EXIT_MTF 37
#define EXIT_MACHINE_CHECK 41
#define EXIT_EPT_VIOLATION 48
#define EXIT_EPT_MISCONFIG 49
#define EXIT_INVEPT 50
#define EXIT_INVVPID 53
#define EXIT_XSETBV 55
#define EXIT_VMFUNC 59
#define EXIT_REASON_ENTRY_FAILURE (1u << 31)

/* Interruption information (VM-entry injection, IDT vectoring, exit interruption info) */
#define INTR_INFO_VALID (1u << 31)
#define INTR_INFO_ERROR_VALID (1u << 11)
#define INTR_TYPE_NMI (2u << 8)
#define INTR_TYPE_HW_EXCEPTION (3u << 8)
#define INTR_TYPE_MASK (7u << 8)
#define INTR_TYPE_SW_INTERRUPT (4u << 8)
#define INTR_TYPE_PRIV_SW_EXCEPTION (5u << 8)
#define INTR_TYPE_SW_EXCEPTION (6u << 8)

/* Guest interruptibility state */
#define INTERRUPTIBILITY_STI (1u << 0)
#define INTERRUPTIBILITY_MOVSS (1u << 1)
#define INTERRUPTIBILITY_NMI (1u << 3)
/* Pending debug exceptions; #DB exit qualification (DR6 layout) */
#define PENDING_DBG_BS (1ULL << 14)
#define DBG_QUAL_BREAKPOINTS 0x200fULL /* B0-B3, BD */
#define DBG_QUAL_BS (1ULL << 14)

/* EPT violation exit qualification */
#define EPT_QUAL_WRITE (1ULL << 1)
#define EPT_QUAL_PERMS (7ULL << 3) /* the entry's R/W/X: all zero = not present */

/* VMREAD/VMWRITE; false on VMfail (CF or ZF set). vmx.c wraps them with fatal checks. */
static inline bool vmread_ok(u64 field, u64 *v)
{
	bool fail;
	asm volatile("vmread %2, %0; setbe %1" : "=rm"(*v), "=qm"(fail) : "r"(field) : "cc");
	return !fail;
}

static inline bool vmwrite_ok(u64 field, u64 v)
{
	bool fail;
	asm volatile("vmwrite %1, %2; setbe %0" : "=qm"(fail) : "rm"(v), "r"(field) : "cc");
	return !fail;
}

#endif
