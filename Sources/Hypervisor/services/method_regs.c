/* Method 1: data in the hypercall's registers (ABI in gml_methods.h). A few bytes per exit,
 * both ways, into and out of a hypervisor staging buffer; echo proves every argument and
 * result register carries its own value. */
#include "svc_regs.h"
#include "hvmem.h"
#include "initfunc.h"
#include "lib.h"
#include "vmmcall.h"
#include "gml_errors.h"
#include "gml_methods.h"

static u8 *staging; /* GML_REGS_BUF bytes from the heap */

static void regs_echo(void)
{
	u64 b = svc_get(RBX), c = svc_get(RCX), d = svc_get(RDX), s = svc_get(RSI), di = svc_get(RDI);

	svc_set(RAX, 0);
	svc_set(RBX, ~b), svc_set(RCX, ~c), svc_set(RDX, ~d), svc_set(RSI, ~s), svc_set(RDI, ~di);
}

/* offset/len within the staging buffer (max = per-call limit) */
static u64 check_range(ulong off, ulong len, ulong max)
{
	if (len == 0)
		return GML_E_LEN_ZERO;
	if (len > max)
		return GML_ME_TOO_LONG;
	if (off > GML_REGS_BUF || len > GML_REGS_BUF - off)
		return GML_ME_OUT_OF_BUFFER;
	return GML_OK;
}

static void regs_put(void)
{
	u64 off = svc_get(RBX), n = svc_get(RCX);
	u64 w[3] = { svc_get(RDX), svc_get(RSI), svc_get(RDI) };
	u64 st = check_range(off, n, GML_REGS_CHUNK);

	if (st == GML_OK)
		for (ulong i = 0; i < n; i++)
			staging[off + i] = (u8)(w[i / 8] >> ((i % 8) * 8));
	svc_set(RAX, st);
}

static void regs_get(void)
{
	u64 off = svc_get(RBX), n = svc_get(RCX), w[3] = { 0, 0, 0 };
	u64 st = check_range(off, n, GML_REGS_CHUNK);

	svc_set(RAX, st);
	if (st != GML_OK)
		return; /* rdx rsi rdi untouched on error */
	for (ulong i = 0; i < n; i++)
		w[i / 8] |= (ulong)staging[off + i] << ((i % 8) * 8);
	svc_set(RDX, w[0]), svc_set(RSI, w[1]), svc_set(RDI, w[2]);
}

static void regs_fill(void)
{
	u64 off = svc_get(RBX), n = svc_get(RCX), seed = svc_get(RDX);
	u64 st = check_range(off, n, GML_REGS_BUF);

	if (st == GML_OK)
		gml_pattern_fill(staging + off, seed, 0, n);
	svc_set(RAX, st);
}

static void regs_hash(void)
{
	u64 off = svc_get(RBX), n = svc_get(RCX);
	u64 st = check_range(off, n, GML_REGS_BUF);

	svc_set(RAX, st);
	if (st == GML_OK)
		svc_set(RDX, gml_fnv1a(GML_FNV_OFFSET, staging + off, n));
}

static void method_regs_init(void)
{
	staging = alloc_pages(GML_REGS_BUF / PAGE_SIZE);
	vmmcall_register(GML_SVC_REGS_ECHO, regs_echo);
	vmmcall_register(GML_SVC_REGS_PUT, regs_put);
	vmmcall_register(GML_SVC_REGS_GET, regs_get);
	vmmcall_register(GML_SVC_REGS_FILL, regs_fill);
	vmmcall_register(GML_SVC_REGS_HASH, regs_hash);
}
INITFUNC("vmmcal0", method_regs_init);
