/* Start-up order: log, memory, guest image, services, backend, guest. */
#include "types.h"
#include "multiboot.h"
#include "hvmem.h"
#include "linuxboot.h"
#include "vcpu.h"
#include "hypercall.h"
#include "guestmem.h"
#include "initfunc.h"
#include "serial.h"
#include "printf.h"
#include "fatal.h"
#include "idt.h"
#include "power.h"
#include "lib.h"
#include "x86.h"
#include "fault_fixup.h"
#include "gml_methods.h"

#ifndef HV_VERSION
#define HV_VERSION "dev"
#endif

noreturn void hv_main(u32 magic, u32 mbi_pa);

/* Under an outer hypervisor (e.g. a KVM host with -cpu host) its signature leaves are visible
 * to us; the guest reads the whole range 0x40000000-0x400000ff as zeros (gml_cpuid_hidden), so
 * it never turns on kvmclock & co. Logged so that a run's log says what it ran on. */
static void log_outer_hypervisor(void)
{
	u32 a, b, c, d;
	cpuid(1, 0, &a, &b, &c, &d);
	if (!(c & X86_CPUID_1_ECX_HYPERVISOR))
		return;
	cpuid(X86_CPUID_HYPERVISOR_FIRST, 0, &a, &b, &c, &d);
	char sig[13];
	memcpy(sig, &b, 4);
	memcpy(sig + 4, &c, 4);
	memcpy(sig + 8, &d, 4);
	for (int i = 0; i < 12; i++)
		if (sig[i] && (sig[i] < 0x20 || sig[i] > 0x7e))
			sig[i] = '?';
	sig[12] = 0;
	printf("GMLAB-HV: outer hypervisor: CPUID 0x40000000 max leaf 0x%x, signature \"%s\"; the guest "
	       "reads 0x40000000-0x400000ff as zeros\n", a, sig);
}


/* Records everything the loader placed (multiboot info, memory map, modules, strings) so the
 * heap and the guest kernel go elsewhere. */
static void note_loader_data(const struct multiboot_info *mbi)
{
	memmap_add_loader_range((u64)(uintptr_t)mbi, sizeof(*mbi));
	if (mbi->flags & MBI_FLAG_MMAP)
		memmap_add_loader_range(mbi->mmap_addr, mbi->mmap_length);
	if (mbi->flags & MBI_FLAG_CMDLINE)
		memmap_add_loader_range(mbi->cmdline, strlen(phys_to_virt(mbi->cmdline)) + 1);
	if (mbi->flags & MBI_FLAG_MODS) {
		const struct multiboot_module *m = phys_to_virt(mbi->mods_addr);
		memmap_add_loader_range(mbi->mods_addr, mbi->mods_count * sizeof(*m));
		for (u32 i = 0; i < mbi->mods_count; i++) {
			memmap_add_loader_range(m[i].mod_start, m[i].mod_end - m[i].mod_start);
			if (m[i].string)
				memmap_add_loader_range(m[i].string, strlen(phys_to_virt(m[i].string)) + 1);
		}
	}
}

/* Hypervisor options (multiboot command line after the image path):
 *   gmlab.selftest=hv-fault   take a page fault inside the hypervisor after start-up, to prove
 *                             the fatal path (IDT -> GMLAB-HV-FATAL -> power-off)
 *   gmlab.selftest=msr-fixup  read a non-existent MSR through rdmsr_safe at start-up (the #GP
 *                             fixup path the VMX backend uses for guest MSR accesses)
 *   gmlab.policy=bitvisor     the access policy (default): every service at CPL0 and CPL3
 *   gmlab.policy=strict       services declared CPL0-only refuse CPL3 callers (GML_ME_DENIED);
 *                             any other value is fatal: a typo must not run a weaker policy
 * Unknown words are logged and ignored (QEMU needs a non-empty -append for -initrd). */
static bool opt_selftest_fault, opt_selftest_msr;

static void parse_options(const char *cmd)
{
	const char *p = cmd;
	/* QEMU passes "<image path> <options>", GRUB 2 only the options: skip a first word that
	 * is a path. */
	const char *w0 = p;
	while (*p && *p != ' ')
		p++;
	bool first_is_path = false;
	for (const char *q = w0; q < p; q++)
		first_is_path |= *q == '/';
	if (!first_is_path)
		p = w0;
	while (*p) {
		while (*p == ' ')
			p++;
		const char *w = p;
		while (*p && *p != ' ')
			p++;
		u64 n = (u64)(p - w);
		if (!n)
			break;
		if (n == 23 && !strncmp(w, "gmlab.selftest=hv-fault", n))
			opt_selftest_fault = true;
		else if (n == 24 && !strncmp(w, "gmlab.selftest=msr-fixup", n))
			opt_selftest_msr = true;
		else if (n == 21 && !strncmp(w, "gmlab.policy=bitvisor", n))
			hypercall_set_policy(GML_POLICY_BITVISOR);
		else if (n == 19 && !strncmp(w, "gmlab.policy=strict", n))
			hypercall_set_policy(GML_POLICY_STRICT);
		else if (n >= 13 && !strncmp(w, "gmlab.policy=", 13))
			hv_fatal("hypervisor option \"%.*s\": expected gmlab.policy=bitvisor or "
				 "gmlab.policy=strict", (int)n, w);
		else
			printf("GMLAB-HV: ignoring unknown option \"%.*s\"\n", (int)n, w);
	}
}

noreturn void hv_main(u32 magic, u32 mbi_pa)
{
	u64 tsc0 = rdtsc();
	serial_init();
	idt_init();
	printf("\nGMLAB-HV: GuestMemLab thin hypervisor %s (tsc %llu)\n", HV_VERSION, tsc0);
	if (magic != MULTIBOOT_BOOTLOADER_MAGIC)
		hv_fatal("not started by a multiboot loader (eax 0x%x, want 0x%x)", magic,
			 MULTIBOOT_BOOTLOADER_MAGIC);
	const struct multiboot_info *mbi = phys_to_virt(mbi_pa);
	if (mbi->flags & MBI_FLAG_CMDLINE) {
		printf("GMLAB-HV: hypervisor command line: %s\n", (const char *)phys_to_virt(mbi->cmdline));
		parse_options(phys_to_virt(mbi->cmdline));
	}
	if (!(mbi->flags & MBI_FLAG_MODS) || mbi->mods_count < 1)
		hv_fatal("no multiboot module: the boot bundle must be the first module "
			 "(QEMU -initrd bundle.img, GRUB 'module /bundle.img')");
	note_loader_data(mbi);
	memmap_init(mbi);
	hostpaging_init();
	acpi_init();

	const struct multiboot_module *mod = phys_to_virt(mbi->mods_addr);
	if (mod[0].mod_end <= mod[0].mod_start)
		hv_fatal("first multiboot module is empty ([0x%x-0x%x))", mod[0].mod_start, mod[0].mod_end);
	struct bundle b;
	bundle_parse(mod[0].mod_start, mod[0].mod_end - mod[0].mod_start, &b);

	/* Each probe checks the CPU vendor first: SVM on AMD, VMX on Intel. */
	const struct backend_ops *ops = NULL;
	const char *why_svm = "", *why_vmx = "";
	if (svm_backend_ops.probe(&why_svm))
		ops = &svm_backend_ops;
	else if (vmx_backend_ops.probe(&why_vmx))
		ops = &vmx_backend_ops;
	else
		hv_fatal("no usable virtualization backend: svm: %s; vmx: %s", why_svm, why_vmx);
	printf("GMLAB-HV: backend %s\n", ops->name);
	log_outer_hypervisor();

	hypercall_init();
	guestmem_init();
	run_initfuncs();
	hypercall_log_services();

	struct guest_entry entry;
	linux_prepare(&b, "nr_cpus=1", &entry);
	printf("GMLAB-HV: one vCPU: appended nr_cpus=1 so the guest never starts APs outside "
	       "virtualization\n");
	printf("GMLAB-HV: kernel at 0x%llx-0x%llx, entry 0x%llx, boot_params 0x%llx (tsc %llu)\n",
	       entry.kernel_base, entry.kernel_end, entry.rip, entry.rsi, rdtsc());

	if (opt_selftest_msr) {
		u64 val = 0;
		bool ok = rdmsr_safe(0x4d534521u, &val); /* no CPU implements this MSR */
		if (ok) /* QEMU TCG and Bochs with ignore_bad_msrs=1 read unknown MSRs as 0 */
			printf("GMLAB-HV: selftest: rdmsr_safe(0x4d534521) = 0x%llx without #GP: this "
			       "CPU ignores unknown MSRs, the fixup path was not exercised\n", val);
		else
			printf("GMLAB-HV: selftest: rdmsr_safe(0x4d534521) raised #GP, caught by the "
			       "fixup table, resumed\n");
	}
	if (opt_selftest_fault) {
		printf("GMLAB-HV: selftest: reading an unmapped address inside the hypervisor\n");
		(void)*(volatile u64 *)(1ULL << 46);
	}

	struct vcpu *v = &the_vcpu;
	vcpu_setup(v, ops);
	ops->init(v, &entry);
	printf("GMLAB-HV: heap used %llu KiB of %llu KiB\n", heap_used() >> 10, HV_HEAP_SIZE >> 10);
	printf("GMLAB-HV: entering guest (tsc %llu, %llu cycles since start)\n", rdtsc(), rdtsc() - tsc0);
	ops->run(v);
}
