/*
 * BitVisor's user-space calling interface (tools/common/call_vmm.h), same names and usage, so
 * a program written against BitVisor — like the seed document's examples — compiles unchanged:
 *
 *     call_vmm_function_t f; call_vmm_arg_t a; call_vmm_ret_t r;
 *     CALL_VMM_GET_FUNCTION("foo", &f);
 *     if (!call_vmm_function_callable(&f)) ...;
 *     a.rbx = 1; call_vmm_call_function(&f, &a, &r);   // r.rax
 *
 * Implemented on hypercall.h: the look-up runs under a SIGILL guard, so without a hypervisor
 * the function is simply "not callable" instead of the program dying.
 */
#ifndef GML_CALL_VMM_H
#define GML_CALL_VMM_H

typedef struct {
	long rax, rbx, rcx, rdx, rsi, rdi;
} call_vmm_arg_t;

typedef struct {
	long rax, rbx, rcx, rdx, rsi, rdi;
} call_vmm_ret_t;

typedef struct {
	int present;		/* the hypercall instruction completed during the look-up */
	unsigned long number;	/* service number; 0 = unknown name */
} call_vmm_function_t;

void call_vmm_get_function(const char *name, call_vmm_function_t *function);
int call_vmm_function_callable(call_vmm_function_t *function);
/* Calls with a->rbx..rdi (a->rax is ignored: the service number goes there); fills all of r. */
void call_vmm_call_function(call_vmm_function_t *function, call_vmm_arg_t *arg,
			    call_vmm_ret_t *ret);

#define CALL_VMM_GET_FUNCTION(name, function) call_vmm_get_function((name), (function))

#endif
