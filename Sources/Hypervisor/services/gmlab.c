/* Built-in services the guest side relies on (keep their register contracts stable).
 *   gmlab.echo: rax = rbx + rcx + rdx + rsi + rdi (wrapping); nothing else changes.
 *   gmlab.info: rax = GML_INFO_MAGIC, rbx = hypervisor region base (the heap's range),
 *               rcx = its size, rdx = backend (1 svm, 2 vmx) in bits 7:0 and the access
 *               policy in bits 15:8 (GML_POLICY_*: 0 bitvisor, 1 strict; gml_methods.h), so
 *               under the default policy rdx is the backend number alone, as it always was;
 *               rsi = discarded guest writes to the region so far, rdi = VM exits so far. */
#include "current.h"
#include "svc_regs.h"
#include "initfunc.h"
#include "vmmcall.h"
#include "hvmem.h"
#include "gml_hypercall.h"
#include "gml_methods.h"
#include "hypercall.h"

static void gmlab_echo(void)
{
	svc_set(RAX, svc_get(RBX) + svc_get(RCX) + svc_get(RDX) + svc_get(RSI) + svc_get(RDI));
}

static void gmlab_info(void)
{
	const struct mem_range *heap = hv_region(HV_REGION_HEAP);
	svc_set(RAX, GML_INFO_MAGIC);
	svc_set(RBX, heap->base);
	svc_set(RCX, heap->size);
	svc_set(RDX, (u64)current->ops->id | (u64)hypercall_policy() << GML_INFO_POLICY_SHIFT);
	svc_set(RSI, current->rom_writes);
	svc_set(RDI, current->exits);
}

static void gmlab_services_init(void)
{
	vmmcall_register("gmlab.echo", gmlab_echo);
	vmmcall_register("gmlab.info", gmlab_info);
}
INITFUNC("vmmcal0", gmlab_services_init);
