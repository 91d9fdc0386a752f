/* The transfer loop shared by gml.phys.*, gml.linear.* (method_xfer.h, ABI in gml_methods.h). */
#include "svc_regs.h"
#include "hvmem.h"
#include "initfunc.h"
#include "lib.h"
#include "gml_methods.h"
#include "method_xfer.h"

static u8 *chunk;          /* GML_CHUNK bytes from the heap */
/* The chunk holds GML_XFER_RAW_BYTE everywhere, so a raw write need not fill it again. Cleared
 * before anything else uses the chunk (reads of every caller and service, patterned writes):
 * a raw write must never hand the guest bytes an earlier read left there (issue 9, finding 3). */
static bool chunk_is_raw;

void xfer_get_args(struct xfer_args *a)
{
	*a = (struct xfer_args){ .addr = svc_get(RBX), .len = svc_get(RCX), .flags = svc_get(RDX),
				 .seed = svc_get(RSI), .rdi = svc_get(RDI) };
}

void xfer_put_result(const struct xfer_result *r)
{
	svc_set(RAX, r->status);
	svc_set(RBX, r->done);
	svc_set(RCX, r->hash);
	svc_set(RDX, r->detail);
}

u64 xfer_check(const struct xfer_args *a)
{
	if (a->flags & ~GML_XFER_FLAGS_ALL)
		return GML_ME_BAD_FLAGS;
	if (a->len == 0)
		return GML_E_LEN_ZERO;
	if (a->len - 1 > ~0ULL - a->addr)
		return GML_E_LEN_WRAP;
	if (a->len > GML_XFER_MAX)
		return GML_ME_TOO_LONG;
	return GML_OK;
}

void xfer_run(const struct xfer_args *a, xfer_mover mover, void *ctx, struct xfer_result *r)
{
	bool write = a->flags & GML_XFER_WRITE, raw = a->flags & GML_XFER_RAW;
	u64 hash = GML_FNV_OFFSET;

	r->status = xfer_check(a);
	r->done = r->hash = r->detail = 0;
	if (r->status != GML_OK)
		return;
	if (write && raw) {
		if (!chunk_is_raw)
			memset(chunk, GML_XFER_RAW_BYTE, GML_CHUNK);
		chunk_is_raw = true;
	} else {
		chunk_is_raw = false; /* this transfer puts other bytes in the chunk */
	}
	while (r->done < a->len) {
		u64 n = a->len - r->done, moved = 0;

		if (n > GML_CHUNK)
			n = GML_CHUNK;
		if (write && !raw)
			gml_pattern_fill(chunk, a->seed, r->done, n);
		r->status = mover(ctx, a, r->done, chunk, n, write, &moved, &r->detail);
		if (!write && !raw)
			hash = gml_fnv1a(hash, chunk, moved);
		r->done += moved;
		if (r->status != GML_OK)
			break;
	}
	r->hash = (write || raw) ? 0 : hash;
}

void xfer_service(xfer_mover mover, void *ctx)
{
	struct xfer_args a;
	struct xfer_result r;

	xfer_get_args(&a);
	xfer_run(&a, mover, ctx, &r);
	xfer_put_result(&r);
}

static void xfer_init(void)
{
	chunk = alloc_pages(GML_CHUNK / PAGE_SIZE);
}
INITFUNC("vmmcal0", xfer_init); /* services run only once the guest does: order is free */
