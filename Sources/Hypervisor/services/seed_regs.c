/* The seed's first example, as written there: data in registers. Registered as "seed.regs".
 * Prints rbx rcx rdx on the hypervisor log and returns rax = 10. */
#include "current.h"
#include "initfunc.h"
#include "printf.h"
#include "vmmcall.h"

static void
foo(void)
{
ulong rbx, rcx, rdx;
current->vmctl.read_general_reg(GENERAL_REG_RBX, &rbx);
current->vmctl.read_general_reg(GENERAL_REG_RCX, &rcx);
current->vmctl.read_general_reg(GENERAL_REG_RDX, &rdx);
printf("rbx = %ld\n", rbx);
printf("rcx = %ld\n", rcx);
printf("rdx = %ld\n", rdx);
current->vmctl.write_general_reg(GENERAL_REG_RAX, (ulong)10);
}
static void
vmmcall_foo_init(void)
{
vmmcall_register("seed.regs", foo);
}
INITFUNC("vmmcal0", vmmcall_foo_init);
