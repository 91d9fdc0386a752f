/* Suite phys: method 2, guest-physical addresses from the kernel. The kernel module allocates
 * the buffer (kmalloc: contiguous, virt_to_phys; vmalloc: a page list of frame numbers) and
 * makes the hypercall at CPL0, as the seed's module does; services gml.phys.xfer and
 * gml.phys.list (core/include/gml_methods.h). Each length both ways: the hypervisor reads (hash of what
 * it read against the guest's) and writes (pattern verified in the guest, guard bytes after
 * the range untouched). Bad ranges are refused with their typed error, and the hypervisor and
 * the guest carry on. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "method_util.h"
#include "report.h"

#define GUARD 64u
#define GUARD_BYTE 0xc3

static int fd = -1;
static unsigned long svc_xfer, svc_list;

static int setup(void)
{
	fd = m_kmod_open();
	if (fd < 0)
		return -1;
	svc_xfer = m_lookup0(fd, GML_SVC_PHYS_XFER);
	svc_list = m_lookup0(fd, GML_SVC_PHYS_LIST);
	return svc_xfer && svc_list ? 0 : -1;
}

/*
 * Both directions over [off, off+len) of the module's current buffer (of size bufsize),
 * addressed either contiguously (gpa != 0: gpa of the buffer's start) or by its page list.
 * Bytes of the buffer outside the range hold GUARD_BYTE and must keep it.
 */
static void both_ways(const char *what, const struct gmlab_kbuf *kb, uint64_t off, uint64_t len,
		      int use_list, uint64_t seed)
{
	unsigned char *img = malloc(kb->size);
	char name[160];
	struct mres r;

	if (!img) {
		report_error("malloc %#llx", (unsigned long long)kb->size);
		return;
	}
	/* read: the guest's bytes in the range, guard around */
	memset(img, GUARD_BYTE, kb->size);
	gml_pattern_fill(img + off, seed, 0, len);
	if (m_kbuf_rw(fd, 1, 0, img, kb->size) != 0)
		goto out;
	/* a list starting at frame off / 4096: the array address moves, rdi = offset in it */
	r = use_list ? m_xfer0(fd, svc_list, kb->list_gpa + off / 4096 * 8, len, 0, 0, off % 4096)
		     : m_xfer0(fd, svc_xfer, kb->gpa + off, len, 0, 0, 0);
	snprintf(name, sizeof(name), "%s: hypervisor reads %#llx bytes at offset %#llx", what,
		 (unsigned long long)len, (unsigned long long)off);
	m_expect_read(name, &r, img + off, len);

	/* write: zeros in the range, guard around */
	memset(img, GUARD_BYTE, kb->size);
	memset(img + off, 0, len);
	if (m_kbuf_rw(fd, 1, 0, img, kb->size) != 0)
		goto out;
	r = use_list ? m_xfer0(fd, svc_list, kb->list_gpa + off / 4096 * 8, len, GML_XFER_WRITE,
			       seed + 1, off % 4096)
		     : m_xfer0(fd, svc_xfer, kb->gpa + off, len, GML_XFER_WRITE, seed + 1, 0);
	snprintf(name, sizeof(name), "%s: hypervisor writes %#llx bytes at offset %#llx", what,
		 (unsigned long long)len, (unsigned long long)off);
	m_expect(name, &r, GML_OK, len);
	if (m_kbuf_rw(fd, 0, 0, img, kb->size) != 0)
		goto out;
	m_check_pattern(name, img + off, len, seed + 1, 0);
	if (off)
		m_check_fill("guard before the range", img, off, GUARD_BYTE);
	if (kb->size > off + len)
		m_check_fill("guard after the range", img + off + len, kb->size - off - len, GUARD_BYTE);
out:
	free(img);
}

static void kmalloc_lengths(void)
{
	static const uint64_t lens[] = { 1, 4095, 4096, 4097, 3 * 4096 + 5, 65536 + 3, 1 << 20 };
	struct gmlab_kbuf kb;
	char what[64];
	size_t i;

	if (setup() != 0)
		return;
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		if (m_kbuf_alloc(fd, GMLAB_KBUF_KMALLOC, lens[i] + GUARD, &kb) != 0)
			return;
		snprintf(what, sizeof(what), "kmalloc length %#llx", (unsigned long long)lens[i]);
		both_ways(what, &kb, 0, lens[i], 0, 0x1000 + i);
	}
}

static void kmalloc_max(void)
{
	struct gmlab_kbuf kb;

	if (setup() != 0)
		return;
	/* ask for one byte to learn KMALLOC_MAX_SIZE, then the largest contiguous kmalloc */
	if (m_kbuf_alloc(fd, GMLAB_KBUF_KMALLOC, 1, &kb) != 0)
		return;
	report_value("kmalloc_max", kb.kmalloc_max);
	if (m_kbuf_alloc(fd, GMLAB_KBUF_KMALLOC, kb.kmalloc_max, &kb) != 0)
		return;
	report_value("gpa", kb.gpa);
	both_ways("largest kmalloc", &kb, 0, kb.kmalloc_max, 0, 0x2000);
}

static void unaligned(void)
{
	static const uint64_t offs[] = { 1, 7, 4095, 4097 };
	struct gmlab_kbuf kb;
	char what[64];
	size_t i;

	if (setup() != 0 || m_kbuf_alloc(fd, GMLAB_KBUF_KMALLOC, 4 * 4096, &kb) != 0)
		return;
	for (i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		snprintf(what, sizeof(what), "unaligned start +%#llx", (unsigned long long)offs[i]);
		both_ways(what, &kb, offs[i], 2 * 4096 + 13, 0, 0x3000 + i);
	}
}

static void page_lists(void)
{
	struct gmlab_kbuf kb;
	uint64_t size = (1 << 20) + 5 * 4096;

	if (setup() != 0)
		return;
	if (m_kbuf_alloc(fd, GMLAB_KBUF_VMALLOC, size, &kb) != 0)
		return;
	report_value("vmalloc_pages", kb.npages);
	both_ways("vmalloc page list", &kb, 0, size, 1, 0x4000);
	both_ways("vmalloc page list, odd start", &kb, 1234, size - 1234 - 77, 1, 0x4001);
	both_ways("vmalloc page list, within one page", &kb, 4096 + 5, 100, 1, 0x4002);
	/* the same method over a kmalloc buffer's list (contiguous frames) */
	if (m_kbuf_alloc(fd, GMLAB_KBUF_KMALLOC, 3 * 4096, &kb) != 0)
		return;
	both_ways("kmalloc page list", &kb, 4000, 4096 + 200, 1, 0x4003);
}

/* A refused request in both directions: the status, nothing done, the offending byte named. */
static void refused(const char *what, unsigned long svc, uint64_t addr, uint64_t len,
		    uint64_t rdi, uint64_t status, uint64_t bad_gpa, int try_write)
{
	char name[160];
	struct mres r;
	int w;

	for (w = 0; w <= try_write; w++) {
		r = m_xfer0(fd, svc, addr, len, w ? GML_XFER_WRITE : 0, 7, rdi);
		snprintf(name, sizeof(name), "%s (%s %#llx+%#llx)", what, w ? "write" : "read",
			 (unsigned long long)addr, (unsigned long long)len);
		m_expect(name, &r, status, 0);
		if (bad_gpa != ~0ULL)
			report(r.detail == bad_gpa, "%s: offending guest-physical byte expected %#llx, "
			       "got %#llx", name, (unsigned long long)bad_gpa,
			       (unsigned long long)r.detail);
	}
}

/* On BitVisor (declared FINDING): no gmlab.info names its memory, and its address space maps
 * MMIO and addresses beyond RAM as they are: a read at 1 TiB through the lab's services there
 * panics BitVisor (int_fatal #PF in its own mapping, seen 2026-12-06), so nothing outside RAM is
 * touched. The refusals that do not depend on where the hypervisor lives are asserted. */
static void bad_ranges_bitvisor(void)
{
	struct gmlab_kbuf kb;

	refused("wrapping range", svc_xfer, ~0ULL - 10, 100, 0, GML_E_LEN_WRAP, 0, 1);
	if (m_kbuf_alloc(fd, GMLAB_KBUF_KMALLOC, 4096, &kb) != 0)
		return;
	refused("length 0", svc_xfer, kb.gpa, 0, 0, GML_E_LEN_ZERO, 0, 1);
	refused("length above GML_XFER_MAX (16 MiB)", svc_xfer, kb.gpa, GML_XFER_MAX + 1, 0,
		GML_ME_TOO_LONG, 0, 1);
	{
		struct mres r = m_xfer0(fd, svc_xfer, kb.gpa, 16, 0x80, 0, 0);
		m_expect("flags 0x80 refused", &r, GML_ME_BAD_FLAGS, 0);
	}
	refused("page list with first-frame offset 4096", svc_list, kb.list_gpa, 16, 4096,
		GML_ME_BAD_OFFSET, ~0ULL, 1);
	{
		unsigned char b[4096];

		if (m_kbuf_rw(fd, 0, 0, b, sizeof(b)) == 0)
			m_check_fill("kernel buffer after the refused requests", b, sizeof(b), 0);
	}
	m_alive();
}

static void bad_ranges(void)
{
	uint64_t base, size;
	struct gmlab_kbuf kb;

	if (gml_on_bitvisor()) {
		if (setup() == 0)
			bad_ranges_bitvisor();
		return;
	}
	if (setup() != 0 || m_hv_region(&base, &size) != 0)
		return;
	report_value("hv_region_base", base);
	report_value("hv_region_size", size);
	refused("beyond RAM (1 TiB)", svc_xfer, 1ULL << 40, 4096, 0, GML_E_GPA_OUTSIDE_RAM,
		1ULL << 40, 1);
	refused("local APIC MMIO 0xfee00000", svc_xfer, 0xfee00000, 16, 0, GML_E_GPA_MMIO,
		0xfee00000, 1);
	refused("the hypervisor's heap region", svc_xfer, base, 4096, 0, GML_E_GPA_HV_REGION, base, 1);
	refused("the hypervisor's image (1 MiB)", svc_xfer, 0x100000, 4096, 0, GML_E_GPA_HV_REGION,
		0x100000, 1);
	/* starts in RAM, runs into the region: all or nothing, the RAM page is not even read */
	refused("RAM running into the hypervisor's region (read only: the RAM page is the guest's)",
		svc_xfer, base - 4096, 8192, 0, GML_E_GPA_HV_REGION, base, 0);
	refused("wrapping range", svc_xfer, ~0ULL - 10, 100, 0, GML_E_LEN_WRAP, 0, 1);
	if (m_kbuf_alloc(fd, GMLAB_KBUF_KMALLOC, 4096, &kb) != 0)
		return;
	refused("length 0", svc_xfer, kb.gpa, 0, 0, GML_E_LEN_ZERO, 0, 1);
	refused("length above GML_XFER_MAX (16 MiB)", svc_xfer, kb.gpa, GML_XFER_MAX + 1, 0,
		GML_ME_TOO_LONG, 0, 1);
	{
		struct mres r = m_xfer0(fd, svc_xfer, kb.gpa, 16, 0x80, 0, 0);
		m_expect("flags 0x80 refused", &r, GML_ME_BAD_FLAGS, 0);
	}
	refused("page list with first-frame offset 4096", svc_list, kb.list_gpa, 16, 4096,
		GML_ME_BAD_OFFSET, ~0ULL, 1);
	refused("page list array in the hypervisor's region", svc_list, base, 16, 0,
		GML_E_GPA_HV_REGION, base, 1);
	/* the buffer we passed around is still all zeros */
	{
		unsigned char b[4096];

		if (m_kbuf_rw(fd, 0, 0, b, sizeof(b)) == 0)
			m_check_fill("kernel buffer after the refused requests", b, sizeof(b), 0);
	}
	m_alive();
}

/* FINDING, asserted as it is under the default (bitvisor) policy: the physical method has no
 * access control. The hypercall is allowed at CPL3 (the pagemap method needs that), and a
 * guest-physical address carries no owner, so an unprivileged process reads and writes kernel
 * memory once it knows (or guesses) a frame -- CAP_SYS_ADMIN guards only pagemap's
 * translation, not the hypercall. Under the strict policy both calls are refused
 * (GML_ME_DENIED, every other register unchanged) and the buffer stays as it was. */
struct unpriv_report {
	int dropped;
	uint64_t untouched_lookup, read_status, read_hash, write_status;
	struct hc_regs read_out, write_out;
};

static void no_access_control(void)
{
	unsigned char img[4096], back[4096];
	struct unpriv_report rep;
	struct gmlab_kbuf kb;
	int pfd[2], st;
	pid_t pid;

	if (setup() != 0 || m_kbuf_alloc(fd, GMLAB_KBUF_KMALLOC, sizeof(img), &kb) != 0)
		return;
	gml_pattern_fill(img, 0x6000, 0, sizeof(img));
	if (m_kbuf_rw(fd, 1, 0, img, sizeof(img)) != 0 || pipe(pfd) != 0)
		return;
	pid = fork();
	if (pid == 0) {
		unsigned long n;
		struct hc_regs r;
		char name[64];

		memset(&rep, 0, sizeof(rep));
		rep.dropped = setgid(65534) == 0 && setuid(65534) == 0;
		/* After fork the program's read-only data (a private file mapping) has no page table
		 * entries in the child until touched, and the look-up does not fault pages in: a
		 * look-up of the constant string may return 0. Recorded; then the name is touched. */
		rep.untouched_lookup = hc_lookup(GML_SVC_PHYS_XFER);
		snprintf(name, sizeof(name), "%s", GML_SVC_PHYS_XFER);
		n = hc_lookup(name);
		r = (struct hc_regs){ .rbx = kb.gpa, .rcx = sizeof(img) };
		hc_call(n, &r);
		rep.read_status = n ? r.rax : ~0ULL;
		rep.read_hash = r.rcx;
		rep.read_out = r;
		r = (struct hc_regs){ .rbx = kb.gpa, .rcx = 16, .rdx = GML_XFER_WRITE, .rsi = 0x6001 };
		hc_call(n, &r);
		rep.write_status = n ? r.rax : ~0ULL;
		rep.write_out = r;
		_exit(write(pfd[1], &rep, sizeof(rep)) == sizeof(rep) ? 0 : 2);
	}
	close(pfd[1]);
	memset(&rep, 0, sizeof(rep));
	if (read(pfd[0], &rep, sizeof(rep)) != sizeof(rep))
		report_error("the unprivileged child reported nothing");
	close(pfd[0]);
	waitpid(pid, &st, 0);
	report(rep.dropped, "child runs as uid/gid 65534 (nobody, no capabilities)");
	report_value("lookup_of_untouched_name_after_fork", rep.untouched_lookup);
	if (m_strict()) {
		struct hc_regs rd = rep.read_out, wr = rep.write_out;

		report(rep.read_status == GML_ME_DENIED && rd.rbx == kb.gpa && rd.rcx == sizeof(img) &&
		       rd.rdx == 0 && rd.rsi == 0 && rd.rdi == 0, "strict policy: nobody's read by "
		       "guest-physical address is refused (rax %s, expected GML_ME_DENIED; rbx..rdi "
		       "%#lx %#lx %#lx %#lx %#lx, expected unchanged)", m_errname(rep.read_status),
		       rd.rbx, rd.rcx, rd.rdx, rd.rsi, rd.rdi);
		report(rep.write_status == GML_ME_DENIED && wr.rbx == kb.gpa && wr.rcx == 16 &&
		       wr.rdx == GML_XFER_WRITE && wr.rsi == 0x6001 && wr.rdi == 0, "strict policy: "
		       "nobody's write is refused (rax %s, expected GML_ME_DENIED; registers unchanged)",
		       m_errname(rep.write_status));
		if (m_kbuf_rw(fd, 0, 0, back, sizeof(back)) == 0)
			m_check_pattern("kernel buffer untouched by the refused write", back, sizeof(back),
					0x6000, 0);
		report_value("unprivileged_read", rep.read_status == GML_OK);
		report_value("unprivileged_write", rep.write_status == GML_OK);
		return;
	}
	report(rep.read_status == GML_OK && rep.read_hash == gml_fnv1a(GML_FNV_OFFSET, img,
	       sizeof(img)), "FINDING: nobody read a kmalloc buffer by guest-physical address "
	       "(status %s, hash %s)", m_errname(rep.read_status),
	       rep.read_hash == gml_fnv1a(GML_FNV_OFFSET, img, sizeof(img)) ? "matches" : "differs");
	report(rep.write_status == GML_OK, "FINDING: nobody wrote it (status %s)",
	       m_errname(rep.write_status));
	if (m_kbuf_rw(fd, 0, 0, back, sizeof(back)) == 0)
		m_check_pattern("kernel buffer holds the unprivileged write", back, 16, 0x6001, 0);
	report_value("unprivileged_read", rep.read_status == GML_OK);
	report_value("unprivileged_write", rep.write_status == GML_OK);
}

static const struct gml_case cases[] = {
	{ "phys/kmalloc-lengths", "kmalloc buffers of 1, page-1, page, page+1 .. 1 MiB: hypervisor "
	  "reads and writes them by guest-physical address (CPL0)", GML_NEEDS_HYPERVISOR |
	  GML_NEEDS_KMOD, kmalloc_lengths },
	{ "phys/kmalloc-max", "the largest contiguous kmalloc (KMALLOC_MAX_SIZE) both ways",
	  GML_NEEDS_HYPERVISOR | GML_NEEDS_KMOD, kmalloc_max },
	{ "phys/unaligned", "starts at +1, +7, +4095, +4097 across page boundaries, both ways, guard "
	  "bytes untouched", GML_NEEDS_HYPERVISOR | GML_NEEDS_KMOD, unaligned },
	{ "phys/page-list", "vmalloc (non-contiguous) buffers passed as page lists of frame numbers, "
	  "odd offsets, both ways", GML_NEEDS_HYPERVISOR | GML_NEEDS_KMOD, page_lists },
	{ "phys/refused", "beyond RAM, LAPIC MMIO, the hypervisor's region, wrapping, zero and "
	  "oversized lengths: each refused with its typed error, nothing touched, all alive",
	  GML_NEEDS_HYPERVISOR | GML_NEEDS_KMOD, bad_ranges,
	  "FINDING: BitVisor names no region of its own (no gmlab.info) and maps addresses beyond "
	  "RAM as they are (a read at 1 TiB panics it: #PF in its own mapping): only the refusals "
	  "that do not depend on them are asserted (wrapping, zero and oversized lengths, bad "
	  "flags, bad page-list offset)" },
	{ "phys/no-access-control", "FINDING (asserted as is under the bitvisor policy): an "
	  "unprivileged CPL3 process (nobody) reads and writes a kernel buffer through the physical "
	  "method; the strict policy refuses both (GML_ME_DENIED)", GML_NEEDS_HYPERVISOR |
	  GML_NEEDS_KMOD, no_access_control },
};

GML_MAIN("phys", cases)
