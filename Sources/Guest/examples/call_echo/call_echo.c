/*
 * A program written the way BitVisor's tools (and the seed document) write them, against
 * "../common/call_vmm.h": proves the lab's call_vmm layer is source-compatible.
 * Usage in the guest: /gmlab/bin/call_echo [SERVICE]   (default gmlab.echo)
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
	const char *name = argc > 1 ? argv[1] : "gmlab.echo";

	CALL_VMM_GET_FUNCTION (name, &f);
	if (!call_vmm_function_callable (&f)) {
		fprintf (stderr, "vmmcall \"%s\" failed\n", name);
		exit (1);
	}
	a.rbx = (long)1;
	a.rcx = (long)2;
	a.rdx = (long)3;
	a.rsi = 0;
	a.rdi = 0;
	call_vmm_call_function (&f, &a, &r);
	printf ("ret: %ld\n", r.rax);
	return 0;
}
