/* Hypercall dispatch (common to all backends): the backend decodes its hypercall exit, calls
 * hypercall_handle(), then advances the guest's rip past the instruction. */
#ifndef HV_HYPERCALL_H
#define HV_HYPERCALL_H
#include "vcpu.h"

void hypercall_init(void);
void hypercall_handle(struct vcpu *v);
/* Log the registered services (after the init functions ran). */
void hypercall_log_services(void);

#endif
