/*
 * Interface of gmlfuzz.ko (/dev/gmlfuzz), the CPL0 half of the hypercall fuzzer
 * (fuzz.c, beside it). The module is deliberately dumb: it runs, at CPL0, batches of hypercalls
 * whose every register the user-space fuzzer chose, and hands back every register; all the
 * generating and checking stays in user space, one code path for CPL3 and CPL0. It also owns
 * two kernel pages (names + write area) the fuzzer points kernel-address arguments at.
 * Shared by gmlfuzz_main.c and fuzz.c.
 */
#ifndef GMLFUZZ_IOCTL_H
#define GMLFUZZ_IOCTL_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define GMLFUZZ_DEVICE "/dev/gmlfuzz"

/* Every general register but rsp, in and out of one hypercall (fuzz_call.S relies on this
 * layout: offsets 0, 8, ... 112). rax = service number (0 = look-up). */
struct gmlfuzz_regs {
	__u64 rax, rbx, rcx, rdx, rsi, rdi, rbp, r8, r9, r10, r11, r12, r13, r14, r15;
};

/* The kernel scratch: GMLFUZZ_SCRATCH_SIZE bytes, physically contiguous (two pages: the
 * first holds names for look-ups, the second is where writing services are pointed). */
#define GMLFUZZ_SCRATCH_SIZE 8192u

struct gmlfuzz_info {
	__u64 scratch_va;	/* kernel linear address */
	__u64 scratch_pa;	/* guest-physical address */
	__u32 scratch_size;
	__u32 insn;		/* 1 vmcall, 2 vmmcall (hypercall.h enum hc_insn) */
};

/* Copy the whole scratch to / from a user buffer of GMLFUZZ_SCRATCH_SIZE bytes. */
struct gmlfuzz_scratch {
	__u64 buf;		/* user pointer */
};

/* Run calls[0..n) in order at CPL0; each entry is replaced by the registers after its call.
 * Fails with ENODEV (nothing run) when the hypercall instruction raises #UD. */
#define GMLFUZZ_BATCH_MAX 1024u
struct gmlfuzz_batch {
	__u64 calls;		/* user pointer to struct gmlfuzz_regs[n] */
	__u32 n;		/* 1 .. GMLFUZZ_BATCH_MAX */
	__u32 pad;
};

#define GMLFUZZ_IOC_INFO		_IOR('F', 1, struct gmlfuzz_info)
#define GMLFUZZ_IOC_SCRATCH_READ	_IOW('F', 2, struct gmlfuzz_scratch)
#define GMLFUZZ_IOC_SCRATCH_WRITE	_IOW('F', 3, struct gmlfuzz_scratch)
#define GMLFUZZ_IOC_BATCH		_IOW('F', 4, struct gmlfuzz_batch)

#endif
