/* Runs the seed's INITFUNC registrations at start-up, in the order hv.ld sorted them (by id:
 * "vmmcal0" registers services), after the hypervisor's own set-up and before the guest starts. */
#include "initfunc.h"

extern const initfunc_t _initfunc_start[], _initfunc_end[];

void run_initfuncs(void)
{
	for (const initfunc_t *f = _initfunc_start; f < _initfunc_end; f++)
		(*f)();
}
