/* Hypercall dispatch (common to all backends): the backend decodes its hypercall exit, calls
 * hypercall_handle(), then advances the guest's rip past the instruction. */
#ifndef HV_HYPERCALL_H
#define HV_HYPERCALL_H
#include "vcpu.h"
#include "gml_guestinput.h"

void hypercall_init(void);
void hypercall_handle(struct vcpu *v);

/* For services (issue 14): end this hypercall without completing it. The registers then
 * describe the remaining work (all continuation state lives in the caller's registers), RIP
 * stays on the hypercall instruction and the guest executes it again: after pending interrupts
 * were delivered (hypercall_restart: a preemptible continuation, as Xen's), or after its own
 * page-fault handler resolved cr2 (hypercall_page_fault: the fault-in mode, as KVM's emulator
 * does; error is the #PF error code the CPU would have pushed). */
static inline void hypercall_restart(struct vcpu *v)
{
	v->hc_end.restart = true;
}

static inline void hypercall_page_fault(struct vcpu *v, u64 cr2, u32 error)
{
	v->hc_end.page_fault = true;
	v->hc_end.cr2 = cr2;
	v->hc_end.error = error;
}
/* Both hypercall instructions are three bytes without prefixes: VMCALL 0f 01 c1 (Intel), VMMCALL
 * 0f 01 d9 (AMD). With prefixes the CPU ignores they are longer (up to 15 bytes): RIP moves past
 * what the exit reports or the bytes decode to (gml_insn_len), this only where neither can. */
#define HYPERCALL_INSN_LEN 3
/* A #UD at guest-linear lin (CS.base + RIP outside 64-bit mode): the length of `insn` (the other
 * vendor's hypercall, GML_INSN_VMCALL or GML_INSN_VMMCALL) there, prefixes included, or 0 when
 * the instruction is something else. (vmm/foreign_hypercall.c) */
unsigned hypercall_foreign_len(u64 lin, bool mode64, enum gml_insn insn);
/* Log the registered services and the access policy (after the init functions ran). */
void hypercall_log_services(void);

/* The access policy (GML_POLICY_* in gml_methods.h; gmlab.policy= on the command line), set
 * before the guest starts; GML_POLICY_BITVISOR unless set. */
void hypercall_set_policy(u32 policy);
u32 hypercall_policy(void);
const char *hypercall_policy_name(u32 policy);

#endif
