/* `current` and the seed's register accessors for the single vCPU; start-up init functions. */
#include "current.h"
#include "initfunc.h"
#include "fatal.h"

struct vcpu the_vcpu;
struct vcpu *current = &the_vcpu;

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

void vcpu_setup(struct vcpu *v, const struct backend_ops *ops);
void vcpu_setup(struct vcpu *v, const struct backend_ops *ops)
{
	v->vmctl.read_general_reg = read_general_reg;
	v->vmctl.write_general_reg = write_general_reg;
	v->ops = ops;
}

extern const initfunc_t _initfunc_start[], _initfunc_end[];

void run_initfuncs(void)
{
	for (const initfunc_t *f = _initfunc_start; f < _initfunc_end; f++)
		(*f)();
}
