/* The one accessor for a service's argument and result registers: the calling vCPU's GPRs,
 * through the seed's current->vmctl. Every service in services/ uses it, except the seed's
 * examples (services/seed_*.c), which keep the seed's own calls.
 *     u64 addr = svc_get(RBX);
 *     svc_set(RAX, status);
 * A service writes only the registers its contract lists as results; the rest stay the
 * caller's (gml_hypercall.h). */
#ifndef HV_SVC_REGS_H
#define HV_SVC_REGS_H
#include "types.h"
#include "current.h"

static inline u64 svc_get_reg(enum general_reg reg)
{
	ulong v;

	current->vmctl.read_general_reg(reg, &v);
	return v;
}

static inline void svc_set_reg(enum general_reg reg, u64 val)
{
	current->vmctl.write_general_reg(reg, val);
}

/* reg: RAX RBX RCX RDX RSI RDI (any GENERAL_REG_* suffix) */
#define svc_get(reg) svc_get_reg(GENERAL_REG_##reg)
#define svc_set(reg, val) svc_set_reg(GENERAL_REG_##reg, (val))

#endif
