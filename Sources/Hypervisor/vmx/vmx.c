/* Intel VMX backend, exit half: the run loop and every exit handler (vmcs.c sets the VMCS up).
 * Only the exits a thin hypervisor needs: VMCALL (hypercalls); #UD (AMD's VMMCALL is a
 * hypercall too); what VMX always forces: CPUID (hide VMX and the hypervisor leaves), XSETBV
 * (validated, done on the host), INVD (done as WBINVD), GETSEC and every VMX instruction (#UD:
 * nested VMX is not offered), triple fault (fatal), INIT/SIPI (fatal: one CPU, no reset
 * emulation); CR0/CR4 writes that touch bits VMX pins (CR4.VMXE, CR0.NE: guest/host masks +
 * read shadows, values checked as the CPU would); RDMSR/WRMSR of IA32_FEATURE_CONTROL, the VMX
 * capability MSRs and KVM's legacy paravirtual MSRs (MSR bitmap), and of MSRs outside the
 * bitmap's ranges (always exit: hidden ones #GP, the rest done on the host, #GP passed on);
 * I/O to COM3 only (I/O bitmap: the hypervisor's log); EPT violations (writes to the
 * hypervisor's region are discarded, higher MMIO is mapped on demand, beyond the EPT's reach
 * #GP); the monitor trap flag (or every exception, without MTF) while a region write is being
 * stepped. Interrupts, NMIs, HLT, every other port, MSR and CR access go straight to the guest
 * (an NMI that hits the host is forwarded). README.md "The VMX backend" has the design. */
#include "vmx_private.h"
#include "hypercall.h"
#include "gml_hypercall.h"
#include "hvmem.h"
#include "serial.h"
#include "printf.h"
#include "fatal.h"
#include "lib.h"
#include "x86.h"
#include "fault_fixup.h"
#include "romwrite.h"
#include "gml_guestinput.h"

int vmx_enter(u64 *gpr, int launched);

/* NMIs are not intercepted: in the guest they go through its IDT. One that arrives while the
 * host runs (between an exit and the next entry) is the guest's too: note it here, inject it at
 * the next entry the guest can take it (not in an NMI handler or a MOV-SS/STI shadow; otherwise
 * it waits for a later exit). Unlike SVM, VMX has no GIF to hold it pending in hardware. */
void vmx_host_nmi(void)
{
	vmx.nmi_pending = true;
	vmx.n_host_nmi++;
}

static void inject_pending_nmi(void)
{
	if (!vmx.nmi_pending || (vmr(VM_ENTRY_INTR_INFO) & INTR_INFO_VALID) ||
	    (vmr(GUEST_INTERRUPTIBILITY) & (INTERRUPTIBILITY_STI | INTERRUPTIBILITY_MOVSS |
					    INTERRUPTIBILITY_NMI)))
		return;
	vmx.nmi_pending = false;
	vmw(VM_ENTRY_INTR_INFO, INTR_INFO_VALID | INTR_TYPE_NMI | 2);
}

/* ---- exit handlers ---- */

static void inject(u8 vector, bool has_error, u32 error)
{
	vmw(VM_ENTRY_INTR_INFO, INTR_INFO_VALID | INTR_TYPE_HW_EXCEPTION | vector |
					(has_error ? INTR_INFO_ERROR_VALID : 0));
	if (has_error)
		vmw(VM_ENTRY_EXCEPTION_ERROR_CODE, error);
}

static void inject_ud(void) { inject(X86_EXC_UD, false, 0); }
void vmx_inject_gp(void) { inject(X86_EXC_GP, true, 0); }

/* The emulated instruction of len bytes ends as the CPU would end it: RIP past it, a STI or
 * MOV SS shadow that covered it over, and a guest that single-steps (its own TF) owed the #DB
 * trap now, with DR6.BS (DR6 is not in the VMCS: the live register is the guest's), before the
 * next instruction; a single-step the CPU held pending across a MOV SS is that same trap.
 * Without this a debugger stepping over CPUID, an MSR, I/O or a hypercall lands one instruction
 * late (hv/single-step-emulated; KVM does the same in kvm_skip_emulated_instruction). Not while
 * the ROM trick steps a store with TF: TF is ours then. */
static void complete_insn(u64 len)
{
	vmw(GUEST_RIP, vmr(GUEST_RIP) + len);
	u64 intr = vmr(GUEST_INTERRUPTIBILITY);
	if (intr & (INTERRUPTIBILITY_STI | INTERRUPTIBILITY_MOVSS))
		vmw(GUEST_INTERRUPTIBILITY, intr & ~(u64)(INTERRUPTIBILITY_STI | INTERRUPTIBILITY_MOVSS));
	if (!(vmr(GUEST_RFLAGS) & X86_RFLAGS_TF) || (romwrite_stepping() && !vmx.use_mtf) ||
	    (vmr(VM_ENTRY_INTR_INFO) & INTR_INFO_VALID))
		return;
	u64 pending = vmr(GUEST_PENDING_DBG_EXCEPTIONS);
	if (pending & PENDING_DBG_BS)
		vmw(GUEST_PENDING_DBG_EXCEPTIONS, pending & ~PENDING_DBG_BS);
	u64 dr6;
	asm volatile("mov %%dr6, %0" : "=r"(dr6));
	dr6 |= X86_DR6_BS;
	asm volatile("mov %0, %%dr6" : : "r"(dr6));
	inject(X86_EXC_DB, false, 0);
}

/* RIP past the instruction that exited, with its prefixes: the CPU reports the length for every
 * instruction exit (CPUID, RDMSR/WRMSR, VMCALL, XSETBV, INVD, MOV CR, ...). */
static void skip_instruction(void)
{
	complete_insn(vmr(VM_EXIT_INSTRUCTION_LEN));
}

/* The guest runs 64-bit code (IA32_EFER.LMA and CS.L, access-rights bit 13). */
static bool guest_mode64(void)
{
	return (vmr(GUEST_IA32_EFER) & X86_EFER_LMA) && (vmr(GUEST_CS_AR) & (1u << 13));
}

/* Guest-linear address of the instruction at RIP. */
static u64 guest_insn_lin(void)
{
	return guest_mode64() ? vmr(GUEST_RIP) : (u32)(vmr(GUEST_CS_BASE) + vmr(GUEST_RIP));
}

static void handle_cpuid(struct vcpu *v)
{
	u32 leaf = (u32)v->gpr[GENERAL_REG_RAX], sub = (u32)v->gpr[GENERAL_REG_RCX];
	u32 a, b, c, d;
	cpuid(leaf, sub, &a, &b, &c, &d);
	/* Bits that mirror the *current* CR4 show the host's: give the guest its own. */
	u64 cr4 = vmx_guest_cr4();
	if (leaf == 1) {
		c &= ~X86_CPUID_1_ECX_VMX; /* nested virtualization is not offered */
		c = (c & ~X86_CPUID_1_ECX_OSXSAVE) | ((cr4 & X86_CR4_OSXSAVE) ? X86_CPUID_1_ECX_OSXSAVE : 0);
	} else if (leaf == 7 && sub == 0) {
		c = (c & ~X86_CPUID_7_ECX_OSPKE) | ((cr4 & X86_CR4_PKE) ? X86_CPUID_7_ECX_OSPKE : 0);
	} else if (gml_cpuid_hidden(leaf)) {
		a = b = c = d = 0; /* no outer hypervisor's leaves (KVM's signature, kvmclock, …) */
	}
	v->gpr[GENERAL_REG_RAX] = a;
	v->gpr[GENERAL_REG_RBX] = b;
	v->gpr[GENERAL_REG_RCX] = c;
	v->gpr[GENERAL_REG_RDX] = d;
	skip_instruction();
}

static void handle_msr(struct vcpu *v, bool write)
{
	u32 msr = (u32)v->gpr[GENERAL_REG_RCX];
	if (msr == X86_MSR_IA32_FEATURE_CONTROL && !write) {
		/* Locked (by us or the firmware) with the VMX enables hidden, as on a machine whose
		 * firmware left VMX off; writes to a locked register #GP, as on hardware. */
		u64 val = rdmsr(msr) & ~(u64)(FEATURE_CONTROL_VMX_IN_SMX | FEATURE_CONTROL_VMX_OUTSIDE_SMX);
		v->gpr[GENERAL_REG_RAX] = (u32)val;
		v->gpr[GENERAL_REG_RDX] = (u32)(val >> 32);
		skip_instruction();
		return;
	}
	if (msr == X86_MSR_IA32_FEATURE_CONTROL || (msr >= MSR_IA32_VMX_FIRST && msr <= MSR_IA32_VMX_LAST)) {
		vmx_inject_gp(); /* VMX MSRs do not exist on a CPU without VMX */
		return;
	}
	if (gml_msr_hidden(msr)) { /* hypervisor range, KVM paravirtual, AMD SVM control */
		vmx.n_msr_hidden++;
		vmx_inject_gp();
		return;
	}
	/* MSRs outside the bitmap's two ranges (0-0x1fff, 0xc0000000-0xc0001fff) always exit:
	 * do the access on the host; an MSR the CPU lacks gives the guest its #GP. */
	bool in_bitmap = msr <= 0x1fff || (msr >= 0xc0000000u && msr <= 0xc0001fffu);
	if (in_bitmap)
		hv_fatal("%s intercept for MSR 0x%x, which the MSR bitmap does not select",
			 write ? "WRMSR" : "RDMSR", msr);
	vmx.n_msr_other++;
	if (write) {
		u64 val = (v->gpr[GENERAL_REG_RDX] << 32) | (u32)v->gpr[GENERAL_REG_RAX];
		if (!wrmsr_safe(msr, val)) {
			vmx_inject_gp();
			return;
		}
	} else {
		u64 val;
		if (!rdmsr_safe(msr, &val)) {
			vmx_inject_gp();
			return;
		}
		v->gpr[GENERAL_REG_RAX] = (u32)val;
		v->gpr[GENERAL_REG_RDX] = (u32)(val >> 32);
	}
	skip_instruction();
}

static void handle_io(struct vcpu *v, u64 qual)
{
	u16 port = (u16)(qual >> 16);
	unsigned size = (unsigned)(qual & 7) + 1; /* 0, 1, 3 -> 1, 2, 4 bytes */
	/* Only the log port is in the bitmap; an access overlapping it in any byte (e.g.
	 * `inw 0x3e7`) is the log port's as a whole. */
	if (!gml_io_overlaps(port, size, HV_SERIAL_PORT, HV_SERIAL_NPORTS))
		hv_fatal("I/O exit for port 0x%x/%u, which the I/O bitmap does not select", port, size);
	bool in = qual & (1 << 3), str = qual & (1 << 4), rep = qual & (1 << 5);
	if (!str) {
		if (in) { /* no UART here: the bus floats to all ones */
			u64 mask = size == 4 ? 0xffffffffULL : size == 2 ? 0xffff : 0xff;
			v->gpr[GENERAL_REG_RAX] = size == 4 ? mask : (v->gpr[GENERAL_REG_RAX] & ~mask) | mask;
		}
	} else {
		/* INS/OUTS: only the side effects on the index registers (data dropped; INS buffers
		 * keep their old contents), as the SVM backend does. */
		u64 count = rep ? v->gpr[GENERAL_REG_RCX] : 1;
		s64 step = (vmr(GUEST_RFLAGS) & (1ULL << 10)) ? -(s64)size : (s64)size;
		enum general_reg idx = in ? GENERAL_REG_RDI : GENERAL_REG_RSI;
		v->gpr[idx] += (u64)(step * (s64)count);
		if (rep)
			v->gpr[GENERAL_REG_RCX] = 0;
	}
	skip_instruction();
}

/* MOV to/from CR (only the bits in the CR0/CR4 masks exit, plus CR3 if the CPU forces it). */
static void handle_cr(struct vcpu *v, u64 qual)
{
	unsigned cr = qual & 15, type = (qual >> 4) & 3, reg = (qual >> 8) & 15;
	if (type == 0 && cr == 4) { /* MOV to CR4 touching a pinned bit */
		u64 val = v->gpr[reg];
		/* VMXE: VMX is not offered, so as on a CPU without it; other bits outside FIXED1
		 * are reserved on this CPU. */
		if ((val & X86_CR4_VMXE) || (val & ~vmx.caps.cr4_fixed1)) {
			vmx_inject_gp();
			return;
		}
		vmw(CR4_READ_SHADOW, val);
		vmw(GUEST_CR4, (val | vmx.caps.cr4_fixed0) & vmx.caps.cr4_fixed1);
	} else if (type == 0 && cr == 0) { /* MOV to CR0 touching a pinned bit (NE) */
		u64 val = v->gpr[reg];
		/* The CPU's own #GP checks, done before the value reaches the VMCS (bits 63:32 there
		 * would fail the next VM entry). */
		if (!gml_cr0_write_valid(val)) {
			vmx_inject_gp();
			return;
		}
		vmw(CR0_READ_SHADOW, val);
		vmw(GUEST_CR0, (val | (vmx.caps.cr0_fixed0 & vmx.cr0_mask)) & vmx.caps.cr0_fixed1);
	} else if (type == 0 && cr == 3) {
		vmw(GUEST_CR3, v->gpr[reg] & ~(1ULL << 63)); /* bit 63: PCID no-flush, not stored */
	} else if (type == 1 && cr == 3) {
		v->gpr[reg] = vmr(GUEST_CR3);
	} else {
		hv_fatal("CR access exit the masks do not explain (qualification 0x%llx)", qual);
	}
	skip_instruction();
}

static void handle_xsetbv(struct vcpu *v)
{
	u32 a, b, c, d;
	u32 index = (u32)v->gpr[GENERAL_REG_RCX];
	u64 val = (v->gpr[GENERAL_REG_RDX] << 32) | (u32)v->gpr[GENERAL_REG_RAX];
	cpuid(0xd, 0, &a, &b, &c, &d);
	u64 supported = ((u64)d << 32) | a;
	/* The SDM's XSETBV #GP conditions for XCR0 (CPL and CR4.OSXSAVE were checked by the CPU);
	 * a value the host's XSETBV refused would #GP inside the hypervisor. */
	if (!gml_xsetbv_valid(index, val, supported)) {
		vmx_inject_gp();
		return;
	}
	u64 cr4 = read_cr4(); /* XSETBV needs CR4.OSXSAVE on the host too, briefly */
	asm volatile("mov %0, %%cr4" : : "r"(cr4 | X86_CR4_OSXSAVE));
	asm volatile("xsetbv" : : "c"(index), "a"((u32)val), "d"((u32)(val >> 32)));
	asm volatile("mov %0, %%cr4" : : "r"(cr4));
	skip_instruction();
}

/* How the ROM trick (vmm/romwrite.c) steps the instruction that wrote a region page: the
 * monitor trap flag where the CPU has it; else RFLAGS.TF with every exception intercepted (so
 * an instruction that faults also ends the step), the instruction held in a MOV-SS shadow (no
 * interrupt or NMI before it; VM entry then wants the single-step pending in BS) and
 * DEBUGCTL.BTF off (it would step to the next branch). */
void vmx_step_begin(void)
{
	if (vmx.use_mtf) {
		vmw(CPU_BASED_CONTROLS, vmx.caps.cpu | CPU_MTF);
		/* An interrupt taken before the instruction would end the step at its handler and
		 * count the retried write twice: hold it off with an STI shadow where VM entry allows
		 * one (IF=1, TF=0: with TF the shadow would need a pending BS, which fires first). */
		u64 rflags = vmr(GUEST_RFLAGS), intr = vmr(GUEST_INTERRUPTIBILITY);
		if ((rflags & X86_RFLAGS_IF) && !(rflags & X86_RFLAGS_TF) && !(intr & INTERRUPTIBILITY_MOVSS) &&
		    !(vmr(VM_ENTRY_INTR_INFO) & INTR_INFO_VALID))
			vmw(GUEST_INTERRUPTIBILITY, intr | INTERRUPTIBILITY_STI);
		return;
	}
	u64 rflags = vmr(GUEST_RFLAGS), debugctl = vmr(GUEST_IA32_DEBUGCTL);
	vmx.step_saved_tf = rflags & X86_RFLAGS_TF;
	vmx.step_saved_debugctl = debugctl;
	vmw(GUEST_RFLAGS, rflags | X86_RFLAGS_TF);
	vmw(GUEST_IA32_DEBUGCTL, debugctl & ~X86_DEBUGCTL_BTF);
	vmw(EXCEPTION_BITMAP, STEP_EXCEPTIONS);
	u64 intr = vmr(GUEST_INTERRUPTIBILITY);
	/* VM entry refuses a MOV-SS shadow with an external interrupt or NMI being re-injected:
	 * then the step ends at the start of that event's handler and the guest retries. */
	if (!(vmr(VM_ENTRY_INTR_INFO) & INTR_INFO_VALID))
		intr = (intr & ~(u64)INTERRUPTIBILITY_STI) | INTERRUPTIBILITY_MOVSS;
	if (intr & (INTERRUPTIBILITY_STI | INTERRUPTIBILITY_MOVSS))
		vmw(GUEST_PENDING_DBG_EXCEPTIONS, vmr(GUEST_PENDING_DBG_EXCEPTIONS) | PENDING_DBG_BS);
	vmw(GUEST_INTERRUPTIBILITY, intr);
}

void vmx_step_end(void)
{
	if (vmx.use_mtf) {
		vmw(CPU_BASED_CONTROLS, vmx.caps.cpu);
		return;
	}
	vmw(EXCEPTION_BITMAP, BASE_EXCEPTIONS);
	vmw(GUEST_RFLAGS, (vmr(GUEST_RFLAGS) & ~X86_RFLAGS_TF) | vmx.step_saved_tf);
	vmw(GUEST_IA32_DEBUGCTL, vmx.step_saved_debugctl);
	vmw(GUEST_PENDING_DBG_EXCEPTIONS, 0);
}

/* An exception intercepted while a region write was stepped with TF: the step's own #DB (the
 * instruction completed), or something the instruction raised (e.g. #PF on the other half of a
 * straddling store, an ICEBP, a breakpoint). The step ends first, then the guest gets what it
 * is owed with its own RFLAGS: its own #DB (its TF, a data breakpoint) or the event as the CPU
 * raised it. A #DB or #PF that exits updates neither DR6 nor CR2 (both are not in the VMCS and
 * stay the guest's on this CPU), so they are set here as the CPU would have. */
static void step_exception(u64 qual)
{
	u64 info = vmr(VM_EXIT_INTR_INFO);
	u32 vector = info & 0xff, type = info & INTR_TYPE_MASK;
	romwrite_end();
	if (vector == X86_EXC_DB && type == INTR_TYPE_HW_EXCEPTION) {
		u64 own = (qual & DBG_QUAL_BREAKPOINTS) | (vmx.step_saved_tf ? DBG_QUAL_BS : 0);
		if (own) {
			u64 dr6 = X86_DR6_RESERVED_ONES | own;
			asm volatile("mov %0, %%dr6" : : "r"(dr6));
			inject(X86_EXC_DB, false, 0);
		}
		return;
	}
	vmx.n_step_exc++;
	vmw(VM_ENTRY_INTR_INFO, INTR_INFO_VALID | type | vector | (info & INTR_INFO_ERROR_VALID));
	if (info & INTR_INFO_ERROR_VALID)
		vmw(VM_ENTRY_EXCEPTION_ERROR_CODE, vmr(VM_EXIT_INTR_ERROR_CODE));
	if (type == INTR_TYPE_SW_EXCEPTION || type == INTR_TYPE_PRIV_SW_EXCEPTION)
		vmw(VM_ENTRY_INSTRUCTION_LEN, vmr(VM_EXIT_INSTRUCTION_LEN));
	if (vector == X86_EXC_PF && type == INTR_TYPE_HW_EXCEPTION)
		asm volatile("mov %0, %%cr2" : : "r"(qual) : "memory");
}

static void handle_ept_violation(struct vcpu *v, u64 qual)
{
	u64 gpa = vmr(GUEST_PHYSICAL_ADDRESS);
	bool present = qual & EPT_QUAL_PERMS;
	if (present && (qual & EPT_QUAL_WRITE) && hv_region_overlaps(gpa, 1)) {
		vmx.n_ept_rom++;
		romwrite_fault(v, gpa);
		return;
	}
	if (!present) {
		switch (nested_map_on_demand(&vmx.ept, gpa)) {
		case NESTED_MAPPED:
			vmx.n_ept_lazy++;
			vmx_invept();
			return;
		case NESTED_BEYOND_WIDTH:
			/* No EPT table can map it: the guest gets #GP for the access (see svm.c). */
			vmx.n_ept_wide++;
			vmx_inject_gp();
			return;
		case NESTED_NOT_ON_DEMAND:
			break;
		}
	}
	hv_fatal("unexpected EPT violation at guest-physical 0x%llx (qualification 0x%llx: %s%s)",
		 gpa, qual, present ? "present " : "not-present ",
		 (qual & EPT_QUAL_WRITE) ? "write" : (qual & 4) ? "fetch" : "read");
}

static const char *vmx_insn_name(u32 reason)
{
	switch (reason) {
	case EXIT_VMCLEAR: return "VMCLEAR";
	case EXIT_VMLAUNCH: return "VMLAUNCH";
	case EXIT_VMPTRLD: return "VMPTRLD";
	case EXIT_VMPTRST: return "VMPTRST";
	case EXIT_VMREAD: return "VMREAD";
	case EXIT_VMRESUME: return "VMRESUME";
	case EXIT_VMWRITE: return "VMWRITE";
	case EXIT_VMXOFF: return "VMXOFF";
	case EXIT_VMXON: return "VMXON";
	case EXIT_INVEPT: return "INVEPT";
	case EXIT_INVVPID: return "INVVPID";
	case EXIT_VMFUNC: return "VMFUNC";
	default: return "GETSEC";
	}
}

/* A hypercall (VMCALL, or AMD's VMMCALL through #UD) of len bytes, prefixes included: dispatch,
 * then end it as the service asked: past the instruction, or on it again (a continuation, or
 * after the guest's own #PF handler ran for a fault-in; CR2 is not in the VMCS: the live register
 * is the guest's). */
static void hypercall_exit(struct vcpu *v, u64 len)
{
	memset(&v->hc_end, 0, sizeof(v->hc_end));
	hypercall_handle(v);
	if (v->hc_end.page_fault) {
		inject(X86_EXC_PF, true, v->hc_end.error);
		asm volatile("mov %0, %%cr2" : : "r"(v->hc_end.cr2) : "memory");
	} else if (!v->hc_end.restart) {
		complete_insn(len);
	}
}

/* An exit in the middle of delivering an event (through the guest's IDT): deliver it again. */
static void reinject_vectoring_event(void)
{
	u64 info = vmr(IDT_VECTORING_INFO);
	if (!(info & INTR_INFO_VALID))
		return;
	vmw(VM_ENTRY_INTR_INFO, info & ~(1ULL << 12)); /* bit 12 is reserved on entry */
	if (info & INTR_INFO_ERROR_VALID)
		vmw(VM_ENTRY_EXCEPTION_ERROR_CODE, vmr(IDT_VECTORING_ERROR_CODE));
	u64 type = info & INTR_TYPE_MASK;
	if (type == INTR_TYPE_SW_INTERRUPT || type == INTR_TYPE_PRIV_SW_EXCEPTION ||
	    type == INTR_TYPE_SW_EXCEPTION)
		vmw(VM_ENTRY_INSTRUCTION_LEN, vmr(VM_EXIT_INSTRUCTION_LEN));
}

static noreturn void vmx_run(struct vcpu *v)
{
	bool warned_vmx_insn = false;
	for (;;) {
		vmw(GUEST_RSP, v->gpr[GENERAL_REG_RSP]);
		inject_pending_nmi();
		int rc = vmx_enter(v->gpr, vmx.launched);
		if (rc == 1)
			hv_fatal("%s failed: VMfailInvalid (no current VMCS)",
				 vmx.launched ? "VMRESUME" : "VMLAUNCH");
		if (rc == 2) {
			u64 e = vmcs_error();
			hv_fatal("%s failed: VM-instruction error %llu (%s)",
				 vmx.launched ? "VMRESUME" : "VMLAUNCH", e, vm_instruction_error_name(e));
		}
		vmx.launched = true;
		v->gpr[GENERAL_REG_RSP] = vmr(GUEST_RSP);
		v->exits++;
		u32 reason = (u32)vmr(VM_EXIT_REASON);
		u64 qual = vmr(EXIT_QUALIFICATION);
		vmx.last_reason = reason;
		vmx.last_qual = qual;
		if (reason & EXIT_REASON_ENTRY_FAILURE) {
			u32 basic = reason & 0xffff;
			hv_fatal("VM entry failed: %s (exit reason 0x%x, qualification 0x%llx)",
				 basic == EXIT_INVALID_GUEST_STATE ? "invalid guest state"
				 : basic == EXIT_MSR_LOADING ? "MSR loading"
				 : basic == EXIT_MACHINE_CHECK ? "machine check" : "unknown",
				 reason, qual);
		}
		reinject_vectoring_event();
		/* The floor (gml_hypercall.h): before any other look at the exit. */
		if ((reason & 0xffff) == EXIT_VMCALL && v->gpr[GENERAL_REG_RAX] == GML_HC_FLOOR) {
			skip_instruction();
			continue;
		}

		switch (reason & 0xffff) {
		case EXIT_VMCALL:
			vmx.n_vmcall++;
			hypercall_exit(v, vmr(VM_EXIT_INSTRUCTION_LEN));
			break;
		case EXIT_CPUID:
			vmx.n_cpuid++;
			handle_cpuid(v);
			break;
		case EXIT_RDMSR:
		case EXIT_WRMSR:
			vmx.n_msr++;
			handle_msr(v, (reason & 0xffff) == EXIT_WRMSR);
			break;
		case EXIT_IO:
			vmx.n_io++;
			handle_io(v, qual);
			break;
		case EXIT_CR_ACCESS:
			vmx.n_cr++;
			handle_cr(v, qual);
			break;
		case EXIT_XSETBV:
			vmx.n_xsetbv++;
			handle_xsetbv(v);
			break;
		case EXIT_INVD:
			vmx.n_invd++;
			asm volatile("wbinvd" : : : "memory"); /* never drop dirty lines of the host */
			skip_instruction();
			break;
		case EXIT_EPT_VIOLATION:
			handle_ept_violation(v, qual);
			break;
		case EXIT_MTF:
			if (!romwrite_stepping() || !vmx.use_mtf)
				hv_fatal("monitor trap flag exit while not stepping a region write");
			romwrite_end();
			break;
		case EXIT_EXCEPTION_NMI: {
			if (romwrite_stepping() && !vmx.use_mtf) {
				step_exception(qual);
				break;
			}
			if ((vmr(VM_EXIT_INTR_INFO) & 0x7ff) != (INTR_TYPE_HW_EXCEPTION | X86_EXC_UD))
				hv_fatal("unexpected exception or NMI exit (interruption info 0x%llx)",
					 vmr(VM_EXIT_INTR_INFO));
			vmx.n_ud++;
			/* AMD's instruction: a hypercall too. An exception exit reports no instruction
			 * length: the decoded one (prefixes included) is it. */
			u64 len = hypercall_foreign_len(guest_insn_lin(), guest_mode64(), GML_INSN_VMMCALL);
			if (len) {
				vmx.n_vmmcall++;
				hypercall_exit(v, len);
			} else {
				inject_ud();
			}
			break;
		}
		case EXIT_GETSEC:
		case EXIT_VMCLEAR:
		case EXIT_VMLAUNCH:
		case EXIT_VMPTRLD:
		case EXIT_VMPTRST:
		case EXIT_VMREAD:
		case EXIT_VMRESUME:
		case EXIT_VMWRITE:
		case EXIT_VMXOFF:
		case EXIT_VMXON:
		case EXIT_INVEPT:
		case EXIT_INVVPID:
		case EXIT_VMFUNC:
			if (!warned_vmx_insn) {
				printf("GMLAB-HV: guest executed %s at rip %llx: #UD (nested VMX not offered)\n",
				       vmx_insn_name(reason & 0xffff), vmr(GUEST_RIP));
				warned_vmx_insn = true;
			}
			vmx.n_vmx_insn++;
			inject_ud();
			break;
		case EXIT_TRIPLE_FAULT:
			hv_fatal("guest triple fault");
		case EXIT_INIT:
			hv_fatal("guest CPU received INIT (a CPU reset, which this hypervisor does not "
				 "emulate)");
		case EXIT_SIPI:
			hv_fatal("guest CPU received a start-up IPI (there is one vCPU)");
		case EXIT_TASK_SWITCH:
			/* Only a guest that left long mode can switch tasks (unrestricted guest lets it);
			 * task switches are not emulated: the guest sees the switch refused with #GP(0),
			 * never a power-off. */
			vmx.n_task_switch++;
			vmx_inject_gp();
			break;
		case EXIT_EPT_MISCONFIG:
			hv_fatal("EPT misconfiguration at guest-physical 0x%llx",
				 vmr(GUEST_PHYSICAL_ADDRESS));
		default:
			hv_fatal("unexpected VM exit, reason %u (qualification 0x%llx)", reason & 0xffff,
				 qual);
		}
	}
}

/* ---- state for common code ---- */

static void vmx_paging_state(struct vcpu *v, struct guest_paging_state *out)
{
	(void)v;
	out->cr0 = vmx_guest_cr0();
	out->cr3 = vmr(GUEST_CR3);
	out->cr4 = vmx_guest_cr4();
	out->efer = vmr(GUEST_IA32_EFER);
	out->rflags = vmr(GUEST_RFLAGS);
	out->cpl = (vmr(GUEST_SS_AR) >> 5) & 3; /* CPL = SS.DPL */
}

static void vmx_dump(struct vcpu *v)
{
	(void)v;
	vmx_dump_guest();
}

const struct backend_ops vmx_backend_ops = {
	.name = "vmx",
	.id = BACKEND_VMX,
	.probe = vmx_probe,
	.init = vmx_init,
	.run = vmx_run,
	.paging_state = vmx_paging_state,
	.dump = vmx_dump,
};
