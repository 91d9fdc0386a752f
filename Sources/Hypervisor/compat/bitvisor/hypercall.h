/* hypercall.h on BitVisor: the two ways a lab service ends a call without completing it (the
 * lab's include/hypercall.h: continuations and fault-in mode, issue 14), with BitVisor's own
 * vCPU controls. BitVisor moves RIP past the 3-byte VMMCALL/VMCALL before it runs a service
 * (core/x86/svm_main.c do_vmmcall, vt_main.c do_vmcall), so stepping RIP back 3 bytes makes the
 * guest execute the instruction again once its pending interrupts (or the injected #PF) are
 * handled: the same contract as on the lab's hypervisor, the state in the caller's registers. */
#ifndef GMLAB_BV_HYPERCALL_H
#define GMLAB_BV_HYPERCALL_H
#include "current.h"

#define HYPERCALL_INSN_LEN 3

static inline void gmlab_bv_hypercall_again(void)
{
	ulong ip;

	current->vmctl.read_ip(&ip);
	current->vmctl.write_ip(ip - HYPERCALL_INSN_LEN);
}

/* A slice is done: back to the guest, the instruction again after its interrupts. */
static inline void hypercall_restart(struct vcpu *v)
{
	(void)v;
	gmlab_bv_hypercall_again();
}

/* Fault-in mode: the #PF the guest's own access would have raised, then the instruction again. */
static inline void hypercall_page_fault(struct vcpu *v, u64 cr2, u32 error)
{
	(void)v;
	gmlab_bv_hypercall_again();
	current->vmctl.generate_pagefault(error, cr2);
}

#endif
