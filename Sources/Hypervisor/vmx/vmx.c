/* Intel VMX backend: one VMCS, EPT, and only the exits a thin hypervisor needs:
 *   VMCALL (hypercalls); what VMX always forces: CPUID (hide VMX), XSETBV (validated, done on
 *   the host), INVD (done as WBINVD), GETSEC and every VMX instruction (#UD: nested VMX is not
 *   offered), triple fault (fatal), INIT/SIPI (fatal: one CPU, no reset emulation);
 *   CR0/CR4 writes that touch bits VMX pins (CR4.VMXE, CR0.NE: guest/host masks + read shadows);
 *   RDMSR/WRMSR of IA32_FEATURE_CONTROL and the VMX capability MSRs (MSR bitmap), and of MSRs
 *   outside the bitmap's ranges (always exit: done on the host, #GP passed on);
 *   I/O to COM3 only (I/O bitmap: the hypervisor's log); EPT violations (writes to the
 *   hypervisor's region are discarded, higher MMIO is mapped on demand; anything else fatal);
 *   the monitor trap flag (or #DB, without MTF) while a region write is being stepped.
 * Interrupts, NMIs, HLT, every other port, MSR and CR access go straight to the guest (an NMI
 * that hits the host is forwarded). README.md "The VMX backend" has the design. Controls
 * are derived from the capability MSRs (TRUE_ variants where the CPU has them): a control this
 * backend needs and the CPU refuses fails probe() with the reason. */
#include "vcpu.h"
#include "vmcs.h"
#include "nested.h"
#include "hypercall.h"
#include "linuxboot.h"
#include "hvmem.h"
#include "serial.h"
#include "printf.h"
#include "fatal.h"
#include "lib.h"
#include "x86.h"
#include "fault_fixup.h"
#include "romwrite.h"
#include "gml_guestinput.h"

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
		n_ept_rom, n_ept_lazy, n_ept_wide, n_step_exc, n_vmx_insn;
	/* An NMI that hit the host (VMX root): the guest's, delivered at the next entry. */
	volatile bool nmi_pending;
	u64 n_host_nmi;
	u32 last_reason;
	u64 last_qual;
};

static struct vmx_state vmx;

static void invept(void);
static void step_begin(void);
static void step_end(void);
static void inject_gp(void);

int vmx_enter(u64 *gpr, int launched);
void vmx_exit_stub(void);

/* EPT entries: R W X and memory type WB (6) in bits 5:3 of leaves. The guest's PAT still
 * applies on top (ignore-PAT is 0), so its UC/UC-/WC mappings of MMIO stay uncached. */
static const struct nested_format ept_format = {
	.name = "Intel EPT",
	.table = 0x7,
	.leaf_rw = 0x7 | (6 << 3),
	.leaf_ro = 0x5 | (6 << 3),
	.large = 0x80,
};

/* ---- VMCS access ---- */

static const char *vm_instruction_error_name(u64 e)
{
	switch (e) {
	case 2: return "VMCLEAR with invalid address";
	case 4: return "VMLAUNCH with non-clear VMCS";
	case 5: return "VMRESUME with non-launched VMCS";
	case 7: return "VM entry with invalid control field(s)";
	case 8: return "VM entry with invalid host-state field(s)";
	case 9: return "VMPTRLD with invalid address";
	case 11: return "VMPTRLD with incorrect VMCS revision identifier";
	case 12: return "VMREAD/VMWRITE from/to unsupported VMCS component";
	case 13: return "VMWRITE to read-only VMCS component";
	case 15: return "VMXON executed in VMX root operation";
	case 26: return "VM entry with events blocked by MOV SS";
	default: return "see Intel SDM vol. 3, section 31.4";
	}
}

static u64 vmcs_error(void)
{
	u64 e = 0;
	return vmread_ok(VM_INSTRUCTION_ERROR, &e) ? e : ~0ULL;
}

static u64 vmr(u64 field)
{
	u64 v;
	if (!vmread_ok(field, &v))
		hv_fatal("VMREAD of VMCS field 0x%llx failed (VM-instruction error %llu: %s)", field,
			 vmcs_error(), vm_instruction_error_name(vmcs_error()));
	return v;
}

static void vmw(u64 field, u64 v)
{
	if (!vmwrite_ok(field, v))
		hv_fatal("VMWRITE of 0x%llx to VMCS field 0x%llx failed (VM-instruction error %llu: %s)",
			 v, field, vmcs_error(), vm_instruction_error_name(vmcs_error()));
}

/* ---- capabilities ---- */

/* A control word allowed by a capability MSR: bits 31:0 must be 1 where set (allowed-0), bits
 * 63:32 may be 1 only where set (allowed-1). `want` must survive; `nice` is added where allowed.
 * Returns false (why = what + the MSR) if the CPU refuses a wanted bit. */
static bool adjust_controls(u32 msr, u32 want, u32 nice, u32 *out, const char **why,
			    const char *what)
{
	static char reason[160];
	u64 cap = rdmsr(msr);
	u32 must = (u32)cap, may = (u32)(cap >> 32);
	u32 v = ((want | nice) & may) | must;
	if ((v & want) != want) {
		snprintf(reason, sizeof(reason), "%s (MSR 0x%x = 0x%llx, wanted bits 0x%x)", what, msr,
			 cap, want);
		*why = reason;
		return false;
	}
	*out = v;
	return true;
}

static bool is_intel(void)
{
	u32 a, b, c, d;
	cpuid(0, 0, &a, &b, &c, &d);
	return b == 0x756e6547 && d == 0x49656e69 && c == 0x6c65746e; /* "GenuineIntel" */
}

static bool vmx_probe(const char **why)
{
	u32 a, b, c, d;
	if (!is_intel()) {
		*why = "CPU vendor is not GenuineIntel";
		return false;
	}
	cpuid(1, 0, &a, &b, &c, &d);
	if (!(c & (1u << 5))) {
		*why = "CPUID 1 ECX.VMX is 0 (no VMX; under Bochs use cpu: model=corei7_skylake_x)";
		return false;
	}
	u64 fc = rdmsr(X86_MSR_IA32_FEATURE_CONTROL);
	if ((fc & FEATURE_CONTROL_LOCK) && !(fc & FEATURE_CONTROL_VMX_OUTSIDE_SMX)) {
		*why = "VMX disabled by firmware (IA32_FEATURE_CONTROL locked without VMX outside SMX)";
		return false;
	}
	struct vmx_caps *k = &vmx.caps;
	k->basic = rdmsr(MSR_IA32_VMX_BASIC);
	if (((k->basic >> VMX_BASIC_MEMTYPE_SHIFT) & 0xf) != 6) {
		*why = "IA32_VMX_BASIC: VMCS memory type is not write-back";
		return false;
	}
	if (((k->basic >> VMX_BASIC_SIZE_SHIFT) & 0x1fff) > PAGE_SIZE) {
		*why = "IA32_VMX_BASIC: VMCS region larger than 4 KiB";
		return false;
	}
	bool t = k->basic & VMX_BASIC_TRUE_CTLS;
	if (!adjust_controls(t ? MSR_IA32_VMX_TRUE_PINBASED_CTLS : MSR_IA32_VMX_PINBASED_CTLS, 0, 0,
			     &k->pin, why, "pin-based controls"))
		return false;
	/* CR3 load/store exits are avoided where the CPU allows (TRUE controls); if forced they are
	 * handled. The monitor trap flag is the single-step of the ROM trick. */
	if (!adjust_controls(t ? MSR_IA32_VMX_TRUE_PROCBASED_CTLS : MSR_IA32_VMX_PROCBASED_CTLS,
			     CPU_IO_BITMAPS | CPU_MSR_BITMAPS | CPU_SECONDARY, CPU_MTF, &k->cpu,
			     why, "processor-based controls: no I/O or MSR bitmaps or secondary controls"))
		return false;
	/* The monitor trap flag steps the ROM trick where the CPU has it (Bochs 2.7 does not:
	 * then RFLAGS.TF and a #DB intercept, as under SVM). Only set while stepping. */
	vmx.use_mtf = k->cpu & CPU_MTF;
	k->cpu &= ~(u32)CPU_MTF;
	/* RDTSCP, INVPCID, XSAVES and TPAUSE/UMWAIT raise #UD in the guest unless enabled: enable
	 * whatever the CPU offers so the guest sees the CPU as it is. */
	if (!adjust_controls(MSR_IA32_VMX_PROCBASED_CTLS2, CPU2_EPT,
			     CPU2_UNRESTRICTED | CPU2_RDTSCP | CPU2_INVPCID | CPU2_XSAVES |
				     CPU2_USER_WAIT_PAUSE,
			     &k->cpu2, why, "secondary controls: no EPT"))
		return false;
	if (!adjust_controls(t ? MSR_IA32_VMX_TRUE_EXIT_CTLS : MSR_IA32_VMX_EXIT_CTLS,
			     EXIT_HOST_64 | EXIT_SAVE_EFER | EXIT_LOAD_EFER | EXIT_SAVE_DEBUG,
			     EXIT_SAVE_PAT | EXIT_LOAD_PAT, &k->exit, why,
			     "VM-exit controls: no 64-bit host or IA32_EFER save/load"))
		return false;
	if (!adjust_controls(t ? MSR_IA32_VMX_TRUE_ENTRY_CTLS : MSR_IA32_VMX_ENTRY_CTLS,
			     ENTRY_IA32E_GUEST | ENTRY_LOAD_EFER | ENTRY_LOAD_DEBUG,
			     (k->exit & EXIT_SAVE_PAT) ? ENTRY_LOAD_PAT : 0, &k->entry, why,
			     "VM-entry controls: no IA-32e guest or IA32_EFER load"))
		return false;
	if (!(k->entry & ENTRY_LOAD_PAT))
		k->exit &= ~(u32)(EXIT_SAVE_PAT | EXIT_LOAD_PAT);
	k->ept_cap = rdmsr(MSR_IA32_VMX_EPT_VPID_CAP);
	u64 need = EPT_CAP_WALK4 | EPT_CAP_WB | EPT_CAP_2M | EPT_CAP_INVEPT;
	if ((k->ept_cap & need) != need ||
	    !(k->ept_cap & (EPT_CAP_INVEPT_SINGLE | EPT_CAP_INVEPT_ALL))) {
		*why = "EPT without 4-level walk, write-back, 2 MiB pages or INVEPT";
		return false;
	}
	k->cr0_fixed0 = rdmsr(MSR_IA32_VMX_CR0_FIXED0);
	k->cr0_fixed1 = rdmsr(MSR_IA32_VMX_CR0_FIXED1);
	k->cr4_fixed0 = rdmsr(MSR_IA32_VMX_CR4_FIXED0);
	k->cr4_fixed1 = rdmsr(MSR_IA32_VMX_CR4_FIXED1);
	return true;
}

/* ---- set-up ---- */

/* The host needs a TSS for VMX (HOST_TR_SELECTOR must not be 0): a GDT of its own with the boot
 * code/data descriptors (same selectors 0x08/0x10) and a 64-bit TSS at 0x18. */
static u64 host_gdt[5] __attribute__((aligned(16)));
static u8 host_tss[104] __attribute__((aligned(16)));

static void host_gdt_init(void)
{
	u64 tss = (u64)(uintptr_t)host_tss;
	host_gdt[0] = 0;
	host_gdt[1] = 0x00af9a000000ffffULL; /* 0x08: 64-bit code */
	host_gdt[2] = 0x00cf92000000ffffULL; /* 0x10: data */
	host_gdt[3] = (sizeof(host_tss) - 1) | ((tss & 0xffffff) << 16) | (0x89ULL << 40) |
		      (((tss >> 24) & 0xff) << 56); /* 0x18: available 64-bit TSS */
	host_gdt[4] = tss >> 32;
	struct {
		u16 limit;
		u64 base;
	} packed gdtr = { sizeof(host_gdt) - 1, (u64)(uintptr_t)host_gdt };
	asm volatile("lgdt %0" : : "m"(gdtr));
	asm volatile("ltr %w0" : : "r"(0x18));
}

static void dump_guest(void);

static u8 cpu_maxphyaddr(void)
{
	u32 a, b, c, d;
	cpuid(0x80000000, 0, &a, &b, &c, &d);
	if (a < 0x80000008)
		return 36;
	cpuid(0x80000008, 0, &a, &b, &c, &d);
	return (u8)a;
}

static void vmx_on(void)
{
	struct vmx_caps *k = &vmx.caps;
	u64 fc = rdmsr(X86_MSR_IA32_FEATURE_CONTROL);
	if (!(fc & FEATURE_CONTROL_LOCK)) {
		wrmsr(X86_MSR_IA32_FEATURE_CONTROL,
		      fc | FEATURE_CONTROL_LOCK | FEATURE_CONTROL_VMX_OUTSIDE_SMX);
		printf("GMLAB-HV: IA32_FEATURE_CONTROL was unlocked (0x%llx): enabled VMX and locked it\n",
		       fc);
	}
	u64 cr0 = (read_cr0() | k->cr0_fixed0) & k->cr0_fixed1;
	u64 cr4 = (read_cr4() | k->cr4_fixed0 | X86_CR4_VMXE) & k->cr4_fixed1;
	asm volatile("mov %0, %%cr0" : : "r"(cr0));
	asm volatile("mov %0, %%cr4" : : "r"(cr4));
	u32 *vmxon_region = alloc_page();
	vmxon_region[0] = (u32)k->basic & 0x7fffffff;
	u64 pa = virt_to_phys(vmxon_region);
	bool fail;
	asm volatile("vmxon %1; setbe %0" : "=qm"(fail) : "m"(pa) : "cc", "memory");
	if (fail)
		hv_fatal("VMXON failed (cr0 %llx cr4 %llx, IA32_FEATURE_CONTROL %llx)", cr0, cr4,
			 rdmsr(X86_MSR_IA32_FEATURE_CONTROL));
	u32 *vmcs = alloc_page();
	vmcs[0] = (u32)k->basic & 0x7fffffff;
	vmx.vmcs_pa = virt_to_phys(vmcs);
	asm volatile("vmclear %1; setbe %0" : "=qm"(fail) : "m"(vmx.vmcs_pa) : "cc", "memory");
	if (fail)
		hv_fatal("VMCLEAR of the VMCS at 0x%llx failed", vmx.vmcs_pa);
	asm volatile("vmptrld %1; setbe %0" : "=qm"(fail) : "m"(vmx.vmcs_pa) : "cc", "memory");
	if (fail)
		hv_fatal("VMPTRLD of the VMCS at 0x%llx failed", vmx.vmcs_pa);
}

static void invept(void)
{
	struct {
		u64 eptp, zero;
	} desc = { vmx.eptp, 0 };
	u64 type = (vmx.caps.ept_cap & EPT_CAP_INVEPT_SINGLE) ? 1 : 2;
	bool fail;
	asm volatile("invept %1, %2; setbe %0" : "=qm"(fail) : "m"(desc), "r"(type) : "cc", "memory");
	if (fail)
		hv_fatal("INVEPT type %llu failed", type);
}

static void guest_seg(u32 sel_field, u16 sel, u64 base, u32 limit, u32 ar)
{
	/* selector, limit, access rights and base fields of one segment are at fixed distances */
	u32 i = (sel_field - GUEST_ES_SELECTOR) / 2;
	vmw(sel_field, sel);
	vmw(GUEST_ES_LIMIT + 2 * i, limit);
	vmw(GUEST_ES_AR + 2 * i, ar);
	vmw(GUEST_ES_BASE + 2 * i, base);
}

/* NMIs are not intercepted: in the guest they go through its IDT. One that arrives while the
 * host runs (between an exit and the next entry) is the guest's too: note it here, inject it at
 * the next entry the guest can take it (not in an NMI handler or a MOV-SS/STI shadow; otherwise
 * it waits for a later exit). Unlike SVM, VMX has no GIF to hold it pending in hardware. */
static void host_nmi(void)
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

static void vmx_init(struct vcpu *v, const struct guest_entry *e)
{
	struct vmx_caps *k = &vmx.caps;
	host_gdt_init();
	vmx_on();

	nested_build(&vmx.ept, &ept_format, (k->ept_cap & EPT_CAP_1G) != 0, cpu_maxphyaddr());
	vmx.eptp = vmx.ept.root_pa | (3 << 3) | 6; /* 4-level walk, write-back */
	static const struct romwrite_hooks hooks = {
		.nested = &vmx.ept,
		.flush = invept,
		.step_arm = step_begin,
		.step_disarm = step_end,
		.inject_gp = inject_gp,
	};
	romwrite_init(&hooks);
	v->arch = &vmx;

	/* I/O bitmaps A (ports 0-0x7fff) and B: only the hypervisor's UART. */
	u8 *io_a = alloc_page(), *io_b = alloc_page();
	for (u32 p = HV_SERIAL_PORT; p < HV_SERIAL_PORT + HV_SERIAL_NPORTS; p++)
		io_a[p / 8] |= 1u << (p % 8);
	/* MSR bitmap: read-low at 0, write-low at 2048 (MSRs 0-0x1fff). FEATURE_CONTROL, KVM's
	 * legacy paravirtual MSRs and the VMX capability MSRs only. */
	u8 *msr_bm = alloc_page();
	u32 hidden[] = { X86_MSR_IA32_FEATURE_CONTROL, X86_MSR_KVM_WALL_CLOCK, X86_MSR_KVM_SYSTEM_TIME };
	for (u32 i = 0; i < ARRAY_SIZE(hidden); i++) {
		msr_bm[hidden[i] / 8] |= 1u << (hidden[i] % 8);
		msr_bm[2048 + hidden[i] / 8] |= 1u << (hidden[i] % 8);
	}
	for (u32 m = MSR_IA32_VMX_FIRST; m <= MSR_IA32_VMX_LAST; m++) {
		msr_bm[m / 8] |= 1u << (m % 8);
		msr_bm[2048 + m / 8] |= 1u << (m % 8);
	}

	vmw(PIN_BASED_CONTROLS, k->pin);
	vmw(CPU_BASED_CONTROLS, k->cpu);
	vmw(SECONDARY_CONTROLS, k->cpu2);
	vmw(VM_EXIT_CONTROLS, k->exit);
	vmw(VM_ENTRY_CONTROLS, k->entry);
	vmw(EXCEPTION_BITMAP, BASE_EXCEPTIONS);
	vmw(PAGE_FAULT_ERROR_MASK, 0);
	vmw(PAGE_FAULT_ERROR_MATCH, 0);
	vmw(CR3_TARGET_COUNT, 0);
	vmw(VM_EXIT_MSR_STORE_COUNT, 0);
	vmw(VM_EXIT_MSR_LOAD_COUNT, 0);
	vmw(VM_ENTRY_MSR_LOAD_COUNT, 0);
	vmw(VM_ENTRY_INTR_INFO, 0);
	vmw(IO_BITMAP_A, virt_to_phys(io_a));
	vmw(IO_BITMAP_B, virt_to_phys(io_b));
	vmw(MSR_BITMAP, virt_to_phys(msr_bm));
	vmw(TSC_OFFSET, 0);
	vmw(EPT_POINTER, vmx.eptp);
	if (k->cpu2 & CPU2_XSAVES)
		vmw(XSS_EXIT_BITMAP, 0);

	/* CR0/CR4: the bits VMX pins (FIXED0 = must be 1, FIXED1 = may be 1) are owned by the
	 * hypervisor; the guest reads its own values from the shadows. With unrestricted guest,
	 * PE and PG are the guest's. */
	u64 cr0_free = (k->cpu2 & CPU2_UNRESTRICTED) ? (X86_CR0_PE | X86_CR0_PG) : 0;
	vmx.cr0_mask = ((k->cr0_fixed0 & ~cr0_free) | ~k->cr0_fixed1) & 0xffffffffULL;
	vmx.cr4_mask = (k->cr4_fixed0 | ~k->cr4_fixed1) & 0xffffffffULL;
	vmw(CR0_GUEST_HOST_MASK, vmx.cr0_mask);
	vmw(CR4_GUEST_HOST_MASK, vmx.cr4_mask);
	vmw(CR0_READ_SHADOW, e->cr0);
	vmw(CR4_READ_SHADOW, e->cr4);
	vmw(GUEST_CR0, (e->cr0 | (k->cr0_fixed0 & ~cr0_free)) & k->cr0_fixed1);
	vmw(GUEST_CR3, e->cr3);
	vmw(GUEST_CR4, (e->cr4 | k->cr4_fixed0) & k->cr4_fixed1);

	/* Guest: 64-bit mode, flat segments from the boot GDT (access rights in VMX format). */
	guest_seg(GUEST_CS_SELECTOR, e->cs, 0, 0xffffffff, 0xa09b); /* code, L, G */
	guest_seg(GUEST_DS_SELECTOR, e->ds, 0, 0xffffffff, 0xc093);
	guest_seg(GUEST_ES_SELECTOR, e->ds, 0, 0xffffffff, 0xc093);
	guest_seg(GUEST_SS_SELECTOR, e->ds, 0, 0xffffffff, 0xc093);
	guest_seg(GUEST_FS_SELECTOR, e->ds, 0, 0xffffffff, 0xc093);
	guest_seg(GUEST_GS_SELECTOR, e->ds, 0, 0xffffffff, 0xc093);
	guest_seg(GUEST_TR_SELECTOR, 0, 0, 0x67, 0x8b);        /* busy 64-bit TSS; Linux loads its own */
	guest_seg(GUEST_LDTR_SELECTOR, 0, 0, 0, 0x10000);      /* unusable */
	vmw(GUEST_GDTR_BASE, e->gdt_base);
	vmw(GUEST_GDTR_LIMIT, e->gdt_limit);
	vmw(GUEST_IDTR_BASE, 0);
	vmw(GUEST_IDTR_LIMIT, 0);
	vmw(GUEST_IA32_EFER, e->efer);
	if (k->entry & ENTRY_LOAD_PAT)
		vmw(GUEST_IA32_PAT, 0x0007040600070406ULL);
	vmw(GUEST_IA32_DEBUGCTL, 0);
	vmw(GUEST_DR7, 0x400);
	vmw(GUEST_SYSENTER_CS, 0);
	vmw(GUEST_SYSENTER_ESP, 0);
	vmw(GUEST_SYSENTER_EIP, 0);
	vmw(GUEST_RFLAGS, 0x2);
	vmw(GUEST_RIP, e->rip);
	vmw(GUEST_RSP, e->rsp);
	vmw(GUEST_INTERRUPTIBILITY, 0);
	vmw(GUEST_ACTIVITY_STATE, 0);
	vmw(GUEST_PENDING_DBG_EXCEPTIONS, 0);
	vmw(VMCS_LINK_POINTER, ~0ULL);

	/* Host: the state right now, resumed at vmx_exit_stub (HOST_RSP is set per entry). */
	struct {
		u16 limit;
		u64 base;
	} packed idtr;
	asm volatile("sidt %0" : "=m"(idtr));
	vmw(HOST_CR0, read_cr0());
	vmw(HOST_CR3, read_cr3());
	vmw(HOST_CR4, read_cr4());
	vmw(HOST_CS_SELECTOR, 0x08);
	vmw(HOST_SS_SELECTOR, 0x10);
	vmw(HOST_DS_SELECTOR, 0x10);
	vmw(HOST_ES_SELECTOR, 0x10);
	vmw(HOST_FS_SELECTOR, 0);
	vmw(HOST_GS_SELECTOR, 0);
	vmw(HOST_TR_SELECTOR, 0x18);
	vmw(HOST_FS_BASE, 0);
	vmw(HOST_GS_BASE, 0);
	vmw(HOST_TR_BASE, (u64)(uintptr_t)host_tss);
	vmw(HOST_GDTR_BASE, (u64)(uintptr_t)host_gdt);
	vmw(HOST_IDTR_BASE, idtr.base);
	vmw(HOST_IA32_SYSENTER_CS, 0);
	vmw(HOST_IA32_SYSENTER_ESP, 0);
	vmw(HOST_IA32_SYSENTER_EIP, 0);
	vmw(HOST_IA32_EFER, rdmsr(X86_MSR_EFER));
	if (k->exit & EXIT_LOAD_PAT)
		vmw(HOST_IA32_PAT, rdmsr(X86_MSR_IA32_PAT));
	vmw(HOST_RIP, (u64)(uintptr_t)vmx_exit_stub);

	memset(v->gpr, 0, sizeof(v->gpr));
	v->gpr[GENERAL_REG_RSI] = e->rsi;
	v->gpr[GENERAL_REG_RSP] = e->rsp;
	fatal_dump_guest = dump_guest;
	hv_nmi_hook = host_nmi;
	printf("GMLAB-HV: VMX controls: pin %08x cpu %08x cpu2 %08x exit %08x entry %08x "
	       "(%s capability MSRs); cr0 mask %llx, cr4 mask %llx; EPT cap %llx; region writes "
	       "stepped by %s\n", k->pin, k->cpu, k->cpu2, k->exit, k->entry,
	       (k->basic & VMX_BASIC_TRUE_CTLS) ? "TRUE_" : "default", vmx.cr0_mask, vmx.cr4_mask,
	       k->ept_cap, vmx.use_mtf ? "the monitor trap flag" : "RFLAGS.TF + #DB (no MTF)");
}

/* ---- exit handlers ---- */

static void inject(u8 vector, bool has_error, u32 error)
{
	vmw(VM_ENTRY_INTR_INFO, INTR_INFO_VALID | INTR_TYPE_HW_EXCEPTION | vector |
					(has_error ? INTR_INFO_ERROR_VALID : 0));
	if (has_error)
		vmw(VM_ENTRY_EXCEPTION_ERROR_CODE, error);
}

static void inject_ud(void) { inject(6, false, 0); }
static void inject_gp(void) { inject(13, true, 0); }

static void skip_instruction(void)
{
	vmw(GUEST_RIP, vmr(GUEST_RIP) + vmr(VM_EXIT_INSTRUCTION_LEN));
}

/* CR0/CR4 as the guest sees them: its own bits, the read shadow for the pinned ones. */
static u64 guest_cr0(void)
{
	return (vmr(GUEST_CR0) & ~vmx.cr0_mask) | (vmr(CR0_READ_SHADOW) & vmx.cr0_mask);
}

static u64 guest_cr4(void)
{
	return (vmr(GUEST_CR4) & ~vmx.cr4_mask) | (vmr(CR4_READ_SHADOW) & vmx.cr4_mask);
}

static void handle_cpuid(struct vcpu *v)
{
	u32 leaf = (u32)v->gpr[GENERAL_REG_RAX], sub = (u32)v->gpr[GENERAL_REG_RCX];
	u32 a, b, c, d;
	cpuid(leaf, sub, &a, &b, &c, &d);
	/* Bits that mirror the *current* CR4 show the host's: give the guest its own. */
	u64 cr4 = guest_cr4();
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
		inject_gp(); /* VMX MSRs do not exist on a CPU without VMX */
		return;
	}
	if (gml_msr_hidden(msr)) { /* hypervisor range, KVM paravirtual, AMD SVM control */
		vmx.n_msr_hidden++;
		inject_gp();
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
			inject_gp();
			return;
		}
	} else {
		u64 val;
		if (!rdmsr_safe(msr, &val)) {
			inject_gp();
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
			inject_gp();
			return;
		}
		vmw(CR4_READ_SHADOW, val);
		vmw(GUEST_CR4, (val | vmx.caps.cr4_fixed0) & vmx.caps.cr4_fixed1);
	} else if (type == 0 && cr == 0) { /* MOV to CR0 touching a pinned bit (NE) */
		u64 val = v->gpr[reg];
		/* The CPU's own #GP checks, done before the value reaches the VMCS (bits 63:32 there
		 * would fail the next VM entry). */
		if (!gml_cr0_write_valid(val)) {
			inject_gp();
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
		inject_gp();
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
static void step_begin(void)
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

static void step_end(void)
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
			invept();
			return;
		case NESTED_BEYOND_WIDTH:
			/* No EPT table can map it: the guest gets #GP for the access (see svm.c). */
			vmx.n_ept_wide++;
			inject_gp();
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

		switch (reason & 0xffff) {
		case EXIT_VMCALL:
			vmx.n_vmcall++;
			hypercall_handle(v);
			skip_instruction(); /* vmcall is 3 bytes; the CPU says so */
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
		case EXIT_EXCEPTION_NMI:
			if (romwrite_stepping() && !vmx.use_mtf) {
				step_exception(qual);
				break;
			}
			if ((vmr(VM_EXIT_INTR_INFO) & 0x7ff) != (INTR_TYPE_HW_EXCEPTION | X86_EXC_UD))
				hv_fatal("unexpected exception or NMI exit (interruption info 0x%llx)",
					 vmr(VM_EXIT_INTR_INFO));
			vmx.n_ud++;
			if (hypercall_is_insn_at(vmr(GUEST_RIP), (const u8[])HYPERCALL_INSN_VMMCALL)) {
				vmx.n_vmmcall++; /* AMD's instruction: a hypercall too */
				hypercall_handle(v);
				vmw(GUEST_RIP, vmr(GUEST_RIP) + HYPERCALL_INSN_LEN);
			} else {
				inject_ud();
			}
			break;
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
			hv_fatal("guest task switch (a 64-bit guest never switches tasks; not emulated)");
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
	out->cr0 = guest_cr0();
	out->cr3 = vmr(GUEST_CR3);
	out->cr4 = guest_cr4();
	out->efer = vmr(GUEST_IA32_EFER);
	out->rflags = vmr(GUEST_RFLAGS);
	out->cpl = (vmr(GUEST_SS_AR) >> 5) & 3; /* CPL = SS.DPL */
}

static void dump_guest(void)
{
	struct vcpu *v = &the_vcpu;
	u64 val;
	printf("  guest: exit reason=0x%x qualification=%llx exits=%llu\n", vmx.last_reason,
	       vmx.last_qual, v->exits);
	printf("  exits: vmcall=%llu vmmcall=%llu ud=%llu cpuid=%llu msr=%llu (outside the bitmap %llu, hidden %llu) io=%llu "
	       "cr=%llu xsetbv=%llu invd=%llu ept-rom=%llu ept-on-demand=%llu (resets %llu) "
	       "ept-beyond-width=%llu steps=%llu (ended by an exception %llu) vmx-insn=%llu "
	       "rom-writes=%llu host-nmi=%llu\n",
	       vmx.n_vmcall, vmx.n_vmmcall, vmx.n_ud, vmx.n_cpuid, vmx.n_msr, vmx.n_msr_other, vmx.n_msr_hidden, vmx.n_io,
	       vmx.n_cr, vmx.n_xsetbv, vmx.n_invd, vmx.n_ept_rom, vmx.n_ept_lazy, vmx.ept.lazy_resets,
	       vmx.n_ept_wide, romwrite_steps(), vmx.n_step_exc, vmx.n_vmx_insn, v->rom_writes,
	       vmx.n_host_nmi);
	/* Read without the fatal wrapper: the VMCS may be what failed. */
#define F(name) (vmread_ok(name, &val) ? val : ~0ULL)
	printf("  guest: rip=%016llx rsp=%016llx rflags=%016llx cs.ar=%llx ss.ar=%llx\n",
	       F(GUEST_RIP), F(GUEST_RSP), F(GUEST_RFLAGS), F(GUEST_CS_AR), F(GUEST_SS_AR));
	printf("  guest: cr0=%016llx (shadow %llx) cr3=%016llx cr4=%016llx (shadow %llx) efer=%llx\n",
	       F(GUEST_CR0), F(CR0_READ_SHADOW), F(GUEST_CR3), F(GUEST_CR4), F(CR4_READ_SHADOW),
	       F(GUEST_IA32_EFER));
	printf("  guest: cs=%llx ss=%llx tr=%llx gdtr=%llx/%llx idtr=%llx/%llx intr-state=%llx "
	       "activity=%llx idt-vectoring=%llx\n", F(GUEST_CS_SELECTOR), F(GUEST_SS_SELECTOR),
	       F(GUEST_TR_SELECTOR), F(GUEST_GDTR_BASE), F(GUEST_GDTR_LIMIT), F(GUEST_IDTR_BASE),
	       F(GUEST_IDTR_LIMIT), F(GUEST_INTERRUPTIBILITY), F(GUEST_ACTIVITY_STATE),
	       F(IDT_VECTORING_INFO));
#undef F
	vcpu_dump_gprs(v);
}

static void vmx_dump(struct vcpu *v)
{
	(void)v;
	dump_guest();
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
