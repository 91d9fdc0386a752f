/* `current` and the seed's register accessors for the single vCPU. */
#include "current.h"
#include "fatal.h"
#include "printf.h"

struct vcpu the_vcpu;
struct vcpu *current = &the_vcpu;

void vcpu_dump_gprs(const struct vcpu *v)
{
	static const char *const n[GENERAL_REG_NUM] = {
		"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
		"r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15" };
	for (int i = 0; i < GENERAL_REG_NUM; i += 4)
		printf("  guest: %-3s=%016llx %-3s=%016llx %-3s=%016llx %-3s=%016llx\n", n[i], v->gpr[i],
		       n[i + 1], v->gpr[i + 1], n[i + 2], v->gpr[i + 2], n[i + 3], v->gpr[i + 3]);
}

static void read_general_reg(enum general_reg reg, ulong *val)
{
	if ((unsigned)reg >= GENERAL_REG_NUM)
		hv_fatal("read_general_reg: bad register number %d", (int)reg);
	*val = current->gpr[reg];
}

static void write_general_reg(enum general_reg reg, ulong val)
{
	if ((unsigned)reg >= GENERAL_REG_NUM)
		hv_fatal("write_general_reg: bad register number %d", (int)reg);
	current->gpr[reg] = val;
}

void vcpu_setup(struct vcpu *v, const struct backend_ops *ops)
{
	v->vmctl.read_general_reg = read_general_reg;
	v->vmctl.write_general_reg = write_general_reg;
	v->ops = ops;
}
