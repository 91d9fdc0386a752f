/* Seed API on BitVisor: INITFUNC("vmmcal0", fn) runs fn at start-up through BitVisor's own
 * table (section .initfunc, struct initfunc_data from core/initfunc.h).
 *
 * Redefined here because BitVisor's macro names its table entry after the function
 * (a global `__initfunc_<fn>`): the seed's examples, and many user services, all call their
 * init function `vmmcall_foo_init`, which would then be defined once per file and fail to
 * link. The entry below is file-local, otherwise the same. */
#ifndef GMLAB_BV_INITFUNC_H
#define GMLAB_BV_INITFUNC_H
#include "types.h"
#include <core/initfunc.h>

#define GMLAB_INITFUNC_CAT2(a, b) a##b
#define GMLAB_INITFUNC_CAT(a, b) GMLAB_INITFUNC_CAT2(a, b)
#undef INITFUNC
#define INITFUNC(gmlab_id, gmlab_fn)                                                        \
	static struct initfunc_data GMLAB_INITFUNC_CAT(gmlab_initfunc_, __LINE__)          \
		__attribute__((section(".initfunc"), aligned(1), used)) = {                 \
			.filename = __FILE__, .id = (gmlab_id), .func = (gmlab_fn)          \
		}

#endif
