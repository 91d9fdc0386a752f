/* Seed API on BitVisor: vmmcall_register("name", fn) registers with BitVisor's own table
 * (core/vmmcall.h). The guest looks the name up and calls it exactly as on the lab's hypervisor.
 *
 * Differences the lab reports: the return value is 0 (BitVisor returns nothing; numbers follow
 * registration order: always look up by name); a bad name or a full table (128 services) is
 * BitVisor's behaviour, not the lab's start-up check; services the lab leaves out on BitVisor
 * (left-out.tsv) are declined with a log line. vmmcall_register_flags() accepts the lab's
 * access flags and ignores them: BitVisor lets every service be called from CPL0 and CPL3. */
#ifndef GMLAB_BV_VMMCALL_H
#define GMLAB_BV_VMMCALL_H
#include "types.h"
#include "../../vmmcall.h"

u64 gmlab_bv_vmmcall_register(const char *name, void (*func)(void), unsigned flags);

#define vmmcall_register(name, func) gmlab_bv_vmmcall_register((name), (func), 0)
#define VMMCALL_CPL0_ONLY 0x1u
#define vmmcall_register_flags(name, func, flags) gmlab_bv_vmmcall_register((name), (func), (flags))

#endif
