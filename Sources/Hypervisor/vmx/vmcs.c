/* Intel VMX backend, set-up half (as Xen's vmcs.c beside vmx.c): VMCS access, the capability
 * probe, VMXON and the VMCS set-up, EPT flushes and the fatal dump. Controls are derived from the
 * capability MSRs (TRUE_ variants where the CPU has them): a control this backend needs and the
 * CPU refuses fails probe() with the reason. README.md "The VMX backend" has the design. */
#include "vmx_private.h"
#include "linuxboot.h"
#include "hvmem.h"
#include "serial.h"
#include "printf.h"
#include "fatal.h"
#include "idt.h"
#include "lib.h"
#include "x86.h"
#include "romwrite.h"

struct vmx_state vmx;

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

const char *vm_instruction_error_name(u64 e)
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

u64 vmcs_error(void)
{
	u64 e = 0;
	return vmread_ok(VM_INSTRUCTION_ERROR, &e) ? e : ~0ULL;
}

u64 vmr(u64 field)
{
	u64 v;
	if (!vmread_ok(field, &v))
		hv_fatal("VMREAD of VMCS field 0x%llx failed (VM-instruction error %llu: %s)", field,
			 vmcs_error(), vm_instruction_error_name(vmcs_error()));
	return v;
}

void vmw(u64 field, u64 v)
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

bool vmx_probe(const char **why)
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

void vmx_invept(void)
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

void vmx_init(struct vcpu *v, const struct guest_entry *e)
{
	struct vmx_caps *k = &vmx.caps;
	host_gdt_init();
	vmx_on();

	nested_build(&vmx.ept, &ept_format, (k->ept_cap & EPT_CAP_1G) != 0, cpu_maxphyaddr());
	vmx.eptp = vmx.ept.root_pa | (3 << 3) | 6; /* 4-level walk, write-back */
	static const struct romwrite_hooks hooks = {
		.nested = &vmx.ept,
		.flush = vmx_invept,
		.step_arm = vmx_step_begin,
		.step_disarm = vmx_step_end,
		.inject_gp = vmx_inject_gp,
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
	fatal_dump_guest = vmx_dump_guest;
	hv_nmi_hook = vmx_host_nmi;
	printf("GMLAB-HV: VMX controls: pin %08x cpu %08x cpu2 %08x exit %08x entry %08x "
	       "(%s capability MSRs); cr0 mask %llx, cr4 mask %llx; EPT cap %llx; region writes "
	       "stepped by %s\n", k->pin, k->cpu, k->cpu2, k->exit, k->entry,
	       (k->basic & VMX_BASIC_TRUE_CTLS) ? "TRUE_" : "default", vmx.cr0_mask, vmx.cr4_mask,
	       k->ept_cap, vmx.use_mtf ? "the monitor trap flag" : "RFLAGS.TF + #DB (no MTF)");
}

/* ---- state for common code and the fatal path ---- */

u64 vmx_guest_cr0(void)
{
	return (vmr(GUEST_CR0) & ~vmx.cr0_mask) | (vmr(CR0_READ_SHADOW) & vmx.cr0_mask);
}

u64 vmx_guest_cr4(void)
{
	return (vmr(GUEST_CR4) & ~vmx.cr4_mask) | (vmr(CR4_READ_SHADOW) & vmx.cr4_mask);
}

void vmx_dump_guest(void)
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
