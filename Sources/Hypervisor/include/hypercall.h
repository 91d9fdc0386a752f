/* Hypercall dispatch (common to all backends): the backend decodes its hypercall exit, calls
 * hypercall_handle(), then advances the guest's rip past the instruction. */
#ifndef HV_HYPERCALL_H
#define HV_HYPERCALL_H
#include "vcpu.h"

void hypercall_init(void);
void hypercall_handle(struct vcpu *v);
/* Log the registered services and the access policy (after the init functions ran). */
void hypercall_log_services(void);

/* The access policy (GML_POLICY_* in gml_methods.h; gmlab.policy= on the command line), set
 * before the guest starts; GML_POLICY_BITVISOR unless set. */
void hypercall_set_policy(u32 policy);
u32 hypercall_policy(void);
const char *hypercall_policy_name(u32 policy);

#endif
