/* Seed API: vmmcall_register("name", fn) makes fn callable by the guest (look up by name with
 * rax=0, then call with rax=number). See hypercall ABI in gml_hypercall.h. */
#ifndef HV_VMMCALL_H
#define HV_VMMCALL_H
#include "types.h"

/* Registers a service; a bad name (empty, too long, duplicate) or a full table is fatal at
 * start-up, so a misnamed service cannot go unnoticed. Returns the service number. */
u64 vmmcall_register(const char *name, void (*func)(void));

/* Beyond the seed: the same with flags. VMMCALL_CPL0_ONLY declares a service CPL0-only: under
 * the strict policy (gmlab.policy=strict) a CPL3 caller gets GML_ME_DENIED and the service does
 * not run; under the default policy (bitvisor) the flag has no effect. */
#define VMMCALL_CPL0_ONLY 0x1u /* = GML_SVC_CPL0_ONLY (core/include/gml_registry.h) */
u64 vmmcall_register_flags(const char *name, void (*func)(void), unsigned flags);

#endif
