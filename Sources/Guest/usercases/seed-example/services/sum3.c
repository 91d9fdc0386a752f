/* A register service written the seed's way: rbx, rcx, rdx in, their sum in rax.
 * Registered as "example.sum3"; the guest program programs/sum3.c calls it. */
#include "current.h"
#include "initfunc.h"
#include "printf.h"
#include "vmmcall.h"

static void
sum3(void)
{
ulong a, b, c;
current->vmctl.read_general_reg(GENERAL_REG_RBX, &a);
current->vmctl.read_general_reg(GENERAL_REG_RCX, &b);
current->vmctl.read_general_reg(GENERAL_REG_RDX, &c);
printf("[example.sum3] %ld + %ld + %ld\n", a, b, c);
current->vmctl.write_general_reg(GENERAL_REG_RAX, a + b + c);
}
static void
vmmcall_sum3_init(void)
{
vmmcall_register("example.sum3", sum3);
}
INITFUNC("vmmcal0", vmmcall_sum3_init);
