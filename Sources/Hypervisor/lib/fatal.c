/* The single exit for everything that must not continue. */
#include "fatal.h"
#include "power.h"
#include "printf.h"
#include "x86.h"
#include <stdarg.h>

void (*fatal_dump_guest)(void);
struct trap_frame *fatal_trap_frame;
static bool in_fatal;

noreturn void hv_fatal(const char *fmt, ...)
{
	asm volatile("cli");
	if (in_fatal) { /* a fault while reporting: just stop */
		printf("GMLAB-HV-FATAL: nested fatal error\n");
		machine_power_off();
	}
	in_fatal = true;
	va_list ap;
	va_start(ap, fmt);
	printf("GMLAB-HV-FATAL: ");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	printf("  host cr0=%016llx cr2=%016llx cr3=%016llx cr4=%016llx tsc=%llu\n", read_cr0(),
	       read_cr2(), read_cr3(), read_cr4(), rdtsc());
	const struct trap_frame *f = fatal_trap_frame;
	if (f) {
		printf("  host rax=%016llx rbx=%016llx rcx=%016llx rdx=%016llx\n", f->rax, f->rbx, f->rcx, f->rdx);
		printf("  host rsi=%016llx rdi=%016llx rbp=%016llx rsp=%016llx\n", f->rsi, f->rdi, f->rbp, f->rsp);
		printf("  host r8 =%016llx r9 =%016llx r10=%016llx r11=%016llx\n", f->r8, f->r9, f->r10, f->r11);
		printf("  host r12=%016llx r13=%016llx r14=%016llx r15=%016llx\n", f->r12, f->r13, f->r14, f->r15);
		printf("  host rip=%016llx cs=%llx ss=%llx rflags=%016llx\n", f->rip, f->cs, f->ss, f->rflags);
	}
	if (fatal_dump_guest)
		fatal_dump_guest();
	machine_power_off();
}
