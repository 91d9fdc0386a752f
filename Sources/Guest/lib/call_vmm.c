/* BitVisor's call_vmm interface over the lab's hypercall library (see call_vmm.h). */
#include "call_vmm.h"
#include "hypercall.h"

void call_vmm_get_function(const char *name, call_vmm_function_t *function)
{
	unsigned long number = 0;

	function->present = hc_probe_name(name, &number) == HC_PRESENT;
	function->number = function->present ? number : 0;
}

int call_vmm_function_callable(call_vmm_function_t *function)
{
	return function->present && function->number != 0;
}

void call_vmm_call_function(call_vmm_function_t *function, call_vmm_arg_t *arg,
			    call_vmm_ret_t *ret)
{
	struct hc_regs r = {
		.rbx = (unsigned long)arg->rbx, .rcx = (unsigned long)arg->rcx,
		.rdx = (unsigned long)arg->rdx, .rsi = (unsigned long)arg->rsi,
		.rdi = (unsigned long)arg->rdi,
	};

	/* Never execute the instruction when the look-up already showed it raises #UD. */
	if (!function->present) {
		*ret = (call_vmm_ret_t){ .rax = (long)GML_HC_ENOSYS };
		return;
	}
	hc_call(function->number, &r);
	ret->rax = (long)r.rax;
	ret->rbx = (long)r.rbx;
	ret->rcx = (long)r.rcx;
	ret->rdx = (long)r.rdx;
	ret->rsi = (long)r.rsi;
	ret->rdi = (long)r.rdi;
}
