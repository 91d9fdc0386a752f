/* The hypervisor's IDT: every exception taken in the hypervisor is fatal (with a dump). The
 * guest has its own IDT; host interrupts stay masked (IF=0, and GIF=0 after every #VMEXIT). */
#include "fatal.h"
#include "idt.h"
#include "printf.h"
#include "fault_fixup.h"

struct idt_gate {
	u16 off_lo, sel;
	u8 ist, type;
	u16 off_mid;
	u32 off_hi, zero;
} packed;

static struct idt_gate idt[32] __attribute__((aligned(16)));
extern const u64 isr_table[32];

static const char *const names[32] = {
	"#DE divide error", "#DB debug", "NMI", "#BP breakpoint", "#OF overflow", "#BR bound",
	"#UD invalid opcode", "#NM device not available", "#DF double fault", "coprocessor overrun",
	"#TS invalid TSS", "#NP segment not present", "#SS stack fault", "#GP general protection",
	"#PF page fault", "reserved 15", "#MF x87", "#AC alignment check", "#MC machine check",
	"#XM SIMD", "#VE virtualization", "#CP control protection", "22", "23", "24", "25", "26",
	"27", "28", "#VC", "#SX security", "31",
};

void trap_handler(struct trap_frame *f);

/* Every exception is fatal, except a #GP at an instruction listed in the fixup table (see
 * fault_fixup.h), which resumes at its fixup, and an NMI when a backend forwards them. */
void (*hv_nmi_hook)(void);

void trap_handler(struct trap_frame *f)
{
	if (f->vector == 2 && hv_nmi_hook) {
		hv_nmi_hook();
		return;
	}
	if (f->vector == 13)
		for (const struct fault_fixup *x = _fixup_start; x < _fixup_end; x++)
			if (x->insn == f->rip) {
				f->rip = x->resume;
				return;
			}
	fatal_trap_frame = f;
	hv_fatal("exception %llu (%s) in the hypervisor at rip %016llx, error code %llx", f->vector,
		 names[f->vector & 31], f->rip, f->error);
}

void idt_init(void)
{
	u16 cs;
	asm volatile("mov %%cs, %0" : "=r"(cs));
	for (int i = 0; i < 32; i++) {
		u64 a = isr_table[i];
		idt[i].off_lo = (u16)a;
		idt[i].sel = cs;
		idt[i].ist = 0;
		idt[i].type = 0x8e; /* present, DPL0, 64-bit interrupt gate */
		idt[i].off_mid = (u16)(a >> 16);
		idt[i].off_hi = (u32)(a >> 32);
		idt[i].zero = 0;
	}
	struct {
		u16 limit;
		u64 base;
	} packed idtr = { sizeof(idt) - 1, (u64)(uintptr_t)idt };
	asm volatile("lidt %0" : : "m"(idtr));
}
