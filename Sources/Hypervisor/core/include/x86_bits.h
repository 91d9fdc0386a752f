/*
 * The one home of architectural x86 bits (control registers, RFLAGS, EFER, MSR numbers, CPUID
 * leaves and feature bits, exception vectors) for the whole hypervisor: the hardware-free core,
 * the machine side (svm/, vmx/, vmm/, mem/) and the host tests. Plain #defines only, no
 * types and no code, so any translation unit (freestanding, hosted, the guest) can include it.
 * Backend-specific encodings (VMCB offsets, VMCS fields, exit codes) stay in svm/vmcb.h and
 * vmx/vmcs.h.
 */
#ifndef X86_BITS_H
#define X86_BITS_H

/* CR0 */
#define X86_CR0_PE (1ULL << 0)
#define X86_CR0_NE (1ULL << 5)
#define X86_CR0_WP (1ULL << 16)
#define X86_CR0_NW (1ULL << 29)
#define X86_CR0_CD (1ULL << 30)
#define X86_CR0_PG (1ULL << 31)

/* CR4 */
#define X86_CR4_PAE (1ULL << 5)
#define X86_CR4_LA57 (1ULL << 12)
#define X86_CR4_VMXE (1ULL << 13)
#define X86_CR4_PCIDE (1ULL << 17)
#define X86_CR4_OSXSAVE (1ULL << 18)
#define X86_CR4_SMEP (1ULL << 20)
#define X86_CR4_SMAP (1ULL << 21)
#define X86_CR4_PKE (1ULL << 22)

/* CR3: the page-frame bits (the rest are PCID / PWT / PCD / no-flush). */
#define X86_CR3_ADDR_MASK 0x000ffffffffff000ULL

/* RFLAGS */
#define X86_RFLAGS_TF (1ULL << 8)
#define X86_RFLAGS_IF (1ULL << 9)
#define X86_RFLAGS_DF (1ULL << 10)
#define X86_RFLAGS_AC (1ULL << 18)

/* EFER (MSR 0xC0000080) */
#define X86_EFER_SCE (1ULL << 0)
#define X86_EFER_LME (1ULL << 8)
#define X86_EFER_LMA (1ULL << 10)
#define X86_EFER_NXE (1ULL << 11)
#define X86_EFER_SVME (1ULL << 12)
#define X86_EFER_LMSLE (1ULL << 13)
#define X86_EFER_FFXSR (1ULL << 14)
#define X86_EFER_TCE (1ULL << 15)

/* DR6 / DEBUGCTL */
#define X86_DR6_RESERVED_ONES 0xffff0ff0ULL
#define X86_DR6_BREAKPOINTS 0xfULL /* B0-B3 */
#define X86_DR6_BS (1ULL << 14)
#define X86_DEBUGCTL_BTF (1ULL << 1)

/* MSRs */
#define X86_MSR_KVM_WALL_CLOCK 0x11u     /* KVM's first paravirtual MSRs (legacy numbers) */
#define X86_MSR_KVM_SYSTEM_TIME 0x12u
#define X86_MSR_IA32_FEATURE_CONTROL 0x3au
#define X86_MSR_IA32_DEBUGCTL 0x1d9u
#define X86_MSR_IA32_PAT 0x277u
#define X86_MSR_HYPERVISOR_FIRST 0x40000000u /* reserved for hypervisors (Hyper-V, KVM, …) */
#define X86_MSR_HYPERVISOR_LAST 0x400000ffu
#define X86_MSR_KVM_FIRST 0x4b564d00u        /* KVM's paravirtual MSRs ("KVM\0" range) */
#define X86_MSR_KVM_LAST 0x4b564dffu
#define X86_MSR_EFER 0xc0000080u
#define X86_MSR_AMD_VM_CR 0xc0010114u      /* the AMD SVM control MSRs: VM_CR, IGNNE, */
#define X86_MSR_AMD_SVM_FIRST 0xc0010114u  /* SMM_CTL, VM_HSAVE_PA, SVM_KEY            */
#define X86_MSR_AMD_VM_HSAVE_PA 0xc0010117u
#define X86_MSR_AMD_SVM_LAST 0xc0010118u
#define X86_VM_CR_SVMDIS (1u << 4)

/* CPUID */
#define X86_CPUID_HYPERVISOR_FIRST 0x40000000u /* leaves a hypervisor may define */
#define X86_CPUID_HYPERVISOR_LAST 0x400000ffu
#define X86_CPUID_1_ECX_VMX (1u << 5)
#define X86_CPUID_1_ECX_OSXSAVE (1u << 27)
#define X86_CPUID_1_ECX_HYPERVISOR (1u << 31) /* running under a hypervisor */
#define X86_CPUID_7_ECX_OSPKE (1u << 4)
#define X86_CPUID_80000001_ECX_SVM (1u << 2)
#define X86_CPUID_80000001_ECX_TCE (1u << 17)
#define X86_CPUID_80000001_EDX_SYSCALL (1u << 11)
#define X86_CPUID_80000001_EDX_NX (1u << 20)
#define X86_CPUID_80000001_EDX_FFXSR (1u << 25)
#define X86_CPUID_80000001_EDX_PDPE1GB (1u << 26)
#define X86_CPUID_80000001_EDX_LM (1u << 29)

/* XCR0 components */
#define X86_XCR0_X87 (1ULL << 0)
#define X86_XCR0_SSE (1ULL << 1)
#define X86_XCR0_AVX (1ULL << 2)
#define X86_XCR0_BNDREGS (1ULL << 3)
#define X86_XCR0_BNDCSR (1ULL << 4)
#define X86_XCR0_AVX512 (7ULL << 5) /* opmask, ZMM_Hi256, Hi16_ZMM */
#define X86_XCR0_XTILECFG (1ULL << 17)
#define X86_XCR0_XTILEDATA (1ULL << 18)

/* Exception vectors */
#define X86_EXC_DB 1
#define X86_EXC_BP 3
#define X86_EXC_OF 4
#define X86_EXC_UD 6
#define X86_EXC_GP 13
#define X86_EXC_PF 14
#define X86_EXC_MC 18

#endif
