/*
 * The seed's guest-linear example, caller side, as the seed writes it: the hypervisor gets the
 * program's own virtual address and walks the guest's page tables itself
 * (services/seed_linear.c: read_linearaddr_b per byte, then "foo\0" by write_linearaddr_b).
 * Expected output (case seed/linear):
 *     buf: abc
 *     buf: foo
 * Changes from the seed, nothing else: the service's name, "foo" there, is "seed.linear"
 * here; stdout is flushed before the hypercall so the output is in order through a pipe.
 * vmcall vs vmmcall: call_vmm picks the instruction of this CPU (lib/hypercall.h).
 * Like the seed, buf is not mlocked ("I cut a corner here", says the seed).
 */
#include <stdio.h>
#include <stdlib.h>
#include "../common/call_vmm.h"
int main (int argc, char **argv)
{
call_vmm_function_t f;
call_vmm_arg_t a;
call_vmm_ret_t r;
char buf[] = "abc";
printf("buf: %s\n",buf);
fflush(stdout);
CALL_VMM_GET_FUNCTION ("seed.linear", &f);
if (!call_vmm_function_callable (&f)) {
fprintf (stderr, "vmmcall \"seed.linear\" failed\n");
exit (1);
}
a.rbx = (unsigned long)buf;
a.rcx = 3;
call_vmm_call_function (&f, &a, &r);
printf("buf: %s\n",buf);
return 0;
}
