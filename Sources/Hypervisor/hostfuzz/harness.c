/* The host fuzzer's harness: decodes an input into a machine (layout, CPU state, guest page
 * tables, guest memory) and a sequence of hypercalls, runs them through the real dispatch
 * (vmm/hypercall.c) and services, and checks the invariants after every call (README.md).
 *
 * Input format (all fields read in order; a missing byte reads as 0):
 *   header  u8 layout, u8 cpu flags, u8 cpu extra, u8 page-table pool position
 *   ops     u8 opcode (low 3 bits: the op, high 5 bits: its parameter), then the op's fields:
 *     0 CALL    param bit 0 = CPL3; u8 service; 5 register selectors (rbx rcx rdx rsi rdi)
 *     1 LOOKUP  param bit 0 = CPL3; u8 name slot (>= 0xf0: a gva selector follows)
 *     2 MAP     u8 window, u8 index, u8 level, gpa selector, u8 flags, u8 bad bit
 *     3 FILL    gpa selector, length selector, u8 value
 *     4 POKE    gpa selector, u64 value
 *     5 NAME    gpa selector, u8 name slot (>= 0xf0: u8 length + raw bytes)
 *     6 CPU     u8 bits to toggle (WP SMAP AC SMEP NXE PG PCID-in-CR3 backend)
 *     7 FRAMES  gpa selector, u8 count (<= 64), count gpa selectors: a gml.phys.list array
 * Selectors are described at sel_value(). mkcorpus.py writes this format. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "model.h"
#include "guestpt.h"
#include "gml_errors.h"
#include "gml_methods.h"
#include "gml_hypercall.h"

enum { RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8, R9, R10, R11, R12, R13, R14, R15 };
static const char *const reg_name[16] = { "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
					  "r8",  "r9",  "r10", "r11", "r12", "r13", "r14", "r15" };
#define R(x) (1u << (x))
#define OUT_ABI (R(RAX) | R(RBX) | R(RCX) | R(RDX) | R(RSI) | R(RDI))

/* ---- the services: names (fixed order: replay files select services by this index, so only
 * ever append), what they may change, and which model checks them ---- */

enum kind {
	K_UNKNOWN, K_ECHO, K_INFO, K_SEED_REGS, K_SEED_PHYS, K_SEED_LINEAR, K_REGS_ECHO, K_REGS_PUT,
	K_REGS_GET, K_REGS_FILL, K_REGS_HASH, K_PHYS_XFER, K_PHYS_LIST, K_LIN_BYTEWISE,
	K_LIN_PAGEWISE, K_PROBE, K_PAGING, K_HOLDS,
};

struct svc_model {
	const char *name;
	enum kind kind;
	unsigned outs;   /* registers the service may change (Sources/Hypervisor/README.md, gml_methods.h) */
	unsigned owners; /* heap buffers it may use */
};

static const struct svc_model known[] = {
	{ "gmlab.echo", K_ECHO, R(RAX), 0 },
	{ "gmlab.info", K_INFO, OUT_ABI, 0 },
	{ "seed.regs", K_SEED_REGS, R(RAX), 0 },
	{ "seed.phys", K_SEED_PHYS, R(RAX), 0 },
	{ "seed.linear", K_SEED_LINEAR, R(RAX), 0 },
	{ GML_SVC_REGS_ECHO, K_REGS_ECHO, OUT_ABI, HF_OWN_REGS },
	{ GML_SVC_REGS_PUT, K_REGS_PUT, R(RAX), HF_OWN_REGS },
	{ GML_SVC_REGS_GET, K_REGS_GET, R(RAX) | R(RDX) | R(RSI) | R(RDI), HF_OWN_REGS },
	{ GML_SVC_REGS_FILL, K_REGS_FILL, R(RAX), HF_OWN_REGS },
	{ GML_SVC_REGS_HASH, K_REGS_HASH, R(RAX) | R(RDX), HF_OWN_REGS },
	{ GML_SVC_PHYS_XFER, K_PHYS_XFER, R(RAX) | R(RBX) | R(RCX) | R(RDX), HF_OWN_XFER },
	{ GML_SVC_PHYS_LIST, K_PHYS_LIST, R(RAX) | R(RBX) | R(RCX) | R(RDX), HF_OWN_XFER },
	{ GML_SVC_LINEAR_BYTEWISE, K_LIN_BYTEWISE, R(RAX) | R(RBX) | R(RCX) | R(RDX), HF_OWN_XFER },
	{ GML_SVC_LINEAR_PAGEWISE, K_LIN_PAGEWISE, R(RAX) | R(RBX) | R(RCX) | R(RDX), HF_OWN_XFER },
	{ GML_SVC_LINEAR_PROBE, K_PROBE, OUT_ABI, 0 },
	{ GML_SVC_CPU_PAGING, K_PAGING, OUT_ABI, 0 },
	{ "gmlab.holds", K_HOLDS, R(RAX) | R(RBX) | R(RCX) | R(RDX), 0 },
};
#define NKNOWN ((int)(sizeof(known) / sizeof(known[0])))

#define MAX_SVC 64
static int nsvc;                        /* services registered (numbers 1..nsvc) */
static struct svc_model svc[MAX_SVC + 1]; /* by number */
static const char *sel_names[MAX_SVC + NKNOWN];
static int nsel;

/* ---- input reading ---- */

typedef short s16;
typedef long long s64;

struct rd {
	const u8 *p;
	size_t n, i;
};
static u8 rd8(struct rd *r) { return r->i < r->n ? r->p[r->i++] : 0; }
static u64 rdn(struct rd *r, int bytes)
{
	u64 v = 0;
	for (int i = 0; i < bytes; i++)
		v |= (u64)rd8(r) << (8 * i);
	return v;
}
static s16 rds16(struct rd *r) { return (s16)rdn(r, 2); }

/* ---- the modelled machine's addresses ---- */

#define DATA_GPA 0x200000ULL   /* 2 MiB of guest data, mapped at DATA_GVA with 4 KiB user pages */
#define DATA_GVA 0x400000ULL
#define NAMES_GPA 0x3ff000ULL  /* the service names, 32 bytes apart (last page of the data window) */
#define NAMES_GVA 0x5ff000ULL
#define FRAMES_GPA 0x300000ULL
#define SCRATCH_GPA 0x8000ULL  /* the reset call writes one byte here */
#define DIRECT_MAP 0xffff888000000000ULL /* kernel direct map: 1 GiB pages over all of span */

static const u64 windows[8] = {
	0x0ULL,                /* the null page */
	DATA_GVA,              /* the data window */
	0x00007fffffe00000ULL, /* top 2 MiB of the 48-bit lower half */
	DIRECT_MAP,            /* kernel direct map */
	0xffffffffffe00000ULL, /* top 2 MiB of the address space */
	0x00ffffffffe00000ULL, /* top 2 MiB of the 57-bit lower half */
	0xff00000000000000ULL, /* bottom of the 57-bit upper half */
	0x0000800000000000ULL, /* first non-canonical address with 4 levels (canonical with 5) */
};

static const u64 lengths[32] = {
	0, 1, 2, 3, 4, 5, 7, 8, 16, 24, 25, 63, 64, 255, 256, 257,
	4095, 4096, 4097, 65536, 262144, 262145, (2ULL << 20) - 1, 2ULL << 20, (2ULL << 20) + 1,
	(16ULL << 20) - 1, 16ULL << 20, (16ULL << 20) + 1, 1ULL << 32, 1ULL << 63, ~0ULL, ~0ULL - 4095,
};

static struct hf_pt pt;
static u64 gpa_edges[32];

static void compute_edges(const struct hf_layout *L)
{
	u64 low_top = 0, top = 0;
	for (int i = 0; i < L->ne820; i++) {
		if (L->e820[i].type != 1)
			continue;
		u64 end = L->e820[i].addr + L->e820[i].size;
		if (end <= 4 * HF_GIB && end > low_top)
			low_top = end;
		if (end > top)
			top = end;
	}
	u64 e[32] = {
		0, 0x1000, 0x9f000, 0x9fc00, 0xa0000, 0xf0000, L->image_base, L->image_base + L->image_size,
		L->heap_base, L->heap_base + 0x10000, L->heap_base + L->heap_size, low_top, 4 * HF_GIB, top,
		DATA_GPA, NAMES_GPA, pt.pool, FRAMES_GPA, 0x1000000, 0xfffc0000, 0xfeffc000, 1ULL << 36,
		(1ULL << 46) - HF_PAGE, (1ULL << 52) - HF_PAGE, ~0ULL - HF_PAGE + 1,
		L->nbufs > 0 ? L->bufs[0].gpa : 0, L->nbufs > 1 ? L->bufs[1].gpa : 0, L->span,
		L->heap_base - (2ULL << 20), low_top - (16ULL << 20), SCRATCH_GPA, 0xe0000000,
	};
	memcpy(gpa_edges, e, sizeof(e));
}

static u64 last_out[6];   /* rax rbx rcx rdx rsi rdi of the last call */
static u64 last_lookup;   /* rax of the last look-up */

static u64 sel_gpa(struct rd *r)
{
	u64 b = gpa_edges[rd8(r) & 31];
	return b + (u64)(s64)rds16(r);
}

static u64 sel_gva_kind(struct rd *r, unsigned k)
{
	switch (k) {
	case 0 ... 7:
		return windows[k] + (u64)rd8(r) * HF_PAGE + (u64)(s64)rds16(r);
	case 8:
		return NAMES_GVA + 32 * (u64)(rd8(r) % (nsel ? nsel : 1));
	case 9:
		return DIRECT_MAP + gpa_edges[rd8(r) & 31] + (u64)(s64)rds16(r);
	case 10:
		return NAMES_GVA + HF_PAGE - rd8(r);
	case 11:
		return DATA_GVA + rdn(r, 2);
	default:
		return windows[(k - 12) & 7] + (u64)(s64)rds16(r);
	}
}

/* A register value:
 *   0x00-0x1f  lengths[]                        0x20-0x3f  a guest-physical edge + s16
 *   0x40-0x5f  a guest-linear address (windows, names, direct map of an edge, ...)
 *   0x60-0x65  an output of the last call (rax rbx rcx rdx rsi rdi) + s16
 *   0x66       raw u64        0x67  2^64-1 - u8        0x68-0x7f  1 << (8 .. 20)
 *   0x80-0xff  the constant 0 .. 127 */
static u64 sel_value(struct rd *r)
{
	u8 t = rd8(r);
	if (t < 0x20)
		return lengths[t];
	if (t < 0x40) {
		r->i--;
		return sel_gpa(r);
	}
	if (t < 0x60)
		return sel_gva_kind(r, t - 0x40);
	if (t < 0x66)
		return last_out[t - 0x60] + (u64)(s64)rds16(r);
	if (t == 0x66)
		return rdn(r, 8);
	if (t == 0x67)
		return ~0ULL - rd8(r);
	if (t < 0x80)
		return 1ULL << (8 + (t - 0x68) % 13); /* 256 .. 1 MiB; the big edges are in lengths[] */
	return t - 0x80;
}

/* ---- history (printed with a failure) and tracing ---- */

#define HIST 64
static char history[HIST][320];
static int nhist;
static unsigned long long execs;
static double t0;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void hist(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void hist(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(history[nhist % HIST], sizeof(history[0]), fmt, ap);
	va_end(ap);
	if (hf_m.trace)
		fprintf(stderr, "hostfuzz: %s\n", history[nhist % HIST]);
	nhist++;
}

static void print_history(void)
{
	int from = nhist > HIST ? nhist - HIST : 0;
	fprintf(stderr, "==HOSTFUZZ== machine %s; what this input did (last %d steps):\n",
		hf_m.L ? hf_m.L->name : "?", nhist - from);
	for (int i = from; i < nhist; i++)
		fprintf(stderr, "==HOSTFUZZ==   %s\n", history[i % HIST]);
	size_t n = hf_m.call_log < 512 ? hf_m.call_log : 512;
	if (n) {
		fprintf(stderr, "==HOSTFUZZ== hypervisor log of the last call (%llu bytes, first %zu):\n", hf_m.call_log, n);
		fwrite(hf_m.log, 1, n, stderr);
		fprintf(stderr, "\n");
	}
}

/* ---- invariant helpers ---- */

/* [gpa, gpa+len) entirely e820 RAM outside the hypervisor's region (no wrap, len > 0)? */
static bool range_is_ram(u64 gpa, u64 len)
{
	const struct hf_layout *L = hf_m.L;
	if (!len || len - 1 > ~0ULL - gpa)
		return false;
	u64 last = gpa + len - 1;
	if ((L->image_base <= last && gpa < L->image_base + L->image_size) ||
	    (L->heap_base <= last && gpa < L->heap_base + L->heap_size))
		return false;
	u64 cur = gpa;
	for (;;) {
		u64 reach = 0;
		for (int i = 0; i < L->ne820; i++)
			if (L->e820[i].type == 1 && cur >= L->e820[i].addr && cur - L->e820[i].addr < L->e820[i].size) {
				u64 end_incl = L->e820[i].addr + L->e820[i].size - 1;
				if (end_incl > reach)
					reach = end_incl;
			}
		if (!reach)
			return false;
		if (reach >= last)
			return true;
		cur = reach + 1;
	}
}

/* A piece of a transfer: transfer offsets [off, off+len) live at guest-physical [gpa, ...). */
struct piece {
	u64 gpa, len, off;
};
#define MAX_PIECES 8200
static struct piece pieces[MAX_PIECES];
static int npieces;
static bool pieces_overflow;

static void add_piece(u64 gpa, u64 len, u64 off)
{
	if (npieces && pieces[npieces - 1].gpa + pieces[npieces - 1].len == gpa &&
	    pieces[npieces - 1].off + pieces[npieces - 1].len == off) {
		pieces[npieces - 1].len += len;
		return;
	}
	if (npieces == MAX_PIECES) {
		pieces_overflow = true;
		return;
	}
	pieces[npieces++] = (struct piece){ gpa, len, off };
}

/* Expected byte at transfer offset i. */
enum content { C_NONE, C_PATTERN, C_RAW, C_FOO };
static enum content want_kind;
static u64 want_seed;
static u8 expected_byte(u64 i)
{
	switch (want_kind) {
	case C_PATTERN: return gml_pattern_byte(want_seed, i);
	case C_RAW: return GML_XFER_RAW_BYTE;
	case C_FOO: return (u8)"foo"[i < 3 ? i : 3];
	default: return 0;
	}
}

/* Pages of paging structures the reference walks read before the call (for a linear service). */
#define MAX_PT_PAGES 64
static u64 pt_pages[MAX_PT_PAGES];
static int npt_pages;
static void note_tables(const struct hf_xlate *x)
{
	for (int i = 0; i < x->ntables; i++) {
		int j;
		for (j = 0; j < npt_pages; j++)
			if (pt_pages[j] == x->tables[i])
				break;
		if (j == npt_pages && npt_pages < MAX_PT_PAGES)
			pt_pages[npt_pages++] = x->tables[i];
	}
}
static bool pieces_touch_tables(void)
{
	for (int i = 0; i < npieces; i++)
		for (int j = 0; j < npt_pages; j++)
			if (pieces[i].gpa < pt_pages[j] + HF_PAGE && pt_pages[j] < pieces[i].gpa + pieces[i].len)
				return true;
	for (int j = 0; j < pt.used; j++) /* the model's own tables too */
		for (int i = 0; i < npieces; i++) {
			u64 t = pt.pool + (u64)j * HF_PAGE;
			if (pieces[i].gpa < t + HF_PAGE && t < pieces[i].gpa + pieces[i].len)
				return true;
		}
	return false;
}
static int by_gpa(const void *a, const void *b)
{
	const struct piece *x = a, *y = b;
	return x->gpa < y->gpa ? -1 : x->gpa > y->gpa;
}

/* Do two pieces share a guest-physical byte (then the later one's bytes are what stays)? */
static bool pieces_alias(void)
{
	static struct piece sorted[MAX_PIECES];
	memcpy(sorted, pieces, npieces * sizeof(pieces[0]));
	qsort(sorted, npieces, sizeof(sorted[0]), by_gpa);
	for (int i = 1; i < npieces; i++)
		if (sorted[i - 1].gpa + sorted[i - 1].len > sorted[i].gpa)
			return true;
	return false;
}

/* Linear transfer of len bytes at gva: the reference translation of each page. Returns false if
 * some page cannot be translated (the transfer must stop before it). *rights_ok_until = first
 * offset where the caller lacks the right (len if none). */
static void linear_pieces(u64 gva, u64 len, bool write, u64 *rights_until)
{
	u64 off = 0;
	*rights_until = len;
	while (off < len) {
		struct hf_xlate x;
		hf_ref_translate(gva + off, &x);
		note_tables(&x);
		bool right = x.ok && (write ? x.may_write : x.may_read);
		if (!right) {
			*rights_until = off;
			return;
		}
		u64 n = x.page_size - ((gva + off) & (x.page_size - 1));
		if (n > HF_PAGE - ((gva + off) & (HF_PAGE - 1)))
			n = HF_PAGE - ((gva + off) & (HF_PAGE - 1)); /* piece = part of one 4 KiB page */
		if (n > len - off)
			n = len - off;
		add_piece(x.gpa, n, off);
		off += n;
		if (gva + off < gva)
			return;
	}
}

__attribute__((no_sanitize("address"))) static u64 fnv_pieces(u64 done)
{
	u64 h = GML_FNV_OFFSET;
	for (int i = 0; i < npieces && pieces[i].off < done; i++) {
		u64 n = pieces[i].len;
		if (pieces[i].off + n > done)
			n = done - pieces[i].off;
		const u8 *p = hf_gpa_ptr(pieces[i].gpa);
		if (!p || !range_is_ram(pieces[i].gpa, n))
			return 0;
		h = gml_fnv1a(h, p, n);
	}
	return h;
}

/* Every byte of transfer offsets [0, done) holds what the service promised to store. */
/* Every byte of transfer offsets [0, done) holds what the service promised to store. */
__attribute__((no_sanitize("address"))) static void check_content(u64 done, const char *what)
{
	static u8 want[HF_PAGE];
	for (int i = 0; i < npieces && pieces[i].off < done; i++) {
		u64 n = pieces[i].len;
		if (pieces[i].off + n > done)
			n = done - pieces[i].off;
		const u8 *p = hf_gpa_ptr(pieces[i].gpa);
		for (u64 j = 0; j < n; j += HF_PAGE) {
			u64 m = n - j < HF_PAGE ? n - j : HF_PAGE;
			if (want_kind == C_PATTERN)
				gml_pattern_fill(want, want_seed, pieces[i].off + j, m);
			else
				for (u64 b = 0; b < m; b++)
					want[b] = expected_byte(pieces[i].off + j + b);
			if (p && !memcmp(p + j, want, m))
				continue;
			for (u64 b = 0; b < m; b++)
				if (!p || p[j + b] != want[b]) {
					hf_fail("write-content", "%s: transfer byte %llu at guest-physical 0x%llx holds 0x%02x, "
						"the service promised 0x%02x (%s)", what, pieces[i].off + j + b,
						pieces[i].gpa + j + b, p ? p[j + b] : 0, want[b],
						want_kind == C_RAW ? "a raw write stores GML_XFER_RAW_BYTE in every byte" : "its pattern");
					return;
				}
		}
	}
}

/* The pieces (offsets < done) overlapping guest page `page`, as a byte map of the page. */
static void allowed_map(u64 page, u64 done, u8 *map)
{
	u64 base = page * HF_PAGE;
	memset(map, 0, HF_PAGE);
	for (int i = 0; i < npieces; i++) {
		if (pieces[i].off >= done)
			continue;
		u64 n = pieces[i].len;
		if (pieces[i].off + n > done)
			n = done - pieces[i].off;
		if (!n || pieces[i].gpa >= base + HF_PAGE || pieces[i].gpa + n <= base || pieces[i].gpa + n < pieces[i].gpa)
			continue;
		u64 from = pieces[i].gpa > base ? pieces[i].gpa - base : 0;
		u64 to = pieces[i].gpa + n - base < HF_PAGE ? pieces[i].gpa + n - base : HF_PAGE;
		memset(map + from, 1, to - from);
	}
}

/* Guest RAM the call changed: each byte must be (a) RAM, and (b) inside the transfer's pieces
 * (allow_any: anywhere in RAM), or (c) an A/D bit the page walk set (walks). */
static void check_writes(bool walks, u64 done, bool allow_any)
{
	const struct hf_dirty *d;
	static u8 map[HF_PAGE];
	int n = hf_call_dirty(&d);
	for (int k = 0; k < n && !hf_failed(); k++) {
		u64 base = d[k].page * HF_PAGE;
		const u8 *now = hf_gpa_ptr(base), *was = d[k].before;
		if (!memcmp(now, was, HF_PAGE))
			continue;
		bool mapped = false, all_ram = hf_page_all_ram(base);
		if (allow_any && all_ram)
			continue;
		for (u64 off = 0; off < HF_PAGE; off++) {
			if ((off & 7) == 0) { /* skip equal words quickly */
				u64 a, b;
				memcpy(&a, now + off, 8);
				memcpy(&b, was + off, 8);
				if (a == b) {
					off += 7;
					continue;
				}
			}
			if (now[off] == was[off])
				continue;
			u64 g = base + off;
			if (!all_ram && !hf_is_ram(g)) {
				hf_fail("non-ram-write", "the call changed guest-physical 0x%llx (0x%02x -> 0x%02x), which "
					"is not RAM", g, was[off], now[off]);
				return;
			}
			if (allow_any)
				continue;
			if (!mapped) {
				allowed_map(d[k].page, done, map);
				mapped = true;
			}
			if (map[off])
				continue;
			u64 q = off & ~7ULL, o, w;
			memcpy(&o, was + q, 8);
			memcpy(&w, now + q, 8);
			u64 diff = o ^ w;
			/* Bytes of this word the transfer may store are not the walk's: a page-table entry
			 * can be the data too (a self-referencing PML4 entry maps its own page as the leaf,
			 * so the walk sets A and D in the word whose upper bytes "foo\0" then lands on). */
			for (int b = 0; b < 8 && q + b < HF_PAGE; b++)
				if (map[q + b])
					diff &= ~(0xffULL << (b * 8));
			if (walks && !(diff & ~(HF_PTE_A | HF_PTE_D)) && (w & diff) == diff)
				continue;
			hf_fail("write-outside", "the call changed guest-physical 0x%llx (0x%02x -> 0x%02x), outside "
				"what the caller named and may write", g, was[off], now[off]);
			return;
		}
	}
}

/* ---- the gml.regs staging buffer, modelled ---- */

static u8 staging[GML_REGS_BUF];

static u64 regs_status(u64 off, u64 len, u64 max)
{
	if (len == 0)
		return GML_E_LEN_ZERO;
	if (len > max)
		return GML_ME_TOO_LONG;
	if (off > GML_REGS_BUF || len > GML_REGS_BUF - off)
		return GML_ME_OUT_OF_BUFFER;
	return GML_OK;
}

static bool is_xfer_status(u64 st, bool list)
{
	return st < GML_E__COUNT || st == GML_ME_TOO_LONG || st == GML_ME_BAD_FLAGS ||
	       (list && st == GML_ME_BAD_OFFSET);
}

/* xfer_check(): the checks every transfer shares, in order. */
static u64 xfer_status(u64 addr, u64 len, u64 flags)
{
	if (flags & ~GML_XFER_FLAGS_ALL)
		return GML_ME_BAD_FLAGS;
	if (len == 0)
		return GML_E_LEN_ZERO;
	if (len - 1 > ~0ULL - addr)
		return GML_E_LEN_WRAP;
	if (len > GML_XFER_MAX)
		return GML_ME_TOO_LONG;
	return GML_OK;
}

/* ---- call-sequence coverage ----
 * libFuzzer treats these counters like code coverage: an input that makes a new pair of
 * consecutive calls -- (service, transfer flags, outcome) then (service, flags, outcome) -- is
 * kept even when no new code runs, so sequences that carry state from call to call (a buffer,
 * a flag, a page-table change) are built up one step at a time. Generic: no service's state is
 * looked at. */
__attribute__((section("__libfuzzer_extra_counters"), used)) static u8 pair_counters[1 << 16];
static unsigned prev_class;
#define CLASS_START 0xffffu

static void note_pair(unsigned svc_idx, u64 flags, int outcome)
{
	unsigned cls = (svc_idx * 8 + (unsigned)(flags < 4 ? flags : 4)) * 3 + outcome;
	u64 h = ((u64)prev_class * 0x9e3779b97f4a7c15ULL) ^ (cls * 0xbf58476d1ce4e5b9ULL);
	pair_counters[(h >> 40) & 0xffff]++;
	prev_class = cls;
}

static int sel_index_of(const char *name)
{
	for (int i = 0; i < nsel; i++)
		if (!strcmp(sel_names[i], name))
			return i;
	return nsel;
}

/* ---- one hypercall ---- */

static unsigned ncalls;
static unsigned long long total_calls; /* hypercalls run by this process */
static u64 backend_id; /* GML_BACKEND_SVM / _VMX, what gmlab.info must report */

static const struct svc_model *service_of(u64 nr)
{
	return nr >= 1 && nr <= (u64)nsvc ? &svc[nr] : NULL;
}

static void call(u64 nr, const u64 in5[5], int cpl)
{
	u64 g[16], in[16];
	const struct svc_model *s = nr == GML_HC_LOOKUP ? NULL : service_of(nr);
	enum kind k = s ? s->kind : K_UNKNOWN;
	const char *name = nr == GML_HC_LOOKUP ? "lookup" : s ? s->name : "unused-number";

	for (int i = 0; i < 16; i++)
		g[i] = 0x5e5e000000000000ULL | ((u64)i << 16) | ncalls;
	g[RAX] = nr;
	g[RBX] = in5[0], g[RCX] = in5[1], g[RDX] = in5[2], g[RSI] = in5[3], g[RDI] = in5[4];
	/* Issue 14's fault-in mode (a #PF for the guest's handler to resolve) and in-flight words
	 * (a continuation's registers) are not modelled here: transfers are fresh requests without
	 * GML_XFER_FAULTIN, and the look-up never asks for fault-in. Continuations themselves run
	 * (glue.c repeats a restarted call), so a long transfer is checked as one call. */
	if (k == K_PHYS_XFER || k == K_PHYS_LIST || k == K_LIN_BYTEWISE || k == K_LIN_PAGEWISE)
		g[RDX] &= ~(GML_XFER_FAULTIN | GML_XFER_TAG_MASK);
	if (nr == GML_HC_LOOKUP && (g[RCX] & ~GML_LOOKUP_RETRY_MASK) == GML_LOOKUP_FAULTIN)
		g[RCX] = 0;
	memcpy(in, g, sizeof(in));
	hf_m.cpu.c.cpl = cpl;
	ncalls++;
	total_calls++;
	hf_hv_set_counters(ncalls, 0);

	/* What the call may write, worked out before it runs. */
	npieces = 0;
	pieces_overflow = false;
	npt_pages = 0;
	want_kind = C_NONE;
	u64 rights_until = ~0ULL;
	u64 frames[4097];
	u64 nframes = 0;
	bool frames_ok = false;
	u64 a_addr = in[RBX], a_len = in[RCX], a_flags = in[RDX], a_seed = in[RSI], a_rdi = in[RDI];
	bool xwrite = a_flags & GML_XFER_WRITE, xraw = a_flags & GML_XFER_RAW;
	u64 xst = xfer_status(a_addr, a_len, a_flags);
	switch (k) {
	case K_SEED_PHYS:
		add_piece(a_addr, a_len < 4 ? a_len : 4, 0);
		want_kind = C_FOO;
		break;
	case K_SEED_LINEAR:
		for (u64 i = 0; i < 4; i++) {
			struct hf_xlate x;
			hf_ref_translate(a_addr + i, &x);
			note_tables(&x);
			if (x.ok && x.may_write)
				add_piece(x.gpa, 1, i);
		}
		want_kind = C_FOO;
		break;
	case K_PHYS_XFER:
		if (xst == GML_OK)
			add_piece(a_addr, a_len, 0);
		break;
	case K_PHYS_LIST:
		if (xst == GML_OK && a_rdi < HF_PAGE) {
			nframes = (a_rdi + a_len + HF_PAGE - 1) / HF_PAGE;
			frames_ok = range_is_ram(a_addr, nframes * 8) && hf_guest_read(a_addr, frames, nframes * 8);
			for (u64 f = 0; frames_ok && f < nframes; f++) {
				u64 first = f == 0 ? a_rdi : 0, off = f * HF_PAGE - a_rdi + first;
				u64 n = HF_PAGE - first;
				if (off + n > a_len)
					n = a_len - off;
				if (frames[f] < (1ULL << 40))
					add_piece(frames[f] * HF_PAGE + first, n, off);
				else
					break;
			}
		}
		break;
	case K_LIN_BYTEWISE:
	case K_LIN_PAGEWISE:
		if (xst == GML_OK)
			linear_pieces(a_addr, a_len, xwrite, &rights_until);
		break;
	default:
		break;
	}
	if (k == K_PHYS_XFER || k == K_PHYS_LIST || k == K_LIN_BYTEWISE || k == K_LIN_PAGEWISE)
		want_kind = !xwrite ? C_NONE : xraw ? C_RAW : C_PATTERN;
	want_seed = a_seed;

	/* The call. */
	hf_m.svc = name;
	/* seed.phys: 64 buffer bytes, each up to 4 characters escaped (\\xNN), + its line */
	hf_m.log_budget = k == K_SEED_PHYS ? 300 : HF_LOG_BUDGET;
	hist("call %-19s cpl%d in  rax=%llx rbx=%llx rcx=%llx rdx=%llx rsi=%llx rdi=%llx", name, cpl, in[RAX],
	     in[RBX], in[RCX], in[RDX], in[RSI], in[RDI]);
	hf_call_begin(s ? s->owners : 0);
	if (sigsetjmp(hf_call_env, 1) == 0)
		hf_hv_call(g);
	hf_call_end();
	if (hf_failed())
		return; /* an in-call failure in keep-going mode */
	const struct hf_dirty *dirty;
	int ndirty = hf_call_dirty(&dirty);
	hist("     %-19s      out rax=%llx rbx=%llx rcx=%llx rdx=%llx rsi=%llx rdi=%llx (%llu accesses in %llu stays, "
	     "%llu log bytes, %d pages written)", "", g[RAX], g[RBX], g[RCX], g[RDX], g[RSI], g[RDI],
	     hf_m.stay_maps + hf_m.call_maps, hf_m.call_stays, hf_m.call_log, ndirty);

	/* Registers: only the documented outputs change. */
	unsigned outs = nr == GML_HC_LOOKUP ? R(RAX) : s ? s->outs : R(RAX);
	if (k == K_UNKNOWN && s)
		outs = OUT_ABI; /* a service the harness has no model of */
	for (int i = 0; i < 16; i++)
		if (!(outs & R(i)) && g[i] != in[i]) {
			hf_fail("register-clobbered", "%s changed %s from 0x%llx to 0x%llx (not one of its outputs)",
				name, reg_name[i], in[i], g[i]);
			return;
		}

	/* Return values, per service. */
	u64 rax = g[RAX], done = g[RBX];
	bool walks = false, allow_any = false;
	switch (k) {
	case K_UNKNOWN:
		if (nr == GML_HC_LOOKUP) {
			walks = true;
			if (rax > (u64)nsvc)
				hf_fail("bad-return", "look-up returned %llu, not 0..%d", rax, nsvc);
			last_lookup = rax;
		} else if (!s) {
			if (rax != GML_HC_ENOSYS)
				hf_fail("bad-return", "unused service number %llu returned rax=0x%llx, not GML_HC_ENOSYS", nr, rax);
		} else {
			walks = allow_any = true;
		}
		break;
	case K_ECHO:
		if (rax != in[RBX] + in[RCX] + in[RDX] + in[RSI] + in[RDI])
			hf_fail("bad-return", "gmlab.echo returned 0x%llx, not the sum", rax);
		break;
	case K_INFO:
		if (rax != GML_INFO_MAGIC || g[RBX] != hf_m.L->heap_base || g[RCX] != hf_m.L->heap_size ||
		    g[RDX] != backend_id || g[RSI] != 0 || g[RDI] != ncalls)
			hf_fail("bad-return", "gmlab.info returned rax=0x%llx rbx=0x%llx rcx=0x%llx rsi=%llu rdi=%llu", rax,
				g[RBX], g[RCX], g[RSI], g[RDI]);
		break;
	case K_HOLDS:
		/* the figures are timing; what is checked: it answers and touches no memory. rcx is
		 * the rax of the longest stay, whatever the caller passed (an unused number's stay
		 * counts too: the fuzzer's first run found the model wrong to expect 1..nsvc) */
		if (rax != 0)
			hf_fail("bad-return", "gmlab.holds returned rax=%llu, not 0", rax);
		break;
	case K_SEED_REGS:
		if (rax != 10)
			hf_fail("bad-return", "seed.regs returned %llu, not 10", rax);
		break;
	case K_SEED_PHYS:
		if (rax > 1)
			hf_fail("bad-return", "seed.phys returned %llu, not 0 or 1", rax);
		else if (rax == 0 && !range_is_ram(a_addr, a_len))
			hf_fail("bad-return", "seed.phys accepted [0x%llx, +0x%llx), which is not all guest RAM", a_addr, a_len);
		if (rax != 0)
			npieces = 0; /* refused: nothing may be stored */
		break;
	case K_SEED_LINEAR:
		walks = true;
		if (rax > 1)
			hf_fail("bad-return", "seed.linear returned %llu, not 0 or 1", rax);
		if (rax != 0)
			npieces = 0;
		break;
	case K_REGS_ECHO:
		if (rax != 0 || g[RBX] != ~in[RBX] || g[RCX] != ~in[RCX] || g[RDX] != ~in[RDX] || g[RSI] != ~in[RSI] ||
		    g[RDI] != ~in[RDI])
			hf_fail("bad-return", "gml.regs.echo did not return the complements");
		break;
	case K_REGS_PUT:
	case K_REGS_FILL: {
		u64 want = regs_status(in[RBX], in[RCX], k == K_REGS_PUT ? GML_REGS_CHUNK : GML_REGS_BUF);
		if (rax != want) {
			hf_fail("bad-return", "%s returned %llu, the ABI says %llu", name, rax, want);
			break;
		}
		if (want == GML_OK && k == K_REGS_PUT)
			for (u64 i = 0; i < in[RCX]; i++)
				staging[in[RBX] + i] = (u8)(in[i / 8 == 0 ? RDX : i / 8 == 1 ? RSI : RDI] >> ((i % 8) * 8));
		else if (want == GML_OK)
			gml_pattern_fill(staging + in[RBX], in[RDX], 0, in[RCX]);
		break;
	}
	case K_REGS_GET: {
		u64 want = regs_status(in[RBX], in[RCX], GML_REGS_CHUNK), w[3] = { 0, 0, 0 };
		if (rax != want) {
			hf_fail("bad-return", "%s returned %llu, the ABI says %llu", name, rax, want);
			break;
		}
		if (want != GML_OK) {
			if (g[RDX] != in[RDX] || g[RSI] != in[RSI] || g[RDI] != in[RDI])
				hf_fail("register-clobbered", "gml.regs.get changed rdx/rsi/rdi on an error");
			break;
		}
		for (u64 i = 0; i < in[RCX]; i++)
			w[i / 8] |= (u64)staging[in[RBX] + i] << ((i % 8) * 8);
		if (g[RDX] != w[0] || g[RSI] != w[1] || g[RDI] != w[2])
			hf_fail("bad-return", "gml.regs.get returned bytes that were not put there");
		break;
	}
	case K_REGS_HASH: {
		u64 want = regs_status(in[RBX], in[RCX], GML_REGS_BUF);
		if (rax != want)
			hf_fail("bad-return", "%s returned %llu, the ABI says %llu", name, rax, want);
		else if (want == GML_OK && g[RDX] != gml_fnv1a(GML_FNV_OFFSET, staging + in[RBX], in[RCX]))
			hf_fail("bad-return", "gml.regs.hash: hash of bytes that were not put there");
		else if (want != GML_OK && g[RDX] != in[RDX])
			hf_fail("register-clobbered", "gml.regs.hash changed rdx on an error");
		break;
	}
	case K_PHYS_XFER:
	case K_PHYS_LIST:
	case K_LIN_BYTEWISE:
	case K_LIN_PAGEWISE: {
		bool linear = k == K_LIN_BYTEWISE || k == K_LIN_PAGEWISE;
		walks = linear;
		if (!is_xfer_status(rax, k == K_PHYS_LIST)) {
			hf_fail("bad-return", "%s returned status %llu, not a gml_err or method error", name, rax);
			break;
		}
		if (k == K_LIN_BYTEWISE && a_len > GML_BYTEWISE_MAX && rax == GML_ME_TOO_LONG && done == 0 && g[RCX] == 0)
			break; /* contract 9: byte-wise transfers above GML_BYTEWISE_MAX are refused (whichever check runs first) */
		if (xst != GML_OK) {
			if (rax != xst || done != 0)
				hf_fail("bad-return", "%s: the ABI's checks give %llu, it returned %llu (done %llu)", name, xst, rax, done);
			break;
		}
		if (done > a_len || (rax == GML_OK && done != a_len) || (rax != GML_OK && done == a_len)) {
			hf_fail("bad-return", "%s: status %llu with %llu of %llu bytes done", name, rax, done, a_len);
			break;
		}
		if (k == K_PHYS_XFER) {
			bool ok = range_is_ram(a_addr, a_len);
			if ((rax == GML_OK) != ok || (done != 0 && done != a_len))
				hf_fail("bad-return", "gml.phys.xfer [0x%llx, +0x%llx) is %sall guest RAM but returned %llu, done %llu",
					a_addr, a_len, ok ? "" : "not ", rax, done);
		}
		if (k == K_PHYS_LIST && rax == GML_OK && !frames_ok && a_rdi < HF_PAGE)
			hf_fail("bad-return", "gml.phys.list succeeded with a frame array that is not guest RAM");
		if (hf_failed())
			break;
		if ((xwrite || xraw) && g[RCX] != 0)
			hf_fail("bad-return", "%s: a write or raw transfer returned hash 0x%llx, not 0", name, g[RCX]);
		bool tables = linear && pieces_touch_tables();
		if (k == K_PHYS_LIST && xwrite && frames_ok)
			for (int i = 0; i < npieces; i++)
				if (pieces[i].gpa < a_addr + nframes * 8 && a_addr < pieces[i].gpa + pieces[i].len)
					tables = true; /* it may overwrite its own frame array mid-transfer */
		if (linear && done > rights_until && !tables) {
			hf_fail(xwrite ? "write-without-right" : "read-without-right",
				"%s moved %llu bytes at cpl%d but the caller may not %s transfer byte %llu (gva 0x%llx)", name,
				done, cpl, xwrite ? "write" : "read", rights_until, a_addr + rights_until);
			break;
		}
		if (pieces_overflow)
			break;
		if (!xwrite && !xraw && !tables && (k != K_PHYS_LIST || frames_ok)) {
			u64 h = fnv_pieces(done);
			if (g[RCX] != h && !(done == 0 && g[RCX] == 0)) /* refused before the loop: hash 0 */
				hf_fail("read-content", "%s read %llu bytes whose hash is 0x%llx; the guest's bytes there hash to "
					"0x%llx (it returned something else than guest memory)", name, done, g[RCX], h);
		}
		if (xwrite && !tables && !pieces_alias())
			check_content(done, name);
		if (xwrite && tables)
			allow_any = true; /* it may have rewritten its own page tables mid-transfer */
		if (!xwrite)
			npieces = 0; /* reads store nothing */
		break;
	}
	case K_PROBE:
		walks = in[RCX] & GML_PROBE_SET_AD;
		/* GML_PROBE_EXEC (issue 14's walker cases): execute instead of read, never with WRITE */
		if ((in[RCX] & ~(GML_PROBE_WRITE | GML_PROBE_SET_AD | GML_PROBE_EXEC)) ||
		    (in[RCX] & (GML_PROBE_WRITE | GML_PROBE_EXEC)) == (GML_PROBE_WRITE | GML_PROBE_EXEC)) {
			if (rax != GML_ME_BAD_FLAGS)
				hf_fail("bad-return", "gml.linear.probe with bad flags returned %llu", rax);
			break;
		}
		if (rax >= GML_E__COUNT) {
			hf_fail("bad-return", "gml.linear.probe returned %llu, not a gml_err", rax);
			break;
		}
		if (rax == GML_OK) {
			struct hf_xlate x;
			hf_ref_translate(in[RBX], &x);
			if (!x.ok || g[RCX] != x.page_size || (cpl == 0 && g[RBX] != x.gpa))
				hf_fail("bad-return", "gml.linear.probe of 0x%llx gave gpa 0x%llx size 0x%llx; the page tables say "
					"%s0x%llx size 0x%llx", in[RBX], g[RBX], g[RCX], x.ok ? "" : "no translation, ", x.gpa,
					x.page_size);
		}
		break;
	case K_PAGING: {
		const struct hf_cpu *c = &hf_m.cpu.c;
		u64 cr3_hidden = c->cr3 & ~0x000ffffffffff000ULL; /* contract 10: CPL3 sees no address bits */
		if (rax != 0 || g[RBX] != c->cr0 || g[RDX] != c->cr4 || g[RSI] != c->efer || g[RDI] != (u64)cpl ||
		    !(g[RCX] == c->cr3 || (cpl == 3 && g[RCX] == cr3_hidden)))
			hf_fail("bad-return", "gml.cpu.paging returned rax=%llu cr0=0x%llx cr3=0x%llx cr4=0x%llx efer=0x%llx "
				"cpl=%llu", rax, g[RBX], g[RCX], g[RDX], g[RSI], g[RDI]);
		break;
	}
	}
	if (hf_failed())
		return;
	/* Guest memory: only what the call may write changed. */
	bool any_pieces = npieces > 0 || k == K_SEED_PHYS || k == K_SEED_LINEAR;
	u64 limit = (k == K_SEED_PHYS || k == K_SEED_LINEAR) ? 4 : done;
	check_writes(walks, any_pieces ? limit : 0, allow_any);
	if (!hf_failed() && (k == K_SEED_PHYS || k == K_SEED_LINEAR) && rax == 0) {
		/* what it stored is "foo\0" (bytes it could not store stay as they were) */
		const struct hf_dirty *d;
		int n = hf_call_dirty(&d);
		for (int p = 0; p < n; p++)
			for (int i = 0; i < npieces; i++)
				for (u64 j = 0; j < pieces[i].len; j++) {
					u64 gg = pieces[i].gpa + j;
					if (gg / HF_PAGE != d[p].page)
						continue;
					u8 now = *hf_gpa_ptr(gg), was = d[p].before[gg % HF_PAGE];
					if (now != was && now != expected_byte(pieces[i].off + j))
						hf_fail("write-content", "%s stored 0x%02x at guest-physical 0x%llx, not \"foo\"", name,
							now, gg);
				}
	}
	{
		bool xfer = k == K_PHYS_XFER || k == K_PHYS_LIST || k == K_LIN_BYTEWISE || k == K_LIN_PAGEWISE;
		unsigned idx = nr == GML_HC_LOOKUP ? 62 : s ? (unsigned)sel_index_of(name) : 63;
		int outcome = rax == 0 ? 0 : (xfer && done > 0) ? 1 : 2;
		note_pair(idx, xfer ? a_flags : k == K_PROBE ? in[RCX] : 0, outcome);
	}
	last_out[0] = g[RAX], last_out[1] = g[RBX], last_out[2] = g[RCX];
	last_out[3] = g[RDX], last_out[4] = g[RSI], last_out[5] = g[RDI];
}

/* ---- start-up: which services exist ---- */

static void parse_services(void)
{
	const char *p = strstr(hf_m.log, "services registered:");
	if (!p) {
		fprintf(stderr, "hostfuzz: no service list in the log: %s\n", hf_m.log);
		abort();
	}
	p += strlen("services registered:");
	while (*p == ' ') {
		char name[300];
		unsigned n;
		int used;
		if (sscanf(p, " %u=%299[^ \n]%n", &n, name, &used) != 2 || n == 0 || n > MAX_SVC)
			break;
		p += used;
		int i;
		for (i = 0; i < NKNOWN && strcmp(known[i].name, name); i++)
			;
		svc[n] = i < NKNOWN ? known[i]
				    : (struct svc_model){ strdup(name), K_UNKNOWN, OUT_ABI, HF_OWN_REGS | HF_OWN_XFER };
		if ((int)n > nsvc)
			nsvc = n;
	}
	for (int i = 0; i < NKNOWN; i++)
		sel_names[nsel++] = known[i].name;
	for (int n = 1; n <= nsvc; n++)
		if (svc[n].kind == K_UNKNOWN) {
			sel_names[nsel++] = svc[n].name;
			fprintf(stderr, "hostfuzz: service %d \"%s\" has no model in harness.c: only the generic "
				"invariants apply to it\n", n, svc[n].name);
		}
}

static u64 number_of(const char *name)
{
	for (int n = 1; n <= nsvc; n++)
		if (!strcmp(svc[n].name, name))
			return n;
	return nsvc + 1; /* not registered: an unused number */
}

static const char *findings_dir;
static const char *only_class; /* HOSTFUZZ_ONLY: only this failure class counts (minimising) */

static void print_totals(void)
{
	double t = now() - t0;
	fprintf(stderr, "hostfuzz: %llu inputs, %llu hypercalls in %.1f s (%.0f hypercalls/s)\n", execs, total_calls, t,
		t > 0 ? total_calls / t : 0.0);
}

/* HOSTFUZZ_STATS=1 also prints the totals every 10 minutes, so a long run that is killed (or
 * whose exit is lost) still says how far it got. */
static bool stats_progress;
static double last_progress;

static void maybe_print_progress(void)
{
	if (!stats_progress || (execs & 1023) != 0 || now() - last_progress < 600)
		return;
	last_progress = now();
	print_totals();
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	hf_m.trace = getenv("HOSTFUZZ_TRACE") != NULL;
	findings_dir = getenv("HOSTFUZZ_KEEP_GOING");
	only_class = getenv("HOSTFUZZ_ONLY");
	hf_m.keep_going = findings_dir != NULL || only_class != NULL;
	hf_print_history = print_history;
	t0 = now();
	if (getenv("HOSTFUZZ_STATS")) {
		atexit(print_totals);
		stats_progress = true;
		last_progress = t0;
	}
	return 0;
}

static void init_once(void)
{
	hf_model_select(&hf_layouts[0]);
	hf_model_reset();
	hf_m.cpu.maxphyaddr = 46;
	hf_hv_boot(0);
	hf_m.call_log = 0;
	hf_hv_log_services();
	parse_services();
}

/* Keep-going mode: note the first input of each failure class, then go on fuzzing. */
#define MAX_CLASSES 256
static char *seen[MAX_CLASSES];
static int nseen;

static void note_finding(const u8 *data, size_t size)
{
	const char *cls = hf_failure_class();
	for (int i = 0; i < nseen; i++)
		if (!strcmp(seen[i], cls))
			return;
	if (nseen < MAX_CLASSES)
		seen[nseen++] = strdup(cls);
	char path[4096], file[200];
	snprintf(file, sizeof(file), "%s", cls);
	for (char *c = file; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-' || *c == '.'))
			*c = '_';
	snprintf(path, sizeof(path), "%s/%s.bin", findings_dir, file);
	FILE *f = fopen(path, "wb");
	if (f) {
		fwrite(data, 1, size, f);
		fclose(f);
	}
	fprintf(stderr, "==HOSTFUZZ== FOUND [%s] after %.1f s, input %llu: %s\n==HOSTFUZZ==   %s\n", cls,
		now() - t0, execs, path, hf_failure_text());
}

/* Chunk state left by earlier inputs (method_xfer.c's static raw flag) is put back to what a
 * fresh boot has by one patterned 1-byte write: every input starts from the same hypervisor. */
static void reset_call(void)
{
	u64 g[16] = { 0 };
	g[RAX] = number_of(GML_SVC_PHYS_XFER);
	g[RBX] = SCRATCH_GPA, g[RCX] = 1, g[RDX] = GML_XFER_WRITE;
	hf_m.cpu.c.cpl = 0;
	hf_m.svc = "reset";
	hf_call_begin(HF_OWN_XFER);
	hf_hv_call(g);
	hf_call_end();
	hf_m.svc = NULL;
}

static const unsigned maxphy_choices[8] = { 46, 36, 39, 48, 52, 40, 43, 32 };

int LLVMFuzzerTestOneInput(const u8 *data, size_t size);
int LLVMFuzzerTestOneInput(const u8 *data, size_t size)
{
	static bool inited;
	if (!inited) {
		init_once();
		inited = true;
	}
	execs++;
	maybe_print_progress();
	struct rd r = { data, size, 0 };
	hf_clear_failure();
	nhist = 0;
	ncalls = 0;
	prev_class = CLASS_START;
	last_lookup = 0;
	memset(last_out, 0, sizeof(last_out));
	memset(staging, 0, sizeof(staging));

	/* Header: the machine. */
	struct hf_layout *L = &hf_layouts[rd8(&r) % hf_nlayouts];
	u8 cf = rd8(&r), cx = rd8(&r), pool = rd8(&r);
	hf_model_select(L);
	hf_model_reset();
	struct hf_cpu_model *cpu = &hf_m.cpu;
	memset(cpu, 0, sizeof(*cpu));
	cpu->maxphyaddr = maxphy_choices[cx & 7];
	hf_hv_boot((cx >> 3) & 1);
	backend_id = (cx & 8) ? GML_BACKEND_VMX : GML_BACKEND_SVM;
	reset_call();

	bool la57 = cf & 1;
	cpu->c.cr0 = 1 /* PE */ | (1ULL << 31) /* PG */ | ((cf & 2) ? 1ULL << 16 : 0);
	cpu->c.cr4 = (1ULL << 5) | (la57 ? 1ULL << 12 : 0) | ((cf & 4) ? 1ULL << 20 : 0) | ((cf & 8) ? 1ULL << 21 : 0) |
		     ((cf & 0x40) ? 1ULL << 17 : 0);
	cpu->c.efer = (1ULL << 8) | (1ULL << 10) | ((cf & 0x10) ? 1ULL << 11 : 0);
	cpu->c.rflags = 2 | ((cf & 0x20) ? 1ULL << 18 : 0);
	if (cf & 0x80)
		cpu->c.cr0 &= ~(1ULL << 31); /* paging off: linear = physical */
	if (cx & 0x10)
		cpu->c.efer &= ~(1ULL << 10); /* legacy paging: unsupported by the walker */

	/* Guest page tables in a pool of RAM pages, placed at an edge the input picks. */
	u64 low_top = 0, high_top = 0;
	for (int i = 0; i < L->ne820; i++)
		if (L->e820[i].type == 1) {
			u64 end = L->e820[i].addr + L->e820[i].size;
			if (end <= 4 * HF_GIB && end > low_top)
				low_top = end;
			if (end > 4 * HF_GIB && end > high_top)
				high_top = end;
		}
	u64 pools[6] = { 0x10000, L->heap_base - HF_POOL_PAGES * HF_PAGE, low_top - HF_POOL_PAGES * HF_PAGE,
			 high_top ? high_top - HF_POOL_PAGES * HF_PAGE : 0x800000, L->image_base + L->image_size, 0x800000 };
	u64 pool_gpa = pools[pool % 6];
	if (!range_is_ram(pool_gpa, HF_POOL_PAGES * HF_PAGE))
		pool_gpa = 0x800000;
	hf_pt_init(&pt, pool_gpa, la57 ? 5 : 4);
	compute_edges(L);
	u64 tflags = HF_PTE_P | HF_PTE_RW | HF_PTE_US;
	u64 pte_at, ptes[512];
	if (hf_pt_map(&pt, DATA_GVA, DATA_GPA, 1, tflags, tflags, &pte_at)) { /* one PT page: all 512 at once */
		for (u64 i = 0; i < 512; i++)
			ptes[i] = (DATA_GPA + i * HF_PAGE) | tflags;
		hf_guest_write(pte_at, ptes, sizeof(ptes));
	}
	for (u64 i = 0; i * HF_GIB < L->span; i++)
		hf_pt_map(&pt, DIRECT_MAP + i * HF_GIB, i * HF_GIB, 3,
			  HF_PTE_P | HF_PTE_RW | ((cf & 0x10) ? HF_PTE_XD : 0), tflags, NULL);
	u64 cr3_low[4] = { 0, 0x18, (cf & 0x40) ? 0x123 : 0x8, 1ULL << 63 };
	cpu->c.cr3 = pt.root | cr3_low[(cx >> 5) & 3];

	/* Guest data: the seed's "abc" and some non-zero bytes, the service names. */
	hf_guest_write(DATA_GPA, "abc", 4);
	for (int i = 16; i < 256; i++) {
		u8 b = (u8)i;
		hf_guest_write(DATA_GPA + i, &b, 1);
	}
	for (int i = 0; i < nsel; i++)
		hf_guest_write(NAMES_GPA + 32 * i, sel_names[i], strlen(sel_names[i]) + 1);
	hist("machine %s, cr0=%llx cr3=%llx cr4=%llx efer=%llx rflags=%llx maxphyaddr=%u backend=%s, tables at 0x%llx",
	     L->name, cpu->c.cr0, cpu->c.cr3, cpu->c.cr4, cpu->c.efer, cpu->c.rflags, cpu->maxphyaddr,
	     (cx & 8) ? "vmx" : "svm", pt.pool);

	u64 filled = 0;
	for (int ops = 0; r.i < r.n && ops < 256 && ncalls < 48 && !hf_failed(); ops++) {
		u8 op = rd8(&r), param = op >> 3;
		switch (op & 7) {
		case 0: { /* CALL */
			u8 s = rd8(&r);
			u64 nr, a[5];
			if (s < 0x40)
				nr = number_of(sel_names[s % nsel]);
			else if (s < 0xfe)
				nr = s - 0x40;
			else if (s == 0xfe)
				nr = last_lookup;
			else
				nr = rdn(&r, 8);
			for (int i = 0; i < 5; i++)
				a[i] = sel_value(&r);
			call(nr, a, (param & 1) ? 3 : 0);
			break;
		}
		case 1: { /* LOOKUP */
			u8 k = rd8(&r);
			u64 a[5] = { 0, 0, 0, 0, 0 };
			a[0] = k < 0xf0 ? NAMES_GVA + 32 * (u64)(k % nsel) : sel_value(&r);
			call(GML_HC_LOOKUP, a, (param & 1) ? 3 : 0);
			break;
		}
		case 2: { /* MAP */
			u8 w = rd8(&r) & 7, idx = rd8(&r), lv = rd8(&r);
			u64 gpa = sel_gpa(&r);
			u8 fl = rd8(&r), bad = rd8(&r);
			int level = 1 + lv % 3;
			u64 ps = 1ULL << (12 + 9 * (level - 1));
			u64 gva = (windows[w] & ~(ps - 1)) + (u64)idx * ps;
			u64 leaf = (fl & 1 ? HF_PTE_P : 0) | (fl & 2 ? HF_PTE_RW : 0) | (fl & 4 ? HF_PTE_US : 0) |
				   (fl & 8 ? HF_PTE_A : 0) | (fl & 16 ? HF_PTE_D : 0) | (fl & 32 ? HF_PTE_XD : 0);
			u64 tf = (fl & 64) ? HF_PTE_P | HF_PTE_RW : tflags; /* bit 6: a supervisor path */
			u64 egpa;
			if (!hf_pt_map(&pt, gva, gpa, level, leaf, tf, &egpa))
				break;
			if (bad) { /* flip one bit of the leaf (bit 7: of the entry above it) */
				u64 at = (bad & 0x80) ? hf_pt_entry_gpa(&pt, gva, level + 1) : egpa, e;
				if (at != ~0ULL && hf_guest_read(at, &e, 8)) {
					e ^= 1ULL << (bad & 63);
					hf_guest_write(at, &e, 8);
				}
			}
			hist("map gva 0x%llx -> gpa 0x%llx level %d flags 0x%x bad 0x%x", gva, gpa, level, fl, bad);
			break;
		}
		case 3: { /* FILL */
			u64 gpa = sel_gpa(&r), len = sel_value(&r);
			u8 v = rd8(&r);
			if (len > 4 * HF_MIB)
				len = 4 * HF_MIB;
			if (filled + len > 16 * HF_MIB)
				break;
			filled += len;
			hf_guest_fill(gpa, v, len);
			hist("fill gpa 0x%llx +0x%llx with 0x%02x", gpa, len, v);
			break;
		}
		case 4: { /* POKE */
			u64 gpa = sel_gpa(&r), v = rdn(&r, 8);
			hf_guest_write(gpa, &v, 8);
			hist("poke gpa 0x%llx = 0x%llx", gpa, v);
			break;
		}
		case 5: { /* NAME */
			u64 gpa = sel_gpa(&r);
			u8 k = rd8(&r);
			if (k < 0xf0) {
				const char *nm = sel_names[k % nsel];
				hf_guest_write(gpa, nm, strlen(nm) + 1);
				hist("name \"%s\" at gpa 0x%llx", nm, gpa);
			} else {
				u8 n = rd8(&r), b[256];
				for (int i = 0; i < n; i++)
					b[i] = rd8(&r);
				hf_guest_write(gpa, b, n);
				hist("bytes (%u) at gpa 0x%llx", n, gpa);
			}
			break;
		}
		case 6: { /* CPU */
			u8 t = rd8(&r);
			if (t & 1)
				cpu->c.cr0 ^= 1ULL << 16;
			if (t & 2)
				cpu->c.cr4 ^= 1ULL << 21;
			if (t & 4)
				cpu->c.rflags ^= 1ULL << 18;
			if (t & 8)
				cpu->c.cr4 ^= 1ULL << 20;
			if (t & 16)
				cpu->c.efer ^= 1ULL << 11;
			if (t & 32)
				cpu->c.cr0 ^= 1ULL << 31;
			if (t & 64)
				cpu->c.cr3 ^= 0x7ff; /* PCID / PWT / PCD / ignored bits */
			(void)param;
			hist("cpu cr0=%llx cr3=%llx cr4=%llx efer=%llx rflags=%llx", cpu->c.cr0, cpu->c.cr3, cpu->c.cr4,
			     cpu->c.efer, cpu->c.rflags);
			break;
		}
		case 7: { /* FRAMES */
			u64 at = sel_gpa(&r);
			u8 n = rd8(&r) % 65;
			for (int i = 0; i < n; i++) {
				u64 f = sel_gpa(&r) >> 12;
				hf_guest_write(at + 8 * (u64)i, &f, 8);
			}
			hist("frame list of %u at gpa 0x%llx", n, at);
			break;
		}
		}
	}
	bool bad = hf_failed();
	if (bad && only_class) {
		if (strcmp(hf_failure_class(), only_class))
			bad = false; /* another failure: not the one being minimised */
		else {
			fprintf(stderr, "==HOSTFUZZ== INVARIANT FAILURE [%s]\n==HOSTFUZZ== %s\n", hf_failure_class(),
				hf_failure_text());
			abort();
		}
	} else if (bad && findings_dir)
		note_finding(data, size);
	hf_m.svc = NULL;
	return bad ? -1 : 0;
}
