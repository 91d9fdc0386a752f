/* AMD SVM backend: one VMCB, nested paging, and the few intercepts a thin hypervisor needs:
 *   VMRUN (mandatory) and the other SVM instructions (-> #UD in the guest), VMMCALL
 *   (hypercalls), CPUID (hide SVM), EFER reads/writes (hide EFER.SVME, which VMRUN needs set
 *   in the guest state), I/O to COM3 only (the hypervisor's log), SHUTDOWN (triple fault ->
 *   fatal), NPF (writes to the hypervisor's region are discarded; anything else is fatal).
 * Interrupts, NMIs, HLT, every other I/O port and MSR go straight to the guest. NRIP-save is not
 * used: instruction lengths are fixed (vmmcall 3, cpuid/rdmsr/wrmsr 2) and IOIO gives the next
 * rip in EXITINFO2. */
#include "vcpu.h"
#include "vmcb.h"
#include "nested.h"
#include "hypercall.h"
#include "linuxboot.h"
#include "hvmem.h"
#include "serial.h"
#include "printf.h"
#include "fatal.h"
#include "lib.h"
#include "x86.h"

#define RFLAGS_TF (1ULL << 8)
#define STEP_MAX_PAGES 8

struct svm_state {
	struct vmcb *vmcb;
	u64 vmcb_pa;
	struct nested npt;
	/* ROM trick: region pages temporarily backed by scratch pages while the guest single-steps
	 * the instruction that wrote them. */
	bool stepping;
	u64 step_saved_tf, step_saved_dr6;
	int step_npages;
	u64 step_gpa[STEP_MAX_PAGES];
	u8 *scratch[STEP_MAX_PAGES];
	/* exits by kind, for the fatal dump (no printing on the exit path) */
	u64 n_vmmcall, n_cpuid, n_msr, n_ioio, n_npf_rom, n_npf_lazy, n_step_end, n_svm_insn;
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
	if (rdmsr(MSR_VM_CR) & VM_CR_SVMDIS) {
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
	printf("  exits: vmmcall=%llu cpuid=%llu msr=%llu ioio=%llu npf-rom=%llu npf-on-demand=%llu "
	       "step-end=%llu svm-insn=%llu rom-writes=%llu\n", svm.n_vmmcall, svm.n_cpuid, svm.n_msr,
	       svm.n_ioio, svm.n_npf_rom, svm.n_npf_lazy, svm.n_step_end, svm.n_svm_insn, v->rom_writes);
	printf("  guest: rip=%016llx rsp=%016llx rflags=%016llx cpl=%u\n", vm->save.rip, vm->save.rsp,
	       vm->save.rflags, vm->save.cpl);
	printf("  guest: cr0=%016llx cr2=%016llx cr3=%016llx cr4=%016llx efer=%llx\n", vm->save.cr0,
	       vm->save.cr2, vm->save.cr3, vm->save.cr4, vm->save.efer);
	printf("  guest: cs=%x/%x base=%llx ss=%x gdtr=%llx/%x idtr=%llx/%x\n", vm->save.cs.selector,
	       vm->save.cs.attrib, vm->save.cs.base, vm->save.ss.selector, vm->save.gdtr.base,
	       vm->save.gdtr.limit, vm->save.idtr.base, vm->save.idtr.limit);
	vcpu_dump_gprs(v);
}

static void svm_init(struct vcpu *v, const struct guest_entry *e)
{
	wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SVME);
	wrmsr(MSR_VM_HSAVE_PA, virt_to_phys(alloc_page()));
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
	for (int i = 0; i < STEP_MAX_PAGES; i++)
		svm.scratch[i] = alloc_page();

	struct vmcb *vm = alloc_page();
	svm.vmcb = vm;
	svm.vmcb_pa = virt_to_phys(vm);
	v->arch = &svm;

	/* I/O permission map (12 KiB): only the hypervisor's UART. */
	u8 *iopm = alloc_pages(3);
	for (u32 p = HV_SERIAL_PORT; p < HV_SERIAL_PORT + HV_SERIAL_NPORTS; p++)
		iopm[p / 8] |= 1u << (p % 8);
	/* MSR permission map (8 KiB): only EFER (range 0xC0000000, 2 bits per MSR, read|write). */
	u8 *msrpm = alloc_pages(2);
	u32 bit = 0x800 * 8 + (MSR_EFER - 0xC0000000u) * 2;
	msrpm[bit / 8] |= 3u << (bit % 8);

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
	seg(&s->tr, 0, 0x8b, 0x67, 0);   /* busy 64-bit TSS; Linux loads its own */
	seg(&s->ldtr, 0, 0x82, 0, 0);
	s->cpl = 0;
	s->efer = e->efer | EFER_SVME;
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

static void handle_cpuid(struct vcpu *v, struct vmcb *vm)
{
	u32 leaf = (u32)v->gpr[GENERAL_REG_RAX], sub = (u32)v->gpr[GENERAL_REG_RCX];
	u32 a, b, c, d;
	cpuid(leaf, sub, &a, &b, &c, &d);
	if (leaf == 0x80000001)
		c &= ~(1u << 2); /* SVM */
	else if (leaf == 0x8000000A)
		a = b = c = d = 0; /* no SVM features: nested virtualization is not offered */
	v->gpr[GENERAL_REG_RAX] = a;
	v->gpr[GENERAL_REG_RBX] = b;
	v->gpr[GENERAL_REG_RCX] = c;
	v->gpr[GENERAL_REG_RDX] = d;
	vm->save.rip += 2;
}

#define EFER_WRITABLE (EFER_SCE | EFER_LME | EFER_NXE | (1u << 13) | (1u << 14) | (1u << 15))

static void handle_msr(struct vcpu *v, struct vmcb *vm)
{
	u32 msr = (u32)v->gpr[GENERAL_REG_RCX];
	if (msr != MSR_EFER)
		hv_fatal("MSR intercept for 0x%x, which the permission map does not select", msr);
	if (vm->ctl.exitinfo1 == 0) { /* rdmsr: the guest never sees SVME */
		u64 val = vm->save.efer & ~(u64)EFER_SVME;
		v->gpr[GENERAL_REG_RAX] = (u32)val;
		v->gpr[GENERAL_REG_RDX] = (u32)(val >> 32);
	} else {
		u64 val = (v->gpr[GENERAL_REG_RDX] << 32) | (u32)v->gpr[GENERAL_REG_RAX];
		if (val & ~(u64)(EFER_WRITABLE | EFER_LMA | EFER_SVME)) {
			inject_exception(vm, 13); /* #GP(0): reserved EFER bit, as the CPU would */
			vm->ctl.eventinj |= SVM_EVTINJ_ERR_VALID;
			return;
		}
		/* LMA is read-only; SVME stays set underneath for VMRUN's sake. */
		vm->save.efer = (val & EFER_WRITABLE) | (vm->save.efer & EFER_LMA) | EFER_SVME;
	}
	vm->save.rip += 2;
}

static void handle_ioio(struct vcpu *v, struct vmcb *vm)
{
	u64 info = vm->ctl.exitinfo1;
	u16 port = (u16)(info >> 16);
	if (port < HV_SERIAL_PORT || port >= HV_SERIAL_PORT + HV_SERIAL_NPORTS)
		hv_fatal("I/O intercept for port 0x%x, which the permission map does not select", port);
	unsigned size = (info >> 4) & 7; /* one-hot: 1, 2, 4 bytes */
	size = size & 4 ? 4 : size & 2 ? 2 : 1;
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
	vm->save.rip = vm->ctl.exitinfo2;
}

static void flush_guest_tlb(struct vmcb *vm)
{
	vm->ctl.tlb_control = 1;
}

/* A guest write hit a hypervisor-region page: back that page with a zeroed scratch page, let
 * the guest execute that one instruction (single step, no interrupt in between), then put the
 * zero page back and wipe the scratch page. The write is discarded without decoding the
 * instruction; reads of the region always see zeros. */
static void rom_write_begin(struct vcpu *v, struct vmcb *vm, u64 gpa)
{
	u64 page = ALIGN_DOWN(gpa, PAGE_SIZE);
	if (svm.step_npages == STEP_MAX_PAGES)
		hv_fatal("one guest instruction wrote more than %d hypervisor-region pages", STEP_MAX_PAGES);
	for (int i = 0; i < svm.step_npages; i++)
		if (svm.step_gpa[i] == page)
			hv_fatal("write NPF at 0x%llx on a region page already backed by scratch", gpa);
	int i = svm.step_npages++;
	svm.step_gpa[i] = page;
	*nested_region_pte(&svm.npt, page) = nested_rw_entry(&svm.npt, virt_to_phys(svm.scratch[i]));
	v->rom_writes++;
	if (!svm.stepping) {
		svm.stepping = true;
		svm.step_saved_tf = vm->save.rflags & RFLAGS_TF;
		svm.step_saved_dr6 = vm->save.dr6;
		vm->save.rflags |= RFLAGS_TF;
		vm->ctl.intercept_exceptions |= 1u << 1; /* #DB */
		vm->ctl.interrupt_shadow |= 1;
	}
	flush_guest_tlb(vm);
}

static void rom_write_end(struct vmcb *vm)
{
	for (int i = 0; i < svm.step_npages; i++) {
		*nested_region_pte(&svm.npt, svm.step_gpa[i]) = nested_rom_entry(&svm.npt);
		memset(svm.scratch[i], 0, PAGE_SIZE);
	}
	svm.step_npages = 0;
	svm.stepping = false;
	vm->ctl.intercept_exceptions &= ~(1u << 1);
	vm->save.rflags = (vm->save.rflags & ~RFLAGS_TF) | svm.step_saved_tf;
	vm->save.dr6 = svm.step_saved_dr6;
	if (svm.step_saved_tf) /* the guest was single-stepping itself: give it its #DB */
		inject_exception(vm, 1);
	flush_guest_tlb(vm);
}

static void handle_npf(struct vcpu *v, struct vmcb *vm)
{
	u64 gpa = vm->ctl.exitinfo2, info = vm->ctl.exitinfo1;
	if ((info & NPF_PRESENT) && (info & NPF_WRITE) && hv_region_overlaps(gpa, 1)) {
		svm.n_npf_rom++;
		rom_write_begin(v, vm, gpa);
		return;
	}
	if (!(info & NPF_PRESENT) && nested_map_on_demand(&svm.npt, gpa)) {
		svm.n_npf_lazy++;
		flush_guest_tlb(vm);
		return;
	}
	hv_fatal("unexpected nested page fault at guest-physical 0x%llx (exitinfo1 0x%llx: %s%s)%s",
		 gpa, info, info & NPF_PRESENT ? "present " : "not-present ",
		 info & NPF_WRITE ? "write" : "read/fetch",
		 gpa >= svm.npt.limit ? " beyond the physical address width"
		 : gpa >= svm.npt.top ? " (on-demand mapping budget used up)" : "");
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
	bool warned_svm_insn = false;
	for (;;) {
		vm->save.rax = v->gpr[GENERAL_REG_RAX];
		vm->save.rsp = v->gpr[GENERAL_REG_RSP];
		svm_vmrun(svm.vmcb_pa, v->gpr);
		v->gpr[GENERAL_REG_RAX] = vm->save.rax;
		v->gpr[GENERAL_REG_RSP] = vm->save.rsp;
		v->exits++;
		vm->ctl.tlb_control = 0;
		vm->ctl.eventinj = 0;
		/* An exit during event delivery: deliver the event again on the next entry. */
		if (vm->ctl.exitintinfo & SVM_EVTINJ_VALID)
			vm->ctl.eventinj = vm->ctl.exitintinfo;

		u64 code = vm->ctl.exitcode;
		switch (code) {
		case SVM_EXIT_VMMCALL:
			svm.n_vmmcall++;
			hypercall_handle(v);
			vm->save.rip += 3;
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
		case SVM_EXIT_EXCP_DB:
			if (!svm.stepping)
				hv_fatal("#DB intercept while not single-stepping a region write");
			svm.n_step_end++;
			rom_write_end(vm);
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
	out->efer = s->efer & ~(u64)EFER_SVME;
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
