/* The machine side the real hypervisor sources call, implemented on the model (model.c).
 * Compiled exactly like the real sources (freestanding, the hypervisor's headers, printf renamed
 * to the real lib/printf.c's); everything machine-specific is forwarded through hf_glue.h. */
#include "types.h"
#include "hvmem.h"
#include "vcpu.h"
#include "current.h"
#include "hypercall.h"
#include "guestmem.h"
#include "initfunc.h"
#include "fatal.h"
#include "printf.h"
#include "serial.h"
#include "x86.h"
#include "hf_glue.h"
#include <stdarg.h>

void vcpu_setup(struct vcpu *v, const struct backend_ops *ops); /* vmm/vcpu.c (main.c's prototype) */

/* ---- hvmem.h: regions, firmware map, heap, guest-physical -> hypervisor pointer ---- */

static struct mem_range regions[HV_NREGIONS];
static struct e820_entry fw[E820_MAX];

void *phys_to_virt(u64 pa)
{
	return hf_phys_to_virt(pa);
}

u64 virt_to_phys(const void *p)
{
	return hf_virt_to_phys(p);
}

int memmap_entries(const struct e820_entry **out)
{
	const struct hf_e820 *m;
	int n = hf_firmware_map(&m);
	for (int i = 0; i < n && i < E820_MAX; i++) {
		fw[i].addr = m[i].addr;
		fw[i].size = m[i].size;
		fw[i].type = m[i].type;
	}
	*out = fw;
	return n;
}

const struct mem_range *hv_region(int i)
{
	if (i < 0 || i >= HV_NREGIONS)
		hv_fatal("hv_region(%d)", i);
	hf_region(i, &regions[i].base, &regions[i].size);
	regions[i].what = i == HV_REGION_IMAGE ? "image" : "heap";
	return &regions[i];
}

void *alloc_pages(u64 npages)
{
	return hf_alloc_pages(npages);
}

u64 heap_used(void)
{
	return hf_heap_used();
}

/* ---- x86.h (shim): the model's CPUID ---- */

void cpuid(u32 leaf, u32 sub, u32 *a, u32 *b, u32 *c, u32 *d)
{
	hf_cpuid(leaf, sub, a, b, c, d);
}

/* ---- serial.h / fatal.h: the log is the model's; a fatal error is a finding ---- */

void serial_putc(char c)
{
	hf_log_putc(c);
}

noreturn void hv_fatal(const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	hf_fatal(msg);
}

/* ---- the backend: only what common code asks of it ---- */

static void model_paging_state(struct vcpu *v, struct guest_paging_state *out)
{
	struct hf_cpu c;
	(void)v;
	hf_paging_state(&c);
	out->cr0 = c.cr0;
	out->cr3 = c.cr3;
	out->cr4 = c.cr4;
	out->efer = c.efer;
	out->rflags = c.rflags;
	out->cpl = (u8)c.cpl;
}

static bool model_probe(const char **why)
{
	*why = "host fuzzer model";
	return false;
}

static void model_dump(struct vcpu *v)
{
	vcpu_dump_gprs(v);
}

static const struct backend_ops model_svm = {
	.name = "model-svm", .id = BACKEND_SVM, .probe = model_probe,
	.paging_state = model_paging_state, .dump = model_dump,
};
static const struct backend_ops model_vmx = {
	.name = "model-vmx", .id = BACKEND_VMX, .probe = model_probe,
	.paging_state = model_paging_state, .dump = model_dump,
};

/* ---- driven by the harness ---- */

void hf_hv_boot(int backend_vmx)
{
	/* main.c's order: hypercall_init, guestmem_init, run_initfuncs; the vCPU after. */
	hypercall_init();
	guestmem_init();
	run_initfuncs();
	vcpu_setup(&the_vcpu, backend_vmx ? &model_vmx : &model_svm);
}

void hf_hv_log_services(void)
{
	hypercall_log_services();
}

void hf_hv_set_counters(hf_u64 exits, hf_u64 rom_writes)
{
	the_vcpu.exits = exits;
	the_vcpu.rom_writes = rom_writes;
}

void hf_hv_call(hf_u64 gpr[16])
{
	for (int i = 0; i < GENERAL_REG_NUM; i++)
		the_vcpu.gpr[i] = gpr[i];
	/* As the backends (svm.c, vmx.c): a call that ends with hypercall_restart (a continuation,
	 * issue 14) leaves RIP on the instruction and the guest executes it again with the
	 * registers as the call left them; no interrupt is pending here, so run it again until it
	 * completes. A fault-in #PF (hypercall_page_fault) ends the call as it stands; the harness
	 * does not ask for fault-in mode (harness.c, call()). */
	for (;;) {
		the_vcpu.hc_end.restart = the_vcpu.hc_end.page_fault = false;
		hypercall_handle(current);
		if (!the_vcpu.hc_end.restart || the_vcpu.hc_end.page_fault)
			break;
		hf_stay_begin();
	}
	for (int i = 0; i < GENERAL_REG_NUM; i++)
		gpr[i] = the_vcpu.gpr[i];
}
