/* Hypercall dispatch: rax=0 looks a name up (read from guest-linear memory with the caller's
 * rights; never faulting the guest unless it asks for fault-in mode); rax=n runs service n;
 * unused n -> GML_HC_ENOSYS. Under the strict policy a CPL0-only service called from CPL3 does
 * not run: rax = GML_ME_DENIED, every other register unchanged (the decision is core's
 * gml_registry_allowed). */
#include "hypercall.h"
#include "vmmcall.h"
#include "current.h"
#include "guestmem.h"
#include "gml_registry.h"
#include "gml_faultin.h"
#include "gml_hypercall.h"
#include "gml_methods.h"
#include "printf.h"
#include "fatal.h"
#include "initfunc.h"
#include "svc_regs.h"
#include "x86.h"

_Static_assert(VMMCALL_CPL0_ONLY == GML_SVC_CPL0_ONLY, "vmmcall.h and gml_registry.h disagree");

static struct gml_registry registry;
static u32 policy = GML_POLICY_BITVISOR;

void hypercall_set_policy(u32 p)
{
	policy = p;
}

u32 hypercall_policy(void)
{
	return policy;
}

const char *hypercall_policy_name(u32 p)
{
	return p == GML_POLICY_BITVISOR ? "bitvisor" : p == GML_POLICY_STRICT ? "strict" : "?";
}

void hypercall_init(void)
{
	gml_registry_init(&registry);
}

u64 vmmcall_register(const char *name, void (*func)(void))
{
	return vmmcall_register_flags(name, func, 0);
}

u64 vmmcall_register_flags(const char *name, void (*func)(void), unsigned flags)
{
	u64 number = 0;
	gml_err e = gml_registry_register_flags(&registry, name, func, flags, &number);
	if (e != GML_OK)
		hv_fatal("vmmcall_register(\"%s\"): %s (%s)", name ? name : "(null)", gml_errname(e),
			 gml_strerror(e));
	return number;
}

void hypercall_log_services(void)
{
	printf("GMLAB-HV: %u services registered:", registry.count);
	for (u64 n = 1; n <= registry.count; n++)
		printf(" %llu=%s", n, gml_registry_name(&registry, n));
	printf("\n");
	if (policy == GML_POLICY_BITVISOR) {
		printf("GMLAB-HV: policy bitvisor: every service answers CPL0 and CPL3 callers "
		       "(gmlab.policy=strict makes the CPL0-only ones refuse CPL3)\n");
		return;
	}
	printf("GMLAB-HV: policy %s: CPL0-only, CPL3 callers get GML_ME_DENIED:",
	       hypercall_policy_name(policy));
	for (u64 n = 1; n <= registry.count; n++)
		if (gml_registry_flags(&registry, n) & GML_SVC_CPL0_ONLY)
			printf(" %s", gml_registry_name(&registry, n));
	printf("\n");
}

/* CPL of the caller: only asked for when the policy could refuse (one backend call). */
static u8 caller_cpl(struct vcpu *v)
{
	struct guest_paging_state s;

	v->ops->paging_state(v, &s);
	return s.cpl;
}

/* rax = 0: the look-up. In fault-in mode (rcx = GML_LOOKUP_FAULTIN, gml_methods.h) a CPL3
 * caller's unreadable user-half name gets the #PF its own read would have raised, RIP stays on
 * the instruction and the look-up runs again from the start; rcx bits 7:0 count those #PFs
 * (the only state, in the caller's register) and are cleared when the look-up answers. */
static void lookup(struct vcpu *v)
{
	u64 rcx = v->gpr[GENERAL_REG_RCX], gva = v->gpr[GENERAL_REG_RBX], fault_gva = 0;
	bool faultin = (rcx & ~GML_LOOKUP_RETRY_MASK) == GML_LOOKUP_FAULTIN;
	struct gml_walker w;
	gml_err why = GML_OK;
	u32 code;

	guest_walker(&w);
	u64 number = gml_lookup_guest_name_at(&registry, &w, guest_phys(), gva, &why, &fault_gva);
	if (!faultin) {
		v->gpr[GENERAL_REG_RAX] = number;
		return;
	}
	if (!number && (rcx & GML_LOOKUP_RETRY_MASK) < GML_XFER_MAX_RETRIES &&
	    gml_faultin_decide(&w.cpu, fault_gva, why, GML_ACC_READ, &code)) {
		v->gpr[GENERAL_REG_RCX] = rcx + 1; /* rax stays 0: the look-up again */
		hypercall_page_fault(v, fault_gva, code);
		return;
	}
	v->gpr[GENERAL_REG_RCX] = GML_LOOKUP_FAULTIN;
	v->gpr[GENERAL_REG_RAX] = number;
}

static void dispatch(struct vcpu *v, u64 nr)
{
	if (nr == GML_HC_LOOKUP) {
		lookup(v);
		return;
	}
	if (policy != GML_POLICY_BITVISOR && (gml_registry_flags(&registry, nr) & GML_SVC_CPL0_ONLY) &&
	    !gml_registry_allowed(&registry, nr, caller_cpl(v), policy)) {
		v->gpr[GENERAL_REG_RAX] = GML_ME_DENIED;
		return;
	}
	if (gml_registry_dispatch(&registry, nr) != GML_OK)
		v->gpr[GENERAL_REG_RAX] = GML_HC_ENOSYS;
}

/* The longest stay in the dispatch since gmlab.holds last reset it, in TSC cycles, and the
 * service number that made it (0 = the look-up). No call may hold the vCPU for long (issue 9);
 * since continuations (issue 14) a long transfer is many stays of one slice each, and the bench
 * reports this figure per transfer so that the bound is measured, not assumed. One record for
 * all vCPUs: the lab runs one, and with more a racing update only loses a maximum. */
static struct {
	u64 cycles, nr, stays;
	bool reset;
} hold;

void hypercall_handle(struct vcpu *v)
{
	u64 nr = v->gpr[GENERAL_REG_RAX], t0 = rdtsc();

	dispatch(v, nr);
	u64 t = rdtsc() - t0;
	if (hold.reset) {
		hold.cycles = hold.nr = hold.stays = 0;
		hold.reset = false;
		return;
	}
	hold.stays++;
	if (t > hold.cycles) {
		hold.cycles = t;
		hold.nr = nr;
	}
}

/* gmlab.holds: rax = 0, rbx = the longest stay (TSC cycles), rcx = its service number, rdx =
 * stays counted, all since the last reset; rbx = 1 on entry resets them after this call (which
 * is then not counted). rsi and rdi are unchanged. The guest converts cycles to time with its
 * own TSC rate (the TSC runs at one rate in the guest and here: no scaling is set up). */
static void gmlab_holds(void)
{
	bool reset = svc_get(RBX) == 1;

	svc_set(RAX, 0);
	svc_set(RBX, hold.cycles);
	svc_set(RCX, hold.nr);
	svc_set(RDX, hold.stays);
	hold.reset = reset;
}

static void hold_service_init(void)
{
	vmmcall_register("gmlab.holds", gmlab_holds);
}
/* after every other service ("vmmcal9" sorts last): adding it shifted no service number */
INITFUNC("vmmcal9", hold_service_init);
