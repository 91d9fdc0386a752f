/* Hypercall dispatch: rax=0 looks a name up (read from guest-linear memory with the caller's
 * rights, never faulting the guest); rax=n runs service n; unused n -> GML_HC_ENOSYS. */
#include "hypercall.h"
#include "vmmcall.h"
#include "current.h"
#include "guestmem.h"
#include "gml_registry.h"
#include "gml_hypercall.h"
#include "printf.h"
#include "fatal.h"

static struct gml_registry registry;

void hypercall_init(void)
{
	gml_registry_init(&registry);
}

u64 vmmcall_register(const char *name, void (*func)(void))
{
	u64 number = 0;
	gml_err e = gml_registry_register(&registry, name, func, &number);
	if (e != GML_OK)
		hv_fatal("vmmcall_register(\"%s\"): %s (%s)", name ? name : "(null)", gml_errname(e),
			 gml_strerror(e));
	return number;
}

void hypercall_log_services(void)
{
	printf("GMLAB-HV: %u services registered:", registry.count);
	for (u64 n = 1; n <= registry.count; n++)
		printf(" %llu=%s", n, gml_registry_name(&registry, n));
	printf("\n");
}

void hypercall_handle(struct vcpu *v)
{
	u64 nr = v->gpr[GENERAL_REG_RAX];
	if (nr == GML_HC_LOOKUP) {
		struct gml_walker w;
		guest_walker(&w);
		v->gpr[GENERAL_REG_RAX] =
			gml_lookup_guest_name(&registry, &w, guest_phys(), v->gpr[GENERAL_REG_RBX], NULL);
		return;
	}
	if (gml_registry_dispatch(&registry, nr) != GML_OK)
		v->gpr[GENERAL_REG_RAX] = GML_HC_ENOSYS;
}
