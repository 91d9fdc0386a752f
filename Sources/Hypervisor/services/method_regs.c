/* Method 1: data in the hypercall's registers (ABI in gml_methods.h). A few bytes per exit,
 * both ways, into and out of a hypervisor staging buffer; echo proves every argument and
 * result register carries its own value. */
#include "current.h"
#include "hvmem.h"
#include "initfunc.h"
#include "lib.h"
#include "vmmcall.h"
#include "gml_errors.h"
#include "gml_methods.h"

static u8 *staging; /* GML_REGS_BUF bytes from the heap */

#define RD(reg, var) current->vmctl.read_general_reg(GENERAL_REG_##reg, &(var))
#define WR(reg, val) current->vmctl.write_general_reg(GENERAL_REG_##reg, (val))

static void regs_echo(void)
{
	ulong b, c, d, s, di;

	RD(RBX, b), RD(RCX, c), RD(RDX, d), RD(RSI, s), RD(RDI, di);
	WR(RAX, 0);
	WR(RBX, ~b), WR(RCX, ~c), WR(RDX, ~d), WR(RSI, ~s), WR(RDI, ~di);
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
	ulong off, n, w[3];
	u64 st;

	RD(RBX, off), RD(RCX, n), RD(RDX, w[0]), RD(RSI, w[1]), RD(RDI, w[2]);
	st = check_range(off, n, GML_REGS_CHUNK);
	if (st == GML_OK)
		for (ulong i = 0; i < n; i++)
			staging[off + i] = (u8)(w[i / 8] >> ((i % 8) * 8));
	WR(RAX, st);
}

static void regs_get(void)
{
	ulong off, n, w[3] = { 0, 0, 0 };
	u64 st;

	RD(RBX, off), RD(RCX, n);
	st = check_range(off, n, GML_REGS_CHUNK);
	WR(RAX, st);
	if (st != GML_OK)
		return; /* rdx rsi rdi untouched on error */
	for (ulong i = 0; i < n; i++)
		w[i / 8] |= (ulong)staging[off + i] << ((i % 8) * 8);
	WR(RDX, w[0]), WR(RSI, w[1]), WR(RDI, w[2]);
}

static void regs_fill(void)
{
	ulong off, n, seed;
	u64 st;

	RD(RBX, off), RD(RCX, n), RD(RDX, seed);
	st = check_range(off, n, GML_REGS_BUF);
	if (st == GML_OK)
		gml_pattern_fill(staging + off, seed, 0, n);
	WR(RAX, st);
}

static void regs_hash(void)
{
	ulong off, n;
	u64 st;

	RD(RBX, off), RD(RCX, n);
	st = check_range(off, n, GML_REGS_BUF);
	WR(RAX, st);
	if (st == GML_OK)
		WR(RDX, gml_fnv1a(GML_FNV_OFFSET, staging + off, n));
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
