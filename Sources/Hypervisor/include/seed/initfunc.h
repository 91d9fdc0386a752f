/* Seed API: INITFUNC("id", fn) runs fn at start-up, before the guest starts, in order of the
 * id string (BitVisor's convention: "vmmcal0" for service registration). The pointer goes into
 * a linker section .initfunc.<id> that hv.ld sorts by name. */
#ifndef HV_INITFUNC_H
#define HV_INITFUNC_H

typedef void (*initfunc_t)(void);

#define INITFUNC_CAT2(a, b) a##b
#define INITFUNC_CAT(a, b) INITFUNC_CAT2(a, b)
#define INITFUNC(id, fn)                                                                   \
	static initfunc_t INITFUNC_CAT(initfunc_ptr_, __LINE__)                            \
		__attribute__((section(".initfunc." id), used)) = fn

void run_initfuncs(void);

#endif
