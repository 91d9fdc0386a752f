/*
 * The seed's first example, caller side ("pass data in the registers of the vmcall"), as the
 * seed writes it. The only change: the service's name, "foo" there, is "seed.regs" here (the
 * hypervisor's services/seed_regs.c, which prints rbx rcx rdx and returns rax = 10).
 * Expected output (case seed/regs-echo):  ret: 10
 * vmcall vs vmmcall: call_vmm picks the instruction of this CPU (lib/hypercall.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include "../common/call_vmm.h"
int
main (int argc, char **argv)
{
call_vmm_function_t f;
call_vmm_arg_t a;
call_vmm_ret_t r;
CALL_VMM_GET_FUNCTION ("seed.regs", &f);
if (!call_vmm_function_callable (&f)) {
fprintf (stderr, "vmmcall \"seed.regs\" failed\n");
exit (1);
}
a.rbx = (long)1;
a.rcx = (long)2;
a.rdx = (long)3;
call_vmm_call_function (&f, &a, &r);
printf("ret: %ld\n", r.rax);
return 0;
}
