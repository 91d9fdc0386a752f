/* AMD SVM backend: one VMCB, nested paging, and the few intercepts a thin hypervisor needs:
 *   VMRUN (mandatory) and the other SVM instructions (-> #UD in the guest), VMMCALL
 *   (hypercalls), CPUID (hide SVM and the hypervisor leaves), MSRs: EFER (hide EFER.SVME, which
 *   VMRUN needs set in the guest state), the SVM control MSRs and KVM's paravirtual ones (#GP),
 *   and every MSR outside the permission map's ranges (which always exit); I/O to COM3 only (the
 *   hypervisor's log), SHUTDOWN (triple fault -> fatal), NPF (writes to the hypervisor's region
 *   are discarded, high addresses mapped on demand), and every exception while a region write is
 *   stepped. Interrupts, NMIs, HLT, every other I/O port and MSR go straight to the guest.
 * RIP moves past an emulated instruction with its prefixes (`2e 0f a2` is a 3-byte CPUID): to
 * the VMCB's next RIP where the CPU offers NRIP-save, else by the length decoded from the bytes at
 * CS:RIP (next_rip_after; QEMU's TCG and the lab's KVM box have no NRIP-save). IOIO gives the
 * next RIP in EXITINFO2 (architecturally, with or without NRIP-save). */
#include "vcpu.h"
#include "vmcb.h"
#include "nested.h"
#include "hypercall.h"
#include "gml_hypercall.h"
#include "linuxboot.h"
#include "hvmem.h"
#include "serial.h"
#include "printf.h"
#include "fatal.h"
#include "lib.h"
#include "x86.h"
#include "romwrite.h"
#include "fault_fixup.h"
#include "gml_guestinput.h"
#include "guestmem.h"

/* Exceptions intercepted while a region write is stepped: all but NMI (2, not an exception) and
 * #MC (18, the host's). Any of them ends the step before the guest sees it. */
#define STEP_EXCEPTIONS (0xffffffffu & ~(1u << 2) & ~(1u << X86_EXC_MC))
/* Always intercepted: #UD, for Intel's VMCALL used as a hypercall (vmm/foreign_hypercall.c), and
 * #GP for the same under a KVM host: there L1's KVM intercepts #UD itself and takes it before
 * our intercept (nested_svm_exit_special: an exception its own VMCB intercepts is the host's),
 * emulates VMCALL, and at CPL > 0 its emulator refuses the privileged instruction with #GP(0),
 * which it does reflect to us. (At CPL0 it rewrites the instruction to VMMCALL in guest memory
 * instead, which on read-only kernel text gives the guest a #PF we do not see.) */
#define BASE_EXCEPTIONS ((1u << X86_EXC_UD) | (1u << X86_EXC_GP))

struct svm_state {
	struct vmcb *vmcb;
	u64 vmcb_pa;
	struct nested npt;
	u64 efer_writable; /* EFER bits the guest may set (gml_efer_writable) */
	bool nrips;        /* NRIP-save: the VMCB's next_rip is valid after instruction intercepts */
	/* ROM trick (vmm/romwrite.c): the guest's own TF and DR6 while its instruction is stepped */
	u64 step_saved_tf, step_saved_dr6;
	/* exits by kind, for the fatal dump (no printing on the exit path) */
	u64 n_vmmcall, n_vmcall, n_ud, n_gp, n_cpuid, n_msr, n_msr_hidden, n_ioio, n_npf_rom, n_npf_lazy, n_npf_wide,
		n_step_exc, n_svm_insn;
};

static struct svm_state svm;

void svm_vmrun(u64 vmcb_pa, u64 *gpr);

static const struct nested_format npt_format = {
	.name = "AMD NPT",
	.table = 0x7,   /* P RW US: nested walks are user accesses */
	.leaf_rw = 0x7,
	.leaf_ro = 0x5,
	.large = 0x80,
};

static bool svm_probe(const char **why)
{
	u32 a, b, c, d;
	cpuid(0, 0, &a, &b, &c, &d);
	if (b != 0x68747541 || d != 0x69746e65 || c != 0x444d4163) { /* "AuthenticAMD" */
		*why = "CPU vendor is not AuthenticAMD";
		return false;
	}
	cpuid(0x80000000, 0, &a, &b, &c, &d);
	if (a < 0x8000000A) {
		*why = "no CPUID leaf 0x8000000A";
		return false;
	}
	cpuid(0x80000001, 0, &a, &b, &c, &d);
	if (!(c & (1u << 2))) {
		*why = "CPUID 0x80000001 ECX.SVM is 0 (run QEMU with -cpu qemu64,+svm,+npt)";
		return false;
	}
	cpuid(0x8000000A, 0, &a, &b, &c, &d);
	if (!(d & 1)) {
		*why = "SVM without nested paging (CPUID 0x8000000A EDX.NP=0; add +npt)";
		return false;
	}
	if (rdmsr(X86_MSR_AMD_VM_CR) & X86_VM_CR_SVMDIS) {
		*why = "SVM disabled by firmware (VM_CR.SVMDIS)";
		return false;
	}
	return true;
}

static void seg(struct vmcb_seg *s, u16 sel, u16 attrib, u32 limit, u64 base)
{
	s->selector = sel;
	s->attrib = attrib;
	s->limit = limit;
	s->base = base;
}

static void dump_guest(void)
{
	struct vmcb *vm = svm.vmcb;
	struct vcpu *v = &the_vcpu;
	printf("  guest: exitcode=%llx exitinfo1=%llx exitinfo2=%llx exitintinfo=%llx exits=%llu\n",
	       vm->ctl.exitcode, vm->ctl.exitinfo1, vm->ctl.exitinfo2, vm->ctl.exitintinfo, v->exits);
	printf("  exits: vmmcall=%llu vmcall=%llu ud=%llu gp=%llu cpuid=%llu msr=%llu (hidden %llu) ioio=%llu npf-rom=%llu "
	       "npf-on-demand=%llu (resets %llu) npf-beyond-width=%llu steps=%llu (ended by an "
	       "exception %llu) svm-insn=%llu rom-writes=%llu\n", svm.n_vmmcall, svm.n_vmcall, svm.n_ud, svm.n_gp,
	       svm.n_cpuid,
	       svm.n_msr, svm.n_msr_hidden, svm.n_ioio, svm.n_npf_rom, svm.n_npf_lazy,
	       svm.npt.lazy_resets, svm.n_npf_wide, romwrite_steps(), svm.n_step_exc, svm.n_svm_insn,
	       v->rom_writes);
	printf("  guest: rip=%016llx rsp=%016llx rflags=%016llx cpl=%u\n", vm->save.rip, vm->save.rsp,
	       vm->save.rflags, vm->save.cpl);
	printf("  guest: cr0=%016llx cr2=%016llx cr3=%016llx cr4=%016llx efer=%llx\n", vm->save.cr0,
	       vm->save.cr2, vm->save.cr3, vm->save.cr4, vm->save.efer);
	printf("  guest: cs=%x/%x base=%llx ss=%x gdtr=%llx/%x idtr=%llx/%x\n", vm->save.cs.selector,
	       vm->save.cs.attrib, vm->save.cs.base, vm->save.ss.selector, vm->save.gdtr.base,
	       vm->save.gdtr.limit, vm->save.idtr.base, vm->save.idtr.limit);
	vcpu_dump_gprs(v);
}

static void svm_flush(void);
static void svm_step_arm(void);
static void svm_step_disarm(void);
static void svm_inject_gp(void);

/* Intercept both reads and writes of msr, which must lie in one of the map's three ranges
 * (2 KiB each, 2 bits per MSR: read, write; AMD APM vol. 2, 15.11). */
static void msrpm_intercept(u8 *msrpm, u32 msr)
{
	static const struct { u32 first, map_offset; } ranges[] = {
		{ 0x00000000u, 0x0000 }, { 0xc0000000u, 0x0800 }, { 0xc0010000u, 0x1000 },
	};
	for (u32 i = 0; i < ARRAY_SIZE(ranges); i++) {
		if (msr - ranges[i].first < 0x2000) {
			u32 bit = ranges[i].map_offset * 8 + (msr - ranges[i].first) * 2;
			msrpm[bit / 8] |= 3u << (bit % 8);
			return;
		}
	}
	hv_fatal("msrpm_intercept: MSR 0x%x is outside the permission map's ranges", msr);
}

static void svm_init(struct vcpu *v, const struct guest_entry *e)
{
	wrmsr(X86_MSR_EFER, rdmsr(X86_MSR_EFER) | X86_EFER_SVME);
	wrmsr(X86_MSR_AMD_VM_HSAVE_PA, virt_to_phys(alloc_page()));
	asm volatile("clgi"); /* host runs with GIF=0 from now on; VMRUN sets it for the guest */

	u32 a, b, c, d;
	cpuid(0x80000001, 0, &a, &b, &c, &d);
	bool gbpages = d & (1u << 26);
	u8 maxphyaddr = 36;
	cpuid(0x80000000, 0, &a, &b, &c, &d);
	if (a >= 0x80000008) {
		cpuid(0x80000008, 0, &a, &b, &c, &d);
		maxphyaddr = (u8)a;
	}
	nested_build(&svm.npt, &npt_format, gbpages, maxphyaddr);
	static const struct romwrite_hooks hooks = {
		.nested = &svm.npt,
		.flush = svm_flush,
		.step_arm = svm_step_arm,
		.step_disarm = svm_step_disarm,
		.inject_gp = svm_inject_gp,
	};
	romwrite_init(&hooks);
	u32 e1c, e1d;
	cpuid(0x80000001, 0, &a, &b, &e1c, &e1d);
	svm.efer_writable = gml_efer_writable(e1c, e1d);
	cpuid(0x8000000A, 0, &a, &b, &c, &d);
	svm.nrips = d & (1u << 3);
	printf("GMLAB-HV: SVM NRIP-save %s: emulated instructions end at %s\n",
	       svm.nrips ? "offered" : "not offered",
	       svm.nrips ? "the VMCB's next RIP" : "the length decoded at CS:RIP");

	struct vmcb *vm = alloc_page();
	svm.vmcb = vm;
	svm.vmcb_pa = virt_to_phys(vm);
	v->arch = &svm;

	/* I/O permission map (12 KiB): only the hypervisor's UART. */
	u8 *iopm = alloc_pages(3);
	for (u32 p = HV_SERIAL_PORT; p < HV_SERIAL_PORT + HV_SERIAL_NPORTS; p++)
		iopm[p / 8] |= 1u << (p % 8);
	/* MSR permission map (8 KiB): EFER, the SVM control MSRs and KVM's legacy paravirtual
	 * MSRs; MSRs outside its three ranges always exit (handle_msr). */
	u8 *msrpm = alloc_pages(MSRPM_SIZE_PAGES);
	msrpm_intercept(msrpm, X86_MSR_EFER);
	msrpm_intercept(msrpm, X86_MSR_KVM_WALL_CLOCK);
	msrpm_intercept(msrpm, X86_MSR_KVM_SYSTEM_TIME);
	for (u32 m = X86_MSR_AMD_SVM_FIRST; m <= X86_MSR_AMD_SVM_LAST; m++)
		msrpm_intercept(msrpm, m);

	vm->ctl.intercept_exceptions = BASE_EXCEPTIONS;
	vm->ctl.intercept_misc1 = INTERCEPT_CPUID | INTERCEPT_INVLPGA | INTERCEPT_IOIO_PROT |
				  INTERCEPT_MSR_PROT | INTERCEPT_SHUTDOWN;
	vm->ctl.intercept_misc2 = INTERCEPT_VMRUN | INTERCEPT_VMMCALL | INTERCEPT_VMLOAD |
				  INTERCEPT_VMSAVE | INTERCEPT_STGI | INTERCEPT_CLGI | INTERCEPT_SKINIT;
	vm->ctl.iopm_base_pa = virt_to_phys(iopm);
	vm->ctl.msrpm_base_pa = virt_to_phys(msrpm);
	vm->ctl.asid = 1;
	vm->ctl.tlb_control = 1; /* flush on the first VMRUN */
	vm->ctl.np_enable = 1;
	vm->ctl.n_cr3 = svm.npt.root_pa;

	struct vmcb_save *s = &vm->save;
	seg(&s->cs, e->cs, 0xa9b, 0xffffffff, 0); /* 64-bit code, present, DPL0, G */
	seg(&s->ds, e->ds, 0xc93, 0xffffffff, 0);
	seg(&s->es, e->ds, 0xc93, 0xffffffff, 0);
	seg(&s->ss, e->ds, 0xc93, 0xffffffff, 0);
	seg(&s->fs, e->ds, 0xc93, 0xffffffff, 0);
	seg(&s->gs, e->ds, 0xc93, 0xffffffff, 0);
	seg(&s->gdtr, 0, 0, e->gdt_limit, e->gdt_base);
	seg(&s->idtr, 0, 0, 0, 0);
	seg(&s->tr, 0, 0x89, 0x67, 0);   /* 64-bit TSS (gml_svm_tr_attrib); Linux loads its own */
	seg(&s->ldtr, 0, 0x82, 0, 0);
	s->cpl = 0;
	s->efer = e->efer | X86_EFER_SVME;
	s->cr0 = e->cr0;
	s->cr3 = e->cr3;
	s->cr4 = e->cr4;
	s->dr6 = 0xffff0ff0;
	s->dr7 = 0x400;
	s->rflags = 0x2;
	s->rip = e->rip;
	s->rsp = e->rsp;
	s->g_pat = 0x0007040600070406ULL;
	memset(v->gpr, 0, sizeof(v->gpr));
	v->gpr[GENERAL_REG_RSI] = e->rsi;
	v->gpr[GENERAL_REG_RSP] = s->rsp;
	fatal_dump_guest = dump_guest;
}

static void inject_exception(struct vmcb *vm, u8 vector)
{
	vm->ctl.eventinj = SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_EXCEPTION | vector;
}

static void inject_gp(struct vmcb *vm)
{
	inject_exception(vm, X86_EXC_GP);
	vm->ctl.eventinj |= SVM_EVTINJ_ERR_VALID; /* error code 0 (upper half of eventinj) */
}

static void svm_inject_gp(void)
{
	inject_gp(svm.vmcb);
}

/* The guest runs 64-bit code (EFER.LMA and CS.L): REX prefixes exist, CS.base is ignored. */
static bool guest_mode64(const struct vmcb *vm)
{
	return (vm->save.efer & X86_EFER_LMA) && (vm->save.cs.attrib & (1u << 9));
}

/* Guest-linear address of the instruction at RIP. */
static u64 guest_insn_lin(const struct vmcb *vm)
{
	return guest_mode64(vm) ? vm->save.rip : (u32)(vm->save.cs.base + vm->save.rip);
}

/* The length of the instruction that exited as `insn`, prefixes included, without NRIP-save:
 * decoded from its bytes, which the CPU has just fetched (one page walk with fetch rights, no
 * A/D writes). If they cannot be read or do not decode to `insn` (only where the walker does not
 * model the mode, legacy 32-bit or PAE paging, or code runs from ROM/MMIO), the unprefixed
 * length: right for every instruction written without prefixes. Never a #PF: the fetch the CPU
 * made succeeded, a fault now would be the hypervisor's own invention. */
static unsigned decoded_len(const struct vmcb *vm, enum gml_insn insn, unsigned unprefixed)
{
	unsigned len = guest_insn_len(guest_insn_lin(vm), guest_mode64(vm), insn);
	return len ? len : unprefixed;
}

/* The emulated instruction ends at next_rip as the CPU would end it: a STI or MOV SS shadow
 * that covered it is over, and a guest that single-steps (its own TF) is owed the #DB trap now,
 * with DR6.BS, before the next instruction; without this a debugger stepping over CPUID, an MSR,
 * I/O or a hypercall lands one instruction late (hv/single-step-emulated; KVM does the same in
 * kvm_skip_emulated_instruction). Not while the ROM trick steps a store: TF is ours then. */
static void complete_insn(struct vmcb *vm, u64 next_rip)
{
	vm->save.rip = next_rip;
	vm->ctl.interrupt_shadow &= ~SVM_INTERRUPT_SHADOW;
	if ((vm->save.rflags & X86_RFLAGS_TF) && !romwrite_stepping() &&
	    !(vm->ctl.eventinj & SVM_EVTINJ_VALID)) {
		vm->save.dr6 |= X86_DR6_BS;
		inject_exception(vm, X86_EXC_DB);
	}
}

/* The next RIP after the instruction that exited as `insn` (`unprefixed` bytes without
 * prefixes): the VMCB's next_rip with NRIP-save, which the CPU writes for instruction and MSR
 * intercepts (0 otherwise), else from the decoded length. */
static u64 next_rip_after(struct vmcb *vm, enum gml_insn insn, unsigned unprefixed)
{
	if (svm.nrips && vm->ctl.next_rip)
		return vm->ctl.next_rip;
	return vm->save.rip + decoded_len(vm, insn, unprefixed);
}

static void handle_cpuid(struct vcpu *v, struct vmcb *vm)
{
	u32 leaf = (u32)v->gpr[GENERAL_REG_RAX], sub = (u32)v->gpr[GENERAL_REG_RCX];
	u32 a, b, c, d;
	cpuid(leaf, sub, &a, &b, &c, &d);
	if (leaf == 0x80000001)
		c &= ~X86_CPUID_80000001_ECX_SVM;
	else if (leaf == 0x8000000A || gml_cpuid_hidden(leaf))
		a = b = c = d = 0; /* no SVM features; no outer hypervisor's leaves */
	v->gpr[GENERAL_REG_RAX] = a;
	v->gpr[GENERAL_REG_RBX] = b;
	v->gpr[GENERAL_REG_RCX] = c;
	v->gpr[GENERAL_REG_RDX] = d;
	complete_insn(vm, next_rip_after(vm, GML_INSN_CPUID, 2));
}

/* EFER: reads never show SVME; writes keep SVME set underneath (VMRUN requires it), LMA is
 * read-only, and a bit this CPU lacks gets #GP(0) as the CPU would (never a failing VMRUN). */
static bool efer_access(struct vcpu *v, struct vmcb *vm, bool write)
{
	if (!write) {
		u64 val = vm->save.efer & ~(u64)X86_EFER_SVME;
		v->gpr[GENERAL_REG_RAX] = (u32)val;
		v->gpr[GENERAL_REG_RDX] = (u32)(val >> 32);
		return true;
	}
	u64 val = (v->gpr[GENERAL_REG_RDX] << 32) | (u32)v->gpr[GENERAL_REG_RAX];
	if (val & ~(svm.efer_writable | X86_EFER_LMA | X86_EFER_SVME))
		return false;
	vm->save.efer = (val & svm.efer_writable) | (vm->save.efer & X86_EFER_LMA) | X86_EFER_SVME;
	return true;
}

/* Every MSR exit, never fatal: EFER emulated; the hidden MSRs (gml_msr_hidden: SVM control,
 * hypervisor range, KVM paravirtual) #GP; anything else that exits (outside the permission
 * map's ranges, e.g. AMD's SMCA MSRs) is done on the host, its #GP passed on. */
static void handle_msr(struct vcpu *v, struct vmcb *vm)
{
	u32 msr = (u32)v->gpr[GENERAL_REG_RCX];
	bool write = vm->ctl.exitinfo1 != 0, ok;
	if (msr == X86_MSR_EFER) {
		ok = efer_access(v, vm, write);
	} else if (gml_msr_hidden(msr)) {
		svm.n_msr_hidden++;
		ok = false;
	} else if (write) {
		ok = wrmsr_safe(msr, (v->gpr[GENERAL_REG_RDX] << 32) | (u32)v->gpr[GENERAL_REG_RAX]);
	} else {
		u64 val = 0;
		ok = rdmsr_safe(msr, &val);
		if (ok) {
			v->gpr[GENERAL_REG_RAX] = (u32)val;
			v->gpr[GENERAL_REG_RDX] = (u32)(val >> 32);
		}
	}
	if (!ok) {
		inject_gp(vm);
		return;
	}
	complete_insn(vm, next_rip_after(vm, write ? GML_INSN_WRMSR : GML_INSN_RDMSR, 2));
}

static void handle_ioio(struct vcpu *v, struct vmcb *vm)
{
	u64 info = vm->ctl.exitinfo1;
	u16 port = (u16)(info >> 16);
	unsigned size = (info >> 4) & 7; /* one-hot: 1, 2, 4 bytes */
	size = size & 4 ? 4 : size & 2 ? 2 : 1;
	/* Only the log port is in the permission map; an access overlapping it in any byte (e.g.
	 * `inw 0x3e7`) is the log port's as a whole. */
	if (!gml_io_overlaps(port, size, HV_SERIAL_PORT, HV_SERIAL_NPORTS))
		hv_fatal("I/O intercept for port 0x%x/%u, which the permission map does not select",
			 port, size);
	bool in = info & 1, str = info & 4, rep = info & 8;
	if (!str) {
		if (in) { /* no UART here: the bus floats to all ones */
			u64 mask = size == 4 ? 0xffffffffULL : size == 2 ? 0xffff : 0xff;
			v->gpr[GENERAL_REG_RAX] = size == 4 ? mask : (v->gpr[GENERAL_REG_RAX] & ~mask) | mask;
		}
	} else {
		/* INS/OUTS: emulate the side effects on the index registers; INS stores 0xff bytes
		 * only through the guest's own access at retry, so we just skip them (data dropped,
		 * INS buffers keep their old contents). */
		u64 count = rep ? v->gpr[GENERAL_REG_RCX] : 1;
		s64 step = (vm->save.rflags & (1ULL << 10)) ? -(s64)size : (s64)size;
		enum general_reg idx = in ? GENERAL_REG_RDI : GENERAL_REG_RSI;
		v->gpr[idx] += (u64)(step * (s64)count);
		if (rep)
			v->gpr[GENERAL_REG_RCX] = 0;
	}
	complete_insn(vm, vm->ctl.exitinfo2); /* the IOIO exit's next RIP */
}

static void svm_flush(void)
{
	svm.vmcb->ctl.tlb_control = 1; /* flush this ASID's guest TLB on the next VMRUN */
}

/* Step the instruction with RFLAGS.TF: #DB (and every other exception) intercepted, an
 * interrupt shadow so no interrupt is taken before it. */
static void svm_step_arm(void)
{
	struct vmcb *vm = svm.vmcb;
	svm.step_saved_tf = vm->save.rflags & X86_RFLAGS_TF;
	svm.step_saved_dr6 = vm->save.dr6;
	vm->save.rflags |= X86_RFLAGS_TF;
	vm->ctl.intercept_exceptions = STEP_EXCEPTIONS;
	vm->ctl.interrupt_shadow |= 1;
}

static void svm_step_disarm(void)
{
	struct vmcb *vm = svm.vmcb;
	vm->ctl.intercept_exceptions = BASE_EXCEPTIONS;
	vm->save.rflags = (vm->save.rflags & ~X86_RFLAGS_TF) | svm.step_saved_tf;
	vm->save.dr6 = svm.step_saved_dr6;
}

static void handle_npf(struct vcpu *v, struct vmcb *vm)
{
	u64 gpa = vm->ctl.exitinfo2, info = vm->ctl.exitinfo1;
	if ((info & NPF_PRESENT) && (info & NPF_WRITE) && hv_region_overlaps(gpa, 1)) {
		svm.n_npf_rom++;
		romwrite_fault(v, gpa);
		return;
	}
	if (!(info & NPF_PRESENT)) {
		switch (nested_map_on_demand(&svm.npt, gpa)) {
		case NESTED_MAPPED:
			svm.n_npf_lazy++;
			svm_flush();
			return;
		case NESTED_BEYOND_WIDTH:
			/* No nested table can map it: refuse the access as the CPU refuses an address it
			 * cannot form (the guest's #GP handler decides; Linux kills the process or oopses). */
			svm.n_npf_wide++;
			inject_gp(vm);
			return;
		case NESTED_NOT_ON_DEMAND:
			break;
		}
	}
	hv_fatal("unexpected nested page fault at guest-physical 0x%llx (exitinfo1 0x%llx: %s%s)",
		 gpa, info, info & NPF_PRESENT ? "present " : "not-present ",
		 info & NPF_WRITE ? "write" : "read/fetch");
}

/* A hypercall (VMMCALL, or Intel's VMCALL through #UD) ending at next_rip: dispatch, then end it
 * as the service asked: past the instruction, or on it again (a continuation, or after the
 * guest's own #PF handler ran for a fault-in). The caller takes next_rip before the service
 * runs, from the bytes the CPU executed (a service may write guest memory, even over the
 * instruction). */
static void hypercall_exit(struct vcpu *v, struct vmcb *vm, u64 next_rip)
{
	memset(&v->hc_end, 0, sizeof(v->hc_end));
	hypercall_handle(v);
	if (v->hc_end.page_fault) {
		inject_exception(vm, X86_EXC_PF);
		vm->ctl.eventinj |= SVM_EVTINJ_ERR_VALID | ((u64)v->hc_end.error << 32);
		vm->save.cr2 = v->hc_end.cr2;
	} else if (!v->hc_end.restart) {
		complete_insn(vm, next_rip);
	}
}

/* Exceptions that push an error code (a re-injected one carries it). */
static bool exception_has_error_code(u32 vector)
{
	return vector == 8 || (vector >= 10 && vector <= 14) || vector == 17 || vector == 21 ||
	       vector == 29 || vector == 30;
}

/* An exception intercepted while a region write was stepped: #DB from our TF (the instruction
 * completed), or a fault/trap of the instruction itself (e.g. #PF on the other half of a
 * straddling store). The step ends first, then the guest gets what it is owed with its own
 * RFLAGS: its own #DB (its TF, a data breakpoint the store hit) or the exception, exactly as the
 * CPU raised it (error code, CR2 for #PF: an intercepted #PF does not write CR2). */
static void step_exception(struct vmcb *vm, u32 vector)
{
	u64 dr6 = vm->save.dr6; /* the CPU updates DR6 before a #DB intercept */
	romwrite_end();
	if (vector == X86_EXC_DB) {
		/* B0-B3 are sticky: only those this #DB set are the guest's breakpoints. */
		u64 own = (dr6 & ~svm.step_saved_dr6 & X86_DR6_BREAKPOINTS) |
			  (svm.step_saved_tf ? X86_DR6_BS : 0);
		if (own) {
			vm->save.dr6 = svm.step_saved_dr6 | own;
			inject_exception(vm, X86_EXC_DB);
		}
		return;
	}
	svm.n_step_exc++;
	inject_exception(vm, (u8)vector);
	if (exception_has_error_code(vector))
		vm->ctl.eventinj |= SVM_EVTINJ_ERR_VALID | (vm->ctl.exitinfo1 << 32);
	if (vector == X86_EXC_PF)
		vm->save.cr2 = vm->ctl.exitinfo2;
}

/* An always-intercepted #UD or #GP (BASE_EXCEPTIONS). Intel's VMCALL at RIP is a hypercall: it
 * raises #UD on AMD, and under a KVM host (which emulates it) #GP(0) at CPL > 0; a real AMD CPU
 * never gives #GP for it. Anything else goes back to the guest as the CPU raised it, combined
 * with the event it interrupted, if any, as the CPU would have (a #GP in delivering a #GP is #DF). */
static void foreign_insn_exit(struct vcpu *v, struct vmcb *vm, u32 vector)
{
	unsigned give;

	if (vector == X86_EXC_UD)
		svm.n_ud++;
	else
		svm.n_gp++;
	if ((vector == X86_EXC_UD || vm->ctl.exitinfo1 == 0) &&
	    !(vm->ctl.exitintinfo & SVM_EVTINJ_VALID)) {
		/* Intel's instruction (the seed's code): a hypercall too. An exception exit has no
		 * next RIP even with NRIP-save: the decoded length (prefixes included) is it. */
		unsigned len = hypercall_foreign_len(guest_insn_lin(vm), guest_mode64(vm),
						     GML_INSN_VMCALL);
		if (len) {
			svm.n_vmcall++;
			hypercall_exit(v, vm, vm->save.rip + len);
			return;
		}
	}
	give = gml_svm_fault_during_event(vm->ctl.exitintinfo, vector);
	if (give == GML_EXC_SHUTDOWN)
		hv_fatal("guest triple fault (#GP while delivering #DF, exitintinfo 0x%llx)",
			 vm->ctl.exitintinfo);
	inject_exception(vm, (u8)give);
	if (give == 8)
		vm->ctl.eventinj |= SVM_EVTINJ_ERR_VALID; /* #DF: error code 0 */
	else if (give == X86_EXC_GP)
		vm->ctl.eventinj |= SVM_EVTINJ_ERR_VALID | (vm->ctl.exitinfo1 << 32);
}

static const char *svm_insn_name(u64 code)
{
	switch (code) {
	case SVM_EXIT_VMRUN: return "VMRUN";
	case SVM_EXIT_VMLOAD: return "VMLOAD";
	case SVM_EXIT_VMSAVE: return "VMSAVE";
	case SVM_EXIT_STGI: return "STGI";
	case SVM_EXIT_CLGI: return "CLGI";
	case SVM_EXIT_SKINIT: return "SKINIT";
	default: return "INVLPGA";
	}
}

static noreturn void svm_run(struct vcpu *v)
{
	struct vmcb *vm = svm.vmcb;
	bool warned_svm_insn = false, warned_tr = false;
	for (;;) {
		u16 tr = gml_svm_tr_attrib(vm->save.tr.attrib);
		if (tr != vm->save.tr.attrib) {
			if (!warned_tr) {
				printf("GMLAB-HV: the guest's TR came back as a busy TSS (attributes 0x%x, "
				       "from the CPU or hypervisor below): loaded as 0x%x from now on, "
				       "since QEMU's TCG refuses ioperm() ports otherwise\n",
				       vm->save.tr.attrib, tr);
				warned_tr = true;
			}
			vm->save.tr.attrib = tr;
		}
		vm->save.rax = v->gpr[GENERAL_REG_RAX];
		vm->save.rsp = v->gpr[GENERAL_REG_RSP];
		svm_vmrun(svm.vmcb_pa, v->gpr);
		v->gpr[GENERAL_REG_RAX] = vm->save.rax;
		v->gpr[GENERAL_REG_RSP] = vm->save.rsp;
		v->exits++;
		vm->ctl.tlb_control = 0;
		vm->ctl.eventinj = 0;
		/* The floor (gml_hypercall.h): before any other look at the exit. */
		if (vm->ctl.exitcode == SVM_EXIT_VMMCALL && vm->save.rax == GML_HC_FLOOR &&
		    !(vm->ctl.exitintinfo & SVM_EVTINJ_VALID)) {
			complete_insn(vm, next_rip_after(vm, GML_INSN_VMMCALL, HYPERCALL_INSN_LEN));
			continue;
		}
		/* An exit during event delivery: deliver the event again on the next entry, except
		 * INT n / INT3 / INTO, whose instruction re-executes instead (RIP still points at it;
		 * injecting them without next-RIP would run them twice). */
		if ((vm->ctl.exitintinfo & SVM_EVTINJ_VALID) &&
		    !gml_svm_event_reexecutes(vm->ctl.exitintinfo))
			vm->ctl.eventinj = vm->ctl.exitintinfo;

		u64 code = vm->ctl.exitcode;
		switch (code) {
		case SVM_EXIT_VMMCALL:
			svm.n_vmmcall++;
			hypercall_exit(v, vm, next_rip_after(vm, GML_INSN_VMMCALL, HYPERCALL_INSN_LEN));
			break;
		case SVM_EXIT_CPUID:
			svm.n_cpuid++;
			handle_cpuid(v, vm);
			break;
		case SVM_EXIT_MSR:
			svm.n_msr++;
			handle_msr(v, vm);
			break;
		case SVM_EXIT_IOIO:
			svm.n_ioio++;
			handle_ioio(v, vm);
			break;
		case SVM_EXIT_NPF:
			handle_npf(v, vm);
			break;
		case SVM_EXIT_EXCP_BASE + X86_EXC_UD:
		case SVM_EXIT_EXCP_BASE + X86_EXC_GP: {
			if (romwrite_stepping()) {
				step_exception(vm, (u32)(code - SVM_EXIT_EXCP_BASE));
				break;
			}
			foreign_insn_exit(v, vm, (u32)(code - SVM_EXIT_EXCP_BASE));
			break;
		}
		case SVM_EXIT_EXCP_BASE ... SVM_EXIT_EXCP_BASE + X86_EXC_UD - 1:
		case SVM_EXIT_EXCP_BASE + X86_EXC_UD + 1 ... SVM_EXIT_EXCP_BASE + X86_EXC_GP - 1:
		case SVM_EXIT_EXCP_BASE + X86_EXC_GP + 1 ... SVM_EXIT_EXCP_LAST:
			if (!romwrite_stepping())
				hv_fatal("exception intercept (vector %llu) while not stepping a region write",
					 code - SVM_EXIT_EXCP_BASE);
			step_exception(vm, (u32)(code - SVM_EXIT_EXCP_BASE));
			break;
		case SVM_EXIT_VMRUN:
		case SVM_EXIT_VMLOAD:
		case SVM_EXIT_VMSAVE:
		case SVM_EXIT_STGI:
		case SVM_EXIT_CLGI:
		case SVM_EXIT_SKINIT:
		case SVM_EXIT_INVLPGA:
			if (!warned_svm_insn) {
				printf("GMLAB-HV: guest executed %s at rip %llx: #UD (nested SVM not offered)\n",
				       svm_insn_name(code), vm->save.rip);
				warned_svm_insn = true;
			}
			svm.n_svm_insn++;
			inject_exception(vm, 6);
			break;
		case SVM_EXIT_SHUTDOWN:
			hv_fatal("guest triple fault (SHUTDOWN intercept)");
		case SVM_EXIT_INVALID:
			hv_fatal("VMRUN failed: invalid guest state in the VMCB (exit code -1)");
		default:
			hv_fatal("unexpected SVM exit code 0x%llx", code);
		}
	}
}

static void svm_paging_state(struct vcpu *v, struct guest_paging_state *out)
{
	(void)v;
	struct vmcb_save *s = &svm.vmcb->save;
	out->cr0 = s->cr0;
	out->cr3 = s->cr3;
	out->cr4 = s->cr4;
	out->efer = s->efer & ~(u64)X86_EFER_SVME;
	out->rflags = s->rflags;
	out->cpl = s->cpl;
}

static void svm_dump(struct vcpu *v)
{
	(void)v;
	dump_guest();
}

const struct backend_ops svm_backend_ops = {
	.name = "svm",
	.id = BACKEND_SVM,
	.probe = svm_probe,
	.init = svm_init,
	.run = svm_run,
	.paging_state = svm_paging_state,
	.dump = svm_dump,
};
