/* Shared machinery of the transfer-method services (method_*.c); ABI in gml_methods.h.
 * A transfer moves `len` bytes between guest memory and a hypervisor chunk buffer, one chunk
 * (GML_CHUNK bytes) at a time: writes generate the pattern chunk by chunk, reads hash what
 * each chunk received. Each method supplies a mover for one chunk. */
#ifndef HV_METHOD_XFER_H
#define HV_METHOD_XFER_H
#include "types.h"
#include "gml_errors.h"

/* 2 MiB: a page-wise copy over a 2 MiB guest page is then one translation per chunk. */
#define GML_CHUNK (2ULL << 20)

struct xfer_args {
	u64 addr, len, flags, seed;
	u64 rdi; /* method-specific extra input (gml.phys.list: offset into the first frame) */
};

struct xfer_result {
	u64 status;  /* GML_OK, a gml_err, or a GML_ME_* */
	u64 done;    /* bytes transferred = offset of the first byte not transferred */
	u64 hash;    /* reads: FNV-1a of the bytes read; writes / raw: 0 */
	u64 detail;  /* fault level (linear) or offending guest-physical byte (physical) */
};

/* Move [off, off + n) of the transfer (n <= GML_CHUNK) between the guest and buf.
 * *moved receives the bytes moved before a fault (n on success), *detail the fault detail. */
typedef u64 (*xfer_mover)(void *ctx, const struct xfer_args *a, u64 off, u8 *buf, u64 n,
			  bool write, u64 *moved, u64 *detail);

/* Registers in (rbx rcx rdx rsi rdi) / out (rax rbx rcx rdx; rsi rdi untouched). */
void xfer_get_args(struct xfer_args *a);
void xfer_put_result(const struct xfer_result *r);
/* Checks every transfer shares, in this order: flags, zero length, address + length wrapping
 * past 2^64, length above GML_XFER_MAX. Returns GML_OK or the status. */
u64 xfer_check(const struct xfer_args *a);
/* The loop: check, then move chunk by chunk until done or the first fault. */
void xfer_run(const struct xfer_args *a, xfer_mover mover, void *ctx, struct xfer_result *r);
/* One service body: read the registers, run, write the result registers. */
void xfer_service(xfer_mover mover, void *ctx);

#endif
