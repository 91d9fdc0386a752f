/* Method 2/3: guest-physical addresses (ABI in gml_methods.h).
 *   gml.phys.xfer: one contiguous range, all or nothing (the whole range is checked first).
 *   gml.phys.list: a guest-physical array of frame numbers, frames checked one by one. */
#include "current.h"
#include "initfunc.h"
#include "vmmcall.h"
#include "mm.h"
#include "cpu_mmu.h"
#include "guestmem.h"
#include "gml_methods.h"
#include "method_xfer.h"
#include "lib.h"

static u64 copy_phys(u64 gpa, u8 *buf, u64 n, bool write, u64 *moved, u64 *detail)
{
	struct gml_copy_status st;
	gml_err e = write ? guest_copy_to_phys(gpa, buf, n, &st) : guest_copy_from_phys(buf, gpa, n, &st);

	*moved = st.done;
	if (e != GML_OK)
		*detail = st.fault_gpa;
	return e;
}

static u64 contiguous_mover(void *ctx, const struct xfer_args *a, u64 off, u8 *buf, u64 n,
			    bool write, u64 *moved, u64 *detail)
{
	(void)ctx;
	return copy_phys(a->addr + off, buf, n, write, moved, detail);
}

static const struct xfer_method contiguous = {
	.mover = contiguous_mover,
	.flags = GML_XFER_WRITE | GML_XFER_RAW,
	.slice_cooked = GML_SLICE_COOKED,
	.slice_raw = GML_SLICE_RAW,
};

static void phys_xfer(void)
{
	struct xfer_args a;

	/* All or nothing across chunks and stays too: the whole range is checked before the
	 * first byte moves (again at every stay, with the same answer). */
	u64 bad = 0;
	u64 st = xfer_begin(&a, &contiguous);
	if (st == GML_OK) {
		st = gml_gpa_range_check_at(guest_phys()->map, a.addr, a.len, a.flags & GML_XFER_WRITE,
					    &bad);
	}
	if (st != GML_OK) {
		xfer_refuse(st, st >= GML_E_GPA_OUTSIDE_RAM ? bad : 0);
		return;
	}
	xfer_continue(&a, &contiguous, NULL);
}

/* Page list: frame k of the array covers transfer bytes [k*4096 - first_off, ...). */
static u64 list_mover(void *ctx, const struct xfer_args *a, u64 off, u8 *buf, u64 n, bool write,
		      u64 *moved, u64 *detail)
{
	/* The frame array lies in guest memory at the caller's rbx, which need not be 8-byte
	 * aligned: read each entry bytewise (a u64 load there would be undefined behaviour in C). */
	const u8 *pfns = ctx;

	*moved = 0;
	while (*moved < n) {
		u64 pos = a->rdi + off + *moved; /* position counted from the first frame's start */
		u64 k = pos / PAGE_SIZE, in = pos % PAGE_SIZE;
		u64 piece = PAGE_SIZE - in, got = 0;

		if (piece > n - *moved)
			piece = n - *moved;
		u64 pfn;
		memcpy(&pfn, pfns + k * sizeof(pfn), sizeof(pfn));
		if (pfn >= (1ULL << 40)) { /* frame number beyond 52-bit physical addresses */
			*detail = 0;
			return GML_E_GPA_OUTSIDE_RAM;
		}
		u64 st = copy_phys(pfn * PAGE_SIZE + in, buf + *moved, piece, write, &got, detail);
		*moved += got;
		if (st != GML_OK)
			return st;
	}
	return GML_OK;
}

static const struct xfer_method list = {
	.mover = list_mover,
	.flags = GML_XFER_WRITE | GML_XFER_RAW,
	.slice_cooked = GML_SLICE_COOKED,
	.slice_raw = GML_SLICE_RAW,
};

static void phys_list(void)
{
	struct xfer_args a;
	u64 st = xfer_begin(&a, &list);

	if (st == GML_OK && a.rdi >= PAGE_SIZE)
		st = GML_ME_BAD_OFFSET;
	if (st != GML_OK) {
		xfer_refuse(st, 0);
		return;
	}
	/* The frame array itself: contiguous guest RAM, read in place (identity mapping), at
	 * every stay (the caller's registers name it; nothing is kept between stays). */
	u64 nframes = (a.rdi + a.len + PAGE_SIZE - 1) / PAGE_SIZE;
	u64 bad = 0;
	gml_err e = gml_gpa_range_check_at(guest_phys()->map, a.addr, nframes * 8, false, &bad);
	if (e != GML_OK) {
		xfer_refuse(e, bad);
		return;
	}
	const u64 *pfns = mapmem_gphys(a.addr, nframes * 8, 0);
	xfer_continue(&a, &list, (void *)pfns);
	unmapmem((void *)pfns, nframes * 8);
}

static void method_phys_init(void)
{
	/* CPL0-only under gmlab.policy=strict: an address carries no owner, so a CPL3 caller
	 * could reach every byte of guest RAM (the phys suite's no-access-control finding). */
	vmmcall_register_flags(GML_SVC_PHYS_XFER, phys_xfer, VMMCALL_CPL0_ONLY);
	vmmcall_register_flags(GML_SVC_PHYS_LIST, phys_list, VMMCALL_CPL0_ONLY);
}
INITFUNC("vmmcal0", method_phys_init);
