/* Shared machinery of the transfer-method services (method_*.c); ABI in gml_methods.h.
 * A transfer moves `len` bytes between guest memory and a hypervisor chunk buffer, one chunk
 * (GML_CHUNK bytes) at a time: writes generate the pattern chunk by chunk, reads hash what
 * each chunk received. Each method supplies a mover for one chunk.
 * One stay in the hypervisor moves at most one slice (gml_methods.h "Continuations"); the rest
 * of the transfer is described by the caller's registers (the in-flight word in rdx, the
 * running hash in rcx) and the instruction runs again. In fault-in mode a refusal the guest
 * could resolve becomes its #PF, with the same in-flight registers. Nothing about a transfer
 * is kept in the hypervisor between two stays. */
#ifndef HV_METHOD_XFER_H
#define HV_METHOD_XFER_H
#include "types.h"
#include "gml_errors.h"

/* 2 MiB: a page-wise copy over a 2 MiB guest page is then one translation per chunk. */
#define GML_CHUNK (2ULL << 20)

struct xfer_args {
	u64 addr, len, flags, seed;
	u64 rdi; /* method-specific extra input (gml.phys.list: offset into the first frame) */
	/* where the transfer stands: 0 / GML_FNV_OFFSET / 0 for a fresh call, else decoded from
	 * the in-flight registers */
	u64 done;    /* bytes moved by earlier stays */
	u64 hash;    /* FNV-1a of the bytes read by earlier stays */
	u32 retries; /* fault-in #PFs given in a row at offset done */
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

struct xfer_method {
	xfer_mover mover;
	u64 flags;        /* the GML_XFER_* flags the method takes */
	u64 slice_cooked; /* bytes per stay: hashed reads, patterned writes */
	u64 slice_raw;    /* bytes per stay with GML_XFER_RAW */
	/* Fault-in mode (methods taking GML_XFER_FAULTIN): may the refusal `status` of the access
	 * at fault_addr become the guest's #PF, and with which error code? */
	bool (*fault_in)(u64 status, u64 fault_addr, bool write, u32 *pf_error);
};

/* Read the registers: a fresh call (rbx rcx rdx rsi rdi) or one in flight (gml_methods.h), then
 * the checks every transfer shares, in this order: flags (GML_ME_BAD_FLAGS for a flag the
 * method does not take, or a malformed in-flight word), zero length, address + length wrapping
 * past 2^64, length above GML_XFER_MAX. Returns GML_OK or the status. */
u64 xfer_begin(struct xfer_args *a, const struct xfer_method *m);
/* End a call refused before any byte moved: rax = status, rbx = 0, rcx = 0, rdx = detail. */
void xfer_refuse(u64 status, u64 detail);
/* Move what is left of the transfer from a->done, at most one slice, and end the call: the
 * results (rax rbx rcx rdx; rsi rdi untouched), or the in-flight registers and a restart (more
 * to do) or the guest's #PF (fault-in). ctx is passed to the mover. */
void xfer_continue(const struct xfer_args *a, const struct xfer_method *m, void *ctx);
/* One service body: xfer_begin, then xfer_refuse or xfer_continue. */
void xfer_service(const struct xfer_method *m);

#endif
