/* The narrow interface between glue.c (compiled like the hypervisor: freestanding, its headers)
 * and the hosted model/harness (libc). Plain C types only, so both worlds can include it. */
#ifndef HF_GLUE_H
#define HF_GLUE_H

typedef unsigned long long hf_u64;

/* glue.c -> hypervisor (called by the harness) */
void hf_hv_boot(int backend_vmx);      /* hypercall_init, guestmem_init, run_initfuncs, vcpu_setup */
void hf_hv_log_services(void);         /* hypercall_log_services (its printf goes to the model log) */
void hf_hv_call(hf_u64 gpr[16]);       /* gpr -> the vCPU, hypercall_handle, the vCPU -> gpr */
void hf_hv_set_counters(hf_u64 exits, hf_u64 rom_writes);

/* model.c -> glue.c (the machine the hypervisor sees) */
struct hf_e820 {
	hf_u64 addr, size;
	unsigned type;
};
struct hf_cpu {
	hf_u64 cr0, cr3, cr4, efer, rflags;
	unsigned cpl;
};
void *hf_phys_to_virt(hf_u64 pa);
hf_u64 hf_virt_to_phys(const void *p);
int hf_firmware_map(const struct hf_e820 **out);
void hf_region(int i, hf_u64 *base, hf_u64 *size);
void *hf_alloc_pages(hf_u64 npages);
hf_u64 hf_heap_used(void);
void hf_cpuid(unsigned leaf, unsigned sub, unsigned *a, unsigned *b, unsigned *c, unsigned *d);
void hf_paging_state(struct hf_cpu *out);
void hf_stay_begin(void); /* a restarted call (continuation) runs again: a new stay's budget */
void hf_log_putc(char c);
void hf_fatal(const char *msg) __attribute__((__noreturn__));

#endif
