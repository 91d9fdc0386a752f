/* The seed's linear-address example from user space: a buffer holding "abc" is handed to
 * "example.abc2foo" (services/abc2foo.c) by its linear address; the hypervisor turns it into
 * "foo" through the guest's page tables. Prints the buffer before and after, and the status. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "call_vmm.h"

int
main (void)
{
	static char buf[16];
	call_vmm_function_t f;
	call_vmm_arg_t a;
	call_vmm_ret_t r;

	strcpy (buf, "abc");	/* the page is present and written before the call */
	CALL_VMM_GET_FUNCTION ("example.abc2foo", &f);
	if (!call_vmm_function_callable (&f)) {
		fprintf (stderr, "vmmcall \"example.abc2foo\" failed\n");
		exit (1);
	}
	printf ("before: %s\n", buf);
	a.rbx = (long)buf;
	a.rcx = 3;
	a.rdx = a.rsi = a.rdi = 0;
	call_vmm_call_function (&f, &a, &r);
	printf ("status: %ld\n", r.rax);
	printf ("after: %s\n", buf);
	return r.rax == 0 ? 0 : 1;
}
