/* The seed's guest-linear example, as written there: rbx = guest-linear address, rcx =
 * length; prints each byte, then writes "foo\0" with write_linearaddr_b. Registered as
 * "seed.linear". Like the seed it ignores the accessors' error codes and returns rax = 0.
 * One guard the seed lacks (issue 9, finding 9), nothing else changed: a length above 256 is
 * refused with rax = 1, nothing printed or written. The seed meant a short string; each byte
 * costs a full page walk and a log line, so rcx = 2^64 - 1 held the only vCPU forever and
 * filled the hypervisor log without bound. */
#include "current.h"
#include "initfunc.h"
#include "printf.h"
#include "vmmcall.h"
#include "mm.h"
#include "cpu_mmu.h"

static void
foo(void)
{
ulong addr, len;
int i;
char c;
current->vmctl.read_general_reg(GENERAL_REG_RBX, &addr);
current->vmctl.read_general_reg(GENERAL_REG_RCX, &len);
if(len > 256){
current->vmctl.write_general_reg(GENERAL_REG_RAX, (ulong)1);
return;
}
for(i = 0; i < len; i++){
read_linearaddr_b (addr + i, &c);
printf("[vmmcall foo] %c\n", c);
}
write_linearaddr_b (addr + 0, 'f');
write_linearaddr_b (addr + 1, 'o');
write_linearaddr_b (addr + 2, 'o');
write_linearaddr_b (addr + 3, '\0');
current->vmctl.write_general_reg(GENERAL_REG_RAX, (ulong)0);
}
static void
vmmcall_foo_init(void)
{
vmmcall_register("seed.linear", foo);
}
INITFUNC("vmmcal0", vmmcall_foo_init);
