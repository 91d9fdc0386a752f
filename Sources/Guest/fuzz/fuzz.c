/*
 * Suite fuzz: the hypercall fuzzer. Random service numbers and argument registers, from CPL3
 * (this program, built as tests/fuzz) and CPL0 (batches run by gmlfuzz.ko, its module beside
 * it: gmlfuzz_main.c, interface gmlfuzz_ioctl.h, the register-exact call fuzz_call.S that both
 * halves assemble), with a fixed, printed seed:
 *
 *   GMLAB_FUZZ_SEED   PRNG seed (default FUZZ_DEFAULT_SEED; decimal or 0x hex)
 *   GMLAB_FUZZ_COUNT  number of hypercalls (default FUZZ_DEFAULT_COUNT: ~10 s under TCG; the
 *                     longer run is 100000, README)
 *   GMLAB_FUZZ_VERBOSE=1  print every call before it runs (to find the one that hangs)
 *   GMLAB_FUZZ_PRE_HARDENING=1  leave out calls whose expected result is an issue 9 contract
 *
 * In the lab, put them on the guest command line (lab.json "guest.cmdline"): the kernel hands
 * unknown NAME=value words to init's environment, and from there they reach this program.
 *
 * What is drawn (one stream, same seed -> same calls; batches alternate CPL3 and CPL0):
 *   - look-ups (rax = 0) with rbx = a name in a names page (registered names, their suffixes,
 *     random and over-long strings), NULL, small, non-canonical, unmapped, 4 KiB of 'A's
 *     running into an unmapped page, a name ending exactly before an unmapped page, kernel
 *     addresses, random values;
 *   - numbers no service can have (above the registry's capacity, up to 2^64 - 1);
 *   - registered services, found by look-up of the names in `services` below, each with a
 *     policy saying how far its arguments may be random (a service that writes guest memory
 *     is only ever pointed at the fuzzer's own scratch pages, or at ranges it must refuse);
 *     the transfer services mostly with structure: lengths at page / chunk / limit edges,
 *     own memory with guards around it and an exact expected result, the argument checks,
 *     physical addresses at the edges of the hypervisor's heap and of the e820 ranges;
 *   - sequences: a raw write right after a read (the staging chunk must not leak), and after
 *     the run look-ups, a read and a refused copy-on-write write from a forked child.
 * Numbers 1..FUZZ_REGISTRY_CAPACITY that no name in the table maps to are never called:
 * they may belong to a service the fuzzer does not know (a user-supplied case), which random
 * arguments could make write anywhere.
 *
 * Checks per call: it returns (a hang is caught by the agent's timeout; the console shows the
 * last batch); unregistered numbers return GML_HC_ENOSYS; every register that is not a result
 * of the service is preserved (rbx..rdi as the service defines, rbp and r8-r15 always);
 * exact results where the contract gives them (statuses, bytes done and hashes of the
 * structured transfers); the scratch pages and the transfer area hold exactly what the
 * services were allowed to write. After the run: gmlab.info answers with the magic and its
 * exit counter advanced by at least the number of calls, and gmlab.echo still adds.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gml_errors.h"
#include "gml_methods.h"
#include "hypercall.h"
#include "report.h"
#include "gmlfuzz_ioctl.h"

#define FUZZ_DEFAULT_SEED 0x5eed0f0f1a2b3c4dULL
#define FUZZ_DEFAULT_COUNT 50000UL
/* core/include/gml_registry.h GML_REGISTRY_CAPACITY: numbers above it can never be registered */
#define FUZZ_REGISTRY_CAPACITY 256UL
#define FUZZ_BATCH 512u			/* calls per batch (CPL0 batches are one ioctl) */
/* hardening contracts 9 and 2: gml.linear.bytewise refuses more than this per call;
 * seed.linear refuses rcx above SEED_LINEAR_MAX; seed.phys refuses rcx below 4 */
#ifdef GML_BYTEWISE_MAX
#define FUZZ_BYTEWISE_MAX GML_BYTEWISE_MAX
#else
#define FUZZ_BYTEWISE_MAX (256u << 10)
#endif
#define SEED_LINEAR_MAX 256u
#define FUZZ_MAX_DETAILS 5		/* mismatching calls described in full */
#define PAGE 4096UL

void gmlfuzz_vmcall(struct gmlfuzz_regs *r);
void gmlfuzz_vmmcall(struct gmlfuzz_regs *r);

/* ---- PRNG: splitmix64, one stream for the whole run ---------------------------------------- */

static uint64_t rng_state;

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t rnd_below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

/* ---- the services the fuzzer knows, and how far their arguments may be random ------------- */

/* result registers, as a mask over rax rbx rcx rdx rsi rdi */
#define R_RAX 0x01u
#define R_RBX 0x02u
#define R_RCX 0x04u
#define R_RDX 0x08u
#define R_RSI 0x10u
#define R_RDI 0x20u
#define R_ALL 0x3fu

enum policy {
	P_RANDOM,	/* never touches guest memory: every argument fully random */
	P_SEED_PHYS,	/* seed.phys writes "foo\0" at a guest-physical address: scratch or refused */
	P_SEED_LINEAR,	/* seed.linear writes "foo\0" at a linear address: scratch, or len 0 */
	P_XFER,		/* gml.* transfers: structured (edges, own buffers, expected results), or
			   random arguments in the read direction only */
	P_PROBE,	/* gml.linear.probe: random, but never GML_PROBE_SET_AD (it sets A/D bits) */
	P_EXCLUDED,	/* looked up (its number is known) but never called */
};

struct service {
	const char *name;
	enum policy policy;
	unsigned results;	/* R_* */
	unsigned weight;	/* share of the service draws; printing services get little */
	unsigned long number;	/* from the look-up at start; 0 = not registered */
	unsigned long calls;
	double cpl3_s;		/* time in its CPL3 calls (CPL0 calls run in batches) */
};

/* Contracts: Sources/Hypervisor/README.md (gmlab.*, seed.*), Sources/Hypervisor/core/include/
 * gml_methods.h (gml.*). bench.*: names of benchmark services that would write guest memory
 * under contracts of their own; no hypervisor registers them today (lab bench times the gml.*
 * methods with GML_XFER_RAW), so they only ever appear as look-up names, and stay excluded
 * should one be registered. */
#define SVC(n, p, r, w) { .name = (n), .policy = (p), .results = (r), .weight = (w) }
#define EXCLUDED(n) { .name = (n), .policy = P_EXCLUDED }
static struct service services[] = {
	SVC("gmlab.echo", P_RANDOM, R_RAX, 40),
	SVC("gmlab.info", P_RANDOM, R_ALL, 10),
	SVC("seed.regs", P_RANDOM, R_RAX, 1),		/* prints 3 lines on the hypervisor log */
	SVC("seed.phys", P_SEED_PHYS, R_RAX, 2),
	SVC("seed.linear", P_SEED_LINEAR, R_RAX, 2),
	SVC(GML_SVC_REGS_ECHO, P_RANDOM, R_ALL, 10),
	SVC(GML_SVC_REGS_PUT, P_RANDOM, R_RAX, 5),		/* hypervisor's staging buffer only */
	SVC(GML_SVC_REGS_GET, P_RANDOM, R_RAX | R_RDX | R_RSI | R_RDI, 5),
	SVC(GML_SVC_REGS_FILL, P_RANDOM, R_RAX, 2),
	SVC(GML_SVC_REGS_HASH, P_RANDOM, R_RAX | R_RDX, 2),
	SVC(GML_SVC_CPU_PAGING, P_RANDOM, R_ALL, 5),
	SVC(GML_SVC_LINEAR_PROBE, P_PROBE, R_ALL, 8),
	SVC(GML_SVC_PHYS_XFER, P_XFER, R_RAX | R_RBX | R_RCX | R_RDX, 4),
	SVC(GML_SVC_PHYS_LIST, P_XFER, R_RAX | R_RBX | R_RCX | R_RDX, 4),
	SVC(GML_SVC_LINEAR_BYTEWISE, P_XFER, R_RAX | R_RBX | R_RCX | R_RDX, 4),
	SVC(GML_SVC_LINEAR_PAGEWISE, P_XFER, R_RAX | R_RBX | R_RCX | R_RDX, 4),
	EXCLUDED("bench.regs.read"), EXCLUDED("bench.regs.write"),
	EXCLUDED("bench.phys.read"), EXCLUDED("bench.phys.write"),
	EXCLUDED("bench.physlist.read"), EXCLUDED("bench.physlist.write"),
	EXCLUDED("bench.linear.page.read"), EXCLUDED("bench.linear.page.write"),
	EXCLUDED("bench.linear.byte.read"), EXCLUDED("bench.linear.byte.write"),
};
#define N_SERVICES (sizeof(services) / sizeof(services[0]))

static struct service *svc_by_name(const char *name)
{
	size_t i;

	for (i = 0; i < N_SERVICES; i++)
		if (strcmp(services[i].name, name) == 0)
			return &services[i];
	return NULL;
}

/* ---- memory the fuzzer points arguments at ----------------------------------------------- */

/*
 * Scratch areas, one in user space (CPL3 pointers) and one in the kernel (gmlfuzz.ko, CPL0
 * pointers), each two pages: page 0 holds names for look-ups and is never a write target;
 * page 1 is the only place writing services are pointed at. A model of each write page says
 * what it must hold; it is compared after every batch. Write pages hold 15 letters and a NUL
 * in every 16 bytes, so what seed.* services print on the hypervisor log stays short text.
 */
struct scratch {
	unsigned char *names, *write;	/* user: the pages; kernel: copies read back */
	unsigned long names_va, write_va, write_pa;
	unsigned char model[PAGE];
	const char *what;
};
static struct scratch uscr, kscr;
static int kfd = -1;			/* /dev/gmlfuzz, -1 = no CPL0 part */
static int have_smap;			/* CR4.SMAP: CPL0 may not touch user pages */
/* GMLAB_FUZZ_PRE_HARDENING=1: leave out what only the hardened hypervisor gets right
 * (issue 9's contracts 2, 3, 9: seed.* lengths, raw write after read, byte-wise over
 * 256 KiB), to fuzz an older one for everything else without its known hang */
static int pre_hardening;

/* names page layout: offsets of NUL-terminated strings */
struct name_slot {
	unsigned off;
	char text[300];
};
#define N_NAME_SLOTS 48
static struct name_slot name_slots[N_NAME_SLOTS];
static unsigned n_name_slots;

static unsigned char names_copy[PAGE];	/* the user names page as written */
static unsigned long a_page;		/* PAGE of 'A's followed by an unmapped page */
static unsigned long edge_name;		/* "gmlab.echo" whose NUL is the last byte before a hole */
static unsigned long hole;		/* an unmapped page */
static unsigned long heap_base, heap_size, backend_id;
/* gmlab.info rdx bits 15:8: the strict access policy refuses seed.phys (and gml.phys.*,
 * gml.linear.probe, gml.cpu.paging, whose results the fuzzer does not pin) to CPL3 callers */
static int policy_strict;

static void fill_pattern(unsigned char *p)
{
	unsigned long i;

	for (i = 0; i < PAGE; i++)
		p[i] = (i % 16 == 15) ? 0 : (unsigned char)('a' + (i * 7 + i / 16) % 26);
}

/* Lay the names page out: every table name, some of their suffixes, random strings, a name
 * that is too long (>255 characters). */
static void build_names(unsigned char *page)
{
	unsigned off = 0;
	size_t i;

	memset(page, 0, PAGE);
	n_name_slots = 0;
#define ADD_SLOT(str) do { \
		size_t len_ = strlen(str); \
		if (n_name_slots < N_NAME_SLOTS && off + len_ + 1 <= PAGE) { \
			name_slots[n_name_slots].off = off; \
			snprintf(name_slots[n_name_slots].text, sizeof(name_slots[0].text), "%s", (str)); \
			memcpy(page + off, (str), len_ + 1); \
			off += (unsigned)len_ + 1; \
			n_name_slots++; \
		} \
	} while (0)
	for (i = 0; i < N_SERVICES; i++)
		ADD_SLOT(services[i].name);
	ADD_SLOT("gmlab.no-such-service");
	ADD_SLOT("GMLAB.ECHO");
	ADD_SLOT("gmlab.echo ");
	for (i = 0; i < 6; i++) {	/* random bytes 1..255, length 1..40 */
		char s[41];
		size_t len = 1 + rnd_below(40), j;

		for (j = 0; j < len; j++)
			s[j] = (char)(1 + rnd_below(255));
		s[len] = 0;
		ADD_SLOT(s);
	}
	{
		char longname[290];

		memset(longname, 'n', sizeof(longname) - 1);
		longname[sizeof(longname) - 1] = 0;
		ADD_SLOT(longname);
	}
#undef ADD_SLOT
}

/* Number the registry should give for the string at names-page offset off (0 if none). */
static unsigned long expected_lookup(const unsigned char *names, unsigned off)
{
	size_t len = strnlen((const char *)names + off, PAGE - off);
	size_t i;

	if (len == 0 || len > GML_HC_NAME_MAX || off + len >= PAGE)
		return 0;
	for (i = 0; i < N_SERVICES; i++)
		if (services[i].number && strcmp(services[i].name, (const char *)names + off) == 0)
			return services[i].number;
	return 0;
}

/* ---- one call: what goes in, what must come out -------------------------------------------- */

enum kind { K_LOOKUP, K_ENOSYS, K_SERVICE };
enum rax_check { RAX_EXACT, RAX_LOOKUP_ANY, RAX_ANY, RAX_SET };

struct call {
	struct gmlfuzz_regs in, out;
	int cpl;
	enum kind kind;
	struct service *svc;
	const char *how;		/* which argument class was drawn */
	enum rax_check rax_check;
	unsigned results;		/* R_*: registers the service may change */
	unsigned exact;			/* R_*: results whose value is known: want[] */
	uint64_t want[6];
	/* RAX_SET: rax must be one of stat[0..nstat) (several when the order of two checks is
	 * the hypervisor's business, e.g. a length both zero-wrapping and too long) */
	unsigned nstat;
	uint64_t stat[4];
};

static const char *reg_names[15] = { "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "r8",
				     "r9", "r10", "r11", "r12", "r13", "r14", "r15" };

static uint64_t reg_get(const struct gmlfuzz_regs *r, int i)
{
	return ((const uint64_t *)r)[i];
}

static uint64_t *reg_ptr(struct gmlfuzz_regs *r, int i)
{
	return &((uint64_t *)r)[i];
}

/* Argument values that tend to break things more than uniform ones do. */
static uint64_t rnd_arg(void)
{
	switch (rnd_below(10)) {
	case 0: return 0;
	case 1: return ~0ULL;
	case 2: return rnd_below(4096);
	case 3: return 1ULL << rnd_below(64);
	case 4: return 0xffff888000000000ULL + rnd_below(1ULL << 32);	/* direct map */
	case 5: return 0xffffffff80000000ULL + rnd_below(1ULL << 30);	/* kernel image */
	case 6: return 0x0000800000000000ULL | rnd();			/* often non-canonical */
	case 7: return (1ULL << 47) - 1 - rnd_below(1ULL << 20);		/* top of user space */
	default: return rnd();
	}
}

static unsigned long noncanonical(void)
{
	unsigned long v;

	do
		v = rnd();
	while ((v >> 47) == 0 || (v >> 47) == 0x1ffff);
	return v;
}

static void gen_lookup(struct call *c, const struct scratch *s)
{
	unsigned slot;

	c->kind = K_LOOKUP;
	c->in.rax = 0;
	c->rax_check = RAX_EXACT;
	c->want[0] = 0;
	switch (rnd_below(12)) {
	case 0: case 1: case 2: case 3:	/* a name in the names page, or one of its suffixes */
		slot = (unsigned)rnd_below(n_name_slots);
		{
			unsigned off = name_slots[slot].off;
			size_t len = strlen(name_slots[slot].text);

			if (rnd_below(4) == 0 && len > 1)
				off += (unsigned)rnd_below(len);
			c->in.rbx = s->names_va + off;
			c->want[0] = expected_lookup(s->names, off);
			c->how = "name in the names page";
		}
		break;
	case 4:
		c->in.rbx = 0;
		c->how = "NULL";
		break;
	case 5:
		c->in.rbx = 1 + rnd_below(PAGE - 1);
		c->how = "address in page 0";
		break;
	case 6:
		c->in.rbx = noncanonical();
		c->how = "non-canonical";
		break;
	case 7:
		c->in.rbx = hole + rnd_below(PAGE);
		c->how = "unmapped user page";
		break;
	case 8:
		c->in.rbx = a_page + rnd_below(PAGE);
		c->how = "4 KiB of 'A' running into an unmapped page";
		break;
	case 9:
		c->in.rbx = edge_name;
		c->how = "name ending just before an unmapped page";
		/* user page: found at CPL3, and at CPL0 unless SMAP forbids the kernel to read it */
		c->want[0] = (c->cpl == 3 || !have_smap) ? svc_by_name("gmlab.echo")->number : 0;
		break;
	case 10:
		if (c->cpl == 3 && kfd >= 0) {
			/* a registered name, but in a supervisor page: a CPL3 caller may not read it */
			slot = (unsigned)rnd_below(n_name_slots);
			c->in.rbx = kscr.names_va + name_slots[slot].off;
			c->how = "kernel names page from CPL3";
		} else {
			c->in.rbx = 0xffff800000000000ULL | rnd();
			c->how = "random kernel address";
			/* CPL3: supervisor or unmapped, so 0. CPL0: arbitrary kernel memory, which
			 * may hold a registered name. */
			if (c->cpl == 0)
				c->rax_check = RAX_LOOKUP_ANY;
		}
		break;
	default:
		c->in.rbx = rnd_arg();
		c->how = "random value";
		c->rax_check = RAX_LOOKUP_ANY;	/* may point at a name somewhere */
		break;
	}
}

static void gen_enosys(struct call *c)
{
	uint64_t n;

	c->kind = K_ENOSYS;
	do {
		switch (rnd_below(6)) {
		case 0: n = FUZZ_REGISTRY_CAPACITY + 1 + rnd_below(4096); break;
		case 1: n = (1ULL << 32) - 8 + rnd_below(16); break;
		case 2: n = ~0ULL - rnd_below(16); break;
		case 3: n = 1ULL << (9 + rnd_below(55)); break;
		default: n = rnd(); break;
		}
	} while (n <= FUZZ_REGISTRY_CAPACITY);
	c->in.rax = n;
	c->in.rbx = rnd_arg();
	c->in.rcx = rnd_arg();
	c->in.rdx = rnd_arg();
	c->in.rsi = rnd_arg();
	c->in.rdi = rnd_arg();
	c->how = "unregistered number";
	c->rax_check = RAX_EXACT;
	c->want[0] = GML_HC_ENOSYS;
}

/* Length the seed services may be given at write-page offset off: the bytes up to the next
 * NUL in the model (they print each byte / the string: keep the hypervisor log text). */
static unsigned long text_run(const unsigned char *model, unsigned long off)
{
	unsigned long n = 0;

	while (off + n < PAGE && model[off + n])
		n++;
	return n;
}

static void model_write_foo(unsigned char *model, unsigned long off)
{
	memcpy(model + off, "foo", 4);
}

static struct scratch *pick_write_scratch(int cpl, int by_phys)
{
	/* linear: the CPL's own scratch. physical: either (kernel only when the module is there) */
	if (!by_phys)
		return cpl == 0 ? &kscr : &uscr;
	return (kfd >= 0 && rnd_below(2)) ? &kscr : &uscr;
}

static void gen_seed_phys(struct call *c)
{
	struct scratch *s = pick_write_scratch(c->cpl, 1);
	unsigned long off;

	c->want[0] = 1;		/* refused */
	switch (rnd_below(10)) {
	case 0:
		c->in.rbx = s->write_pa + rnd_below(PAGE - 4);
		c->in.rcx = 0;
		c->how = "length 0";
		break;
	case 1:
		c->in.rbx = ~0ULL - rnd_below(PAGE);
		c->in.rcx = PAGE + rnd_below(PAGE);
		c->how = "range wrapping past 2^64";
		break;
	case 2:
		c->in.rbx = heap_base + rnd_below(heap_size);
		c->in.rcx = 1 + rnd_below(64);
		c->how = "the hypervisor's region";
		break;
	case 3:
		c->in.rbx = (1ULL << 40) + rnd_below(1ULL << 39);
		c->in.rcx = 1 + rnd_below(PAGE);
		c->how = "beyond RAM";
		break;
	case 4:
		c->in.rbx = rnd_below(2) ? 0xfee00000ULL : 0xa0000ULL + rnd_below(0x1000);
		c->in.rcx = 4;
		c->how = "MMIO (local APIC / legacy VGA)";
		break;
	case 5:
		if (pre_hardening)
			goto own_page;
		/* shorter than the 4 bytes it stores: refused, nothing stored (contract 2) */
		c->in.rbx = s->write_pa + rnd_below(PAGE - 4);
		c->in.rcx = 1 + rnd_below(3);
		c->how = s == &kscr ? "kernel write page, 1-3 bytes (physical)"
			 : "user write page, 1-3 bytes (physical)";
		break;
	default:
	own_page:
		off = rnd_below(PAGE - 4);
		c->in.rbx = s->write_pa + off;
		c->in.rcx = 4 + rnd_below(PAGE - off - 4 + 1);
		c->how = s == &kscr ? "kernel write page (physical)" : "user write page (physical)";
		c->want[0] = 0;
		if (!(policy_strict && c->cpl == 3))
			model_write_foo(s->model, off);
		break;
	}
	if (policy_strict && c->cpl == 3)
		c->want[0] = GML_ME_DENIED;	/* refused before anything is looked at */
}

static void gen_seed_linear(struct call *c)
{
	struct scratch *s = pick_write_scratch(c->cpl, 0);
	unsigned long off;

	c->want[0] = 0;		/* like the seed, it reports nothing */
	switch (rnd_below(8)) {
	case 0:
		if (c->cpl == 3 && kfd >= 0) {
			/* supervisor page from CPL3: the walker must refuse the writes */
			c->in.rbx = kscr.write_va + rnd_below(PAGE - 4);
			c->how = "kernel write page from CPL3 (must not be written)";
		} else {
			c->in.rbx = hole + rnd_below(PAGE - 4);
			c->how = "unmapped page";
		}
		c->in.rcx = 0;	/* no reads: a failed read would print an undefined byte */
		break;
	case 1:
		c->in.rbx = noncanonical();
		c->in.rcx = 0;
		c->how = "non-canonical";
		break;
	case 2:
		if (!pre_hardening && rnd_below(4) == 0) {
			/* more than it may print and walk: refused, nothing written (contract 9);
			 * 2^64 - 1 held the vCPU forever before the fix */
			off = rnd_below(PAGE - 4);
			c->in.rbx = s->write_va + off;
			c->in.rcx = rnd_below(16) ? SEED_LINEAR_MAX + 1 + rnd_below(PAGE) : ~0ULL;
			c->how = s == &kscr ? "kernel write page, over the length limit"
				 : "user write page, over the length limit";
			c->want[0] = 1;
			break;
		}
		/* fall through */
	default:
		off = rnd_below(PAGE - 4);
		c->in.rbx = s->write_va + off;
		c->in.rcx = rnd_below(text_run(s->model, off) < 8 ? text_run(s->model, off) + 1 : 8);
		c->how = s == &kscr ? "kernel write page" : "user write page";
		model_write_foo(s->model, off);
		break;
	}
}


/* ---- structure: lengths and addresses at the edges, own buffers, sequences -------------- */

/*
 * The CPL3 transfer area: XAREA_PAGES locked data pages between two PROT_NONE pages (no
 * page-table entries), its model, and the frame numbers of its pages in a locked page of
 * their own (for gml.phys.list). Linear transfers here end at the guards with an exact
 * expected result; writes land only in the data pages (the walker stops at a guard).
 */
#define XAREA_PAGES 16u
#define XAREA_SIZE (XAREA_PAGES * PAGE)
static unsigned char *xarea;
static unsigned char xmodel[XAREA_SIZE];
static uint64_t *xframes;
static unsigned long xframes_gpa;

/* The guest's physical map as the hypervisor gave it (/sys/firmware/memmap: its e820). */
struct memrange {
	uint64_t start, end;	/* [start, end) */
	int ram;
};
#define MAX_MEMMAP 64
static struct memrange memmap[MAX_MEMMAP];
static unsigned n_memmap;

enum method { M_PHYS, M_LIST, M_BYTE, M_PAGE };

static unsigned long n_structured, n_edge_phys, n_own, n_raw_after_read, n_arg_refusals;
static int raw_write_next;	/* the previous call read into the staging chunk */

static const char *status_name(uint64_t st)
{
	static char buf[4][32];
	static unsigned k;
	char *b = buf[k++ % 4];

	switch (st) {
	case GML_ME_TOO_LONG: return "GML_ME_TOO_LONG";
	case GML_ME_BAD_FLAGS: return "GML_ME_BAD_FLAGS";
	case GML_ME_BAD_OFFSET: return "GML_ME_BAD_OFFSET";
	case GML_ME_OUT_OF_BUFFER: return "GML_ME_OUT_OF_BUFFER";
	}
	if (st < GML_E__COUNT)
		return gml_errname((gml_err)st);
	snprintf(b, 32, "%#llx", (unsigned long long)st);
	return b;
}

static void want_status(struct call *c, uint64_t st)
{
	if (c->nstat < 4)
		c->stat[c->nstat++] = st;
	c->rax_check = RAX_SET;
}

static void want_result(struct call *c, unsigned reg, uint64_t v)
{
	c->exact |= reg;
	c->want[reg == R_RBX ? 1 : reg == R_RCX ? 2 : 3] = v;
}

/* Lengths where limits and page/chunk arithmetic turn: 0, 1, 3, 4 (seed.phys stores 4),
 * page +-1, 256 KiB +-1 (the byte-wise limit), 2 MiB +-1 (the staging chunk), 2^64 - 1;
 * 16 MiB +-1 (the request limit) only now and then: slow under TCG. */
static uint64_t rnd_len(void)
{
	static const uint64_t lens[] = {
		0, 1, 3, 4, 5, 8, 15, 16, 4095, 4096, 4097, 8191, 8192, 8193,
		(256u << 10) - 1, 256u << 10, (256u << 10) + 1,
		(2u << 20) - 1, 2u << 20, (2u << 20) + 1,
	};

	switch (rnd_below(16)) {
	case 0:
		return 1 + rnd_below(64);
	case 1:
		return 1 + rnd_below(3 * PAGE);
	case 2:
		if (rnd_below(32) == 0)
			return GML_XFER_MAX - 1 + rnd_below(3);
		return ~0ULL - rnd_below(2);
	default:
		return lens[rnd_below(sizeof(lens) / sizeof(lens[0]))];
	}
}

/* The refusals the argument checks owe this request (several may apply; the hypervisor picks
 * the order). Returns how many were added. */
static unsigned arg_refusals(struct call *c, enum method m, uint64_t addr, uint64_t len,
			     uint64_t flags, uint64_t list_off)
{
	unsigned before = c->nstat;

	if (flags & ~GML_XFER_FLAGS_ALL)
		want_status(c, GML_ME_BAD_FLAGS);
	if (len == 0)
		want_status(c, GML_E_LEN_ZERO);
	else if (len - 1 > ~0ULL - addr)
		want_status(c, GML_E_LEN_WRAP);
	if (len > GML_XFER_MAX || (m == M_BYTE && len > FUZZ_BYTEWISE_MAX && !pre_hardening))
		want_status(c, GML_ME_TOO_LONG);
	if (m == M_LIST && list_off >= PAGE)
		want_status(c, GML_ME_BAD_OFFSET);
	return c->nstat - before;
}

static uint64_t rnd_flags(int write_allowed)
{
	uint64_t f = (write_allowed && rnd_below(2)) ? GML_XFER_WRITE : 0;

	if (rnd_below(3) == 0 && !(pre_hardening && (f & GML_XFER_WRITE)))
		f |= GML_XFER_RAW;	/* (before contract 3 a raw write stores stale bytes) */
	/* an unknown flag: above GML_XFER_FLAGS_ALL (GML_XFER_FAULTIN, bit 2, is known; a
	 * single bit is never the in-flight tag, so the word stays a fresh request) */
	if (rnd_below(50) == 0)
		f |= (GML_XFER_FLAGS_ALL + 1) << rnd_below(61);
	return f;
}

/* Bytes the model says a transfer of [off, off + n) leaves: the pattern for seed, or
 * GML_XFER_RAW_BYTE for a raw write. */
static void model_write(unsigned char *model, uint64_t off, uint64_t n, uint64_t flags,
			uint64_t seed)
{
	if (flags & GML_XFER_RAW)
		memset(model + off, GML_XFER_RAW_BYTE, n);
	else
		gml_pattern_fill(model + off, seed, 0, n);
}

/* Expected results of a transfer that the argument checks let through and that moves
 * done bytes of [model + off, ...) with final status st. */
static void expect_moved(struct call *c, unsigned char *model, uint64_t off, uint64_t done,
			 uint64_t st)
{
	uint64_t flags = c->in.rdx;

	want_status(c, st);
	want_result(c, R_RBX, done);
	if (flags & GML_XFER_WRITE) {
		model_write(model, off, done, flags, c->in.rsi);
		want_result(c, R_RCX, 0);
	} else {
		want_result(c, R_RCX, (flags & GML_XFER_RAW) ? 0 : gml_fnv1a(GML_FNV_OFFSET,
									      model + off, done));
		raw_write_next = rnd_below(3) == 0;	/* now the chunk holds these bytes */
	}
}

static enum method method_of(const struct service *svc)
{
	if (strcmp(svc->name, GML_SVC_PHYS_XFER) == 0)
		return M_PHYS;
	if (strcmp(svc->name, GML_SVC_PHYS_LIST) == 0)
		return M_LIST;
	return strcmp(svc->name, GML_SVC_LINEAR_BYTEWISE) == 0 ? M_BYTE : M_PAGE;
}

/* A transfer on the caller's own memory, with an exact expected result. CPL3 linear: the
 * transfer area, from inside the guard before it to past its end. CPL0 linear and physical:
 * a write page, within it. List: the transfer area by its frames. */
static void gen_own_transfer(struct call *c, enum method m, uint64_t flags)
{
	uint64_t len = rnd_len(), off, list_off = 0;

	n_own++;
	c->in.rdx = flags;
	c->in.rsi = rnd();
	/* a page walk per byte (~2 us under TCG, far more under Bochs): keep most calls short,
	 * a page or two now and then, the long edges rarely */
	if (m == M_BYTE && len > 64 && rnd_below(8))
		len = 1 + rnd_below(64);
	else if (m == M_BYTE && len > 2 * PAGE &&
		 (rnd_below(8) || (pre_hardening && len > FUZZ_BYTEWISE_MAX)))
		len = 1 + rnd_below(2 * PAGE);
	if (m == M_PAGE || m == M_BYTE) {
		if (c->cpl == 3) {
			static const int64_t edges[] = { -(int64_t)PAGE + 1, -1, 0, 1, PAGE - 1, PAGE,
				XAREA_SIZE - PAGE - 1, XAREA_SIZE - PAGE, XAREA_SIZE - 1 };
			int64_t o = rnd_below(3) ? edges[rnd_below(sizeof(edges) / sizeof(edges[0]))]
						 : (int64_t)rnd_below(XAREA_SIZE);

			c->in.rbx = (unsigned long)xarea + (uint64_t)o;
			c->in.rcx = len;
			c->how = "own transfer area (CPL3, guards around it)";
			if (arg_refusals(c, m, c->in.rbx, len, flags, 0)) {
				want_result(c, R_RBX, 0);
				return;
			}
			if (o < 0) {	/* starts in the guard: nothing moves */
				want_status(c, GML_E_NOT_PRESENT);
				want_result(c, R_RBX, 0);
				return;
			}
			off = (uint64_t)o;
			if (len <= XAREA_SIZE - off)
				expect_moved(c, xmodel, off, len, GML_OK);
			else
				expect_moved(c, xmodel, off, XAREA_SIZE - off, GML_E_NOT_PRESENT);
			return;
		}
		/* CPL0: the kernel write page, strictly within it */
		off = rnd_below(PAGE);
		if (len == 0 || len > PAGE - off)
			len = len == 0 ? 0 : 1 + rnd_below(PAGE - off);
		c->in.rbx = kscr.write_va + off;
		c->in.rcx = len;
		c->how = "own kernel write page (CPL0)";
		if (arg_refusals(c, m, c->in.rbx, len, flags, 0)) {
			want_result(c, R_RBX, 0);
			return;
		}
		expect_moved(c, kscr.model, off, len, GML_OK);
		return;
	}
	if (m == M_PHYS) {
		struct scratch *sc = (kfd >= 0 && rnd_below(2)) ? &kscr : &uscr;

		off = rnd_below(PAGE);
		if (len > PAGE - off)
			len = 1 + rnd_below(PAGE - off);
		c->in.rbx = sc->write_pa + off;
		c->in.rcx = len;
		c->how = sc == &kscr ? "own kernel write page (physical)" : "own user write page "
			 "(physical)";
		if (arg_refusals(c, m, c->in.rbx, len, flags, 0)) {
			want_result(c, R_RBX, 0);
			return;
		}
		expect_moved(c, sc->model, off, len, GML_OK);
		return;
	}
	/* M_LIST: frames k.. of the transfer area, offset rdi into the first */
	{
		uint64_t k = rnd_below(XAREA_PAGES), room;
		static const uint64_t offs[] = { 0, 1, PAGE - 1, PAGE, PAGE + 1 };

		list_off = rnd_below(2) ? offs[rnd_below(5)] : rnd_below(PAGE);
		if (rnd_below(8))
			list_off %= PAGE;
		room = (XAREA_PAGES - k) * PAGE - (list_off % PAGE);
		if (len > room)
			len = 1 + rnd_below(room);
		c->in.rbx = xframes_gpa + 8 * k;
		c->in.rdi = list_off;
		c->in.rcx = len;
		c->how = "own transfer area by its frame list";
		if (arg_refusals(c, m, c->in.rbx, len, flags, list_off)) {
			want_result(c, R_RBX, 0);
			return;
		}
		expect_moved(c, xmodel, k * PAGE + list_off, len, GML_OK);
	}
}

/* Does [a, a + n) (n > 0, not wrapping; a + n may be exactly 2^64) lie in one RAM range of
 * the map / overlap the hypervisor's heap? */
static int all_ram(uint64_t a, uint64_t n)
{
	unsigned i;

	for (i = 0; i < n_memmap; i++)
		if (memmap[i].ram && a >= memmap[i].start && a < memmap[i].end &&
		    n <= memmap[i].end - a)
			return 1;
	return 0;
}

static int overlaps_heap(uint64_t a, uint64_t n)
{
	return a < heap_base + heap_size && a + n - 1 >= heap_base;
}

/* Physical addresses at the edges of the hypervisor's heap and of the map's ranges, and far
 * beyond RAM. Reads anywhere (a read harms nothing); writes only where the hypervisor must
 * refuse them: inside its heap, at 1 TiB and above, or refused by the argument checks. */
static void gen_edge_phys(struct call *c)
{
	uint64_t len = rnd_len(), p, a, flags;
	int write = rnd_below(4) == 0;

	n_edge_phys++;
	flags = rnd_flags(0);
	c->in.rsi = rnd();
	if (write) {
		flags |= GML_XFER_WRITE;
		switch (rnd_below(3)) {
		case 0:		/* inside the heap */
			if (len == 0 || len > heap_size)
				len = 1 + rnd_below(heap_size);
			a = heap_base + rnd_below(heap_size - len + 1);
			c->how = "write inside the hypervisor's heap (physical)";
			break;
		case 1:
			a = (1ULL << 40) + rnd_below(1ULL << 39);
			c->how = "write beyond RAM, at 1 TiB and above (physical)";
			break;
		default:
			a = ~0ULL - rnd_below(2 * PAGE);
			if (len < 2 * PAGE + 1)
				len = 2 * PAGE + 1 + rnd_below(PAGE);
			c->how = "write wrapping past 2^64 (physical)";
			break;
		}
	} else {
		unsigned i = (unsigned)rnd_below(n_memmap + 4);
		int64_t d;

		if (i < n_memmap)
			p = rnd_below(2) ? memmap[i].start : memmap[i].end;
		else if (i == n_memmap)
			p = heap_base;
		else if (i == n_memmap + 1)
			p = heap_base + heap_size;
		else
			p = i == n_memmap + 2 ? 1ULL << 32 : 1ULL << 40;
		switch (rnd_below(6)) {
		case 0: d = -(int64_t)len; break;
		case 1: d = -(int64_t)len + 1; break;
		case 2: d = -(int64_t)(len / 2); break;
		case 3: d = -1; break;
		case 4: d = 0; break;
		default: d = 1; break;
		}
		a = p + (uint64_t)d;
		c->how = "read at an edge of the physical map (heap, RAM ranges, 4 GiB, 1 TiB)";
	}
	c->in.rbx = a;
	c->in.rcx = len;
	c->in.rdx = flags;
	if (arg_refusals(c, M_PHYS, a, len, flags, 0)) {
		want_result(c, R_RBX, 0);
		return;
	}
	want_result(c, R_RBX, 0);	/* refusals move nothing; OK rewrites it below */
	if (overlaps_heap(a, len)) {
		want_status(c, GML_E_GPA_HV_REGION);
	} else if (!write && all_ram(a, len)) {
		c->nstat = 0;
		want_status(c, GML_OK);
		want_result(c, R_RBX, len);	/* RAM changes under us: no hash */
		raw_write_next = rnd_below(3) == 0;
	} else {
		/* a hole, MMIO, beyond RAM, or a reserved range the hypervisor owns (its image) */
		want_status(c, GML_E_GPA_OUTSIDE_RAM);
		want_status(c, GML_E_GPA_MMIO);
		want_status(c, GML_E_GPA_HV_REGION);
	}
}

/* A raw write right after a read: the staging chunk holds what was read, the write must
 * store GML_XFER_RAW_BYTE all the same (contract 3). Own memory only. */
static void gen_raw_write_after_read(struct call *c)
{
	static const char *const names[3] = { GML_SVC_LINEAR_PAGEWISE, GML_SVC_LINEAR_BYTEWISE,
					      GML_SVC_PHYS_XFER };
	struct service *svc = svc_by_name(names[rnd_below(3)]);

	n_raw_after_read++;
	c->kind = K_SERVICE;
	c->svc = svc;
	c->in.rax = svc->number;
	c->results = svc->results;
	svc->calls++;
	gen_own_transfer(c, method_of(svc), GML_XFER_WRITE | GML_XFER_RAW);
	c->how = "raw write right after a read (own memory)";
}

static void gen_xfer(struct call *c, struct service *svc)
{
	enum method m = method_of(svc);
	uint64_t w = rnd_below(100);

	n_structured++;
	if (w < 45) {
		gen_own_transfer(c, m, rnd_flags(1));
	} else if (w < 65 && m == M_PHYS && n_memmap) {
		gen_edge_phys(c);
	} else if (w < 75) {
		/* the argument checks alone, at the caller's own memory */
		uint64_t len = rnd_len(), flags = rnd_flags(1);

		n_arg_refusals++;
		if (rnd_below(2))
			len = rnd_below(2) ? 0 : ~0ULL - rnd_below(PAGE);
		c->in.rbx = m == M_PHYS ? uscr.write_pa : m == M_LIST ? xframes_gpa
			    : c->cpl == 3 ? (unsigned long)xarea : kscr.write_va;
		c->in.rcx = len;
		c->in.rdx = flags;
		c->in.rdi = m == M_LIST ? rnd_below(2 * PAGE) : c->in.rdi;
		c->how = "argument checks (length 0, wrapping, over the limit, flags, offset)";
		if (!arg_refusals(c, m, c->in.rbx, len, flags, c->in.rdi)) {
			/* nothing to refuse after all: make it an own transfer */
			c->nstat = 0;
			c->exact = 0;
			gen_own_transfer(c, m, flags);
		} else {
			want_result(c, R_RBX, 0);
		}
	} else {
		/* random arguments, read direction only, short or far too long */
		n_structured--;
		c->in.rcx = rnd_below(4) ? rnd_below(512) : rnd_arg();
		if (c->in.rcx > 512 && c->in.rcx <= GML_XFER_MAX)
			c->in.rcx = 512;
		/* never fault-in (a #PF at a random user address would end the fuzzer with
		 * SIGSEGV, the mode's contract) nor an in-flight word (up to 16 MiB byte-wise) */
		c->in.rdx &= ~(GML_XFER_WRITE | GML_XFER_FAULTIN | GML_XFER_TAG_MASK);
		c->how = "random arguments, read direction";
	}
}

static void gen_service(struct call *c, struct service *svc)
{
	c->kind = K_SERVICE;
	c->svc = svc;
	c->in.rax = svc->number;
	c->in.rbx = rnd_arg();
	c->in.rcx = rnd_arg();
	c->in.rdx = rnd_arg();
	c->in.rsi = rnd_arg();
	c->in.rdi = rnd_arg();
	c->results = svc->results;
	c->rax_check = RAX_ANY;
	c->how = "random arguments";
	switch (svc->policy) {
	case P_SEED_PHYS:
		c->rax_check = RAX_EXACT;
		gen_seed_phys(c);
		break;
	case P_SEED_LINEAR:
		c->rax_check = RAX_EXACT;
		gen_seed_linear(c);
		break;
	case P_XFER:
		gen_xfer(c, svc);
		break;
	case P_PROBE:
		c->in.rcx &= ~GML_PROBE_SET_AD;
		break;
	default:
		break;
	}
	if (strcmp(svc->name, "gmlab.echo") == 0) {
		c->rax_check = RAX_EXACT;
		c->want[0] = c->in.rbx + c->in.rcx + c->in.rdx + c->in.rsi + c->in.rdi;
	} else if (strcmp(svc->name, "gmlab.info") == 0) {
		c->rax_check = RAX_EXACT;
		c->want[0] = GML_INFO_MAGIC;
		c->want[1] = heap_base;
		c->want[2] = heap_size;
		c->want[3] = backend_id;
		c->exact = R_RBX | R_RCX | R_RDX;	/* rsi, rdi: counters, checked for growth */
	} else if (strcmp(svc->name, "seed.regs") == 0) {
		c->rax_check = RAX_EXACT;
		c->want[0] = 10;
	} else if (strcmp(svc->name, GML_SVC_REGS_ECHO) == 0) {
		int i;

		c->rax_check = RAX_EXACT;
		c->want[0] = 0;
		for (i = 1; i < 6; i++)
			c->want[i] = ~reg_get(&c->in, i);
		c->exact = R_RBX | R_RCX | R_RDX | R_RSI | R_RDI;
	}
}

static unsigned long total_weight;
static unsigned long n_lookups, n_enosys, n_service_calls;

static void gen_call(struct call *c, int cpl)
{
	int i;
	unsigned long w;
	size_t k;

	memset(c, 0, sizeof(*c));
	c->cpl = cpl;
	/* rbp, r8-r15: no hypercall may change them */
	for (i = 6; i < 15; i++)
		*reg_ptr(&c->in, i) = rnd();
	for (i = 1; i < 6; i++)
		*reg_ptr(&c->in, i) = rnd_arg();
	c->results = R_RAX;
	if (raw_write_next) {
		raw_write_next = 0;
		if (!pre_hardening && svc_by_name(GML_SVC_LINEAR_PAGEWISE)->number &&
		    svc_by_name(GML_SVC_LINEAR_BYTEWISE)->number &&
		    svc_by_name(GML_SVC_PHYS_XFER)->number) {
			gen_raw_write_after_read(c);
			n_service_calls++;
			return;
		}
	}
	w = rnd_below(10);
	if (w < 3 || total_weight == 0) {
		gen_lookup(c, cpl == 0 ? &kscr : &uscr);
		n_lookups++;
	} else if (w < 6) {
		gen_enosys(c);
		n_enosys++;
	} else {
		w = rnd_below(total_weight);
		for (k = 0; k < N_SERVICES; k++) {
			if (!services[k].number || services[k].policy == P_EXCLUDED)
				continue;
			if (w < services[k].weight)
				break;
			w -= services[k].weight;
		}
		gen_service(c, &services[k]);
		services[k].calls++;
		n_service_calls++;
	}
}

/* ---- checking ------------------------------------------------------------------------------ */

static unsigned long n_mismatched, n_details;
static unsigned long last_exits, last_rom_writes;

static void describe(const struct call *c, unsigned long index, const char *problem)
{
	char regs[15 * 48];
	size_t len = 0;
	int i;

	n_mismatched++;
	if (n_details >= FUZZ_MAX_DETAILS)
		return;
	n_details++;
	/* the call's arguments, then only the registers that changed */
	for (i = 0; i < 6; i++)
		len += (size_t)snprintf(regs + len, sizeof(regs) - len, " %s=%#" PRIx64,
					reg_names[i], reg_get(&c->in, i));
	len += (size_t)snprintf(regs + len, sizeof(regs) - len, "; changed:");
	for (i = 0; i < 15; i++)
		if (reg_get(&c->in, i) != reg_get(&c->out, i))
			len += (size_t)snprintf(regs + len, sizeof(regs) - len, " %s->%#" PRIx64,
						reg_names[i], reg_get(&c->out, i));
	report(0, "call #%lu (CPL%d, %s, %s): %s; in:%s", index, c->cpl,
	       c->kind == K_LOOKUP ? "look-up" : c->kind == K_ENOSYS ? "unregistered number" :
	       c->svc->name, c->how, problem, regs);
}

static void check_call(const struct call *c, unsigned long index)
{
	char problem[256];
	uint64_t rax = c->out.rax;
	int i;

	problem[0] = 0;
	if (c->rax_check == RAX_EXACT && rax != c->want[0])
		snprintf(problem, sizeof(problem), "rax: expected %#" PRIx64 ", got %#" PRIx64,
			 c->want[0], rax);
	else if (c->rax_check == RAX_SET) {
		unsigned k;

		for (k = 0; k < c->nstat && rax != c->stat[k]; k++)
			;
		if (k == c->nstat) {
			int len = snprintf(problem, sizeof(problem), "rax: expected %s",
					   status_name(c->stat[0]));
			for (k = 1; k < c->nstat; k++)
				len += snprintf(problem + len, sizeof(problem) - len, " or %s",
						status_name(c->stat[k]));
			snprintf(problem + len, sizeof(problem) - len, ", got %s", status_name(rax));
		}
	} else if (c->rax_check == RAX_LOOKUP_ANY && rax > FUZZ_REGISTRY_CAPACITY)
		snprintf(problem, sizeof(problem), "look-up rax: expected 0 or a service number "
			 "(<= %lu), got %#" PRIx64, FUZZ_REGISTRY_CAPACITY, rax);
	for (i = 1; i < 15 && !problem[0]; i++) {
		uint64_t got = reg_get(&c->out, i);

		if (i < 6 && (c->results & (1u << i))) {
			if ((c->exact & (1u << i)) && got != c->want[i])
				snprintf(problem, sizeof(problem), "result %s: expected %#" PRIx64
					 ", got %#" PRIx64, reg_names[i], c->want[i], got);
			continue;
		}
		if (got != reg_get(&c->in, i))
			snprintf(problem, sizeof(problem), "%s not preserved: %#" PRIx64 " became %#"
				 PRIx64, reg_names[i], reg_get(&c->in, i), got);
	}
	if (!problem[0] && c->kind == K_SERVICE && strcmp(c->svc->name, "gmlab.info") == 0) {
		if (c->out.rdi <= last_exits)
			snprintf(problem, sizeof(problem), "gmlab.info exit counter (rdi) did not "
				 "grow: %#llx after %#lx", (unsigned long long)c->out.rdi, last_exits);
		else if (c->out.rsi < last_rom_writes)
			snprintf(problem, sizeof(problem), "gmlab.info region-write counter (rsi) "
				 "went back: %#llx after %#lx", (unsigned long long)c->out.rsi,
				 last_rom_writes);
		last_exits = c->out.rdi;
		last_rom_writes = c->out.rsi;
	}
	if (problem[0])
		describe(c, index, problem);
}

static int verbose;

static void print_call(const struct call *c, unsigned long index)
{
	fprintf(stderr, "fuzz: #%lu CPL%d rax=%#llx rbx=%#llx rcx=%#llx rdx=%#llx rsi=%#llx "
		"rdi=%#llx (%s, %s)\n", index, c->cpl, (unsigned long long)c->in.rax,
		(unsigned long long)c->in.rbx, (unsigned long long)c->in.rcx,
		(unsigned long long)c->in.rdx, (unsigned long long)c->in.rsi,
		(unsigned long long)c->in.rdi,
		c->kind == K_LOOKUP ? "look-up" : c->kind == K_ENOSYS ? "unregistered" : c->svc->name,
		c->how);
}

/* Write pages against their models; names pages against what was written. */
static int check_scratch(const char *when)
{
	unsigned char kbuf[GMLFUZZ_SCRATCH_SIZE];
	struct gmlfuzz_scratch s = { .buf = (unsigned long)kbuf };
	int ok = 1;

	if (xarea && memcmp(xarea, xmodel, XAREA_SIZE) != 0) {
		size_t i = 0;

		while (xarea[i] == xmodel[i])
			i++;
		ok = report(0, "transfer area differs from its model %s, first at offset %#zx "
			    "(expected %#x, got %#x)", when, i, xmodel[i], xarea[i]);
	}
	if (memcmp(uscr.write, uscr.model, PAGE) != 0) {
		size_t i = 0;

		while (uscr.write[i] == uscr.model[i])
			i++;
		ok = report(0, "user write page differs from its model %s, first at offset %#zx "
			    "(expected %#x, got %#x)", when, i, uscr.model[i], uscr.write[i]);
	}
	if (kfd >= 0) {
		if (ioctl(kfd, GMLFUZZ_IOC_SCRATCH_READ, &s) != 0) {
			report_error("GMLFUZZ_IOC_SCRATCH_READ: %s", strerror(errno));
			return 0;
		}
		if (memcmp(kbuf + PAGE, kscr.model, PAGE) != 0) {
			size_t i = 0;

			while (kbuf[PAGE + i] == kscr.model[i])
				i++;
			ok = report(0, "kernel write page differs from its model %s, first at offset "
				    "%#zx (expected %#x, got %#x)", when, i, kscr.model[i],
				    kbuf[PAGE + i]) && ok;
		}
		if (memcmp(kbuf, kscr.names, PAGE) != 0)
			ok = report(0, "kernel names page changed %s (nothing may write it)", when) && ok;
	}
	return ok;
}

/* ---- setup --------------------------------------------------------------------------------- */

static int env_u64(const char *name, uint64_t dflt, uint64_t min, uint64_t max, uint64_t *out)
{
	const char *v = getenv(name);
	char *end;

	*out = dflt;
	if (!v || !*v)
		return 0;
	errno = 0;
	*out = strtoull(v, &end, 0);
	if (errno || *end || *out < min || *out > max) {
		report_error("%s='%s' is not a number in %" PRIu64 "..%" PRIu64 " (decimal or 0x hex)",
			     name, v, min, max);
		return -1;
	}
	return 0;
}

static unsigned long virt_to_phys_self(unsigned long va)
{
	int fd = open("/proc/self/pagemap", O_RDONLY);
	uint64_t e = 0;

	if (fd < 0)
		return 0;
	if (pread(fd, &e, sizeof(e), (off_t)(va / PAGE * 8)) != sizeof(e))
		e = 0;
	close(fd);
	if (!(e & (1ULL << 63)))
		return 0;
	return (unsigned long)((e & ((1ULL << 55) - 1)) * PAGE + va % PAGE);
}

/* Two pages, the second never present: PROT_NONE, so the guest's page tables have no entry
 * for it (what the hypervisor's walker sees is the same as unmapped), and unlike munmap no
 * later allocation can land there. Returns the first. */
static unsigned char *page_before_hole(void)
{
	unsigned char *p = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	if (mprotect(p + PAGE, PAGE, PROT_NONE) != 0) {
		munmap(p, 2 * PAGE);
		return NULL;
	}
	return p;
}

/* The transfer area (guard, XAREA_PAGES locked pages, guard) and its frame list. */
static int setup_xarea(void)
{
	unsigned char *p = mmap(NULL, XAREA_SIZE + 2 * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
				-1, 0);
	unsigned i;

	if (p == MAP_FAILED || mprotect(p + PAGE, XAREA_SIZE, PROT_READ | PROT_WRITE) != 0 ||
	    mlock(p + PAGE, XAREA_SIZE) != 0) {
		report_error("transfer area: mmap/mprotect/mlock of %u pages: %s", XAREA_PAGES,
			     strerror(errno));
		return -1;
	}
	xarea = p + PAGE;
	for (i = 0; i < XAREA_SIZE; i++)
		xarea[i] = (unsigned char)rnd();
	memcpy(xmodel, xarea, XAREA_SIZE);
	xframes = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (xframes == MAP_FAILED || mlock(xframes, PAGE) != 0) {
		report_error("frame list page: %s", strerror(errno));
		return -1;
	}
	memset(xframes, 0, PAGE);
	for (i = 0; i < XAREA_PAGES; i++) {
		unsigned long pa = virt_to_phys_self((unsigned long)xarea + i * PAGE);

		if (!pa) {
			report_error("pagemap gives no frame for page %u of the transfer area", i);
			return -1;
		}
		xframes[i] = pa / PAGE;
	}
	xframes_gpa = virt_to_phys_self((unsigned long)xframes);
	return xframes_gpa ? 0 : -1;
}

/* /sys/firmware/memmap: the e820 the hypervisor gave the guest; adjacent RAM merged. */
static void read_memmap(void)
{
	unsigned i;

	n_memmap = 0;
	for (i = 0; i < 256 && n_memmap < MAX_MEMMAP; i++) {
		char path[96], type[64] = "";
		unsigned long long start, end;
		FILE *f;
		int ok;

		snprintf(path, sizeof(path), "/sys/firmware/memmap/%u/start", i);
		if (!(f = fopen(path, "r")))
			break;
		ok = fscanf(f, "%llx", &start) == 1;
		fclose(f);
		snprintf(path, sizeof(path), "/sys/firmware/memmap/%u/end", i);
		if (!ok || !(f = fopen(path, "r")))
			break;
		ok = fscanf(f, "%llx", &end) == 1;
		fclose(f);
		snprintf(path, sizeof(path), "/sys/firmware/memmap/%u/type", i);
		if (!ok || !(f = fopen(path, "r")))
			break;
		if (!fgets(type, sizeof(type), f))
			type[0] = 0;
		fclose(f);
		memmap[n_memmap++] = (struct memrange){ start, end + 1,
							strncmp(type, "System RAM", 10) == 0 };
	}
	/* sort by start, then merge touching RAM ranges */
	for (i = 1; i < n_memmap; i++) {
		struct memrange m = memmap[i];
		unsigned j = i;

		for (; j > 0 && memmap[j - 1].start > m.start; j--)
			memmap[j] = memmap[j - 1];
		memmap[j] = m;
	}
	for (i = 0; i + 1 < n_memmap;) {
		if (memmap[i].ram && memmap[i + 1].ram && memmap[i].end == memmap[i + 1].start) {
			memmap[i].end = memmap[i + 1].end;
			memmove(&memmap[i + 1], &memmap[i + 2], (n_memmap - i - 2) * sizeof(memmap[0]));
			n_memmap--;
		} else {
			i++;
		}
	}
}

static int setup_user(void)
{
	unsigned char *p, *edge;

	p = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED || mlock(p, 2 * PAGE) != 0) {
		report_error("user scratch: mmap/mlock of two pages: %s", strerror(errno));
		return -1;
	}
	uscr = (struct scratch){ .names = p, .write = p + PAGE, .names_va = (unsigned long)p,
				 .write_va = (unsigned long)p + PAGE, .what = "user" };
	build_names(uscr.names);
	memcpy(names_copy, uscr.names, PAGE);
	fill_pattern(uscr.write);
	memcpy(uscr.model, uscr.write, PAGE);
	uscr.write_pa = virt_to_phys_self(uscr.write_va);
	if (!report(uscr.write_pa != 0, "physical address of the user write page from "
		    "/proc/self/pagemap (%#lx; 0 = no CAP_SYS_ADMIN or not present)", uscr.write_pa))
		return -1;

	p = page_before_hole();
	edge = page_before_hole();
	if (!p || !edge) {
		report_error("mmap for the unmapped-page cases: %s", strerror(errno));
		return -1;
	}
	memset(p, 'A', PAGE);
	a_page = (unsigned long)p;
	hole = a_page + PAGE;
	memset(edge, 'e', PAGE);
	memcpy(edge + PAGE - 11, "gmlab.echo", 11);
	edge_name = (unsigned long)edge + PAGE - 11;
	return 0;
}

static int setup_kernel(void)
{
	struct gmlfuzz_info info;
	unsigned char buf[GMLFUZZ_SCRATCH_SIZE];
	struct gmlfuzz_scratch s = { .buf = (unsigned long)buf };
	static unsigned char knames[PAGE];

	kfd = open(GMLFUZZ_DEVICE, O_RDWR);
	if (kfd < 0) {
		report_error("%s: %s (gmlfuzz.ko not loaded: the CPL0 half cannot run)",
			     GMLFUZZ_DEVICE, strerror(errno));
		return -1;
	}
	if (ioctl(kfd, GMLFUZZ_IOC_INFO, &info) != 0 || info.scratch_size != sizeof(buf)) {
		report_error("GMLFUZZ_IOC_INFO: %s (scratch size %u)", strerror(errno),
			     info.scratch_size);
		close(kfd);
		kfd = -1;
		return -1;
	}
	/* the same names page layout as the user one (same offsets) */
	memcpy(buf, uscr.names, PAGE);
	fill_pattern(buf + PAGE);
	if (ioctl(kfd, GMLFUZZ_IOC_SCRATCH_WRITE, &s) != 0) {
		report_error("GMLFUZZ_IOC_SCRATCH_WRITE: %s", strerror(errno));
		close(kfd);
		kfd = -1;
		return -1;
	}
	memcpy(knames, buf, PAGE);
	kscr = (struct scratch){ .names = knames, .names_va = info.scratch_va,
				 .write_va = info.scratch_va + PAGE,
				 .write_pa = info.scratch_pa + PAGE, .what = "kernel" };
	memcpy(kscr.model, buf + PAGE, PAGE);
	return 0;
}

static int cpu_has_smap(void)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[4096];
	int found = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "flags", 5) == 0) {
			found = strstr(line, " smap") != NULL;
			break;
		}
	fclose(f);
	return found;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- look-up after fork ---------------------------------------------------------------------- */

/*
 * A forked child: its look-ups of every known name (copied to its stack, so the page is
 * present) give the parent's numbers; a look-up of an untouched string constant may give 0
 * (a file-backed page without a page-table entry yet: the hypervisor cannot fault it in) but
 * nothing else; a read of the transfer area it shares copy-on-write hashes like the model; a
 * write there is refused (GML_E_READ_ONLY: the frame is shared) and the parent's copy stays.
 */
static void fork_checks(void)
{
	unsigned long page_svc = svc_by_name(GML_SVC_LINEAR_PAGEWISE)->number;
	int status = 0;
	pid_t pid;

	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		report_error("fork: %s", strerror(errno));
		return;
	}
	if (pid == 0) {
		int bad = 0;
		unsigned long n;
		size_t i;

		n = hc_lookup("gml.regs.echo");	/* a constant this process never touched */
		if (n != 0 && n != svc_by_name(GML_SVC_REGS_ECHO)->number) {
			fprintf(stderr, "fuzz: child: untouched-name look-up gave %#lx\n", n);
			bad |= 1;
		}
		for (i = 0; i < N_SERVICES; i++) {
			char name[300];

			snprintf(name, sizeof(name), "%s", services[i].name);
			n = hc_lookup(name);
			if (n != services[i].number) {
				fprintf(stderr, "fuzz: child: look-up of %s gave %#lx, parent %#lx\n",
					name, n, services[i].number);
				bad |= 2;
			}
		}
		if (page_svc) {
			struct hc_regs r = { .rbx = (unsigned long)xarea, .rcx = XAREA_SIZE };

			hc_call(page_svc, &r);
			if (r.rax != 0 || r.rcx != gml_fnv1a(GML_FNV_OFFSET, xmodel, XAREA_SIZE)) {
				fprintf(stderr, "fuzz: child: read of the shared transfer area: status "
					"%s, hash %#lx\n", status_name(r.rax), r.rcx);
				bad |= 4;
			}
			r = (struct hc_regs){ .rbx = (unsigned long)xarea, .rcx = 16,
					      .rdx = GML_XFER_WRITE, .rsi = 1 };
			hc_call(page_svc, &r);
			if (r.rax != GML_E_READ_ONLY || r.rbx != 0) {
				fprintf(stderr, "fuzz: child: write into the copy-on-write transfer area: "
					"status %s, %lu bytes (expected GML_E_READ_ONLY, 0)\n",
					status_name(r.rax), r.rbx);
				bad |= 8;
			}
		}
		_exit(bad);
	}
	if (waitpid(pid, &status, 0) != pid) {
		report_error("waitpid: %s", strerror(errno));
		return;
	}
	report(WIFEXITED(status) && WEXITSTATUS(status) == 0, "after fork, the child's look-ups, "
	       "its read of the shared area and the refusal of its copy-on-write write are right "
	       "(exit status %#x: 1 untouched name, 2 touched names, 4 read, 8 write; details on "
	       "the console)", WIFEXITED(status) ? WEXITSTATUS(status) : 0x100 | WTERMSIG(status));
}

/* ---- the case ------------------------------------------------------------------------------ */

static void run_cpl3(struct call *c)
{
	c->out = c->in;
	if (hc_insn() == HC_INSN_VMMCALL)
		gmlfuzz_vmmcall(&c->out);
	else
		gmlfuzz_vmcall(&c->out);
}

static void fuzz_hypercalls(void)
{
	static struct call batch[FUZZ_BATCH];
	static struct gmlfuzz_regs kregs[FUZZ_BATCH];
	uint64_t seed, count;
	unsigned long done = 0, calls_cpl[4] = { 0 }, identified = 0, fuzzed = 0, b;
	double t0, t_cpl[4] = { 0 }, elapsed;
	struct hc_regs info = { 0 }, echo;
	unsigned long info_nr, echo_nr, exits0;
	size_t i;

	if (env_u64("GMLAB_FUZZ_SEED", FUZZ_DEFAULT_SEED, 0, ~0ULL, &seed) ||
	    env_u64("GMLAB_FUZZ_COUNT", FUZZ_DEFAULT_COUNT, 1, 100000000, &count))
		return;
	verbose = getenv("GMLAB_FUZZ_VERBOSE") && strcmp(getenv("GMLAB_FUZZ_VERBOSE"), "1") == 0;
	pre_hardening = getenv("GMLAB_FUZZ_PRE_HARDENING") &&
			strcmp(getenv("GMLAB_FUZZ_PRE_HARDENING"), "1") == 0;
	if (pre_hardening)
		report_info("GMLAB_FUZZ_PRE_HARDENING=1: calls whose expected result is a hardening "
			    "contract of issue 9 are left out");
	report_value("pre_hardening", (uint64_t)pre_hardening);
	{
		char hex[24];

		snprintf(hex, sizeof(hex), "%#" PRIx64, seed);
		report_value("seed", hex);	/* a string: JSON readers may hold numbers as doubles */
	}
	report_info("seed %#" PRIx64 " (GMLAB_FUZZ_SEED), %" PRIu64 " calls (GMLAB_FUZZ_COUNT)",
		    seed, count);
	rng_state = seed;

	/* the registry, as far as names tell */
	for (i = 0; i < N_SERVICES; i++) {
		services[i].number = hc_lookup(services[i].name);
		if (services[i].number) {
			identified++;
			if (services[i].policy != P_EXCLUDED) {
				fuzzed++;
				total_weight += services[i].weight;
			}
		}
	}
	echo_nr = svc_by_name("gmlab.echo")->number;
	info_nr = svc_by_name("gmlab.info")->number;
	if (!report(echo_nr && info_nr, "gmlab.echo and gmlab.info are registered (%#lx, %#lx)",
		    echo_nr, info_nr))
		return;
	hc_call(info_nr, &info);
	if (!report_eq_u64("gmlab.info magic before the run", GML_INFO_MAGIC, info.rax))
		return;
	heap_base = info.rbx;
	heap_size = info.rcx;
	backend_id = info.rdx;
	policy_strict = GML_INFO_POLICY(info.rdx) == GML_POLICY_STRICT;
	report_value("policy", policy_strict ? "strict" : "bitvisor");
	exits0 = last_exits = info.rdi;
	last_rom_writes = info.rsi;
	{
		/* numbers are dense from 1: a gap below the highest known one is a service whose
		 * name is not in the table (add it, with a policy, to fuzz it) */
		unsigned long max_nr = 0, n;

		for (i = 0; i < N_SERVICES; i++)
			if (services[i].number > max_nr)
				max_nr = services[i].number;
		for (n = 1; n <= max_nr; n++) {
			for (i = 0; i < N_SERVICES && services[i].number != n; i++)
				;
			if (i == N_SERVICES)
				report_info("service number %lu is registered under a name not in the "
					    "fuzzer's table: never called", n);
		}
	}
	report_value("services_identified", (uint64_t)identified);
	report_value("services_fuzzed", (uint64_t)fuzzed);
	report_info("%lu of %zu known service names registered, %lu fuzzed (numbers 1..%lu that no "
		    "known name maps to are never called)", identified, N_SERVICES, fuzzed,
		    FUZZ_REGISTRY_CAPACITY);

	have_smap = cpu_has_smap();
	if (setup_user() != 0 || setup_xarea() != 0)
		return;
	setup_kernel();		/* without the module: CPL3 only, and the case errs at the end */
	read_memmap();
	report_value("memmap_ranges", (uint64_t)n_memmap);
	if (!n_memmap)
		report_info("no /sys/firmware/memmap: physical edges only at the heap, 4 GiB, 1 TiB");

	t0 = now_s();
	for (b = 0; done < count; b++) {
		int cpl = (kfd >= 0 && (b & 1)) ? 0 : 3;
		unsigned n = count - done < FUZZ_BATCH ? (unsigned)(count - done) : FUZZ_BATCH;
		double tb;

		for (i = 0; i < n; i++)
			gen_call(&batch[i], cpl);
		if ((b & 7) == 0 || verbose)
			fprintf(stderr, "fuzz: calls %lu..%lu at CPL%d (seed %#" PRIx64 ")\n", done,
				done + n - 1, cpl, seed);
		tb = now_s();
		if (cpl == 3) {
			for (i = 0; i < n; i++) {
				if (verbose)
					print_call(&batch[i], done + i);
				if (batch[i].kind == K_SERVICE) {
					double t1 = now_s();

					run_cpl3(&batch[i]);
					batch[i].svc->cpl3_s += now_s() - t1;
				} else {
					run_cpl3(&batch[i]);
				}
			}
		} else {
			/* one ioctl per batch; verbose: one per call, so the last line printed
			 * names the call that hung */
			unsigned per = verbose ? 1 : n, j;
			int failed = 0;

			for (i = 0; i < n; i++)
				kregs[i] = batch[i].in;
			for (i = 0; i < n && !failed; i += per) {
				struct gmlfuzz_batch kb = { .calls = (unsigned long)&kregs[i], .n = per };

				for (j = 0; verbose && j < per; j++)
					print_call(&batch[i + j], done + i + j);
				if (ioctl(kfd, GMLFUZZ_IOC_BATCH, &kb) != 0) {
					report_error("GMLFUZZ_IOC_BATCH of %u calls: %s", per,
						     strerror(errno));
					failed = 1;
				}
			}
			if (failed)
				break;
			for (i = 0; i < n; i++)
				batch[i].out = kregs[i];
		}
		t_cpl[cpl] += now_s() - tb;
		calls_cpl[cpl] += n;
		for (i = 0; i < n; i++)
			check_call(&batch[i], done + i);
		done += n;
		if (!check_scratch("after a batch")) {
			report_info("scratch mismatch after calls %lu..%lu", done - n, done - 1);
			break;
		}
	}
	elapsed = now_s() - t0;

	if (done == count)
		fork_checks();

	/* the hypervisor is alive and still right */
	memset(&info, 0, sizeof(info));
	hc_call(info_nr, &info);
	report_eq_u64("gmlab.info magic after the run", GML_INFO_MAGIC, info.rax);
	report(info.rdi - exits0 >= done, "exit counter advanced by at least the %lu calls (by "
	       "%lu)", done, info.rdi - exits0);
	echo = (struct hc_regs){ .rbx = 1, .rcx = 20, .rdx = 300, .rsi = 4000, .rdi = 50000 };
	hc_call(echo_nr, &echo);
	report_eq_u64("gmlab.echo after the run: 1+20+300+4000+50000", 54321, echo.rax);
	check_scratch("at the end");
	report(memcmp(uscr.names, names_copy, PAGE) == 0, "the user names page is untouched");
	{
		const unsigned char *a = (const unsigned char *)a_page;

		for (i = 0; i < PAGE && a[i] == 'A'; i++)
			;
		report(i == PAGE, "the 'A' page is untouched (first change at %zu)", i);
	}
	report(n_mismatched == 0, "%lu of %lu calls broke the contract (first %lu shown)",
	       n_mismatched, done, n_details);

	report_value("calls", (uint64_t)done);
	report_value("calls_cpl3", (uint64_t)calls_cpl[3]);
	report_value("calls_cpl0", (uint64_t)calls_cpl[0]);
	report_value("lookups", (uint64_t)n_lookups);
	report_value("unregistered_numbers", (uint64_t)n_enosys);
	report_value("service_calls", (uint64_t)n_service_calls);
	report_value("mismatched_calls", (uint64_t)n_mismatched);
	report_value("elapsed_s", elapsed);
	report_value("calls_per_second", elapsed > 0 ? done / elapsed : 0.0);
	report_value("cpl3_calls_per_second", t_cpl[3] > 0 ? calls_cpl[3] / t_cpl[3] : 0.0);
	report_value("cpl0_calls_per_second", t_cpl[0] > 0 ? calls_cpl[0] / t_cpl[0] : 0.0);
	report_value("exits_delta", (uint64_t)(info.rdi - exits0));
	report_value("structured_transfer_calls", (uint64_t)n_structured);
	report_value("own_memory_transfers", (uint64_t)n_own);
	report_value("physical_edge_calls", (uint64_t)n_edge_phys);
	report_value("argument_refusal_calls", (uint64_t)n_arg_refusals);
	report_value("raw_writes_after_reads", (uint64_t)n_raw_after_read);
	for (i = 0; i < N_SERVICES; i++)
		if (services[i].calls)
			report_info("%s (#%lu): %lu calls, %.3f s in those at CPL3", services[i].name,
				    services[i].number, services[i].calls, services[i].cpl3_s);
	report_info("%lu calls (%lu CPL3, %lu CPL0) in %.2f s: %.0f calls/s, seed %#" PRIx64,
		    done, calls_cpl[3], calls_cpl[0], elapsed, elapsed > 0 ? done / elapsed : 0.0,
		    seed);
	if (kfd < 0)
		report_error("the CPL0 half did not run (see above)");
	else
		close(kfd);
}

static const struct gml_case cases[] = {
	{ "fuzz/hypercalls", "random service numbers and arguments from CPL3 and CPL0 (seeded, "
	  "GMLAB_FUZZ_SEED / GMLAB_FUZZ_COUNT): every call returns, unregistered numbers give "
	  "GML_HC_ENOSYS, non-result registers are preserved, the hypervisor stays alive",
	  GML_NEEDS_HYPERVISOR, fuzz_hypercalls,
	  "skip: asserts the lab hypervisor's answer to unregistered numbers (GML_HC_ENOSYS) and its "
	  "gmlab.info; BitVisor answers rax = 0 and has no gmlab.info" },
};

GML_MAIN("fuzz", cases)
