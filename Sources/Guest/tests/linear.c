/* Suite linear: method 4, guest-linear addresses walked by the hypervisor, in two flavours
 * with the same cases: linear/bytewise/... (BitVisor's way: read_linearaddr_b / write_linearaddr_b
 * per byte, a full walk each) and linear/pagewise/... (the core's copy: one walk per page).
 * Services gml.linear.bytewise / pagewise, plus gml.linear.probe and gml.cpu.paging to see
 * what the walk saw (page size, levels, A/D bits). Callers are CPL3 unless a case says CPL0.
 * Under the strict access policy (GMLAB_POLICY=strict) gml.linear.probe and gml.cpu.paging
 * refuse CPL3 callers: each case that asks them asserts that refusal (GML_ME_DENIED) and checks
 * the rest another way (CR4 from a CPL0 call, present bits from pagemap) or not at all (leaf
 * page size, A/D bits); the transfers themselves are allowed under both policies. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "method_util.h"
#include "report.h"

/* Does the guest kernel isolate its page tables (PTI)? Then its user PML4 entries carry NX
 * in the kernel's tables (arch/x86/mm/pti.c). */
static int kernel_uses_pti(void)
{
	char line[128] = "";
	FILE *f = fopen("/sys/devices/system/cpu/vulnerabilities/meltdown", "r");

	if (!f)
		return 0;
	if (!fgets(line, sizeof(line), f))
		line[0] = 0;
	fclose(f);
	return strstr(line, "PTI") != NULL;
}

#define GUARD_BYTE 0xc3
#define HUGE_2M (2UL << 20)
#define GML_PTE_RW_BIT (1ULL << 1)   /* R/W in a paging entry */
#define GML_PTE_USER_BIT (1ULL << 2) /* U/S in a paging entry */

static struct mres xfer(const void *addr, uint64_t len, uint64_t flags, uint64_t seed)
{
	return m_xfer(m_svc, (uintptr_t)addr, len, flags, seed, 0);
}

/* Both ways over [buf, buf+len): bytes in [lo, buf) and [buf+len, hi) hold GUARD_BYTE and must
 * keep it. */
static void both_ways(const char *what, unsigned char *lo, unsigned char *buf, uint64_t len,
		      unsigned char *hi, uint64_t seed)
{
	char name[160];
	struct mres r;

	memset(lo, GUARD_BYTE, hi - lo);
	gml_pattern_fill(buf, seed, 0, len);
	r = xfer(buf, len, 0, 0);
	snprintf(name, sizeof(name), "%s: %s read of %#llx bytes at %p", what, m_method,
		 (unsigned long long)len, (void *)buf);
	m_expect_read(name, &r, buf, len);

	memset(lo, GUARD_BYTE, hi - lo);
	memset(buf, 0, len);
	r = xfer(buf, len, GML_XFER_WRITE, seed + 1);
	snprintf(name, sizeof(name), "%s: %s write of %#llx bytes at %p", what, m_method,
		 (unsigned long long)len, (void *)buf);
	m_expect(name, &r, GML_OK, len);
	m_check_pattern(name, buf, len, seed + 1, 0);
	m_check_fill("guard before", lo, buf - lo, GUARD_BYTE);
	m_check_fill("guard after", buf + len, hi - buf - len, GUARD_BYTE);
}

/* gml.linear.probe: walk without setting A/D (or with, flags). Under the strict policy the call
 * must be refused (a reported check); status is then GML_ME_DENIED and the rest 0. */
struct probe {
	uint64_t status, gpa, page_size, levels, entry, level;
};

static struct probe probe(const void *va, uint64_t flags)
{
	static unsigned long n;
	struct hc_regs r = { .rbx = (uintptr_t)va, .rcx = flags };

	if (!n)
		n = m_lookup(GML_SVC_LINEAR_PROBE);
	if (!n)
		return (struct probe){ .status = ~0ULL };
	if (m_strict()) {
		m_expect_denied(GML_SVC_LINEAR_PROBE, n, &r);
		return (struct probe){ .status = GML_ME_DENIED };
	}
	hc_call(n, &r);
	return (struct probe){ r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi };
}

/* ---- cases (each runs with the method chosen by its wrapper) ---- */

static void cross_page(void)
{
	static const struct { uint64_t off, len; } t[] = {
		{ 1, 4095 }, { 4095, 2 }, { 2049, 8192 }, { 7, 3 * 4096 - 14 }, { 4096 - 3, 4096 + 6 },
	};
	unsigned char *p = m_map(5 * M_PAGE, 1);
	char what[64];
	size_t i;

	if (!p)
		return;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		snprintf(what, sizeof(what), "offset %#llx", (unsigned long long)t[i].off);
		both_ways(what, p, p + M_PAGE + t[i].off, t[i].len, p + 5 * M_PAGE, 0x10 + i);
	}
}

static void large(void)
{
	/* bytewise: a full walk per byte (~1 us under TCG), so 256 KiB + 3 (many 1 KiB slices;
	 * modes/bytewise/latency moves 16 MiB); pagewise: beyond the 2 MiB chunk */
	uint64_t len = strcmp(m_method, "bytewise") == 0 ? (256 << 10) + 3 : (4 << 20) + 3;
	size_t map = len + 3 * M_PAGE;
	unsigned char *p = m_map(map, 1);

	if (!p)
		return;
	both_ways("large", p, p + M_PAGE + 5, len, p + map, 0x20);
	report_value("bytes", len);
}

static void not_present(void)
{
	/* page 0 touched, page 1 never touched (no PTE), page 2 touched */
	unsigned char *p = m_map(3 * M_PAGE, 0), *buf;
	const uint64_t off = 100, len = 2 * M_PAGE, stop = M_PAGE - off;
	struct mres r;

	if (!p)
		return;
	p[0] = GUARD_BYTE;
	p[2 * M_PAGE] = GUARD_BYTE;
	buf = p + off;
	memset(p, GUARD_BYTE, M_PAGE);
	gml_pattern_fill(buf, 0x30, 0, stop);
	r = xfer(buf, len, 0, 0);
	m_expect("read into a never-touched page", &r, GML_E_NOT_PRESENT, stop);
	report(r.hash == gml_fnv1a(GML_FNV_OFFSET, buf, stop), "the hash covers the bytes before the "
	       "fault (got %#llx)", (unsigned long long)r.hash);
	report_value("read_fault_level", r.detail);

	memset(p, GUARD_BYTE, M_PAGE);
	r = xfer(buf, len, GML_XFER_WRITE, 0x31);
	m_expect("write into a never-touched page", &r, GML_E_NOT_PRESENT, stop);
	m_check_pattern("bytes before the fault are written", buf, stop, 0x31, 0);
	m_check_fill("bytes before the buffer untouched", p, off, GUARD_BYTE);
	if (m_strict() || gml_on_bitvisor()) {
		/* strict: the probe is refused (checked); BitVisor has no probe. pagemap tells it */
		uint64_t e = 0;

		if (!gml_on_bitvisor())
			probe(p + M_PAGE, 0);
		report(m_pagemap_entry(p + M_PAGE, &e) == 0 && !(e & PM_PRESENT), "the page is still "
		       "not present after the refused accesses (pagemap entry %#llx): the hypervisor "
		       "does not fault pages in", (unsigned long long)e);
	} else {
		report(probe(p + M_PAGE, 0).status == GML_E_NOT_PRESENT, "the page is still not present "
		       "after the refused accesses (the hypervisor does not fault pages in)");
	}
	/* touch it (write: a read fault would map the shared zero page read-only) and retry */
	memset(p + M_PAGE, 0, M_PAGE);
	both_ways("after touching the page", p, buf, len, p + 3 * M_PAGE, 0x32);
}

static void read_only(void)
{
	unsigned char *p = m_map(2 * M_PAGE, 1), *ro, ref[2 * 4096];
	const uint64_t off = 10, stop = M_PAGE - off;
	struct mres r;

	if (!p || (ro = mmap(NULL, M_PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
			     -1, 0)) == MAP_FAILED)
		return;
	gml_pattern_fill(p, 0x40, 0, 2 * M_PAGE);
	memcpy(ref, p, sizeof(ref));
	if (!report(mprotect(p + M_PAGE, M_PAGE, PROT_READ) == 0, "mprotect page 2 read-only (%s)",
		    strerror(errno)))
		return;
	r = xfer(p + off, 2 * M_PAGE - 2 * off, GML_XFER_WRITE, 0x41);
	m_expect("write running into a read-only page", &r, GML_E_READ_ONLY, stop);
	m_check_pattern("bytes before the read-only page written", p + off, stop, 0x41, 0);
	m_check_same("read-only page unchanged", p + M_PAGE, ref + M_PAGE, M_PAGE);
	r = xfer(p + off, 2 * M_PAGE - 2 * off, 0, 0);
	m_expect_read("reading across the read-only page is fine", &r, p + off, 2 * M_PAGE - 2 * off);
	r = xfer(ro, 64, GML_XFER_WRITE, 0x42);
	m_expect("write to a PROT_READ mapping", &r, GML_E_READ_ONLY, 0);
	m_check_fill("PROT_READ mapping still zero", ro, M_PAGE, 0);
}

/* The refusal a CPL3 caller naming kernel memory must get: U/S, or not-present under KPTI. */
static uint64_t kernel_refusal(const struct mres *r, int kpti)
{
	return kpti && r->status == GML_E_NOT_PRESENT ? GML_E_NOT_PRESENT : GML_E_USER_SUPERVISOR;
}

static void kernel_address(void)
{
	struct gmlab_kbuf kb;
	unsigned char img[2 * 4096], back[2 * 4096];
	unsigned long svc0;
	struct mres r;
	int kpti = m_kpti();
	int fd = m_kmod_open();

	if (fd < 0 || m_kbuf_alloc(fd, GMLAB_KBUF_KMALLOC, sizeof(img), &kb) != 0)
		return;
	gml_pattern_fill(img, 0x50, 0, sizeof(img));
	if (m_kbuf_rw(fd, 1, 0, img, sizeof(img)) != 0)
		return;
	report_value("kernel_va", kb.kva);
	report_value("kpti", kpti);
	if (gml_on_bitvisor() && !kpti) {
		/* FINDING (declared): BitVisor's walker never checks U/S, so a CPL3 caller reads and
		 * writes supervisor pages; asserted as it is */
		r = m_xfer(m_svc, kb.kva + 1, 5000, 0, 0, 0);
		m_expect_read("BitVisor: CPL3 read of a kernel (supervisor) address succeeds", &r,
			      img + 1, 5000);
		r = m_xfer(m_svc, kb.kva + 1, 5000, GML_XFER_WRITE, 0x51, 0);
		m_expect("BitVisor: CPL3 write to a kernel (supervisor) address succeeds", &r, GML_OK,
			 5000);
		if (m_kbuf_rw(fd, 0, 0, back, sizeof(back)) == 0)
			m_check_pattern("BitVisor: the CPL3 write landed in the kernel buffer", back + 1,
					5000, 0x51, 0);
		r = m_xfer(m_svc, 0xffffffff81000000ULL, 16, 0, 0, 0);
		m_expect("BitVisor: CPL3 read of kernel text (0xffffffff81000000) succeeds", &r, GML_OK,
			 16);
		if (m_kbuf_rw(fd, 1, 0, img, sizeof(img)) != 0) /* as it was, for the CPL0 part */
			return;
	} else {
		r = m_xfer(m_svc, kb.kva + 1, 5000, 0, 0, 0);
		m_expect("CPL3 read of a kernel (supervisor) address", &r, kernel_refusal(&r, kpti), 0);
		report(r.hash == GML_FNV_OFFSET, "nothing was hashed: no byte read (got %#llx)",
		       (unsigned long long)r.hash);
		r = m_xfer(m_svc, kb.kva + 1, 5000, GML_XFER_WRITE, 0x51, 0);
		m_expect("CPL3 write to a kernel (supervisor) address", &r, kernel_refusal(&r, kpti), 0);
		if (m_kbuf_rw(fd, 0, 0, back, sizeof(back)) == 0)
			m_check_same("kernel buffer unchanged after the refused write", back, img,
				     sizeof(img));
		r = m_xfer(m_svc, 0xffffffff81000000ULL, 16, 0, 0, 0);
		m_expect("CPL3 read of kernel text (0xffffffff81000000)", &r,
			 kernel_refusal(&r, kpti), 0);
	}
	/* the kernel-side linear method: the same address from CPL0 works */
	svc0 = m_lookup0(fd, m_svc_name);
	if (svc0) {
		r = m_xfer0(fd, svc0, kb.kva + 1, 5000, 0, 0, 0);
		m_expect_read("CPL0 read of the kernel buffer", &r, img + 1, 5000);
		r = m_xfer0(fd, svc0, kb.kva + 1, 5000, GML_XFER_WRITE, 0x52, 0);
		m_expect("CPL0 write to the kernel buffer", &r, GML_OK, 5000);
		if (m_kbuf_rw(fd, 0, 0, back, sizeof(back)) == 0) {
			m_check_pattern("CPL0 write landed", back + 1, 5000, 0x52, 0);
			m_check_same("bytes around it unchanged", back, img, 1);
			m_check_same("bytes around it unchanged", back + 5001, img + 5001,
				     sizeof(img) - 5001);
		}
	}
	close(fd);
	m_alive();
}

static void bad_addresses(void)
{
	struct m_paging pg;
	unsigned char *p = m_map(M_PAGE, 1);
	int la57;
	struct mres r;
	uint64_t noncanonical;
	int w;

	if (!p || m_cpu_paging(&pg) != 0)
		return;
	la57 = (pg.cr4 & M_CR4_LA57) != 0;
	/* FINDING on BitVisor (declared): its walker has no canonical-address check; a
	 * non-canonical address is walked like any other and is not present */
	noncanonical = gml_on_bitvisor() ? GML_E_NOT_PRESENT : GML_E_NONCANONICAL;
	for (w = 0; w <= 1; w++) {
		uint64_t f = w ? GML_XFER_WRITE : 0;
		const char *d = w ? "write" : "read";
		char name[96];

		r = m_xfer(m_svc, 0x8000000000000000ULL, 16, f, 1, 0);
		snprintf(name, sizeof(name), "%s at 0x8000000000000000 (non-canonical)", d);
		m_expect(name, &r, noncanonical, 0);
		r = m_xfer(m_svc, 0x0100000000000000ULL, 16, f, 1, 0);
		snprintf(name, sizeof(name), "%s at 0x0100000000000000 (non-canonical, 4 and 5 levels)", d);
		m_expect(name, &r, noncanonical, 0);
		r = m_xfer(m_svc, 0x0000800000000000ULL, 16, f, 1, 0);
		snprintf(name, sizeof(name), "%s at 0x0000800000000000 (%s)", d,
			 la57 ? "canonical with LA57: unmapped" : "non-canonical with 4 levels");
		m_expect(name, &r, la57 ? GML_E_NOT_PRESENT : noncanonical, 0);
		/* a buffer ending in the non-canonical hole: stops at the boundary */
		if (!la57) {
			r = m_xfer(m_svc, 0x00007ffffffff000ULL, 0x2000, f, 1, 0);
			snprintf(name, sizeof(name), "%s of the last user page (unmapped)", d);
			m_expect(name, &r, GML_E_NOT_PRESENT, 0);
		}
		r = m_xfer(m_svc, (uintptr_t)p, 0, f, 1, 0);
		snprintf(name, sizeof(name), "%s of length 0", d);
		m_expect(name, &r, GML_E_LEN_ZERO, 0);
		r = m_xfer(m_svc, ~0ULL - 10, 100, f, 1, 0);
		snprintf(name, sizeof(name), "%s wrapping past 2^64", d);
		m_expect(name, &r, GML_E_LEN_WRAP, 0);
		r = m_xfer(m_svc, ~0ULL - 99, 101, f, 1, 0);
		snprintf(name, sizeof(name), "%s one byte past 2^64", d);
		m_expect(name, &r, GML_E_LEN_WRAP, 0);
		/* ending exactly at 2^64 is no wrap: the walk decides (a kernel page from CPL3) */
		r = m_xfer(m_svc, ~0ULL - 99, 100, f, 1, 0);
		report(r.status != GML_E_LEN_WRAP && r.status != GML_OK && r.done == 0, "%s of the last "
		       "100 bytes below 2^64 is no wrap: refused by the walk (got %s, done %#llx)", d,
		       m_errname(r.status), (unsigned long long)r.done);
		r = m_xfer(m_svc, (uintptr_t)p, GML_XFER_MAX + 1, f, 1, 0);
		snprintf(name, sizeof(name), "%s longer than GML_XFER_MAX (16 MiB)", d);
		m_expect(name, &r, GML_ME_TOO_LONG, 0);
		r = m_xfer(m_svc, 0, 16, f, 1, 0);
		snprintf(name, sizeof(name), "%s at address 0 (never mapped)", d);
		m_expect(name, &r, GML_E_NOT_PRESENT, 0);
	}
	r = m_xfer(m_svc, (uintptr_t)p, 16, 0x10, 1, 0);
	m_expect("unknown flag bits", &r, GML_ME_BAD_FLAGS, 0);
	m_check_fill("buffer untouched by the refused requests", p, M_PAGE, 0);
	m_alive();
}

/* A 2 MiB-aligned region of n huge pages inside a larger anonymous mapping. */
static unsigned char *aligned_2m(size_t n)
{
	unsigned char *p = m_map(n + HUGE_2M, 0);

	return p ? (unsigned char *)(((uintptr_t)p + HUGE_2M - 1) & ~(HUGE_2M - 1)) : NULL;
}

/* AnonHugePages of the smaps entry containing va, in kB; -1 if not found. */
static long anon_huge_kb(const void *va)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[256];
	int inside = 0;
	long kb = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;

		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' '))
			inside = (uintptr_t)va >= lo && (uintptr_t)va < hi;
		else if (inside && sscanf(line, "AnonHugePages: %ld kB", &kb) == 1)
			break;
	}
	fclose(f);
	return kb;
}

static void read_sysfs(const char *path, char *buf, size_t n)
{
	FILE *f = fopen(path, "r");

	buf[0] = 0;
	if (f) {
		if (!fgets(buf, (int)n, f))
			buf[0] = 0;
		fclose(f);
	}
	buf[strcspn(buf, "\n")] = 0;
}

/* Both ways across the boundary between two huge pages, and inside one. */
static void huge_both_ways(const char *kind, unsigned char *h)
{
	int bytewise = strcmp(m_method, "bytewise") == 0;
	uint64_t len = bytewise ? 3 * M_PAGE + 7 : HUGE_2M + 4099;
	struct probe pr = probe(h + 12345, 0);
	char what[96];

	if (!m_strict()) { /* strict: the probe was refused (checked), the leaf size is not seen */
		report(pr.status == GML_OK, "%s: probe status %s", kind, m_errname(pr.status));
		report(pr.page_size == HUGE_2M, "%s: the walk ends in a 2 MiB page (page size %#llx, "
		       "leaf level %llu)", kind, (unsigned long long)pr.page_size,
		       (unsigned long long)pr.level);
		report_value("page_size", pr.page_size);
	}
	snprintf(what, sizeof(what), "%s, inside one page", kind);
	both_ways(what, h, h + 4093, 2 * M_PAGE, h + HUGE_2M, 0x60);
	snprintf(what, sizeof(what), "%s, across two huge pages", kind);
	both_ways(what, h + HUGE_2M - len / 2 - 8, h + HUGE_2M - len / 2, len,
		  h + HUGE_2M - len / 2 + len + 8, 0x61);
}

static void thp(void)
{
	unsigned char *h = aligned_2m(2 * HUGE_2M);
	char enabled[128];
	long kb;

	if (!h)
		return;
	read_sysfs("/sys/kernel/mm/transparent_hugepage/enabled", enabled, sizeof(enabled));
	report_value("thp_enabled", enabled);
	if (strstr(enabled, "[never]")) {
		FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "w");
		if (f) {
			fputs("madvise", f);
			fclose(f);
		}
	}
	if (!report(madvise(h, 2 * HUGE_2M, MADV_HUGEPAGE) == 0, "madvise(MADV_HUGEPAGE) (%s)",
		    strerror(errno)))
		return;
	memset(h, 1, 2 * HUGE_2M);
	kb = anon_huge_kb(h);
	report_value("anon_huge_kb", kb);
	if (kb < 2048) {
		report_skip("the kernel did not back the region with transparent huge pages "
			    "(AnonHugePages %ld kB, enabled: %s)", kb, enabled);
		return;
	}
	report(1, "/proc/self/smaps: AnonHugePages %ld kB", kb);
	huge_both_ways("THP", h);
}

static void hugetlbfs(void)
{
	static const char dir[] = "/tmp/gmlab-hugetlbfs", file[] = "/tmp/gmlab-hugetlbfs/buf";
	char nr[32];
	unsigned char *h;
	FILE *f;
	int fd;

	if ((f = fopen("/proc/sys/vm/nr_hugepages", "w"))) {
		fputs("4", f);
		fclose(f);
	}
	read_sysfs("/proc/sys/vm/nr_hugepages", nr, sizeof(nr));
	report_value("nr_hugepages", nr);
	if (atoi(nr) < 2) {
		report_skip("could not reserve two 2 MiB huge pages (vm.nr_hugepages = %s)", nr);
		return;
	}
	mkdir(dir, 0700);
	if (!report(mount("none", dir, "hugetlbfs", 0, "pagesize=2M") == 0 || errno == EBUSY,
		    "mount hugetlbfs on %s (%s)", dir, strerror(errno)))
		return;
	fd = open(file, O_CREAT | O_RDWR, 0600);
	if (!report(fd >= 0, "create %s (%s)", file, strerror(errno)))
		goto out;
	h = mmap(NULL, 2 * HUGE_2M, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (report(h != MAP_FAILED, "mmap 4 MiB of hugetlbfs (%s)", strerror(errno))) {
		memset(h, 1, 2 * HUGE_2M);
		huge_both_ways("hugetlbfs", h);
		munmap(h, 2 * HUGE_2M);
	}
	close(fd);
	unlink(file);
out:
	umount(dir);
	if ((f = fopen("/proc/sys/vm/nr_hugepages", "w"))) {
		fputs("0", f);
		fclose(f);
	}
}

static void pcid(void)
{
	struct m_paging pg;
	unsigned char *p = m_map(3 * M_PAGE, 1);

	if (!p || m_cpu_paging(&pg) != 0)
		return;
	report_value("cr3", pg.cr3);
	report_value("cr4_pcide", (pg.cr4 & M_CR4_PCIDE) ? 1 : 0);
	if (!m_cpu_has("pcid")) {
		report(!(pg.cr4 & M_CR4_PCIDE), "no pcid flag, so CR4.PCIDE is clear (CR4 %#llx)",
		       (unsigned long long)pg.cr4);
		report_skip("the guest CPU has no PCID (/proc/cpuinfo lacks 'pcid'; QEMU 7.2 TCG "
			    "does not implement it: needs KVM with -cpu host)");
		return;
	}
	report(!!(pg.cr4 & M_CR4_PCIDE), "Linux enabled PCID: CR4.PCIDE set (CR4 %#llx)",
	       (unsigned long long)pg.cr4);
	report_value("pcid", pg.cr3 & 0xfff);
	both_ways("with PCID bits in CR3", p, p + M_PAGE - 77, M_PAGE + 100, p + 3 * M_PAGE, 0x70);
}

static void paging_mode(void)
{
	struct m_paging pg;
	unsigned char *p = m_map(M_PAGE, 1), *hi;
	struct probe pr;
	unsigned a, b, c, d;
	int cpu_la57;

	/* CPUID, not /proc/cpuinfo: the kernel hides the flag there when it runs 4 levels */
	hc_cpuid(7, &a, &b, &c, &d);
	cpu_la57 = (c >> 16) & 1;

	if (!p || m_cpu_paging(&pg) != 0)
		return;
	pr = probe(p, 0);
	if (m_strict()) /* the probe was refused (checked): the levels follow from CR4.LA57 */
		pr = (struct probe){ .status = GML_OK, .levels = (pg.cr4 & M_CR4_LA57) ? 5 : 4 };
	report(pr.status == GML_OK, "probe of a user page: %s", m_errname(pr.status));
	report_value("paging_levels", pr.levels);
	report_value("cpu_la57", cpu_la57);
	report(pr.levels == ((pg.cr4 & M_CR4_LA57) ? 5 : 4), "the walk uses %llu levels, CR4.LA57 "
	       "is %d", (unsigned long long)pr.levels, (pg.cr4 & M_CR4_LA57) != 0);
	if (!cpu_la57) {
		report(pr.levels == 4, "no la57 flag: 4-level paging (got %llu)",
		       (unsigned long long)pr.levels);
		report_skip("the guest CPU has no LA57 (CPUID.7:ECX[16] clear; QEMU: -cpu "
			    "qemu64,+la57 and a bzImage kernel: the 5-level switch happens in its "
			    "decompressor): 5-level paging not exercised");
		return;
	}
	if (pr.levels != 5) {
		report_skip("the CPU has LA57 but the kernel runs 4-level paging (no5lvl on the "
			    "command line, or a vmlinux entered directly): 5-level paging not exercised");
		return;
	}
	/* a mapping above the 47-bit limit exists only with 5 levels (mmap hint above it) */
	hi = mmap((void *)(1UL << 52), 3 * M_PAGE, PROT_READ | PROT_WRITE,
		  MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (!report(hi != MAP_FAILED && (uintptr_t)hi >= (1UL << 47), "mmap above 2^47 with LA57 "
		    "(got %p)", (void *)hi))
		return;
	report_value("high_address", (uint64_t)(uintptr_t)hi);
	both_ways("above 2^47 (5-level only)", hi, hi + M_PAGE - 5, M_PAGE + 10, hi + 3 * M_PAGE, 0x80);
}

/* MAP_SHARED file on tmpfs, pages faulted in by a read (writable, D clear): the hypervisor's
 * write reaches the file and sets A and D in the leaf, as the CPU's store would. */
static void shared_file(void)
{
	static const char path[] = "/tmp/gmlab-linear-shared";
	const uint64_t off = 100, len = 2 * M_PAGE;
	unsigned char *m, back[3 * 4096];
	volatile unsigned char sink;
	struct probe pr[2];
	struct mres r;
	int fd, i;

	fd = open(path, O_CREAT | O_RDWR | O_TRUNC, 0600);
	if (!report(fd >= 0 && ftruncate(fd, 3 * M_PAGE) == 0, "create %s (%s)", path,
		    strerror(errno)))
		return;
	m = mmap(NULL, 3 * M_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (!report(m != MAP_FAILED, "mmap MAP_SHARED (%s)", strerror(errno)))
		goto out;
	for (i = 0; i < 3; i++)
		sink = m[i * M_PAGE]; /* read faults: mapped writable (no write-notify), D clear */
	(void)sink;
	/* strict: the probes are refused (checked once), the A/D bits are not seen */
	for (i = 0; i < 2 && !m_strict(); i++) {
		pr[i] = probe(m + i * M_PAGE, GML_PROBE_WRITE);
		if (!report(pr[i].status == GML_OK, "probe page %d: %s", i, m_errname(pr[i].status)))
			goto out;
	}
	if (m_strict()) {
		probe(m, GML_PROBE_WRITE);
	} else {
		report_value("pte_before", pr[0].entry);
		report(!(pr[0].entry & 0x40) && !(pr[1].entry & 0x40), "D clear in both leaves before "
		       "the hypervisor's write (entries %#llx %#llx)", (unsigned long long)pr[0].entry,
		       (unsigned long long)pr[1].entry);
	}
	r = xfer(m + off, len, GML_XFER_WRITE, 0x90);
	m_expect("write through the shared mapping", &r, GML_OK, len);
	for (i = 0; i < 2 && !m_strict(); i++) {
		pr[i] = probe(m + off + i * M_PAGE, 0);
		report((pr[i].entry & 0x60) == 0x60, "page %d: A and D set by the hypervisor's write "
		       "(entry %#llx)", i, (unsigned long long)pr[i].entry);
	}
	if (!m_strict())
		report_value("pte_after", pr[0].entry);
	if (report(pread(fd, back, sizeof(back), 0) == (ssize_t)sizeof(back), "read(2) the file")) {
		m_check_pattern("file contents read back with read(2)", back + off, len, 0x90, 0);
		m_check_fill("file bytes before the range", back, off, 0);
		m_check_fill("file bytes after the range", back + off + len, sizeof(back) - off - len, 0);
	}
	munmap(m, 3 * M_PAGE);
out:
	close(fd);
	unlink(path);
}

/* After clear_refs 4 the kernel write-protects the pages to track soft-dirty. The CPU would
 * fault and the kernel make the page writable again; the hypervisor cannot take that fault for
 * the guest and refuses (GML_E_READ_ONLY) until the guest writes the page itself. */
static void softdirty_wp(void)
{
	unsigned char *p = m_map(2 * M_PAGE, 1);
	uint64_t e;
	struct mres r;
	FILE *f;

	if (!p)
		return;
	memset(p, 0, 2 * M_PAGE);
	f = fopen("/proc/self/clear_refs", "w");
	if (!report(f && fputs("4", f) >= 0 && fclose(f) == 0, "write 4 to /proc/self/clear_refs"))
		return;
	report(m_pagemap_entry(p, &e) == 0 && !(e & PM_SOFT_DIRTY), "soft-dirty clear after "
	       "clear_refs (entry %#llx)", (unsigned long long)e);
	r = xfer(p + 8, 64, GML_XFER_WRITE, 0xa0);
	m_expect("write to a page write-protected for soft-dirty tracking", &r, GML_E_READ_ONLY, 0);
	m_check_fill("page unchanged", p, M_PAGE, 0);
	r = xfer(p + 8, 64, 0, 0);
	m_expect_read("reading it is fine", &r, p + 8, 64);
	p[0] = 1; /* the guest's own store takes the fault; the page is writable again */
	report(m_pagemap_entry(p, &e) == 0 && (e & PM_SOFT_DIRTY), "soft-dirty set by the guest's "
	       "store (entry %#llx)", (unsigned long long)e);
	r = xfer(p + 8, 64, GML_XFER_WRITE, 0xa1);
	m_expect("the same write after the guest touched the page", &r, GML_OK, 64);
	m_check_pattern("it landed", p + 8, 64, 0xa1, 0);
}

/* After fork a private page is shared copy-on-write, write-protected in both processes. The
 * CPU's store would fault and the kernel copy the page; the hypervisor cannot take that fault
 * and refuses (GML_E_READ_ONLY) -- and must never write the shared frame the child still maps. */
static void cow_after_fork(void)
{
	unsigned char *p = m_map(M_PAGE, 1);
	int go[2], back[2], st;
	char c = 0, child_ok = 0;
	struct mres r;
	pid_t pid;

	if (!p || pipe(go) != 0 || pipe(back) != 0) {
		report_error("setup: %s", strerror(errno));
		return;
	}
	memset(p, 0x11, M_PAGE);
	pid = fork();
	if (pid == 0) { /* child: after the parent's attempt, is our copy still 0x11 everywhere? */
		size_t i;

		if (read(go[0], &c, 1) != 1)
			_exit(2);
		for (i = 0; i < M_PAGE && p[i] == 0x11; i++)
			;
		c = i == M_PAGE;
		_exit(write(back[1], &c, 1) == 1 ? 0 : 2);
	}
	r = xfer(p + 8, 64, GML_XFER_WRITE, 0xb0);
	m_expect("write to a copy-on-write page (after fork)", &r, GML_E_READ_ONLY, 0);
	m_check_fill("the parent's page unchanged", p, M_PAGE, 0x11);
	if (write(go[1], &c, 1) != 1 || read(back[0], &child_ok, 1) != 1)
		report_error("child did not answer");
	waitpid(pid, &st, 0);
	report(child_ok == 1, "the child's copy is unchanged: the shared frame was not written");
	p[0] = 0x11; /* the guest's own store breaks the sharing */
	r = xfer(p + 8, 64, GML_XFER_WRITE, 0xb1);
	m_expect("the same write after the guest's own store", &r, GML_OK, 64);
	m_check_pattern("it landed", p + 8, 64, 0xb1, 0);
}

/* 1 GiB pages: user space cannot get them without boot-time reservation, but the kernel's
 * direct map uses them (CPU flag pdpe1gb, a fully-RAM 1 GiB-aligned gigabyte). Found by probing
 * the direct map from CPL0; read there through this method and through the physical method
 * (they must agree), and write when the module's buffer lies in such a page. */
static void gigapage(void)
{
	const uint64_t gib = 1ULL << 30;
	unsigned a, b, c, d;
	unsigned long probe0, phys0, svc0;
	struct gmlab_kbuf kb;
	struct hc_regs r;
	struct mres lin, ph;
	uint64_t base, g, found = ~0ULL;
	unsigned char back[4 * 4096];
	int fd, err;

	hc_cpuid(0x80000001, &a, &b, &c, &d);
	if (!((d >> 26) & 1)) {
		report(1, "CPUID.80000001:EDX[26] (pdpe1gb) clear: no 1 GiB pages possible");
		report_skip("the guest CPU has no 1 GiB pages (pdpe1gb; QEMU: -cpu qemu64,+pdpe1gb, "
			    "and -m 4096 so that a whole gigabyte is RAM)");
		return;
	}
	fd = m_kmod_open();
	if (fd < 0 || m_kbuf_alloc(fd, GMLAB_KBUF_KMALLOC, M_PAGE, &kb) != 0)
		return;
	probe0 = m_lookup0(fd, GML_SVC_LINEAR_PROBE);
	phys0 = m_lookup0(fd, GML_SVC_PHYS_XFER);
	svc0 = m_lookup0(fd, m_svc_name);
	if (!probe0 || !phys0 || !svc0)
		goto out;
	base = kb.kva - kb.gpa; /* the direct map: kernel va = base + guest-physical address */
	for (g = 0; g < 64 * gib && found == ~0ULL; g += gib) {
		r = (struct hc_regs){ .rbx = base + g };
		if (m_call0(fd, probe0, &r) == 0 && r.rax == GML_OK && r.rcx == gib)
			found = g;
	}
	if (found == ~0ULL) {
		report(1, "probed the direct map for 0-64 GiB");
		report_skip("no 1 GiB leaf in the kernel's direct map (needs a gigabyte that is "
			    "entirely RAM: -m 4096)");
		goto out;
	}
	report_value("gigapage_gpa", found);
	/* read the middle of that gigabyte both ways and compare (CPL0, read only: it is the
	 * kernel's memory) */
	lin = m_xfer0(fd, svc0, base + found + gib / 2 - 5000, 10000, 0, 0, 0);
	ph = m_xfer0(fd, phys0, found + gib / 2 - 5000, 10000, 0, 0, 0);
	m_expect("CPL0 read through a 1 GiB leaf", &lin, GML_OK, 10000);
	report(lin.hash == ph.hash && ph.status == GML_OK, "the linear and physical reads of the same "
	       "10000 bytes agree (%#llx, %#llx)", (unsigned long long)lin.hash,
	       (unsigned long long)ph.hash);
	/* write: only into a buffer of ours, placed inside that gigabyte */
	/* 4 MiB blocks: 256 tries can then use up the gigabyte above, where the allocator starts */
	err = m_kbuf_alloc_in(fd, 4 << 20, found, found + gib, &kb);
	if (err) {
		report_skip("reads through a 1 GiB leaf passed; write direction not tested: no "
			    "buffer could be placed in the gigabyte at %#llx (%s)",
			    (unsigned long long)found, strerror(err));
		goto out;
	}
	report_value("kbuf_gpa", kb.gpa);
	r = (struct hc_regs){ .rbx = kb.kva };
	if (m_call0(fd, probe0, &r) == 0)
		report(r.rax == GML_OK && r.rcx == gib, "the buffer at %#llx is in a 1 GiB leaf (probe "
		       "%s, page size %#lx)", (unsigned long long)kb.gpa, m_errname(r.rax), r.rcx);
	lin = m_xfer0(fd, svc0, kb.kva + 4093, 2 * M_PAGE, GML_XFER_WRITE, 0xd0, 0);
	m_expect("CPL0 write through a 1 GiB leaf", &lin, GML_OK, 2 * M_PAGE);
	if (m_kbuf_rw(fd, 0, 0, back, sizeof(back)) == 0) {
		m_check_pattern("the write landed", back + 4093, 2 * M_PAGE, 0xd0, 0);
		m_check_fill("bytes before it", back, 4093, 0);
		m_check_fill("bytes after it", back + 4093 + 2 * M_PAGE, sizeof(back) - 4093 - 2 * M_PAGE, 0);
	}
out:
	close(fd);
}

/* The kernel-side linear method on a user buffer: the module makes the hypercall at CPL0 in
 * this process's context, RFLAGS.AC clear. With SMAP on (CR4.SMAP) the hypervisor refuses as
 * the CPU would (GML_E_SMAP); without SMAP the access is allowed, both ways. */
static void cpl0_user_buffer(void)
{
	unsigned char *p = m_map(3 * M_PAGE, 1);
	struct m_paging pg;
	unsigned long svc0;
	struct mres r;
	int fd, smap;

	if (!p || m_cpu_paging(&pg) != 0 || (fd = m_kmod_open()) < 0)
		return;
	smap = (pg.cr4 >> 21) & 1;
	report_value("cr4_smap", smap);
	/* FINDING on BitVisor (declared): its walker has no SMAP check (it walks as supervisor
	 * and looks at neither U/S nor RFLAGS.AC): both ways work as without SMAP */
	if (gml_on_bitvisor())
		smap = 0;
	svc0 = m_lookup0(fd, m_svc_name);
	if (svc0) {
		memset(p, GUARD_BYTE, 3 * M_PAGE);
		gml_pattern_fill(p + 100, 0xe0, 0, M_PAGE);
		r = m_xfer0(fd, svc0, (uintptr_t)p + 100, M_PAGE, 0, 0, 0);
		if (smap)
			m_expect("CPL0 read of a user buffer with SMAP on, AC clear", &r, GML_E_SMAP, 0);
		else
			m_expect_read("CPL0 read of a user buffer (no SMAP)", &r, p + 100, M_PAGE);
		r = m_xfer0(fd, svc0, (uintptr_t)p + 100, M_PAGE, GML_XFER_WRITE, 0xe1, 0);
		if (smap) {
			m_expect("CPL0 write to a user buffer with SMAP on, AC clear", &r, GML_E_SMAP, 0);
			m_check_pattern("buffer unchanged", p + 100, M_PAGE, 0xe0, 0);
		} else {
			m_expect("CPL0 write to a user buffer (no SMAP)", &r, GML_OK, M_PAGE);
			m_check_pattern("it landed", p + 100, M_PAGE, 0xe1, 0);
		}
		m_check_fill("bytes before untouched", p, 100, GUARD_BYTE);
		m_check_fill("bytes after untouched", p + 100 + M_PAGE, 2 * M_PAGE - 100, GUARD_BYTE);
	}
	close(fd);
}

/* ---- the walker's permission rules at CPL0 and across levels (issue 14: the suites must
 * catch a wrong walker by themselves). The module maps its kernel buffer a second time (vmap,
 * read-only or read-write) and may change that alias's leaf entry; only the hypervisor walks
 * the alias while an entry is changed. ---- */

static int alias_map(int fd, unsigned prot, struct gmlab_alias *al)
{
	*al = (struct gmlab_alias){ .prot = prot };
	if (ioctl(fd, GMLAB_IOC_KBUF_ALIAS, al) != 0) {
		report_error("GMLAB_IOC_KBUF_ALIAS %s: %s", prot == GMLAB_ALIAS_RO ? "RO" : "RW",
			     strerror(errno));
		return -1;
	}
	return 0;
}

/* Set then clear bits in the alias's leaf entry of the page holding kva; *pte gets the entry
 * before (for the restore) and the CPU's MAXPHYADDR. */
static int alias_pte(int fd, uint64_t kva, uint64_t set, uint64_t clear, struct gmlab_pte *pte)
{
	*pte = (struct gmlab_pte){ .kva = kva, .set = set, .clear = clear };
	if (ioctl(fd, GMLAB_IOC_ALIAS_PTE, pte) != 0) {
		report_error("GMLAB_IOC_ALIAS_PTE at %#llx: %s", (unsigned long long)kva,
			     strerror(errno));
		return -1;
	}
	return 0;
}

static void alias_pte_restore(int fd, const struct gmlab_pte *was)
{
	struct gmlab_pte back;

	if (alias_pte(fd, was->kva, was->old, ~was->old, &back) == 0)
		report(back.new == was->old, "the alias's entry restored (%#llx)",
		       (unsigned long long)back.new);
}

/* CR0.WP=1 (Linux keeps it set): a CPL0 write through a read-only kernel mapping is refused as
 * the CPU refuses it. A walker that drops the write-protect rule for CPL0 passes every other
 * case. */
static void cpl0_write_protect(void)
{
	unsigned char img[2 * 4096], back[2 * 4096];
	const uint64_t off = 100, len = 2 * M_PAGE - 200;
	struct gmlab_alias ro, rw;
	struct gmlab_kbuf kb;
	unsigned long svc0, paging0;
	struct hc_regs pr = { 0 };
	struct mres r;
	int fd = m_kmod_open();

	if (fd < 0 || m_kbuf_alloc(fd, GMLAB_KBUF_KMALLOC, sizeof(img), &kb) != 0)
		goto out;
	gml_pattern_fill(img, 0xf0, 0, sizeof(img));
	if (m_kbuf_rw(fd, 1, 0, img, sizeof(img)) != 0 || !(svc0 = m_lookup0(fd, m_svc_name)))
		goto out;
	if ((paging0 = m_lookup0(fd, GML_SVC_CPU_PAGING)) && m_call0(fd, paging0, &pr) == 0) {
		report_value("cr0", pr.rbx);
		if (!(pr.rbx & (1ULL << 16))) {
			report_skip("CR0.WP is clear in this guest: CPL0 may write read-only pages");
			goto out;
		}
	}
	if (alias_map(fd, GMLAB_ALIAS_RO, &ro) != 0)
		goto out;
	report_value("alias_ro", ro.kva);
	r = m_xfer0(fd, svc0, ro.kva + off, len, 0, 0, 0);
	m_expect_read("CPL0 read through the read-only alias", &r, img + off, len);
	r = m_xfer0(fd, svc0, ro.kva + off, len, GML_XFER_WRITE, 0xf1, 0);
	m_expect("CPL0 write through the read-only alias (CR0.WP=1)", &r, GML_E_READ_ONLY, 0);
	if (m_kbuf_rw(fd, 0, 0, back, sizeof(back)) == 0)
		m_check_same("the buffer unchanged", back, img, sizeof(img));
	/* the same pages through a read-write alias: the write lands (the alias works) */
	if (alias_map(fd, GMLAB_ALIAS_RW, &rw) != 0)
		goto out;
	r = m_xfer0(fd, svc0, rw.kva + off, len, GML_XFER_WRITE, 0xf2, 0);
	m_expect("CPL0 write through a read-write alias of the same pages", &r, GML_OK, len);
	if (m_kbuf_rw(fd, 0, 0, back, sizeof(back)) == 0)
		m_check_pattern("it landed in the buffer", back + off, len, 0xf2, 0);
out:
	if (fd >= 0)
		close(fd);
}

/* Rights combine over every level: a user page whose page-directory entry (level 2) says
 * supervisor, or read-only, is refused although its leaf allows the access. Linux never builds
 * such tables (every upper-level entry it writes says user and writable, the kernel's too; the
 * leaves protect), so the module changes the entry for a moment (GMLAB_IOC_USER_PMD); the
 * program does not touch that 2 MiB meanwhile. */
static int user_pmd(int fd, void *va, uint64_t set, uint64_t clear, struct gmlab_pmd *pmd)
{
	*pmd = (struct gmlab_pmd){ .va = (uintptr_t)va, .set = set, .clear = clear };
	if (ioctl(fd, GMLAB_IOC_USER_PMD, pmd) != 0) {
		report_error("GMLAB_IOC_USER_PMD at %p: %s", va, strerror(errno));
		return -1;
	}
	return 0;
}

static int user_pmd_restore(int fd, const struct gmlab_pmd *was)
{
	struct gmlab_pmd back;

	if (user_pmd(fd, (void *)(uintptr_t)was->va, was->old, ~was->old, &back) != 0)
		return -1;
	return report(back.new == was->old, "the page-directory entry restored (%#llx)",
		      (unsigned long long)back.new) ? 0 : -1;
}

static void upper_level_rights(void)
{
	unsigned char *region = aligned_2m(HUGE_2M), *page, ref[4096];
	struct gmlab_pmd pmd;
	struct m_paging pg;
	unsigned long svc0;
	struct probe pr;
	struct mres r;
	int fd = -1, smap;

	if (!region || m_cpu_paging(&pg) != 0 || (fd = m_kmod_open()) < 0)
		goto out;
	smap = (pg.cr4 >> 21) & 1;
	if (!report(madvise(region, HUGE_2M, MADV_NOHUGEPAGE) == 0, "madvise(MADV_NOHUGEPAGE) (%s)",
		    strerror(errno)))
		goto out;
	page = region + 5 * M_PAGE;
	gml_pattern_fill(page, 0xf3, 0, M_PAGE);
	memcpy(ref, page, M_PAGE);
	/* U/S=0 at level 2, the leaf still user */
	if (user_pmd(fd, page, 0, GML_PTE_USER_BIT, &pmd) != 0)
		goto out;
	report_value("pde", pmd.old);
	/* FINDING on BitVisor (declared): its walker checks U/S at no level, so both land */
	r = m_xfer(m_svc, (uintptr_t)page + 8, 64, 0, 0, 0);
	m_expect("CPL3 read of a user page under a supervisor page-directory entry", &r,
		 gml_on_bitvisor() ? GML_OK : GML_E_USER_SUPERVISOR, gml_on_bitvisor() ? 64 : 0);
	r = m_xfer(m_svc, (uintptr_t)page + 8, 64, GML_XFER_WRITE, 0xf4, 0);
	m_expect("CPL3 write to it", &r, gml_on_bitvisor() ? GML_OK : GML_E_USER_SUPERVISOR,
		 gml_on_bitvisor() ? 64 : 0);
	if (!gml_on_bitvisor()) { /* no probe there (left-out.tsv) */
		pr = probe(page, 0);
		if (!m_strict())
			report(pr.status == GML_E_USER_SUPERVISOR && pr.level == 2, "probe: refused "
			       "for U/S at level 2 (status %s, level %llu)", m_errname(pr.status),
			       (unsigned long long)pr.level);
	}
	if (user_pmd_restore(fd, &pmd) != 0)
		goto out;
	if (gml_on_bitvisor()) /* the write landed: what must stay from here on (readable again) */
		memcpy(ref, page, M_PAGE);
	/* R/W=0 at level 2, the leaf still writable */
	if (user_pmd(fd, page, 0, GML_PTE_RW_BIT, &pmd) != 0)
		goto out;
	r = m_xfer(m_svc, (uintptr_t)page + 8, 64, 0, 0, 0);
	m_expect_read("CPL3 read of a writable page under a read-only page-directory entry", &r,
		      ref + 8, 64);
	r = m_xfer(m_svc, (uintptr_t)page + 8, 64, GML_XFER_WRITE, 0xf5, 0);
	m_expect("CPL3 write to it", &r, GML_E_READ_ONLY, 0);
	if ((svc0 = m_lookup0(fd, m_svc_name))) {
		r = m_xfer0(fd, svc0, (uintptr_t)page + 8, 64, GML_XFER_WRITE, 0xf6, 0);
		if (smap) /* refused either way: read-only (CR0.WP=1) or a user page (SMAP, AC=0) */
			report((r.status == GML_E_READ_ONLY || r.status == GML_E_SMAP) && r.done == 0,
			       "CPL0 write to it (SMAP on): GML_E_READ_ONLY or GML_E_SMAP, nothing "
			       "written (got %s, done %#llx)", m_errname(r.status),
			       (unsigned long long)r.done);
		else
			m_expect("CPL0 write to it (CR0.WP=1)", &r, GML_E_READ_ONLY, 0);
	}
	if (user_pmd_restore(fd, &pmd) != 0)
		goto out;
	m_check_same("the page unchanged", page, ref, M_PAGE);
	r = m_xfer(m_svc, (uintptr_t)page + 8, 64, GML_XFER_WRITE, 0xf7, 0);
	m_expect("after the restore the write lands", &r, GML_OK, 64);
	m_check_pattern("it landed", page + 8, 64, 0xf7, 0);
out:
	if (fd >= 0)
		close(fd);
}

/* A reserved bit in a leaf entry (an address bit at or above MAXPHYADDR): the CPU would raise
 * #PF with RSVD; the walk refuses with GML_E_RESERVED_BIT at that page, bytes before it moved. */
static void reserved_bit(void)
{
	unsigned char img[2 * 4096], back[2 * 4096];
	struct gmlab_alias rw;
	struct gmlab_kbuf kb;
	struct gmlab_pte pte;
	unsigned long svc0;
	struct mres r;
	int fd = m_kmod_open();

	if (fd < 0 || m_kbuf_alloc(fd, GMLAB_KBUF_KMALLOC, sizeof(img), &kb) != 0)
		goto out;
	gml_pattern_fill(img, 0xf5, 0, sizeof(img));
	if (m_kbuf_rw(fd, 1, 0, img, sizeof(img)) != 0 || !(svc0 = m_lookup0(fd, m_svc_name)) ||
	    alias_map(fd, GMLAB_ALIAS_RW, &rw) != 0 || alias_pte(fd, rw.kva + M_PAGE, 0, 0, &pte) != 0)
		goto out;
	report_value("maxphyaddr", pte.phys_bits);
	if (pte.phys_bits >= 52) {
		report_skip("MAXPHYADDR is 52: no reserved address bits in a leaf entry");
		goto out;
	}
	if (alias_pte(fd, rw.kva + M_PAGE, 1ULL << pte.phys_bits, 0, &pte) != 0)
		goto out;
	r = m_xfer0(fd, svc0, rw.kva + 100, 2 * M_PAGE - 200, 0, 0, 0);
	m_expect("CPL0 read running into a page whose entry has a reserved bit", &r,
		 GML_E_RESERVED_BIT, M_PAGE - 100);
	/* BitVisor's walker (cpu_mmu_get_pte) reports no level: the compat layer says 0 */
	if (strcmp(m_method, "pagewise") == 0 && !gml_on_bitvisor())
		report(r.detail == 1, "the fault is at the leaf, level 1 (got %llu)",
		       (unsigned long long)r.detail);
	report(r.hash == gml_fnv1a(GML_FNV_OFFSET, img + 100, M_PAGE - 100), "the hash covers the "
	       "bytes before it");
	r = m_xfer0(fd, svc0, rw.kva + M_PAGE + 8, 64, GML_XFER_WRITE, 0xf6, 0);
	m_expect("CPL0 write into it", &r, GML_E_RESERVED_BIT, 0);
	alias_pte_restore(fd, &pte);
	if (m_kbuf_rw(fd, 0, 0, back, sizeof(back)) == 0)
		m_check_same("the buffer unchanged", back, img, sizeof(img));
out:
	if (fd >= 0)
		close(fd);
}

/* Execute rights (gml.linear.probe with GML_PROBE_EXEC): XD at any level refuses (GML_E_NX),
 * kernel text passes; at CPL3 user data is XD and the program's own text executable; SMEP
 * refuses CPL0 execution of a user page. */
static void nx(void)
{
	unsigned char *data = m_map(M_PAGE, 1);
	struct gmlab_alias rw;
	struct gmlab_kbuf kb;
	struct m_paging pg;
	unsigned long probe0;
	struct hc_regs r;
	int fd = m_kmod_open();

	if (!data || fd < 0 || m_kbuf_alloc(fd, GMLAB_KBUF_KMALLOC, M_PAGE, &kb) != 0 ||
	    alias_map(fd, GMLAB_ALIAS_RW, &rw) != 0 || !(probe0 = m_lookup0(fd, GML_SVC_LINEAR_PROBE)) ||
	    m_cpu_paging(&pg) != 0)
		goto out;
	report_value("efer", pg.efer);
	if (!(pg.efer & (1ULL << 11))) {
		report_skip("EFER.NXE is clear: no execute protection in this guest");
		goto out;
	}
	r = (struct hc_regs){ .rbx = kb.kva, .rcx = GML_PROBE_EXEC };
	if (m_call0(fd, probe0, &r) == 0)
		report(r.rax == GML_E_NX, "CPL0 execute probe of kmalloc data (direct map, XD): "
		       "GML_E_NX (got %s)", m_errname(r.rax));
	r = (struct hc_regs){ .rbx = rw.kva, .rcx = GML_PROBE_EXEC };
	if (m_call0(fd, probe0, &r) == 0)
		report(r.rax == GML_E_NX, "CPL0 execute probe of a vmap alias (XD): GML_E_NX (got %s)",
		       m_errname(r.rax));
	r = (struct hc_regs){ .rbx = rw.kva, .rcx = 0 };
	if (m_call0(fd, probe0, &r) == 0)
		report(r.rax == GML_OK, "CPL0 read probe of the same page: OK (got %s)",
		       m_errname(r.rax));
	r = (struct hc_regs){ .rbx = 0xffffffff81000000ULL, .rcx = GML_PROBE_EXEC };
	if (m_call0(fd, probe0, &r) == 0)
		report(r.rax == GML_OK, "CPL0 execute probe of kernel text: OK (got %s)",
		       m_errname(r.rax));
	r = (struct hc_regs){ .rbx = (uintptr_t)nx, .rcx = GML_PROBE_EXEC };
	if (m_call0(fd, probe0, &r) == 0) {
		int smep = (pg.cr4 >> 20) & 1, pti = kernel_uses_pti();
		/* With page-table isolation (an Intel CPU model: the vmx-bochs cell) the kernel's
		 * own page tables set NX in every user PML4 entry, so the walk meets NX before the
		 * leaf's SMEP check; the CPU raises the same #PF either way. */
		unsigned long want = pti ? GML_E_NX : smep ? GML_E_SMEP : GML_OK;

		report_value("cr4_smep", smep);
		report_value("pti", pti);
		report(r.rax == want, "CPL0 execute probe of user text: %s (SMEP %s, PTI %s; got %s)",
		       m_errname(want), smep ? "on" : "off", pti ? "on" : "off", m_errname(r.rax));
	}
	r = (struct hc_regs){ .rbx = kb.kva, .rcx = GML_PROBE_EXEC | GML_PROBE_WRITE };
	if (m_call0(fd, probe0, &r) == 0)
		report(r.rax == GML_ME_BAD_FLAGS, "execute and write at once: GML_ME_BAD_FLAGS (got %s)",
		       m_errname(r.rax));
	if (!m_strict()) {
		struct probe p = probe(data, GML_PROBE_EXEC);

		report(p.status == GML_E_NX, "CPL3 execute probe of user data: GML_E_NX (got %s)",
		       m_errname(p.status));
		p = probe((void *)(uintptr_t)nx, GML_PROBE_EXEC);
		report(p.status == GML_OK, "CPL3 execute probe of the program's text: OK (got %s)",
		       m_errname(p.status));
	}
out:
	if (fd >= 0)
		close(fd);
}

/* ---- cases about the transfer machinery, not one method ---- */

/* A raw write (GML_XFER_RAW) stores GML_XFER_RAW_BYTE in every byte, always: never what an
 * earlier read left in the hypervisor's chunk buffer (issue 9, finding 3: the chunk was marked
 * "raw" by one raw write and reused after reads). Here the reads are this process's own, of a
 * secret pattern; the leak was across callers and privilege levels just the same. */
static void raw_write_no_leak(void)
{
	static const char *const names[] = { GML_SVC_LINEAR_PAGEWISE, GML_SVC_LINEAR_BYTEWISE };
	const uint64_t len = 3 * M_PAGE + 5;
	unsigned char *secret = m_map(4 * M_PAGE, 1), *out = m_map(4 * M_PAGE, 1);
	unsigned long n[2];
	char what[128];
	int i, j;

	if (!secret || !out)
		return;
	for (i = 0; i < 2; i++)
		if (!(n[i] = m_lookup(names[i])))
			return;
	gml_pattern_fill(secret, 0x5ec2e7, 0, len);
	for (i = 0; i < 2; i++) {		/* the raw writer */
		for (j = 0; j < 2; j++) {	/* the reader before it */
			struct mres r;

			memset(out, 0, len);
			r = m_xfer(n[i], (uintptr_t)out, len, GML_XFER_WRITE | GML_XFER_RAW, 0, 0);
			m_expect("raw write", &r, GML_OK, len);
			r = m_xfer(n[j], (uintptr_t)secret, len, 0, 0, 0);
			m_expect_read("read of the secret", &r, secret, len);
			memset(out, 0, len);
			r = m_xfer(n[i], (uintptr_t)out, len, GML_XFER_WRITE | GML_XFER_RAW, 0, 0);
			snprintf(what, sizeof(what), "%s raw write after a %s read", names[i], names[j]);
			m_expect(what, &r, GML_OK, len);
			m_check_fill(what, out, len, GML_XFER_RAW_BYTE);
		}
	}
	m_alive();
}

/* gml.linear.probe and gml.cpu.paging give a CPL3 caller no frame numbers: the leaf entry,
 * the guest-physical address and CR3 come without bits 51:12 (issue 9, finding 10; pagemap
 * hides frames from unprivileged users too); under the strict policy they refuse CPL3 callers
 * outright. A CPL0 caller (the module) still sees the frames. */
static void cpl3_no_frames(void)
{
	unsigned char *p = m_map(M_PAGE, 1);
	unsigned long n = m_lookup(GML_SVC_LINEAR_PROBE), n0, p0;
	struct gmlab_kbuf kb;
	struct m_paging pg;
	struct probe pr;
	struct hc_regs r;
	int fd = m_kmod_open();

	if (fd < 0 || !p || !n || m_kbuf_alloc(fd, GMLAB_KBUF_KMALLOC, M_PAGE, &kb) != 0)
		goto out;
	if (m_strict()) {
		r = (struct hc_regs){ 0 };
		if ((n0 = m_lookup(GML_SVC_CPU_PAGING)))
			m_expect_denied(GML_SVC_CPU_PAGING, n0, &r);
		probe(p, 0);				/* each refusal is checked in probe() */
		probe((void *)(uintptr_t)kb.kva, 0);
		goto cpl0;
	}
	if (m_cpu_paging(&pg) != 0)
		goto out;
	report_value("cr3_cpl3", pg.cr3);
	report((pg.cr3 & GML_PHYS_ADDR_BITS) == 0, "gml.cpu.paging at CPL3: CR3 without bits 51:12 "
	       "(got %#llx)", (unsigned long long)pg.cr3);
	pr = probe(p, 0);
	report(pr.status == GML_OK, "probe of a user page at CPL3: %s", m_errname(pr.status));
	report((pr.entry & GML_PHYS_ADDR_BITS) == 0 && (pr.entry & 1),
	       "probe at CPL3: the leaf entry keeps its flags (P set) without bits 51:12 (got %#llx)",
	       (unsigned long long)pr.entry);
	report((pr.gpa & GML_PHYS_ADDR_BITS) == 0, "probe at CPL3: the guest-physical address "
	       "without bits 51:12 (got %#llx)", (unsigned long long)pr.gpa);
	/* a kernel address at CPL3: the refusal names no kernel frame either */
	pr = probe((void *)(uintptr_t)kb.kva, 0);
	report(pr.status != GML_OK && (pr.entry & GML_PHYS_ADDR_BITS) == 0, "probe of a kernel "
	       "buffer at CPL3 is refused (%s) and its entry has no bits 51:12 (got %#llx)",
	       m_errname(pr.status), (unsigned long long)pr.entry);
cpl0:
	n0 = m_lookup0(fd, GML_SVC_CPU_PAGING);
	p0 = m_lookup0(fd, GML_SVC_LINEAR_PROBE);
	r = (struct hc_regs){ 0 };
	if (n0 && m_call0(fd, n0, &r) == 0)
		report(r.rax == 0 && (r.rcx & GML_PHYS_ADDR_BITS) != 0, "gml.cpu.paging at CPL0: CR3 "
		       "with its frame (got %#lx)", r.rcx);
	r = (struct hc_regs){ .rbx = kb.kva };
	if (p0 && m_call0(fd, p0, &r) == 0)
		report(r.rax == GML_OK && r.rbx == kb.gpa && (r.rsi & GML_PHYS_ADDR_BITS) != 0,
		       "probe of the kernel buffer at CPL0: its guest-physical address (expected "
		       "%#llx, got %#lx) and an entry with its frame (status %s, entry %#lx)",
		       (unsigned long long)kb.gpa, r.rbx, m_errname(r.rax), r.rsi);
out:
	if (fd >= 0)
		close(fd);
}

/* ---- the case table: every case once per method ---- */
BOTH(cross_page)
BOTH(large)
BOTH(not_present)
BOTH(read_only)
BOTH(kernel_address)
BOTH(bad_addresses)
BOTH(thp)
BOTH(hugetlbfs)
BOTH(pcid)
BOTH(paging_mode)
BOTH(shared_file)
BOTH(softdirty_wp)
BOTH(cow_after_fork)
BOTH(gigapage)
BOTH(cpl0_user_buffer)
BOTH(cpl0_write_protect)
BOTH(upper_level_rights)
BOTH(reserved_bit)

#define HV GML_NEEDS_HYPERVISOR
#define CASE(name, desc, needs, fn) CASE_BV(name, desc, needs, fn, NULL)
/* bv: what the case expects of the real BitVisor (struct gml_case.bitvisor) */
#define CASE_BV(name, desc, needs, fn, bv) \
	{ "linear/bytewise/" name, "byte-wise (BitVisor's walk per byte): " desc, needs, \
	  fn##_bytewise, bv }, \
	{ "linear/pagewise/" name, "page-wise (one walk per page): " desc, needs, fn##_pagewise, bv }
/* Cases whose point is the lab walker's probe, left out on BitVisor (left-out.tsv) */
#define NO_PROBE "skip: needs gml.linear.probe, the lab walker's probe (not on BitVisor: its " \
	"walker always sets A/D bits, so a probe would change what it looks at)"

static const struct gml_case cases[] = {
	CASE("cross-page", "odd offsets across page boundaries, both ways, guards untouched", HV,
	     cross_page),
	CASE("large", "a long buffer (256 KiB byte-wise, 4 MiB page-wise) both ways", HV, large),
	CASE("not-present", "a never-touched page: GML_E_NOT_PRESENT at its offset, bytes before it "
	     "moved; success after touching it", HV, not_present),
	CASE("read-only", "a write running into a read-only page stops there (GML_E_READ_ONLY); "
	     "reads are fine", HV, read_only),
	CASE_BV("kernel-address", "a CPL3 caller naming a kernel address is refused "
		"(GML_E_USER_SUPERVISOR); CPL0 (module) may", HV | GML_NEEDS_KMOD, kernel_address,
		"FINDING: BitVisor's walker never checks U/S: a CPL3 caller reads and writes a kernel "
		"(supervisor) buffer and kernel text (without KPTI; with it the pages are absent)"),
	CASE_BV("bad-addresses", "non-canonical, address 0, wrapping, zero and oversized lengths, "
		"bad flags: typed errors", HV, bad_addresses,
		"FINDING: BitVisor's walker has no canonical-address check: a non-canonical address "
		"is walked and reported not present (GML_E_NOT_PRESENT, not GML_E_NONCANONICAL)"),
	CASE_BV("thp", "transparent huge pages (MADV_HUGEPAGE, AnonHugePages): 2 MiB leaf, both ways "
		"inside and across", HV, thp, NO_PROBE),
	CASE_BV("hugetlbfs", "hugetlbfs 2 MiB pages (vm.nr_hugepages, mount): 2 MiB leaf, both ways",
		HV, hugetlbfs, NO_PROBE),
	CASE_BV("cpl0-user-buffer", "the kernel (module, CPL0, AC clear) naming a user buffer: "
		"refused with GML_E_SMAP when CR4.SMAP is on, else both ways", HV | GML_NEEDS_KMOD,
		cpl0_user_buffer,
		"FINDING: BitVisor's walker has no SMAP check: a CPL0 caller with AC clear reads and "
		"writes a user buffer with CR4.SMAP on"),
	CASE_BV("gigapage", "1 GiB leaves of the kernel's direct map (CPL0): linear and physical "
		"reads agree, writes land; skips without pdpe1gb or a whole RAM gigabyte",
		HV | GML_NEEDS_KMOD, gigapage, NO_PROBE),
	CASE("pcid", "PCID in use (CR4.PCIDE, PCID bits in CR3); skips without the CPU flag", HV,
	     pcid),
	CASE_BV("paging-mode", "reports 4- or 5-level paging; with LA57 moves data above 2^47", HV,
		paging_mode, NO_PROBE),
	CASE_BV("shared-file", "a write into a MAP_SHARED tmpfs file reaches the file (read(2)) and "
		"sets A and D", HV, shared_file, NO_PROBE),
	CASE("cow-after-fork", "a copy-on-write page (after fork) is refused for writes, the shared "
	     "frame untouched, until the guest's own store", HV, cow_after_fork),
	CASE("softdirty-wp", "after clear_refs (soft-dirty write protection) a write is refused until "
	     "the guest touches the page", HV, softdirty_wp),
	CASE("cpl0-write-protect", "CR0.WP: a CPL0 write through a read-only kernel mapping (vmap "
	     "alias) is refused, the buffer unchanged; a read-write alias works", HV | GML_NEEDS_KMOD,
	     cpl0_write_protect),
	CASE_BV("upper-level-rights", "a user page under a supervisor, then read-only, "
		"page-directory entry: refused (U/S, R/W combine over all levels; CR0.WP at CPL0)",
		HV | GML_NEEDS_KMOD, upper_level_rights,
		"FINDING: BitVisor's walker checks U/S at no level: a CPL3 caller reads and writes a "
		"user page under a supervisor page-directory entry (R/W there is honoured)"),
	CASE("reserved-bit", "a leaf entry with an address bit above MAXPHYADDR: "
	     "GML_E_RESERVED_BIT at that page, bytes before it moved", HV | GML_NEEDS_KMOD,
	     reserved_bit),
	{ "linear/nx", "execute rights (probe GML_PROBE_EXEC): XD data refused with GML_E_NX, "
	  "kernel and program text allowed, SMEP for user text at CPL0", HV | GML_NEEDS_KMOD, nx,
	  NO_PROBE },
	{ "linear/raw-write-no-leak", "a raw write stores 0x5a in every byte, never what an earlier "
	  "read (either method) left in the hypervisor's chunk buffer", HV, raw_write_no_leak },
	{ "linear/cpl3-no-frame-numbers", "gml.linear.probe and gml.cpu.paging hide bits 51:12 (frame "
	  "numbers) from CPL3 callers; CPL0 (module) still sees them", HV | GML_NEEDS_KMOD,
	  cpl3_no_frames, NO_PROBE },
};

GML_MAIN("linear", cases)
