/* Seed API: vmmcall_register("name", fn) makes fn callable by the guest (look up by name with
 * rax=0, then call with rax=number). See hypercall ABI in gml_hypercall.h. */
#ifndef HV_VMMCALL_H
#define HV_VMMCALL_H
#include "types.h"

/* Registers a service; a bad name (empty, too long, duplicate) or a full table is fatal at
 * start-up, so a misnamed service cannot go unnoticed. Returns the service number. */
u64 vmmcall_register(const char *name, void (*func)(void));

#endif
