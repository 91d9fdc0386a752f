/* Services for `lab bench` (Sources/Guest/bench): each moves N bytes between the guest and a
 * hypervisor buffer by one transfer method and does nothing else, so the guest can time the
 * method itself. Written with the seed's API (current->vmctl, mapmem_gphys, read_linearaddr_b)
 * plus cpu_mmu.h's page-wise linear copy.
 *
 * Direction, from the hypervisor's side: "read" = guest -> hypervisor, "write" = hypervisor
 * -> guest. The hypervisor side is one BENCH_WINDOW buffer reused in window-sized chunks (a
 * service consuming data as it arrives, like a log ring): 16 MiB transfers fit in a 16 MiB
 * heap that also holds the nested page tables. (Under TCG there is no cache model, so reusing
 * the window does not flatter the figures.)
 *
 * Results: rax = 0 or a gml_err (gml_errors.h), rbx = bytes transferred.
 *
 *   bench.regs.read     rbx = offset, rcx rdx rsi rdi = 32 bytes of data -> stored at offset
 *   bench.regs.write    rbx = offset -> rcx rdx rsi rdi = the 32 bytes at offset (rax = 0)
 *   bench.phys.read     rbx = gpa, rcx = len: mapmem_gphys once, copy (the seed's way)
 *   bench.phys.write
 *   bench.physlist.read rbx = gpa of a u64 array of 4 KiB-page gpas, rcx = entries, rdx = len
 *   bench.physlist.write    (len <= entries * 4096; each page mapped and copied on its own)
 *   bench.linear.page.read  rbx = gva, rcx = len: guest_copy_*_linear (one walk per page)
 *   bench.linear.page.write
 *   bench.linear.byte.read  rbx = gva, rcx = len: read/write_linearaddr_b per byte (BitVisor)
 *   bench.linear.byte.write
 */
#include "current.h"
#include "initfunc.h"
#include "vmmcall.h"
#include "mm.h"
#include "cpu_mmu.h"
#include "hvmem.h"
#include "lib.h"

#define BENCH_WINDOW (256u << 10)
#define BENCH_PAGE 4096u

static u8 *window;

static ulong arg(enum general_reg r)
{
	ulong v;
	current->vmctl.read_general_reg(r, &v);
	return v;
}

static void result(ulong err, ulong done)
{
	current->vmctl.write_general_reg(GENERAL_REG_RAX, err);
	current->vmctl.write_general_reg(GENERAL_REG_RBX, done);
}

/* ---- registers: 32 bytes per exit ---- */

static void regs_read(void)
{
	ulong off = arg(GENERAL_REG_RBX) % (BENCH_WINDOW / 32) * 32;
	u64 *w = (u64 *)(window + off);
	w[0] = arg(GENERAL_REG_RCX);
	w[1] = arg(GENERAL_REG_RDX);
	w[2] = arg(GENERAL_REG_RSI);
	w[3] = arg(GENERAL_REG_RDI);
	result(0, 32);
}

static void regs_write(void)
{
	ulong off = arg(GENERAL_REG_RBX) % (BENCH_WINDOW / 32) * 32;
	const u64 *w = (const u64 *)(window + off);
	current->vmctl.write_general_reg(GENERAL_REG_RCX, w[0]);
	current->vmctl.write_general_reg(GENERAL_REG_RDX, w[1]);
	current->vmctl.write_general_reg(GENERAL_REG_RSI, w[2]);
	current->vmctl.write_general_reg(GENERAL_REG_RDI, w[3]);
	result(0, 32);
}

/* ---- guest-physical ---- */

/* Copy between guest memory at p (already mapped) and the window, chunk by chunk. */
static void move(u8 *p, ulong len, bool to_guest)
{
	for (ulong off = 0; off < len; off += BENCH_WINDOW) {
		ulong n = len - off < BENCH_WINDOW ? len - off : BENCH_WINDOW;
		if (to_guest)
			memcpy(p + off, window, n);
		else
			memcpy(window, p + off, n);
	}
}

static void phys(bool to_guest)
{
	ulong gpa = arg(GENERAL_REG_RBX), len = arg(GENERAL_REG_RCX);
	u8 *p = mapmem_gphys(gpa, len, to_guest ? MAPMEM_WRITE : 0);
	if (!p) {
		result(GML_E_GPA_OUTSIDE_RAM, 0); /* mapmem_gphys does not say which check failed */
		return;
	}
	move(p, len, to_guest);
	unmapmem(p, len);
	result(0, len);
}

static void phys_read(void) { phys(false); }
static void phys_write(void) { phys(true); }

static void physlist(bool to_guest)
{
	ulong list_gpa = arg(GENERAL_REG_RBX), n = arg(GENERAL_REG_RCX), len = arg(GENERAL_REG_RDX);
	ulong done = 0;
	if (n == 0 || n > (1ul << 20) || len > n * BENCH_PAGE) {
		result(GML_E_INVALID_ARG, 0);
		return;
	}
	const u64 *list = mapmem_gphys(list_gpa, n * 8, 0);
	if (!list) {
		result(GML_E_GPA_OUTSIDE_RAM, 0);
		return;
	}
	for (ulong i = 0; i < n && done < len; i++) {
		ulong piece = len - done < BENCH_PAGE ? len - done : BENCH_PAGE;
		u8 *p = mapmem_gphys(list[i], piece, to_guest ? MAPMEM_WRITE : 0);
		if (!p) {
			result(GML_E_GPA_OUTSIDE_RAM, done);
			unmapmem((void *)list, n * 8);
			return;
		}
		u8 *w = window + done % BENCH_WINDOW; /* the window is a multiple of the page */
		if (to_guest)
			memcpy(p, w, piece);
		else
			memcpy(w, p, piece);
		unmapmem(p, piece);
		done += piece;
	}
	unmapmem((void *)list, n * 8);
	result(0, done);
}

static void physlist_read(void) { physlist(false); }
static void physlist_write(void) { physlist(true); }

/* ---- guest-linear ---- */

static void linear_page(bool to_guest)
{
	ulong gva = arg(GENERAL_REG_RBX), len = arg(GENERAL_REG_RCX), done = 0;
	struct gml_copy_status st;
	if (len == 0) {
		result(GML_E_LEN_ZERO, 0);
		return;
	}
	while (done < len) {
		ulong n = len - done < BENCH_WINDOW ? len - done : BENCH_WINDOW;
		gml_err e = to_guest ? guest_copy_to_linear(gva + done, window, n, &st)
				     : guest_copy_from_linear(window, gva + done, n, &st);
		if (e != GML_OK) {
			result(e, done + st.done);
			return;
		}
		done += n;
	}
	result(0, done);
}

static void linear_page_read(void) { linear_page(false); }
static void linear_page_write(void) { linear_page(true); }

static void linear_byte(bool to_guest)
{
	ulong gva = arg(GENERAL_REG_RBX), len = arg(GENERAL_REG_RCX);
	for (ulong i = 0; i < len; i++) {
		u8 *w = window + i % BENCH_WINDOW;
		int e = to_guest ? write_linearaddr_b(gva + i, *w) : read_linearaddr_b(gva + i, w);
		if (e) {
			result((ulong)e, i);
			return;
		}
	}
	result(len ? 0 : GML_E_LEN_ZERO, len);
}

static void linear_byte_read(void) { linear_byte(false); }
static void linear_byte_write(void) { linear_byte(true); }

static void bench_services_init(void)
{
	window = alloc_pages(BENCH_WINDOW / BENCH_PAGE);
	vmmcall_register("bench.regs.read", regs_read);
	vmmcall_register("bench.regs.write", regs_write);
	vmmcall_register("bench.phys.read", phys_read);
	vmmcall_register("bench.phys.write", phys_write);
	vmmcall_register("bench.physlist.read", physlist_read);
	vmmcall_register("bench.physlist.write", physlist_write);
	vmmcall_register("bench.linear.page.read", linear_page_read);
	vmmcall_register("bench.linear.page.write", linear_page_write);
	vmmcall_register("bench.linear.byte.read", linear_byte_read);
	vmmcall_register("bench.linear.byte.write", linear_byte_write);
}
INITFUNC("vmmcal0", bench_services_init);
