/* Fatal errors: print "GMLAB-HV-FATAL: <reason>" and a register dump on the hypervisor log,
 * then power the machine off so the lab sees the failure (never a silent hang). */
#ifndef HV_FATAL_H
#define HV_FATAL_H
#include "types.h"

/* Interrupt frame pushed by arch/isr.S (also used for the hypervisor's own register dump). */
struct trap_frame {
	u64 r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax;
	u64 vector, error;
	u64 rip, cs, rflags, rsp, ss;
};

noreturn void hv_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Set by the exception handler: the hypervisor's own registers at the fault. */
extern struct trap_frame *fatal_trap_frame;
/* Set by the backend once a guest exists: prints the guest state after a fatal message. */
extern void (*fatal_dump_guest)(void);

#endif
