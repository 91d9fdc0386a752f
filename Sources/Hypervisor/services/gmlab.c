/* Built-in services the guest side relies on (keep their register contracts stable).
 *   gmlab.echo: rax = rbx + rcx + rdx + rsi + rdi (wrapping); nothing else changes.
 *   gmlab.info: rax = GML_INFO_MAGIC, rbx = hypervisor region base (the heap's range),
 *               rcx = its size, rdx = backend (1 svm, 2 vmx), rsi = discarded guest writes to
 *               the region so far, rdi = VM exits so far. */
#include "current.h"
#include "initfunc.h"
#include "vmmcall.h"
#include "hvmem.h"
#include "gml_hypercall.h"

static void gmlab_echo(void)
{
	ulong b, c, d, s, di;
	current->vmctl.read_general_reg(GENERAL_REG_RBX, &b);
	current->vmctl.read_general_reg(GENERAL_REG_RCX, &c);
	current->vmctl.read_general_reg(GENERAL_REG_RDX, &d);
	current->vmctl.read_general_reg(GENERAL_REG_RSI, &s);
	current->vmctl.read_general_reg(GENERAL_REG_RDI, &di);
	current->vmctl.write_general_reg(GENERAL_REG_RAX, b + c + d + s + di);
}

static void gmlab_info(void)
{
	const struct mem_range *heap = hv_region(HV_REGION_HEAP);
	current->vmctl.write_general_reg(GENERAL_REG_RAX, GML_INFO_MAGIC);
	current->vmctl.write_general_reg(GENERAL_REG_RBX, heap->base);
	current->vmctl.write_general_reg(GENERAL_REG_RCX, heap->size);
	current->vmctl.write_general_reg(GENERAL_REG_RDX, (ulong)current->ops->id);
	current->vmctl.write_general_reg(GENERAL_REG_RSI, current->rom_writes);
	current->vmctl.write_general_reg(GENERAL_REG_RDI, current->exits);
}

static void gmlab_services_init(void)
{
	vmmcall_register("gmlab.echo", gmlab_echo);
	vmmcall_register("gmlab.info", gmlab_info);
}
INITFUNC("vmmcal0", gmlab_services_init);
