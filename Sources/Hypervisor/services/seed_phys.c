/* The seed's guest-physical example, as written there: rbx = guest-physical address, rcx =
 * length; the buffer "abc" becomes "foo". Registered as "seed.phys". rax = 0 ok, 1 if the
 * range could not be mapped.
 * Two guards the seed lacks (issue 9, finding 2), nothing else changed: it refuses (rax = 1,
 * nothing stored) a length below the 4 bytes it always stores -- mapmem_gphys checks only
 * [rbx, rbx + rcx), so rcx = 1 one byte below the hypervisor's heap put "oo\0" into it -- and
 * it prints at most min(rcx, 64) bytes of the buffer: the seed's unbounded %s ran past the end
 * of a buffer without a NUL, into hypervisor memory or off the end of RAM (a fatal #PF).
 * Registered CPL0-only: under gmlab.policy=strict a CPL3 caller (the seed's pagemap example)
 * gets GML_ME_DENIED; the default policy (bitvisor) serves it as the seed does. */
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
if(bufsize < 4){
printf("[vmmcall foo] length %ld is below the 4 bytes stored: refused\n", bufsize);
current->vmctl.write_general_reg(GENERAL_REG_RAX, (ulong)1);
return;
}
buf = mapmem_gphys (physaddr, bufsize, MAPMEM_WRITE);
if(buf == NULL){
printf("[vmmcall foo] mapmem_gphys error: %ld, %ld\n", physaddr, bufsize);
current->vmctl.write_general_reg(GENERAL_REG_RAX, (ulong)1);
return;
}
printf("[vmmcall foo] buf = %.*s\n", bufsize < 64 ? (int)bufsize : 64, buf);
buf[0] = 'f'; buf[1] = 'o'; buf[2] = 'o'; buf[3] = '\0';
unmapmem(buf, bufsize);
current->vmctl.write_general_reg(GENERAL_REG_RAX, (ulong)0);
}
static void
vmmcall_foo_init(void)
{
vmmcall_register_flags("seed.phys", foo, VMMCALL_CPL0_ONLY);
}
INITFUNC("vmmcal0", vmmcall_foo_init);
