/* Calls "example.sum3" (services/sum3.c) the way BitVisor's tools call the VMM, with the three
 * numbers from the command line, and prints "ret: <sum>". */
#include <stdio.h>
#include <stdlib.h>
#include "call_vmm.h"

int
main (int argc, char **argv)
{
	call_vmm_function_t f;
	call_vmm_arg_t a;
	call_vmm_ret_t r;

	if (argc != 4) {
		fprintf (stderr, "usage: %s A B C\n", argv[0]);
		exit (2);
	}
	CALL_VMM_GET_FUNCTION ("example.sum3", &f);
	if (!call_vmm_function_callable (&f)) {
		fprintf (stderr, "vmmcall \"example.sum3\" failed\n");
		exit (1);
	}
	a.rbx = strtol (argv[1], NULL, 0);
	a.rcx = strtol (argv[2], NULL, 0);
	a.rdx = strtol (argv[3], NULL, 0);
	a.rsi = 0;
	a.rdi = 0;
	call_vmm_call_function (&f, &a, &r);
	printf ("ret: %ld\n", r.rax);
	return 0;
}
