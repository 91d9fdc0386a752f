/* The seed's linear-address example as a user service: rbx = guest-linear address of a buffer,
 * rcx = its length. If the buffer holds "abc", it becomes "foo" (written byte by byte through
 * the guest's page tables, BitVisor's write_linearaddr_b); rax = 0 then, 1 if the buffer did
 * not hold "abc", 2 if it could not be read. Registered as "example.abc2foo". */
#include "current.h"
#include "initfunc.h"
#include "printf.h"
#include "vmmcall.h"
#include "mm.h"
#include "cpu_mmu.h"

static void
abc2foo(void)
{
ulong addr, len;
char c[3];
int i;
current->vmctl.read_general_reg(GENERAL_REG_RBX, &addr);
current->vmctl.read_general_reg(GENERAL_REG_RCX, &len);
if (len < 3) {
	current->vmctl.write_general_reg(GENERAL_REG_RAX, (ulong)1);
	return;
}
for (i = 0; i < 3; i++) {
	if (read_linearaddr_b(addr + i, &c[i]) != 0) {
		current->vmctl.write_general_reg(GENERAL_REG_RAX, (ulong)2);
		return;
	}
}
printf("[example.abc2foo] read %c%c%c\n", c[0], c[1], c[2]);
if (c[0] != 'a' || c[1] != 'b' || c[2] != 'c') {
	current->vmctl.write_general_reg(GENERAL_REG_RAX, (ulong)1);
	return;
}
write_linearaddr_b(addr + 0, 'f');
write_linearaddr_b(addr + 1, 'o');
write_linearaddr_b(addr + 2, 'o');
current->vmctl.write_general_reg(GENERAL_REG_RAX, (ulong)0);
}
static void
vmmcall_abc2foo_init(void)
{
vmmcall_register("example.abc2foo", abc2foo);
}
INITFUNC("vmmcal0", vmmcall_abc2foo_init);
