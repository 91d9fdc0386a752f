/* Fault-in mode: the #PF a refused access would have raised (gml_faultin.h). */
#include "gml_faultin.h"

bool gml_pf_error_code(const struct gml_cpu_state *cpu, gml_err e, unsigned access, u32 *code)
{
	u32 c = 0;

	if (!cpu || !code)
		return false;
	if (cpu->cpl == 3)
		c |= GML_PF_U;
	if (access & GML_ACC_WRITE)
		c |= GML_PF_W;
	/* I: instruction fetches, when the CPU reports them (NXE or SMEP on) */
	if ((access & GML_ACC_EXEC) &&
	    ((cpu->efer & X86_EFER_NXE) || (cpu->cr4 & X86_CR4_SMEP)))
		c |= GML_PF_I;
	switch (e) {
	case GML_E_NOT_PRESENT:
		break;
	case GML_E_READ_ONLY:
	case GML_E_USER_SUPERVISOR:
	case GML_E_SMAP:
	case GML_E_SMEP:
	case GML_E_NX:
		c |= GML_PF_P;
		break;
	case GML_E_PKEY:
		c |= GML_PF_P | GML_PF_PK;
		break;
	case GML_E_RESERVED_BIT:
		c |= GML_PF_P | GML_PF_RSVD;
		break;
	default:
		return false;
	}
	*code = c;
	return true;
}

bool gml_faultin_allowed(const struct gml_cpu_state *cpu, u64 gva)
{
	unsigned top;

	if (!cpu || cpu->cpl != 3 || !(cpu->cr0 & X86_CR0_PG))
		return false;
	if (!gml_is_canonical(cpu, gva))
		return false;
	top = (cpu->cr4 & X86_CR4_LA57) ? 56 : 47;
	return ((gva >> top) & 1) == 0;
}

bool gml_faultin_decide(const struct gml_cpu_state *cpu, u64 gva, gml_err e, unsigned access,
			u32 *code)
{
	return gml_faultin_allowed(cpu, gva) && gml_pf_error_code(cpu, e, access, code);
}
