/* Suite regs: method 1, data in the hypercall's registers (services gml.regs.*, ABI in
 * core/include/gml_methods.h). Every argument and result register carries its own value, registers
 * that are not results are preserved, CPL3 and CPL0 callers, and a 4 KiB bulk transfer both
 * ways, 24 bytes (rdx rsi rdi) per call. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "method_util.h"
#include "report.h"

/* tests/hv_regs.S: loads every GPR, executes the instruction, stores every GPR */
struct hv_allregs {
	unsigned long rax, rbx, rcx, rdx, rsi, rdi, rbp, r8, r9, r10, r11, r12, r13, r14, r15;
	unsigned long rsp, rsp_before;
};
void hv_hypercall_allregs(const struct hv_allregs *in, struct hv_allregs *out, int vmmcall);

static const char *const reg_names[] = { "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "r8",
					 "r9", "r10", "r11", "r12", "r13", "r14", "r15" };

#define BULK 4096u
#define SEED_PUT 0x5245475350555431ull /* "REGSPUT1" */
#define SEED_GET 0x5245475347455431ull

static void echo_cpl3(void)
{
	unsigned long n = m_lookup(GML_SVC_REGS_ECHO);
	struct hv_allregs in, out;
	unsigned long *pi = &in.rax, *po = &out.rax;
	char what[64];
	int i;

	if (!n)
		return;
	/* distinct per register, every byte different, so a swapped or truncated register shows */
	for (i = 0; i < 15; i++)
		pi[i] = 0x0102030405060708UL * (unsigned long)(i + 1) ^ 0xa5a5000000000000UL;
	in.rax = n;
	memset(&out, 0, sizeof(out));
	hv_hypercall_allregs(&in, &out, hc_insn() == HC_INSN_VMMCALL);
	report_eq_u64("rax = 0 (status)", 0, out.rax);
	for (i = 1; i <= 5; i++) {
		snprintf(what, sizeof(what), "%s = ~%s in (result register)", reg_names[i], reg_names[i]);
		report_eq_u64(what, ~pi[i], po[i]);
	}
	for (i = 6; i < 15; i++) {
		snprintf(what, sizeof(what), "%s preserved", reg_names[i]);
		report_eq_u64(what, pi[i], po[i]);
	}
	report_eq_u64("rsp preserved", out.rsp_before, out.rsp);
}

static void echo_cpl0(void)
{
	static const unsigned long v[5] = { 0x0123456789abcdefUL, 0xfedcba9876543210UL, 1, 0,
					    0x8000000000000000UL };
	struct hc_regs r = { .rbx = v[0], .rcx = v[1], .rdx = v[2], .rsi = v[3], .rdi = v[4] };
	unsigned long n;
	int fd = m_kmod_open();

	if (fd < 0)
		return;
	n = m_lookup0(fd, GML_SVC_REGS_ECHO);
	if (n && m_call0(fd, n, &r) == 0) {
		report_eq_u64("CPL0 rax = 0 (status)", 0, r.rax);
		report_eq_u64("CPL0 rbx = ~rbx in", ~v[0], r.rbx);
		report_eq_u64("CPL0 rcx = ~rcx in", ~v[1], r.rcx);
		report_eq_u64("CPL0 rdx = ~rdx in", ~v[2], r.rdx);
		report_eq_u64("CPL0 rsi = ~rsi in", ~v[3], r.rsi);
		report_eq_u64("CPL0 rdi = ~rdi in", ~v[4], r.rdi);
	}
	close(fd);
}

/* One register call at CPL3 or (fd >= 0) CPL0. Returns rax, or ~0 when the CPL0 call failed. */
static unsigned long call(int fd, unsigned long n, struct hc_regs *r)
{
	if (fd < 0)
		return hc_call(n, r);
	return m_call0(fd, n, r) == 0 ? r->rax : ~0UL;
}

/* guest -> hypervisor: put BULK bytes 24 at a time, then compare the hypervisor's hash */
static void bulk_put(int fd, const char *who)
{
	unsigned long put = fd < 0 ? m_lookup(GML_SVC_REGS_PUT) : m_lookup0(fd, GML_SVC_REGS_PUT);
	unsigned long hash = fd < 0 ? m_lookup(GML_SVC_REGS_HASH) : m_lookup0(fd, GML_SVC_REGS_HASH);
	unsigned char data[BULK];
	unsigned calls = 0, off, bad = 0;
	struct hc_regs r;

	if (!put || !hash)
		return;
	gml_pattern_fill(data, SEED_PUT, 0, BULK);
	for (off = 0; off < BULK; off += GML_REGS_CHUNK, calls++) {
		unsigned n = BULK - off < GML_REGS_CHUNK ? BULK - off : GML_REGS_CHUNK;
		unsigned long w[3] = { 0, 0, 0 };

		memcpy(w, data + off, n);
		r = (struct hc_regs){ .rbx = off, .rcx = n, .rdx = w[0], .rsi = w[1], .rdi = w[2] };
		if (call(fd, put, &r) != 0 && !bad++)
			report(0, "%s gml.regs.put at offset %#x: status %s", who, off, m_errname(r.rax));
	}
	report(bad == 0, "%s: %u gml.regs.put calls of up to %u bytes returned status 0 (%u did not)",
	       who, calls, GML_REGS_CHUNK, bad);
	r = (struct hc_regs){ .rbx = 0, .rcx = BULK };
	report_eq_u64("gml.regs.hash status", 0, call(fd, hash, &r));
	report_eq_u64("FNV-1a of the 4 KiB the hypervisor received (expected: the guest's)",
		      gml_fnv1a(GML_FNV_OFFSET, data, BULK), r.rdx);
	report_value("calls", calls);
}

/* hypervisor -> guest: the hypervisor fills its buffer with the pattern, the guest gets it */
static void bulk_get(int fd, const char *who)
{
	unsigned long get = fd < 0 ? m_lookup(GML_SVC_REGS_GET) : m_lookup0(fd, GML_SVC_REGS_GET);
	unsigned long fill = fd < 0 ? m_lookup(GML_SVC_REGS_FILL) : m_lookup0(fd, GML_SVC_REGS_FILL);
	unsigned char data[BULK];
	unsigned calls = 0, off, bad = 0;
	struct hc_regs r;

	if (!get || !fill)
		return;
	r = (struct hc_regs){ .rbx = 0, .rcx = BULK, .rdx = SEED_GET };
	if (!report_eq_u64("gml.regs.fill status", 0, call(fd, fill, &r)))
		return;
	memset(data, 0, sizeof(data));
	for (off = 0; off < BULK; off += GML_REGS_CHUNK, calls++) {
		unsigned n = BULK - off < GML_REGS_CHUNK ? BULK - off : GML_REGS_CHUNK;
		unsigned long w[3];
		unsigned char tail[GML_REGS_CHUNK];

		r = (struct hc_regs){ .rbx = off, .rcx = n, .rdx = 1, .rsi = 2, .rdi = 3 };
		if (call(fd, get, &r) != 0) {
			if (!bad++)
				report(0, "%s gml.regs.get at offset %#x: status %s", who, off,
				       m_errname(r.rax));
			continue;
		}
		w[0] = r.rdx, w[1] = r.rsi, w[2] = r.rdi;
		memcpy(data + off, w, n);
		memcpy(tail, w, sizeof(tail));
		if (n < GML_REGS_CHUNK && !m_check_fill("bytes past count are 0", tail + n,
							GML_REGS_CHUNK - n, 0))
			bad++;
	}
	report(bad == 0, "%s: %u gml.regs.get calls returned status 0 (%u did not)", who, calls, bad);
	m_check_pattern("4 KiB received through registers", data, BULK, SEED_GET, 0);
	report_value("calls", calls);
}

static void bulk_put_cpl3(void) { bulk_put(-1, "CPL3"); }
static void bulk_get_cpl3(void) { bulk_get(-1, "CPL3"); }

static void bulk_cpl0(void)
{
	int fd = m_kmod_open();

	if (fd < 0)
		return;
	bulk_put(fd, "CPL0");
	bulk_get(fd, "CPL0");
	close(fd);
}

static void bad_args(void)
{
	unsigned long put = m_lookup(GML_SVC_REGS_PUT), get = m_lookup(GML_SVC_REGS_GET);
	unsigned long hash = m_lookup(GML_SVC_REGS_HASH);
	struct hc_regs r;

	if (!put || !get || !hash)
		return;
	r = (struct hc_regs){ .rbx = 0, .rcx = 0 };
	report(hc_call(put, &r) == GML_E_LEN_ZERO, "put count 0: expected GML_E_LEN_ZERO, got %s",
	       m_errname(r.rax));
	r = (struct hc_regs){ .rbx = 0, .rcx = GML_REGS_CHUNK + 1 };
	report(hc_call(put, &r) == GML_ME_TOO_LONG, "put count 25: expected GML_ME_TOO_LONG, got %s",
	       m_errname(r.rax));
	r = (struct hc_regs){ .rbx = GML_REGS_BUF - 10, .rcx = GML_REGS_CHUNK };
	report(hc_call(put, &r) == GML_ME_OUT_OF_BUFFER, "put past the buffer end: expected "
	       "GML_ME_OUT_OF_BUFFER, got %s", m_errname(r.rax));
	r = (struct hc_regs){ .rbx = ~0UL, .rcx = 2 };
	report(hc_call(put, &r) == GML_ME_OUT_OF_BUFFER, "put at offset 2^64-1 (wrapping): expected "
	       "GML_ME_OUT_OF_BUFFER, got %s", m_errname(r.rax));
	r = (struct hc_regs){ .rbx = GML_REGS_BUF, .rcx = 1, .rdx = 11, .rsi = 22, .rdi = 33 };
	report(hc_call(get, &r) == GML_ME_OUT_OF_BUFFER, "get at the buffer end: expected "
	       "GML_ME_OUT_OF_BUFFER, got %s", m_errname(r.rax));
	report(r.rdx == 11 && r.rsi == 22 && r.rdi == 33, "a refused get leaves rdx rsi rdi alone "
	       "(got %#lx %#lx %#lx)", r.rdx, r.rsi, r.rdi);
	r = (struct hc_regs){ .rbx = 0, .rcx = GML_REGS_BUF + 1 };
	report(hc_call(hash, &r) == GML_ME_TOO_LONG, "hash longer than the buffer: expected "
	       "GML_ME_TOO_LONG, got %s", m_errname(r.rax));
	/* the last byte of the buffer is usable */
	r = (struct hc_regs){ .rbx = GML_REGS_BUF - 1, .rcx = 1, .rdx = 0x77 };
	report(hc_call(put, &r) == 0, "put of the buffer's last byte: status %s", m_errname(r.rax));
	m_alive();
}

static const struct gml_case cases[] = {
	{ "regs/echo-cpl3", "gml.regs.echo from CPL3: rbx..rdi come back inverted, rax 0, rbp r8-r15 "
	  "rsp preserved", GML_NEEDS_HYPERVISOR, echo_cpl3 },
	{ "regs/echo-cpl0", "gml.regs.echo from CPL0 (kernel module): rbx..rdi come back inverted",
	  GML_NEEDS_HYPERVISOR | GML_NEEDS_KMOD, echo_cpl0 },
	{ "regs/bulk-put-cpl3", "guest -> hypervisor: 4 KiB through registers (24 bytes a call), "
	  "hash compared", GML_NEEDS_HYPERVISOR, bulk_put_cpl3 },
	{ "regs/bulk-get-cpl3", "hypervisor -> guest: 4 KiB pattern through registers, verified in "
	  "the guest", GML_NEEDS_HYPERVISOR, bulk_get_cpl3 },
	{ "regs/bulk-cpl0", "both bulk directions from CPL0 (kernel module)",
	  GML_NEEDS_HYPERVISOR | GML_NEEDS_KMOD, bulk_cpl0 },
	{ "regs/bad-args", "count 0, count > 24, offsets past or wrapping the staging buffer: typed "
	  "errors, result registers untouched", GML_NEEDS_HYPERVISOR, bad_args },
};

GML_MAIN("regs", cases)
