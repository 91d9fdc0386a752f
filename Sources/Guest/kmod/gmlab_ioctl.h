/* Interface of the gmlab kernel module (/dev/gmlab), shared by kmod/gmlab.c and user space.
 * It exists so tests can do at CPL0 what user space cannot: hypercalls from the kernel and
 * guest-physical access to the hypervisor's region. */
#ifndef GMLAB_IOCTL_H
#define GMLAB_IOCTL_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define GMLAB_DEVICE "/dev/gmlab"

/* Look-up at CPL0; the module passes a kernel copy of name (NUL forced at the end). */
struct gmlab_lookup {
	char name[256];
	__u64 number;		/* out: rax */
	__u32 faulted;		/* out: 1 = the instruction raised #UD (fixed up) */
	__u32 pad;
};

/* One hypercall at CPL0: rax = service number, rbx..rdi arguments; all six come back. */
struct gmlab_hc {
	__u64 rax, rbx, rcx, rdx, rsi, rdi;
	__u32 faulted;		/* out: as above */
	__u32 insn;		/* in: 0 = the CPU vendor's instruction; HC_INSN_VMCALL (1) or
				 * HC_INSN_VMMCALL (2): that one, the other vendor's too (hv suite);
				 * anything else EINVAL */
};

/* Guest-physical access through memremap, with aligned 8-byte loads/stores (simple
 * instructions a hypervisor can emulate). Refused (EPERM) when the range touches System RAM:
 * the module is for reserved ranges such as the hypervisor's region, not for scribbling on
 * the guest. */
struct gmlab_phys {
	__u64 gpa;
	__u64 len;		/* 1 .. GMLAB_PHYS_MAX */
	__u64 buf;		/* user pointer */
};
#define GMLAB_PHYS_MAX (16u << 20)

#define GMLAB_IOC_LOOKUP	_IOWR('G', 1, struct gmlab_lookup)
#define GMLAB_IOC_CALL		_IOWR('G', 2, struct gmlab_hc)
#define GMLAB_IOC_PHYS_READ	_IOW('G', 3, struct gmlab_phys)
#define GMLAB_IOC_PHYS_WRITE	_IOW('G', 4, struct gmlab_phys)
/* selftest only: spin forever with interrupts off (the whole guest hangs) */
#define GMLAB_IOC_HANG		_IO('G', 5)

/*
 * A kernel buffer for the physical and kernel-linear methods, one per open file (a new
 * KBUF_ALLOC frees the previous one; close frees it). kmalloc memory is physically contiguous
 * (gpa = virt_to_phys); vmalloc memory is not (gpa = 0): use the page list, a kmalloc'd array
 * of u64 frame numbers, one per page of the buffer, at guest-physical list_gpa. The buffer is
 * zeroed. Hypercalls on it go through GMLAB_IOC_CALL (CPL0).
 */
#define GMLAB_KBUF_KMALLOC	1
#define GMLAB_KBUF_VMALLOC	2
#define GMLAB_KBUF_PAGES	3	/* alloc_pages, contiguous, inside [phys_lo, phys_hi) */
#define GMLAB_KBUF_MAX		(16u << 20)	/* vmalloc; kmalloc is limited by kmalloc_max */

struct gmlab_kbuf {
	__u32 kind;		/* in: GMLAB_KBUF_* */
	__u32 pad;
	__u64 size;		/* in: 1 .. GMLAB_KBUF_MAX bytes */
	__u64 kva;		/* out: kernel virtual address */
	__u64 gpa;		/* out: virt_to_phys(kva) for kmalloc, 0 for vmalloc */
	__u64 list_gpa;		/* out: guest-physical address of the frame-number array */
	__u64 npages;		/* out: entries in that array */
	__u64 kmalloc_max;	/* out: KMALLOC_MAX_SIZE of this kernel (the largest kmalloc) */
	__u64 phys_lo, phys_hi;	/* in, GMLAB_KBUF_PAGES: wanted guest-physical range (tries
				   up to 256 allocations, ENOSPC when none lands inside) */
};

/* Copy between the buffer at [offset, offset+len) and user memory at buf. */
struct gmlab_kbuf_io {
	__u64 offset, len, buf;
};

#define GMLAB_IOC_KBUF_ALLOC	_IOWR('G', 6, struct gmlab_kbuf)
#define GMLAB_IOC_KBUF_READ	_IOW('G', 7, struct gmlab_kbuf_io)
#define GMLAB_IOC_KBUF_WRITE	_IOW('G', 8, struct gmlab_kbuf_io)

/*
 * A second kernel mapping (vmap) of the per-file buffer's pages, read-only or read-write, for
 * the CPL0 walker cases: with CR0.WP set a CPL0 write through the read-only alias must be
 * refused as the CPU would refuse it. One alias per buffer (a new one replaces it); freed with
 * the buffer. Not for GMLAB_KBUF_VMALLOC buffers larger than 64 pages.
 */
#define GMLAB_ALIAS_RO	1
#define GMLAB_ALIAS_RW	2
struct gmlab_alias {
	__u32 prot;		/* in: GMLAB_ALIAS_* */
	__u32 pad;
	__u64 kva;		/* out: the alias */
	__u64 npages;		/* out: pages mapped (the whole buffer) */
};
#define GMLAB_IOC_KBUF_ALIAS	_IOWR('G', 9, struct gmlab_alias)

/*
 * The 4 KiB leaf entry of a page of that alias: read it (set = clear = 0) or change it (bits in
 * set turned on, then bits in clear turned off) and flush the TLB; write the old value back by
 * passing it in set and ~it in clear. Only inside the alias: nothing else uses those entries,
 * and the cases never touch the alias with the CPU while an entry is changed (reserved bits,
 * U/S at the leaf only), only the hypervisor walks it.
 */
struct gmlab_pte {
	__u64 kva;		/* in: an address inside the alias */
	__u64 set, clear;	/* in */
	__u64 old, new;		/* out: the entry before and after */
	__u32 phys_bits;	/* out: the CPU's MAXPHYADDR (boot_cpu_data.x86_phys_bits) */
	__u32 pad;
};
#define GMLAB_IOC_ALIAS_PTE	_IOWR('G', 10, struct gmlab_pte)

/*
 * The page-directory entry (level 2, pointing to a page table) that maps a user address of the
 * calling process: read it or change it (set, then clear bits; restore as for
 * GMLAB_IOC_ALIAS_PTE) and flush the TLB, for the walker cases that need an upper level to
 * refuse what the leaf allows (Linux gives every upper-level entry U/S=1 and R/W=1, kernel
 * ones included: protection lives in the leaves). Only when the entry points to a page table
 * (no huge page) and one VMA with MADV_NOHUGEPAGE covers its whole 2 MiB, so no other memory
 * of the process is affected and khugepaged never looks at it; the process must not touch that
 * range while the entry is changed (it would get SIGSEGV).
 */
struct gmlab_pmd {
	__u64 va;		/* in: a user address of the caller */
	__u64 set, clear;	/* in */
	__u64 old, new;		/* out */
};
#define GMLAB_IOC_USER_PMD	_IOWR('G', 12, struct gmlab_pmd)

/*
 * Interrupt latency while a long hypercall runs (issue 14, continuations). START arms a
 * periodic hrtimer (hard interrupt context, period_us); every expiry notes how late it runs
 * (ktime_get() minus the programmed expiry). With echo_number set, every expiry also makes a
 * hypercall of its own (gml.regs.echo with rbx..rdi = n, 2, 3, 4, 5 at CPL0, in the interrupt
 * that interrupted a continuation: on both hypervisors) and checks the answer (rax 0, each
 * register its own NOT). STOP cancels it and returns the
 * figures. One measurement at a time (EBUSY otherwise); closing the file stops it.
 */
#define GMLAB_LAT_START	1
#define GMLAB_LAT_STOP	2
struct gmlab_latency {
	__u32 op;		/* in: GMLAB_LAT_* */
	__u32 period_us;	/* in, START: 20 .. 1000000 */
	__u64 echo_number;	/* in, START: gml.regs.echo's number, 0 = no hypercalls */
	__u64 fires;		/* out, STOP: expiries handled */
	__u64 max_late_ns;	/* out: the latest one */
	__u64 sum_late_ns;	/* out: for the mean */
	__u64 over_1ms, over_10ms; /* out: expiries later than 1 ms, 10 ms */
	__u64 echo_calls;	/* out: hypercalls made from expiries */
	__u64 echo_bad;		/* out: of those, a wrong answer or #UD */
	__u64 elapsed_ns;	/* out: START to STOP */
};
#define GMLAB_IOC_LATENCY	_IOWR('G', 11, struct gmlab_latency)

/*
 * One CPL0 action whose exception the kernel's exception table catches (suite hostile: what
 * the CPU or the hypervisor answers to privileged instructions a guest may execute). trap is
 * GMLAB_TRAP_NONE when the instruction completed, else the vector it raised (13 = #GP,
 * 14 = #PF, ...). An action that changes CPU state puts the old state back before returning,
 * with interrupts off from before the change until after the restore.
 */
struct gmlab_try {
	__u32 op;		/* in: GMLAB_TRY_* */
	__u32 trap;		/* out: GMLAB_TRAP_NONE or the exception vector */
	__u64 arg[3];		/* in */
	__u64 out[3];		/* out */
};
#define GMLAB_TRAP_NONE		0xffffffffu

/* RDMSR arg[0] -> out[0] = value */
#define GMLAB_TRY_RDMSR		1
/* WRMSR arg[0] = arg[1]. Nothing is restored: only for MSRs whose write is harmless or
 * refused (the caller's business). */
#define GMLAB_TRY_WRMSR		2
/* out[0] = RDMSR arg[0] (must not fault), then WRMSR arg[0] = arg[1]; if that completed,
 * out[1] = RDMSR arg[0] and the old value is written back. */
#define GMLAB_TRY_WRMSR_RESTORE	3
/* out[0] = CR0, then MOV CR0 = arg[0]; if that completed, out[1] = CR0 and the old value is
 * written back. */
#define GMLAB_TRY_CR0		4
/* out[0] = XCR0 (needs CR4.OSXSAVE, else EOPNOTSUPP), then XSETBV XCR0 = arg[0]; if that
 * completed, out[1] = XCR0 and the old value is written back. */
#define GMLAB_TRY_XSETBV	5
/* arg[1] (1..4096) aligned 8-byte reads at guest-physical arg[0] + i * arg[2], each through a
 * fresh ioremap of its page (refused with EPERM when a page is System RAM, EINVAL when Linux
 * cannot map the address, e.g. beyond the CPU's physical address width). Stops at the first
 * trap. out[0] = reads completed, out[1] = XOR of the values read, out[2] = the last one. */
#define GMLAB_TRY_PHYS_READ	6
/* out[0] = CR0 */
#define GMLAB_TRY_READ_CR0	7
/* RDMSR arg[0] written with a CS prefix (2e 0f 32, a prefix the CPU ignores), then `sar ecx, 1`
 * (d1 f9) -> out[0] = value, out[1] = RCX after both. Resumed one byte short (at the 0x32), the
 * CPU runs `xor dl, cl; stc` (32 d1, f9) instead: RCX stays arg[0] and the value's bits 39:32
 * change, never a crash (suite hostile, case prefixed-exits). Expected RCX: (u32)((s32)arg[0] >> 1). */
#define GMLAB_TRY_RDMSR_PREFIXED 8
/* An interrupt made pending with interrupts off (a 1 ns hrtimer, then a wait until the local
 * APIC holds it in its IRR),
 * then `sti ; cpuid ; nop ; nop ; cli`: the STI shadow covers the CPUID alone, so the interrupt
 * is taken right after it, whether or not a hypervisor emulated the CPUID. out[0] = the RIP the
 * timer interrupt interrupted (0 if it never ran), out[1] = the address right after the CPUID.
 * EBUSY when it was not pending within 100 ms or never ran. (hv/sti-shadow-emulated) */
#define GMLAB_TRY_STI_SHADOW	9

#define GMLAB_IOC_TRY		_IOWR('G', 13, struct gmlab_try)

#endif
