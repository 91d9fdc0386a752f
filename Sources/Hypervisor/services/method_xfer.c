/* The transfer loop shared by gml.phys.*, gml.linear.* (method_xfer.h, ABI in gml_methods.h). */
#include "svc_regs.h"
#include "hvmem.h"
#include "hypercall.h"
#include "initfunc.h"
#include "lib.h"
#include "gml_methods.h"
#include "method_xfer.h"

static u8 *chunk;          /* GML_CHUNK bytes from the heap */
/* The chunk holds GML_XFER_RAW_BYTE everywhere, so a raw write need not fill it again. Cleared
 * before anything else uses the chunk (reads of every caller and service, patterned writes):
 * a raw write must never hand the guest bytes an earlier read left there (issue 9, finding 3). */
static bool chunk_is_raw;

u64 xfer_begin(struct xfer_args *a, const struct xfer_method *m)
{
	u64 rdx = svc_get(RDX);

	*a = (struct xfer_args){ .addr = svc_get(RBX), .seed = svc_get(RSI), .rdi = svc_get(RDI) };
	if (GML_XFER_IS_INFLIGHT(rdx)) {
		/* the rest of a transfer a former stay began (or a forged one: the same checks) */
		a->flags = GML_XFER_INFLIGHT_FLAGS(rdx);
		a->len = GML_XFER_INFLIGHT_LEN(rdx);
		a->done = GML_XFER_INFLIGHT_DONE(rdx);
		a->retries = GML_XFER_INFLIGHT_RETRIES(rdx);
		a->hash = svc_get(RCX);
		if (a->done >= a->len)
			return GML_ME_BAD_FLAGS;
	} else {
		a->flags = rdx;
		a->len = svc_get(RCX);
		a->hash = GML_FNV_OFFSET;
	}
	if (a->flags & ~m->flags)
		return GML_ME_BAD_FLAGS;
	if (a->len == 0)
		return GML_E_LEN_ZERO;
	if (a->len - 1 > ~0ULL - a->addr)
		return GML_E_LEN_WRAP;
	if (a->len > GML_XFER_MAX)
		return GML_ME_TOO_LONG;
	return GML_OK;
}

static void put_result(u64 status, u64 done, u64 hash, u64 detail)
{
	svc_set(RAX, status);
	svc_set(RBX, done);
	svc_set(RCX, hash);
	svc_set(RDX, detail);
}

void xfer_refuse(u64 status, u64 detail)
{
	put_result(status, 0, 0, detail);
}

/* Between two stays: rax and rbx stay the caller's (service number, address), rcx carries the
 * running hash, rdx the in-flight word; rsi and rdi are never written. */
static void put_inflight(const struct xfer_args *a, u64 done, u64 hash, u32 retries)
{
	svc_set(RCX, hash);
	svc_set(RDX, GML_XFER_INFLIGHT_WORD(a->flags, retries, done, a->len));
}

void xfer_continue(const struct xfer_args *a, const struct xfer_method *m, void *ctx)
{
	bool write = a->flags & GML_XFER_WRITE, raw = a->flags & GML_XFER_RAW;
	bool hashed = !write && !raw;
	u64 done = a->done, hash = a->hash, status = GML_OK, detail = 0;
	u64 budget = raw ? m->slice_raw : m->slice_cooked;

	if (write && raw) {
		if (!chunk_is_raw)
			memset(chunk, GML_XFER_RAW_BYTE, GML_CHUNK);
		chunk_is_raw = true;
	} else {
		chunk_is_raw = false; /* this transfer puts other bytes in the chunk */
	}
	while (done < a->len && budget > 0) {
		u64 n = a->len - done, moved = 0;

		if (n > GML_CHUNK)
			n = GML_CHUNK;
		if (n > budget)
			n = budget;
		if (write && !raw)
			gml_pattern_fill(chunk, a->seed, done, n);
		status = m->mover(ctx, a, done, chunk, n, write, &moved, &detail);
		if (hashed)
			hash = gml_fnv1a(hash, chunk, moved);
		done += moved;
		budget -= moved;
		if (status != GML_OK)
			break;
	}
	if (!hashed)
		hash = 0;
	if (status == GML_OK && done < a->len) {
		/* a slice is done: let the guest take its interrupts, then the instruction again */
		put_inflight(a, done, hash, 0);
		hypercall_restart(current);
		return;
	}
	if (status != GML_OK && (a->flags & GML_XFER_FAULTIN) && m->fault_in) {
		u32 retries = done == a->done ? a->retries + 1 : 1, code;

		if (retries <= GML_XFER_MAX_RETRIES &&
		    m->fault_in(status, a->addr + done, write, &code)) {
			put_inflight(a, done, hash, retries);
			hypercall_page_fault(current, a->addr + done, code);
			return;
		}
	}
	put_result(status, done, hash, status == GML_OK ? 0 : detail);
}

void xfer_service(const struct xfer_method *m)
{
	struct xfer_args a;
	u64 st = xfer_begin(&a, m);

	if (st != GML_OK)
		xfer_refuse(st, 0);
	else
		xfer_continue(&a, m, NULL);
}

static void xfer_init(void)
{
	chunk = alloc_pages(GML_CHUNK / PAGE_SIZE);
}
INITFUNC("vmmcal0", xfer_init); /* services run only once the guest does: order is free */
