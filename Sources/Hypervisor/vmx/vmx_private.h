/* Private to the VMX backend (vmx/): its state and the functions its two halves share.
 * vmcs.c: VMCS access, capabilities (probe), set-up, EPT flush, the fatal dump.
 * vmx.c:  the run loop and every exit handler. */
#ifndef HV_VMX_PRIVATE_H
#define HV_VMX_PRIVATE_H
#include "vcpu.h"
#include "vmcs.h"
#include "nested.h"

/* Exceptions intercepted while a region write is stepped with TF (no MTF): all but NMI (2, not
 * an exception) and #MC (18). Any of them ends the step before the guest sees it. */
#define STEP_EXCEPTIONS (0xffffffffu & ~(1u << 2) & ~(1u << X86_EXC_MC))
/* Always intercepted: #UD, for AMD's VMMCALL used as a hypercall (vmm/foreign_hypercall.c). */
#define BASE_EXCEPTIONS (1u << X86_EXC_UD)

struct vmx_caps {
	u64 basic, ept_cap;
	u32 pin, cpu, cpu2, exit, entry; /* the controls chosen */
	u64 cr0_fixed0, cr0_fixed1, cr4_fixed0, cr4_fixed1;
};

struct vmx_state {
	struct vmx_caps caps;
	u64 vmcs_pa;
	u64 eptp;
	struct nested ept;
	bool launched;
	/* CR bits the guest may not change freely (VMX requires them); the guest sees shadows. */
	u64 cr0_mask, cr4_mask;
	/* ROM trick (vmm/romwrite.c): how the region write is stepped, and the guest's own state
	 * while it is */
	bool use_mtf;  /* monitor trap flag available; else RFLAGS.TF + exception intercepts */
	u64 step_saved_tf, step_saved_debugctl;
	/* exits by kind, for the fatal dump (no printing on the exit path) */
	u64 n_vmcall, n_vmmcall, n_ud, n_cpuid, n_msr, n_msr_other, n_msr_hidden, n_io, n_cr, n_xsetbv, n_invd,
		n_ept_rom, n_ept_lazy, n_ept_wide, n_step_exc, n_vmx_insn, n_task_switch;
	/* An NMI that hit the host (VMX root): the guest's, delivered at the next entry. */
	volatile bool nmi_pending;
	u64 n_host_nmi;
	u32 last_reason;
	u64 last_qual;
};

extern struct vmx_state vmx;

/* vmcs.c */
const char *vm_instruction_error_name(u64 e);
u64 vmcs_error(void);
u64 vmr(u64 field);
void vmw(u64 field, u64 v);
bool vmx_probe(const char **why);
void vmx_init(struct vcpu *v, const struct guest_entry *e);
void vmx_invept(void);
void vmx_dump_guest(void);
/* CR0/CR4 as the guest sees them: its own bits, the read shadow for the pinned ones. */
u64 vmx_guest_cr0(void);
u64 vmx_guest_cr4(void);

/* vmx.c: the ROM step's hooks, #GP injection and the host-NMI hook */
void vmx_step_begin(void);
void vmx_step_end(void);
void vmx_inject_gp(void);
void vmx_host_nmi(void);

#endif
