/* The seed's guest-physical example, as written there: rbx = guest-physical address, rcx =
 * length; the buffer "abc" becomes "foo". Registered as "seed.phys". rax = 0 ok, 1 if the
 * range could not be mapped. */
#include "current.h"
#include "initfunc.h"
#include "printf.h"
#include "vmmcall.h"
#include "mm.h"

static void
foo(void)
{
ulong physaddr, bufsize;
u8 *buf;
current->vmctl.read_general_reg(GENERAL_REG_RBX, &physaddr);
current->vmctl.read_general_reg(GENERAL_REG_RCX, &bufsize);
buf = mapmem_gphys (physaddr, bufsize, MAPMEM_WRITE);
if(buf == NULL){
printf("[vmmcall foo] mapmem_gphys error: %ld, %ld\n", physaddr, bufsize);
current->vmctl.write_general_reg(GENERAL_REG_RAX, (ulong)1);
return;
}
printf("[vmmcall foo] buf = %s\n", buf);
buf[0] = 'f'; buf[1] = 'o'; buf[2] = 'o'; buf[3] = '\0';
unmapmem(buf, bufsize);
current->vmctl.write_general_reg(GENERAL_REG_RAX, (ulong)0);
}
static void
vmmcall_foo_init(void)
{
vmmcall_register("seed.phys", foo);
}
INITFUNC("vmmcal0", vmmcall_foo_init);
