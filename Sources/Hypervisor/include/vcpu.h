/* The virtual CPU as common code sees it, and the interface every virtualization backend
 * (svm/, vmx/) implements. Common code (hypercalls, services, guest memory access)
 * never touches a VMCB or VMCS; it goes through struct vcpu and struct backend_ops. */
#ifndef HV_VCPU_H
#define HV_VCPU_H
#include "types.h"

/* BitVisor's names and x86 encoding order (the seed's GENERAL_REG_*). */
enum general_reg {
	GENERAL_REG_RAX, GENERAL_REG_RCX, GENERAL_REG_RDX, GENERAL_REG_RBX,
	GENERAL_REG_RSP, GENERAL_REG_RBP, GENERAL_REG_RSI, GENERAL_REG_RDI,
	GENERAL_REG_R8, GENERAL_REG_R9, GENERAL_REG_R10, GENERAL_REG_R11,
	GENERAL_REG_R12, GENERAL_REG_R13, GENERAL_REG_R14, GENERAL_REG_R15,
	GENERAL_REG_NUM
};

/* The seed's current->vmctl.* calls. */
struct vmctl_func {
	void (*read_general_reg)(enum general_reg reg, ulong *val);
	void (*write_general_reg)(enum general_reg reg, ulong val);
};

/* Control state a guest-linear access needs, read at the exit. */
struct guest_paging_state {
	u64 cr0, cr3, cr4, efer, rflags;
	u8 cpl;
};

struct vcpu;

#define BACKEND_SVM 1
#define BACKEND_VMX 2

struct guest_entry; /* linux/linuxboot.h */

struct backend_ops {
	const char *name;
	int id; /* BACKEND_* (reported by gmlab.info) */
	/* Does this CPU support the backend? why receives a reason when not. */
	bool (*probe)(const char **why);
	/* Enable virtualization, build the control structures and nested page tables, and set the
	 * guest up to start at entry. */
	void (*init)(struct vcpu *v, const struct guest_entry *entry);
	/* Run the guest forever; returns never (a guest power-off ends the machine). */
	noreturn void (*run)(struct vcpu *v);
	/* Paging state of the guest at the current exit. */
	void (*paging_state)(struct vcpu *v, struct guest_paging_state *out);
	/* Print the guest's state (for fatal errors). */
	void (*dump)(struct vcpu *v);
};

struct vcpu {
	struct vmctl_func vmctl;
	/* All 16 GPRs of the guest while the hypervisor handles an exit; the backend moves
	 * rax/rsp between here and its control block around every guest entry. */
	u64 gpr[GENERAL_REG_NUM];
	const struct backend_ops *ops;
	void *arch; /* backend-private */
	/* How the hypercall being handled ends, as its service asked (include/hypercall.h);
	 * cleared by the backend before every dispatch. */
	struct hypercall_end {
		bool restart;    /* leave RIP on the instruction: it runs again (a continuation) */
		bool page_fault; /* give the guest #PF(error) at cr2, RIP on the instruction (fault-in) */
		u64 cr2;
		u32 error;
	} hc_end;
	u64 exits;        /* VM exits so far (gmlab.info rdi) */
	u64 rom_writes;   /* discarded guest writes to the hypervisor's region (gmlab.info rsi) */
};

extern const struct backend_ops svm_backend_ops;
extern const struct backend_ops vmx_backend_ops;

/* The single vCPU (one guest CPU: nr_cpus=1). */
extern struct vcpu the_vcpu;

/* Binds v to its backend and sets the seed's register accessors (vmm/vcpu.c). */
void vcpu_setup(struct vcpu *v, const struct backend_ops *ops);
/* Print the 16 general registers (backends' dump, on the fatal path). */
void vcpu_dump_gprs(const struct vcpu *v);

#endif
