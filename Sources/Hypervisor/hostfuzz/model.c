/* The machine under the real hypervisor code in the host fuzzer (model.h).
 *
 * Guest-physical [0, span) of each layout is one host mapping: RAM pages readable (and write-
 * tracked, see below), every other page PROT_NONE -- holes, MMIO, reserved ranges, and the
 * hypervisor's region (image, heap) except the buffers services allocated, which are readable
 * and writable only while one of their owning services runs. So any access of the hypervisor
 * code outside guest RAM faults at the instruction that makes it, and the fault handler names
 * the page's role (a write into the heap, a read of the image, a hole...).
 *
 * Write tracking: during a call every RAM page is read-only; the first write to a page faults,
 * the handler saves the page's contents and makes it writable. After the call the harness
 * compares each written page with its saved copy: the exact bytes the call changed.
 * Between inputs only the pages written since the last reset are dropped (MADV_DONTNEED: they
 * read as zeros again), so a reset costs in proportion to what the input touched. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>
#include "model.h"

struct hf_model hf_m = { .map_budget = HF_MAP_BUDGET, .log_budget = HF_LOG_BUDGET };
sigjmp_buf hf_call_env;
void (*hf_print_history)(void);

#define RAM_E820 1
#define RES_E820 2
#define GML_REGS_BUF_SIZE (64ULL << 10) /* core/include/gml_methods.h GML_REGS_BUF */
#define GML_CHUNK_SIZE (2ULL << 20)     /* services/method_xfer.h GML_CHUNK */

/* Layouts like the machines the lab runs (QEMU pc e820 maps); the heap where memmap_init puts
 * it: the highest 2 MiB-aligned 16 MiB window of RAM below 4 GiB. */
struct hf_layout hf_layouts[] = {
	{
		.name = "pc-1g",
		.ne820 = 6,
		.e820 = {
			{ 0, 0x9fc00, RAM_E820 },
			{ 0x9fc00, 0x400, RES_E820 },
			{ 0xf0000, 0x10000, RES_E820 },
			{ 0x100000, 0x3fee0000, RAM_E820 },
			{ 0x3ffe0000, 0x20000, RES_E820 },
			{ 0xfffc0000, 0x40000, RES_E820 },
		},
		.image_base = 0x100000, .image_size = 0x34000,
		.heap_base = 0x3ee00000, .heap_size = 16 * HF_MIB,
		.span = 4 * HF_GIB,
		.host_pt_pages = 0,
		.backend_size = HF_MIB,
	},
	{
		.name = "pc-6g",
		.ne820 = 8,
		.e820 = {
			{ 0, 0x9fc00, RAM_E820 },
			{ 0x9fc00, 0x400, RES_E820 },
			{ 0xf0000, 0x10000, RES_E820 },
			{ 0x100000, 0xbfee0000, RAM_E820 },
			{ 0xbffe0000, 0x20000, RES_E820 },
			{ 0xfeffc000, 0x4000, RES_E820 },
			{ 0xfffc0000, 0x40000, RES_E820 },
			{ 0x100000000ULL, 0xc0000000ULL, RAM_E820 },
		},
		.image_base = 0x100000, .image_size = 0x34000,
		.heap_base = 0xbee00000, .heap_size = 16 * HF_MIB,
		.span = 7 * HF_GIB,
		.host_pt_pages = 3, /* 2 MiB host pages for 4-7 GiB: one page directory per GiB */
		.backend_size = HF_MIB,
	},
	{
		/* Small machine: a one-page hole in the middle of RAM, and the heap ends exactly at
		 * the top of RAM (nothing above it). */
		.name = "small-64m",
		.ne820 = 7,
		.e820 = {
			{ 0, 0x9fc00, RAM_E820 },
			{ 0x9fc00, 0x400, RES_E820 },
			{ 0xf0000, 0x10000, RES_E820 },
			{ 0x100000, 0xf00000, RAM_E820 },
			{ 0x1000000, 0x1000, RES_E820 },
			{ 0x1001000, 0x2fff000, RAM_E820 },
			{ 0xfffc0000, 0x40000, RES_E820 },
		},
		.image_base = 0x100000, .image_size = 0x34000,
		.heap_base = 0x3000000, .heap_size = 16 * HF_MIB,
		.span = 4 * HF_GIB,
		.host_pt_pages = 0,
		.backend_size = HF_MIB,
	},
};
const int hf_nlayouts = sizeof(hf_layouts) / sizeof(hf_layouts[0]);

/* ---- failures ---- */

static bool failed;
static char fail_cls[128];
static char fail_text[2048];

bool hf_failed(void) { return failed; }
const char *hf_failure_class(void) { return fail_cls; }
const char *hf_failure_text(void) { return fail_text; }
void hf_clear_failure(void) { failed = false; fail_cls[0] = fail_text[0] = 0; }

static void record(const char *cls, const char *fmt, va_list ap)
{
	if (failed)
		return; /* the first failure of an input is the one reported */
	failed = true;
	if (hf_m.svc)
		snprintf(fail_cls, sizeof(fail_cls), "%s:%s", cls, hf_m.svc);
	else
		snprintf(fail_cls, sizeof(fail_cls), "%s", cls);
	vsnprintf(fail_text, sizeof(fail_text), fmt, ap);
}

static void report(void)
{
	fprintf(stderr, "\n==HOSTFUZZ== INVARIANT FAILURE [%s]\n==HOSTFUZZ== %s\n", fail_cls, fail_text);
	if (hf_print_history)
		hf_print_history();
	fprintf(stderr, "==HOSTFUZZ== end of report\n");
	fflush(stderr);
}

void hf_fail(const char *cls, const char *fmt, ...)
{
	va_list ap;
	bool first = !failed;
	va_start(ap, fmt);
	record(cls, fmt, ap);
	va_end(ap);
	if (first && !hf_m.keep_going) {
		report();
		abort();
	}
}

void hf_fail_now(const char *cls, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	record(cls, fmt, ap);
	va_end(ap);
	if (hf_m.keep_going && hf_m.in_call)
		siglongjmp(hf_call_env, 1);
	report();
	abort();
}

/* ---- layout set-up ---- */

static u8 *save_arena;
static struct hf_dirty call_dirty[HF_MAX_CALL_PAGES];
static int ncall_dirty;
#define EXEC_DIRTY_MAX 65536
static u64 exec_dirty[EXEC_DIRTY_MAX];
static int nexec_dirty, reprot_from;
static bool exec_dirty_overflow;
static int buf_prot[HF_MAX_BUFS];
static struct sigaction prev_segv;
static bool handler_installed;

static void die(const char *what)
{
	perror(what);
	abort();
}

static void prot(struct hf_layout *L, u64 page, u64 npages, int p)
{
	if (npages && mprotect(L->mem + page * HF_PAGE, npages * HF_PAGE, p))
		die("hostfuzz: mprotect");
}

static bool in_e820_ram(const struct hf_layout *L, u64 gpa)
{
	for (int i = 0; i < L->ne820; i++)
		if (L->e820[i].type == RAM_E820 && gpa >= L->e820[i].addr &&
		    gpa - L->e820[i].addr < L->e820[i].size)
			return true;
	return false;
}

static bool in_region(const struct hf_layout *L, u64 gpa)
{
	return (gpa >= L->image_base && gpa - L->image_base < L->image_size) ||
	       (gpa >= L->heap_base && gpa - L->heap_base < L->heap_size);
}

/* Apply the protection each page's kind wants, in runs. */
static void protect_all(struct hf_layout *L)
{
	u64 n = L->span / HF_PAGE, start = 0;
	while (start < n) {
		u8 k = L->kind[start];
		u64 end = start + 1;
		while (end < n && L->kind[end] == k)
			end++;
		prot(L, start, end - start, k == HF_PK_RAM ? PROT_READ : k == HF_PK_BUF ? PROT_READ | PROT_WRITE : PROT_NONE);
		start = end;
	}
}

static void layout_init(struct hf_layout *L)
{
	u64 npages = L->span / HF_PAGE;
	L->mem = mmap(NULL, L->span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (L->mem == MAP_FAILED)
		die("hostfuzz: mmap guest-physical space");
	L->kind = calloc(npages, 1);
	if (!L->kind)
		die("hostfuzz: calloc");
	for (int i = 0; i < L->ne820; i++) {
		if (L->e820[i].type != RAM_E820)
			continue;
		u64 first = L->e820[i].addr / HF_PAGE;
		u64 last = (L->e820[i].addr + L->e820[i].size - 1) / HF_PAGE;
		for (u64 p = first; p <= last && p < npages; p++)
			L->kind[p] = HF_PK_RAM;
	}
	/* Pages an e820 boundary cuts: the only ones not entirely RAM or entirely not. */
	for (int i = 0; i < L->ne820; i++) {
		u64 ends[2] = { L->e820[i].addr, L->e820[i].addr + L->e820[i].size };
		for (int j = 0; j < 2; j++) {
			u64 p = ends[j] / HF_PAGE;
			bool dup = false;
			for (int k = 0; k < L->npartial; k++)
				dup |= L->partial[k] == p;
			if (ends[j] % HF_PAGE && p < npages && L->kind[p] == HF_PK_RAM && !dup)
				L->partial[L->npartial++] = p;
		}
	}
	for (u64 p = L->image_base / HF_PAGE; p < (L->image_base + L->image_size) / HF_PAGE; p++)
		L->kind[p] = HF_PK_IMAGE;
	for (u64 p = L->heap_base / HF_PAGE; p < (L->heap_base + L->heap_size) / HF_PAGE; p++)
		L->kind[p] = HF_PK_FREE;
	for (u64 i = 0; i < L->host_pt_pages; i++)
		L->kind[L->heap_base / HF_PAGE + i] = HF_PK_HOSTPT;
	protect_all(L);
	L->ready = true;
}

static void on_segv(int sig, siginfo_t *si, void *uctx);

static void install_handler(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSEGV, &sa, &prev_segv))
		die("hostfuzz: sigaction");
	handler_installed = true;
}

void hf_model_select(struct hf_layout *L)
{
	if (!save_arena) {
		save_arena = mmap(NULL, HF_MAX_CALL_PAGES * HF_PAGE, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (save_arena == MAP_FAILED)
			die("hostfuzz: mmap save arena");
	}
	/* Installed on first use, i.e. after libFuzzer and the sanitizers set theirs: a fault
	 * outside the model goes on to them. */
	if (!handler_installed)
		install_handler();
	if (!L->ready)
		layout_init(L);
	if (hf_m.L != L) {
		hf_model_reset(); /* leave the old layout clean */
		hf_m.L = L;
	}
}

/* Runs of pages [first, first + n) from the list, merged when consecutive. */
static void for_runs(const u64 *pages, int n, void (*fn)(struct hf_layout *, u64, u64))
{
	int i = 0;
	while (i < n) {
		u64 first = pages[i], count = 1;
		while (i + (int)count < n && pages[i + count] == first + count)
			count++;
		fn(hf_m.L, first, count);
		i += count;
	}
}

static void make_ro(struct hf_layout *L, u64 first, u64 n) { prot(L, first, n, PROT_READ); }

static void drop(struct hf_layout *L, u64 first, u64 n)
{
	if (madvise(L->mem + first * HF_PAGE, n * HF_PAGE, MADV_DONTNEED))
		die("hostfuzz: madvise");
	prot(L, first, n, PROT_READ);
}

static void for_ram_runs(struct hf_layout *L, void (*fn)(struct hf_layout *, u64, u64))
{
	u64 n = L->span / HF_PAGE, p = 0;
	while (p < n) {
		if (L->kind[p] != HF_PK_RAM) {
			p++;
			continue;
		}
		u64 e = p;
		while (e < n && L->kind[e] == HF_PK_RAM)
			e++;
		fn(L, p, e - p);
		p = e;
	}
}

/* Make every page written since the last call read-only again (they stay dirty for the reset). */
static void reprotect_pending(void)
{
	struct hf_layout *L = hf_m.L;
	if (exec_dirty_overflow)
		for_ram_runs(L, make_ro);
	else
		for_runs(exec_dirty + reprot_from, nexec_dirty - reprot_from, make_ro);
	reprot_from = nexec_dirty;
}

void hf_model_reset(void)
{
	struct hf_layout *L = hf_m.L;
	hf_m.in_call = false;
	hf_m.svc = NULL;
	if (!L)
		return;
	if (exec_dirty_overflow)
		for_ram_runs(L, drop);
	else
		for_runs(exec_dirty, nexec_dirty, drop);
	nexec_dirty = reprot_from = 0;
	exec_dirty_overflow = false;
	/* Service buffers: zeroed (alloc_pages hands out zeroed pages), writable while booting. */
	for (int i = 0; i < L->nbufs; i++) {
		if (madvise(L->mem + L->bufs[i].gpa, L->bufs[i].size, MADV_DONTNEED))
			die("hostfuzz: madvise buffer");
		prot(L, L->bufs[i].gpa / HF_PAGE, L->bufs[i].size / HF_PAGE, PROT_READ | PROT_WRITE);
		buf_prot[i] = PROT_READ | PROT_WRITE;
	}
	hf_m.heap_next = L->heap_base + L->host_pt_pages * HF_PAGE;
}

/* ---- what the hypervisor code calls (through glue.c) ---- */

u8 *hf_gpa_ptr(u64 gpa)
{
	return hf_m.L && gpa < hf_m.L->span ? hf_m.L->mem + gpa : NULL;
}

bool hf_is_ram(u64 gpa)
{
	struct hf_layout *L = hf_m.L;
	if (gpa >= L->span || L->kind[gpa / HF_PAGE] != HF_PK_RAM)
		return false; /* region pages have their own kinds */
	for (int i = 0; i < L->npartial; i++)
		if (L->partial[i] == gpa / HF_PAGE)
			return in_e820_ram(L, gpa);
	return true;
}

enum hf_page_kind hf_kind(u64 gpa)
{
	return gpa < hf_m.L->span ? (enum hf_page_kind)hf_m.L->kind[gpa / HF_PAGE] : HF_PK_HOLE;
}

const char *hf_kind_name(enum hf_page_kind k)
{
	switch (k) {
	case HF_PK_HOLE: return "not RAM (hole, MMIO or reserved)";
	case HF_PK_RAM: return "guest RAM";
	case HF_PK_IMAGE: return "the hypervisor image (region 0)";
	case HF_PK_HOSTPT: return "the heap: host page directories";
	case HF_PK_BUF: return "the heap: a service buffer";
	case HF_PK_BACKEND: return "the heap: nested page tables / VMCB / permission maps";
	case HF_PK_FREE: return "the heap: unallocated";
	}
	return "?";
}

void *hf_phys_to_virt(hf_u64 pa)
{
	struct hf_layout *L = hf_m.L;
	if (hf_m.in_call && ++hf_m.call_maps > hf_m.map_budget)
		hf_fail_now("bounded-work", "more than %llu guest-memory accesses in one stay in the hypervisor (budget: 8 per "
			    "byte of the largest byte-wise transfer, %llu bytes)",
			    (unsigned long long)hf_m.map_budget, (unsigned long long)HF_BYTEWISE_MAX);
	if (!L || pa >= L->span)
		hf_fail_now("unmodelled-gpa", "the hypervisor made a pointer to guest-physical 0x%llx, "
			    "beyond the modelled machine (the image would dereference host memory there)",
			    (unsigned long long)pa);
	if (hf_m.in_call && !hf_is_ram(pa))
		hf_fail_now("map-non-ram", "the hypervisor made a pointer to guest-physical 0x%llx (%s) on "
			    "the guest's behalf", (unsigned long long)pa,
			    in_e820_ram(L, pa) || in_region(L, pa) ? hf_kind_name(hf_kind(pa)) : "not RAM");
	return L->mem + pa;
}

hf_u64 hf_virt_to_phys(const void *p)
{
	return (hf_u64)((const u8 *)p - hf_m.L->mem);
}

int hf_firmware_map(const struct hf_e820 **out)
{
	*out = hf_m.L->e820;
	return hf_m.L->ne820;
}

void hf_region(int i, hf_u64 *base, hf_u64 *size)
{
	*base = i == 0 ? hf_m.L->image_base : hf_m.L->heap_base;
	*size = i == 0 ? hf_m.L->image_size : hf_m.L->heap_size;
}

void *hf_alloc_pages(hf_u64 npages)
{
	struct hf_layout *L = hf_m.L;
	u64 gpa = hf_m.heap_next, size = npages * HF_PAGE;
	if (hf_m.in_call)
		hf_fail_now("heap-alloc-in-call", "a service allocated %llu heap pages at run time",
			    (unsigned long long)npages);
	if (!npages || size > L->heap_base + L->heap_size - L->backend_size - gpa) {
		fprintf(stderr, "hostfuzz: alloc_pages(%llu): the model's heap is exhausted\n",
			(unsigned long long)npages);
		abort();
	}
	hf_m.heap_next += size;
	int i;
	for (i = 0; i < L->nbufs; i++)
		if (L->bufs[i].gpa == gpa && L->bufs[i].size == size)
			return L->mem + gpa; /* the same buffer as at the last boot */
	/* A new buffer: who may write it is decided by what it is. */
	unsigned owner = size == GML_REGS_BUF_SIZE ? HF_OWN_REGS : size == GML_CHUNK_SIZE ? HF_OWN_XFER : 0;
	if (!owner || L->nbufs == HF_MAX_BUFS) {
		fprintf(stderr, "hostfuzz: a service allocated an unknown heap buffer (%llu pages at 0x%llx): "
			"tell hf_alloc_pages (model.c) which services own it\n",
			(unsigned long long)npages, (unsigned long long)gpa);
		abort();
	}
	L->bufs[L->nbufs] = (struct hf_buf){ gpa, size, owner };
	buf_prot[L->nbufs++] = PROT_READ | PROT_WRITE;
	memset(L->kind + gpa / HF_PAGE, HF_PK_BUF, npages);
	prot(L, gpa / HF_PAGE, npages, PROT_READ | PROT_WRITE);
	/* The backend allocates right after the services (VMCB, nested tables...). */
	u64 b = hf_m.heap_next / HF_PAGE;
	for (u64 p = b; p < b + L->backend_size / HF_PAGE; p++)
		if (L->kind[p] == HF_PK_FREE)
			L->kind[p] = HF_PK_BACKEND;
	return L->mem + gpa;
}

hf_u64 hf_heap_used(void)
{
	return hf_m.heap_next - hf_m.L->heap_base;
}

void hf_cpuid(unsigned leaf, unsigned sub, unsigned *a, unsigned *b, unsigned *c, unsigned *d)
{
	(void)sub;
	*a = *b = *c = *d = 0;
	if (leaf == 0x80000000u)
		*a = 0x80000008u;
	else if (leaf == 0x80000008u)
		*a = hf_m.cpu.maxphyaddr | (48u << 8);
}

void hf_paging_state(struct hf_cpu *out)
{
	*out = hf_m.cpu.c;
}

void hf_log_putc(char c)
{
	if (hf_m.call_log < sizeof(hf_m.log) - 1) {
		hf_m.log[hf_m.call_log] = c;
		hf_m.log[hf_m.call_log + 1] = 0;
	}
	hf_m.call_log++;
	if (hf_m.in_call && hf_m.call_log > hf_m.log_budget)
		hf_fail_now("bounded-work", "the call printed more than %llu bytes on the hypervisor log",
			    (unsigned long long)hf_m.log_budget);
}

void hf_fatal(const char *msg)
{
	hf_fail_now("hv-fatal", "the hypervisor called hv_fatal (the machine would power off): %s", msg);
}

/* ---- the guest's own writes (input ops): RAM only, byte-exact ---- */

/* Is the whole page of gpa plain RAM (not cut by an e820 boundary)? */
bool hf_page_all_ram(u64 gpa)
{
	struct hf_layout *L = hf_m.L;
	u64 p = gpa / HF_PAGE;
	if (gpa >= L->span || L->kind[p] != HF_PK_RAM)
		return false;
	for (int i = 0; i < L->npartial; i++)
		if (L->partial[i] == p)
			return false;
	return true;
}

/* Page by page: whole RAM pages at once, cut pages byte by byte, the rest skipped. op: 0 read
 * (stops at the first non-RAM byte), 1 write, 2 fill. Returns the bytes done. */
static u64 guest_access(u64 gpa, u8 *buf, u8 value, u64 len, int op)
{
	u64 done = 0, i = 0;
	while (i < len && gpa + i >= gpa) {
		u64 g = gpa + i, n = HF_PAGE - (g & (HF_PAGE - 1));
		if (n > len - i)
			n = len - i;
		u8 *m = g < hf_m.L->span ? hf_m.L->mem + g : NULL;
		if (hf_page_all_ram(g)) {
			if (op == 0)
				memcpy(buf + i, m, n);
			else if (op == 1)
				memcpy(m, buf + i, n);
			else
				memset(m, value, n);
			done += n;
		} else if (g < hf_m.L->span && hf_m.L->kind[g / HF_PAGE] == HF_PK_RAM) {
			for (u64 j = 0; j < n; j++) {
				if (!hf_is_ram(g + j)) {
					if (op == 0)
						return done;
					continue;
				}
				if (op == 0)
					buf[i + j] = m[j];
				else
					m[j] = op == 1 ? buf[i + j] : value;
				done++;
			}
		} else if (op == 0)
			return done;
		i += n;
	}
	return done;
}

u64 hf_guest_write(u64 gpa, const void *src, u64 len)
{
	return guest_access(gpa, (u8 *)src, 0, len, 1);
}

u64 hf_guest_fill(u64 gpa, u8 value, u64 len)
{
	return guest_access(gpa, NULL, value, len, 2);
}

bool hf_guest_read(u64 gpa, void *dst, u64 len)
{
	return len - 1 <= ~0ULL - gpa && guest_access(gpa, dst, 0, len, 0) == len;
}

/* ---- calls ---- */

void hf_call_begin(unsigned owners)
{
	struct hf_layout *L = hf_m.L;
	reprotect_pending();
	for (int i = 0; i < L->nbufs; i++) {
		int want = (L->bufs[i].owner & owners) ? PROT_READ | PROT_WRITE : PROT_NONE;
		if (buf_prot[i] != want) {
			prot(L, L->bufs[i].gpa / HF_PAGE, L->bufs[i].size / HF_PAGE, want);
			buf_prot[i] = want;
		}
	}
	ncall_dirty = 0;
	hf_m.call_maps = 0;
	hf_m.call_stays = 1;
	hf_m.stay_maps = 0;
	hf_m.call_log = 0;
	hf_m.log[0] = 0;
	hf_m.in_call = true;
}

void hf_stay_begin(void)
{
	if (!hf_m.in_call)
		return;
	if (++hf_m.call_stays > HF_MAX_STAYS)
		hf_fail_now("bounded-work", "more than %u stays in the hypervisor for one call (a "
			    "continuation that does not end)", HF_MAX_STAYS);
	hf_m.stay_maps += hf_m.call_maps;
	hf_m.call_maps = 0;
}

void hf_call_end(void)
{
	hf_m.in_call = false;
}

int hf_call_dirty(const struct hf_dirty **out)
{
	*out = call_dirty;
	return ncall_dirty;
}

/* ---- the fault handler ---- */

static void chain(int sig, siginfo_t *si, void *uctx)
{
	if (prev_segv.sa_flags & SA_SIGINFO) {
		if (prev_segv.sa_sigaction) {
			prev_segv.sa_sigaction(sig, si, uctx);
			return;
		}
	} else if (prev_segv.sa_handler != SIG_DFL && prev_segv.sa_handler != SIG_IGN) {
		prev_segv.sa_handler(sig);
		return;
	}
	signal(SIGSEGV, SIG_DFL); /* returning re-executes the access: the default action */
}

static void on_segv(int sig, siginfo_t *si, void *uctx)
{
	struct hf_layout *L = hf_m.L;
	u8 *a = si->si_addr;
	if (!L || a < L->mem || a >= L->mem + L->span) {
		chain(sig, si, uctx);
		return;
	}
	u64 gpa = (u64)(a - L->mem), page = gpa / HF_PAGE;
	bool write = (((ucontext_t *)uctx)->uc_mcontext.gregs[REG_ERR] & 2) != 0;
	enum hf_page_kind k = (enum hf_page_kind)L->kind[page];

	if (k == HF_PK_RAM && write) {
		/* First write to a read-only RAM page: track it. */
		if (hf_m.in_call) {
			if (ncall_dirty >= HF_MAX_CALL_PAGES)
				hf_fail_now("bounded-work", "the call wrote more than %d guest pages",
					    HF_MAX_CALL_PAGES);
			u8 *save = save_arena + (u64)ncall_dirty * HF_PAGE;
			memcpy(save, L->mem + page * HF_PAGE, HF_PAGE);
			call_dirty[ncall_dirty++] = (struct hf_dirty){ page, save };
		}
		prot(L, page, 1, PROT_READ | PROT_WRITE);
		if (nexec_dirty < EXEC_DIRTY_MAX)
			exec_dirty[nexec_dirty++] = page;
		else
			exec_dirty_overflow = true;
		return;
	}
	if (!hf_m.in_call) {
		fprintf(stderr, "hostfuzz: fault outside a call at guest-physical 0x%llx (%s): harness bug\n",
			(unsigned long long)gpa, hf_kind_name(k));
		chain(sig, si, uctx);
		return;
	}
	const char *cls = k == HF_PK_HOLE || k == HF_PK_RAM ? "non-ram-access"
			  : write ? "hv-region-write" : "hv-region-read";
	const char *detail = "";
	if (k == HF_PK_BUF)
		for (int i = 0; i < L->nbufs; i++)
			if (gpa >= L->bufs[i].gpa && gpa - L->bufs[i].gpa < L->bufs[i].size)
				detail = L->bufs[i].owner == HF_OWN_REGS
						 ? " (the gml.regs staging buffer, not this service's)"
						 : " (the transfer chunk, not this service's)";
	if (hf_m.keep_going)
		hf_fail_now(cls, "%s of guest-physical 0x%llx: %s%s", write ? "write" : "read",
			    (unsigned long long)gpa, hf_kind_name(k), detail);
	/* Normal mode: report, then let the sanitizer print the faulting stack and end the run. */
	char text[512];
	snprintf(text, sizeof(text), "%s of guest-physical 0x%llx: %s%s (faulting stack below)",
		 write ? "write" : "read", (unsigned long long)gpa, hf_kind_name(k), detail);
	hf_m.keep_going = true; /* record only */
	hf_fail(cls, "%s", text);
	hf_m.keep_going = false;
	report();
	chain(sig, si, uctx);
}
