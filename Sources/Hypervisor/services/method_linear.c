/* Method 4: guest-linear addresses, walked by the hypervisor with the caller's CPL and rights
 * (ABI in gml_methods.h).
 *   gml.linear.bytewise: BitVisor's way, the seed API read_linearaddr_b / write_linearaddr_b
 *                        per byte (a full page walk for every byte).
 *   gml.linear.pagewise: the core's copy, one walk per guest page.
 *   gml.linear.probe, gml.cpu.paging: what the walk sees, for the tests (page size, levels,
 *                        A/D bits of the leaf, CR3/CR4; read, write or execute rights).
 * Both transfers run in slices (continuations) and take fault-in mode (GML_XFER_FAULTIN: a
 * CPL3 caller's user-half page the walk refuses becomes that caller's #PF); method_xfer.c. */
#include "svc_regs.h"
#include "initfunc.h"
#include "vmmcall.h"
#include "cpu_mmu.h"
#include "guestmem.h"
#include "gml_methods.h"
#include "method_xfer.h"
#include "gml_faultin.h"

static u64 bytewise_mover(void *ctx, const struct xfer_args *a, u64 off, u8 *buf, u64 n,
			  bool write, u64 *moved, u64 *detail)
{
	(void)ctx;
	*detail = 0; /* the seed API returns an error code only, no level */
	for (u64 i = 0; i < n; i++) {
		int e = write ? write_linearaddr_b(a->addr + off + i, buf[i])
			      : read_linearaddr_b(a->addr + off + i, &buf[i]);
		if (e) {
			*moved = i;
			return (u64)e;
		}
	}
	*moved = n;
	return GML_OK;
}

static u64 pagewise_mover(void *ctx, const struct xfer_args *a, u64 off, u8 *buf, u64 n,
			  bool write, u64 *moved, u64 *detail)
{
	struct gml_copy_status st;
	gml_err e;

	(void)ctx;
	e = write ? guest_copy_to_linear(a->addr + off, buf, n, &st)
		  : guest_copy_from_linear(buf, a->addr + off, n, &st);
	*moved = st.done;
	if (e != GML_OK)
		*detail = st.level;
	return e;
}

/* Fault-in mode: the refusal becomes the #PF the caller's own access would have raised, when
 * the caller may take it (CPL3, user-half address; core's gml_faultin_decide). */
static bool linear_fault_in(u64 status, u64 fault_addr, bool write, u32 *pf_error)
{
	struct gml_walker w;

	if (status >= GML_E__COUNT) /* a method error, not the walker's */
		return false;
	guest_walker(&w);
	return gml_faultin_decide(&w.cpu, fault_addr, (gml_err)status,
				  write ? GML_ACC_WRITE : GML_ACC_READ, pf_error);
}

/* A full page walk per byte: a slice of GML_SLICE_BYTEWISE bytes per stay bounds how long one
 * call holds the vCPU (16 MiB in one stay took ~34 s under TCG; issue 9, finding 9, then
 * issue 14), so the full GML_XFER_MAX is allowed again. */
static const struct xfer_method bytewise = {
	.mover = bytewise_mover,
	.flags = GML_XFER_WRITE | GML_XFER_RAW | GML_XFER_FAULTIN,
	.slice_cooked = GML_SLICE_BYTEWISE,
	.slice_raw = GML_SLICE_BYTEWISE,
	.fault_in = linear_fault_in,
};

static const struct xfer_method pagewise = {
	.mover = pagewise_mover,
	.flags = GML_XFER_WRITE | GML_XFER_RAW | GML_XFER_FAULTIN,
	.slice_cooked = GML_SLICE_COOKED,
	.slice_raw = GML_SLICE_RAW,
	.fault_in = linear_fault_in,
};

_Static_assert(GML_BYTEWISE_MAX == GML_XFER_MAX, "byte-wise calls are sliced: no lower limit");

static void linear_bytewise(void)
{
	xfer_service(&bytewise);
}

static void linear_pagewise(void)
{
	xfer_service(&pagewise);
}

static void linear_probe(void)
{
	u64 gva = svc_get(RBX), flags = svc_get(RCX);
	struct gml_walker w;
	struct gml_walk wk;

	if (flags & ~(GML_PROBE_WRITE | GML_PROBE_SET_AD | GML_PROBE_EXEC) ||
	    (flags & (GML_PROBE_WRITE | GML_PROBE_EXEC)) == (GML_PROBE_WRITE | GML_PROBE_EXEC)) {
		svc_set(RAX, GML_ME_BAD_FLAGS);
		return;
	}
	guest_walker(&w);
	gml_translate(&w, gva,
		      ((flags & GML_PROBE_WRITE) ? GML_ACC_WRITE
		       : (flags & GML_PROBE_EXEC) ? GML_ACC_EXEC : GML_ACC_READ) |
			      ((flags & GML_PROBE_SET_AD) ? 0 : GML_ACC_NO_AD),
		      &wk);
	/* Frame numbers are for CPL0 only (pagemap hides them from users; issue 9, finding 10):
	 * a CPL3 caller gets the entry and the address without bits 51:12. */
	u64 hide = w.cpu.cpl == 3 ? GML_PHYS_ADDR_BITS : 0;
	svc_set(RAX, wk.err);
	svc_set(RBX, wk.err == GML_OK ? wk.gpa & ~hide : 0);
	svc_set(RCX, wk.err == GML_OK ? wk.page_size : 0);
	svc_set(RDX, wk.levels);
	svc_set(RSI, wk.entry & ~hide);
	svc_set(RDI, wk.level);
}

static void cpu_paging(void)
{
	struct gml_walker w;

	guest_walker(&w);
	/* CR3's frame is for CPL0 only, as in gml.linear.probe; PCID and flag bits stay. */
	u64 hide = w.cpu.cpl == 3 ? GML_PHYS_ADDR_BITS : 0;
	svc_set(RAX, 0);
	svc_set(RBX, w.cpu.cr0);
	svc_set(RCX, w.cpu.cr3 & ~hide);
	svc_set(RDX, w.cpu.cr4);
	svc_set(RSI, w.cpu.efer);
	svc_set(RDI, w.cpu.cpl);
}

static void method_linear_init(void)
{
	vmmcall_register(GML_SVC_LINEAR_BYTEWISE, linear_bytewise);
	vmmcall_register(GML_SVC_LINEAR_PAGEWISE, linear_pagewise);
	/* CPL0-only under gmlab.policy=strict: they show the guest's paging structures */
	vmmcall_register_flags(GML_SVC_LINEAR_PROBE, linear_probe, VMMCALL_CPL0_ONLY);
	vmmcall_register_flags(GML_SVC_CPU_PAGING, cpu_paging, VMMCALL_CPL0_ONLY);
}
INITFUNC("vmmcal0", method_linear_init);
