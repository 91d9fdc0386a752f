/* The hypervisor's own IDT (arch/idt.c, arch/isr.S): every exception in the hypervisor is
 * fatal, except a #GP at an instruction of the fault-fixup table (fault_fixup.h) and NMIs a
 * backend forwards to its guest. */
#ifndef HV_IDT_H
#define HV_IDT_H

void idt_init(void);
/* Set by a backend that forwards NMIs the host receives (VMX: no GIF holds them off): called
 * from the NMI vector instead of the fatal path. */
extern void (*hv_nmi_hook)(void);

#endif
