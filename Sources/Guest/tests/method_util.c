/* Helpers shared by the transfer-method suites (method_util.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "method_util.h"
#include "report.h"

const char *m_errname(uint64_t status)
{
	static char buf[32];

	switch (status) {
	case GML_ME_DENIED: return "GML_ME_DENIED";
	case GML_ME_TOO_LONG: return "GML_ME_TOO_LONG";
	case GML_ME_BAD_FLAGS: return "GML_ME_BAD_FLAGS";
	case GML_ME_BAD_OFFSET: return "GML_ME_BAD_OFFSET";
	case GML_ME_OUT_OF_BUFFER: return "GML_ME_OUT_OF_BUFFER";
	}
	if (status < GML_E__COUNT)
		return gml_errname((gml_err)status);
	snprintf(buf, sizeof(buf), "status %#llx", (unsigned long long)status);
	return buf;
}

unsigned long m_lookup(const char *name)
{
	unsigned long n = hc_lookup(name);

	if (!n)
		report(0, "look-up of %s returns a service number (got 0: is the hypervisor built "
		       "with services/method_*.c?)", name);
	return n;
}

struct mres m_xfer(unsigned long svc, uint64_t addr, uint64_t len, uint64_t flags, uint64_t seed,
		   uint64_t rdi)
{
	struct hc_regs r = { .rbx = addr, .rcx = len, .rdx = flags, .rsi = seed, .rdi = rdi };

	hc_call(svc, &r);
	if (r.rsi != seed || r.rdi != rdi)
		report(0, "rsi/rdi preserved by service %#lx: expected %#llx/%#llx, got %#lx/%#lx",
		       svc, (unsigned long long)seed, (unsigned long long)rdi, r.rsi, r.rdi);
	return (struct mres){ r.rax, r.rbx, r.rcx, r.rdx };
}

int m_expect(const char *what, const struct mres *r, uint64_t status, uint64_t done)
{
	int ok = report(r->status == status, "%s: status expected %s, got %s", what,
			m_errname(status), m_errname(r->status));

	ok &= report(r->done == done, "%s: bytes done expected %#llx, got %#llx", what,
		     (unsigned long long)done, (unsigned long long)r->done);
	return ok;
}

int m_expect_read(const char *what, const struct mres *r, const void *data, uint64_t len)
{
	uint64_t h = gml_fnv1a(GML_FNV_OFFSET, data, len);
	int ok = m_expect(what, r, GML_OK, len);

	return report(r->hash == h, "%s: FNV-1a of what the hypervisor read expected %#llx "
		      "(the guest's bytes), got %#llx", what, (unsigned long long)h,
		      (unsigned long long)r->hash) && ok;
}

int m_check_pattern(const char *what, const unsigned char *buf, size_t n, uint64_t seed,
		    uint64_t off)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (buf[i] != gml_pattern_byte(seed, off + i))
			return report(0, "%s: byte %#zx expected %#x (pattern seed %#llx), got %#x",
				      what, i, gml_pattern_byte(seed, off + i),
				      (unsigned long long)seed, buf[i]);
	return report(1, "%s: %#zx bytes carry the pattern", what, n);
}

int m_check_fill(const char *what, const unsigned char *buf, size_t n, unsigned char byte)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (buf[i] != byte)
			return report(0, "%s: byte %#zx expected %#x (untouched), got %#x", what, i,
				      byte, buf[i]);
	return report(1, "%s: %#zx bytes untouched (%#x)", what, n, byte);
}

int m_check_same(const char *what, const unsigned char *buf, const unsigned char *ref, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (buf[i] != ref[i])
			return report(0, "%s: byte %#zx expected %#x, got %#x", what, i, ref[i],
				      buf[i]);
	return report(1, "%s: %#zx bytes as expected", what, n);
}

int m_strict(void)
{
	static int known = -1;
	const char *p = gml_policy();

	if (known >= 0)
		return known;
	if (p) {
		known = strcmp(p, "strict") == 0;
	} else {
		unsigned long n = hc_lookup("gmlab.info");
		struct hc_regs r = { 0 };

		if (n)
			hc_call(n, &r);
		known = n && r.rax == GML_INFO_MAGIC && GML_INFO_POLICY(r.rdx) == GML_POLICY_STRICT;
	}
	if (known)
		report_value("policy", "strict");
	return known;
}

int m_expect_denied(const char *what, unsigned long svc, const struct hc_regs *in)
{
	struct hc_regs r = *in;

	hc_call(svc, &r);
	return report(r.rax == GML_ME_DENIED && r.rbx == in->rbx && r.rcx == in->rcx &&
		      r.rdx == in->rdx && r.rsi == in->rsi && r.rdi == in->rdi,
		      "strict policy: %s from CPL3 is refused: rax expected GML_ME_DENIED, got %s; "
		      "rbx..rdi expected unchanged %#lx %#lx %#lx %#lx %#lx, got %#lx %#lx %#lx %#lx %#lx",
		      what, m_errname(r.rax), in->rbx, in->rcx, in->rdx, in->rsi, in->rdi, r.rbx, r.rcx,
		      r.rdx, r.rsi, r.rdi);
}

const char *m_method;
const char *m_svc_name;
unsigned long m_svc;

int m_use(const char *method, const char *svc_name)
{
	m_method = method;
	m_svc_name = svc_name;
	m_svc = m_lookup(svc_name);
	return m_svc ? 0 : -1;
}

int m_alive(void)
{
	unsigned long n;
	struct hc_regs r = { .rbx = 1, .rcx = 2, .rdx = 3, .rsi = 4, .rdi = 5 };

	if (gml_on_bitvisor()) {
		/* gmlab.echo lives in services/gmlab.c, which BitVisor does not get: the lab's
		 * register echo (every method service is there) answers instead */
		n = hc_lookup(GML_SVC_REGS_ECHO);
		if (!report(n > 0, "hypervisor alive: " GML_SVC_REGS_ECHO " still found (got %#lx)", n))
			return 0;
		hc_call(n, &r);
		return report_eq_u64("hypervisor alive: " GML_SVC_REGS_ECHO " rbx = ~1", ~1UL, r.rbx);
	}
	n = hc_lookup("gmlab.echo");
	if (!report(n > 0, "hypervisor alive: gmlab.echo still found (got %#lx)", n))
		return 0;
	hc_call(n, &r);
	return report_eq_u64("hypervisor alive: gmlab.echo 1+2+3+4+5", 15, r.rax);
}

int m_hv_region(uint64_t *base, uint64_t *size)
{
	unsigned long n = hc_lookup("gmlab.info");
	struct hc_regs r = { 0 };

	if (!report(n > 0, "gmlab.info found (got %#lx)", n))
		return -1;
	hc_call(n, &r);
	if (!report_eq_u64("gmlab.info magic", GML_INFO_MAGIC, r.rax))
		return -1;
	*base = r.rbx;
	*size = r.rcx;
	return 0;
}

/* ---- kernel module ---- */

int m_kmod_open(void)
{
	int fd = open(GMLAB_DEVICE, O_RDWR);

	if (fd < 0)
		report_error("open %s: %s (is gmlab.ko loaded?)", GMLAB_DEVICE, strerror(errno));
	return fd;
}

int m_call0(int fd, unsigned long num, struct hc_regs *r)
{
	struct gmlab_hc h = { .rax = num, .rbx = r->rbx, .rcx = r->rcx, .rdx = r->rdx,
			      .rsi = r->rsi, .rdi = r->rdi };

	if (ioctl(fd, GMLAB_IOC_CALL, &h) != 0)
		return report(0, "GMLAB_IOC_CALL: %s", strerror(errno)) - 1;
	if (h.faulted)
		return report(0, "CPL0 hypercall raised #UD (no hypervisor?)") - 1;
	*r = (struct hc_regs){ h.rax, h.rbx, h.rcx, h.rdx, h.rsi, h.rdi };
	return 0;
}

unsigned long m_lookup0(int fd, const char *name)
{
	struct gmlab_lookup l;

	memset(&l, 0, sizeof(l));
	snprintf(l.name, sizeof(l.name), "%s", name);
	if (ioctl(fd, GMLAB_IOC_LOOKUP, &l) != 0)
		return report(0, "GMLAB_IOC_LOOKUP %s: %s", name, strerror(errno)), 0;
	if (!report(!l.faulted && l.number > 0, "CPL0 look-up of %s (faulted %u, number %#llx)",
		    name, l.faulted, (unsigned long long)l.number))
		return 0;
	return l.number;
}

struct mres m_xfer0(int fd, unsigned long svc, uint64_t addr, uint64_t len, uint64_t flags,
		    uint64_t seed, uint64_t rdi)
{
	struct hc_regs r = { .rbx = addr, .rcx = len, .rdx = flags, .rsi = seed, .rdi = rdi };

	if (m_call0(fd, svc, &r) != 0)
		return (struct mres){ ~0ULL, ~0ULL, 0, 0 };
	if (r.rsi != seed || r.rdi != rdi)
		report(0, "CPL0: rsi/rdi preserved: expected %#llx/%#llx, got %#lx/%#lx",
		       (unsigned long long)seed, (unsigned long long)rdi, r.rsi, r.rdi);
	return (struct mres){ r.rax, r.rbx, r.rcx, r.rdx };
}

int m_kbuf_alloc(int fd, unsigned kind, uint64_t size, struct gmlab_kbuf *out)
{
	memset(out, 0, sizeof(*out));
	out->kind = kind;
	out->size = size;
	if (ioctl(fd, GMLAB_IOC_KBUF_ALLOC, out) != 0) {
		report_error("GMLAB_IOC_KBUF_ALLOC %s of %#llx bytes: %s",
			     kind == GMLAB_KBUF_KMALLOC ? "kmalloc" : "vmalloc",
			     (unsigned long long)size, strerror(errno));
		return -1;
	}
	return 0;
}

int m_kbuf_alloc_in(int fd, uint64_t size, uint64_t lo, uint64_t hi, struct gmlab_kbuf *out)
{
	memset(out, 0, sizeof(*out));
	out->kind = GMLAB_KBUF_PAGES;
	out->size = size;
	out->phys_lo = lo;
	out->phys_hi = hi;
	return ioctl(fd, GMLAB_IOC_KBUF_ALLOC, out) == 0 ? 0 : errno;
}

int m_kbuf_rw(int fd, int write, uint64_t off, void *buf, uint64_t len)
{
	struct gmlab_kbuf_io io = { .offset = off, .len = len, .buf = (uintptr_t)buf };

	if (ioctl(fd, write ? GMLAB_IOC_KBUF_WRITE : GMLAB_IOC_KBUF_READ, &io) != 0) {
		report_error("GMLAB_IOC_KBUF_%s at %#llx+%#llx: %s", write ? "WRITE" : "READ",
			     (unsigned long long)off, (unsigned long long)len, strerror(errno));
		return -1;
	}
	return 0;
}

/* ---- pagemap ---- */

int m_pagemap_entry(const void *va, uint64_t *entry)
{
	int fd = open("/proc/self/pagemap", O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = pread(fd, entry, 8, (off_t)((uintptr_t)va / M_PAGE) * 8);
	close(fd);
	if (n != 8) {
		if (n >= 0)
			errno = EIO;
		return -1;
	}
	return 0;
}

int m_virt_to_gpa(const void *va, uint64_t *gpa, const char **why)
{
	uint64_t e;

	if (m_pagemap_entry(va, &e) != 0) {
		*why = "cannot read /proc/self/pagemap";
		return -1;
	}
	if (!(e & PM_PRESENT)) {
		*why = e & PM_SWAPPED ? "page swapped out (not mlocked?)" : "page not present";
		return -1;
	}
	if ((e & PM_PFN_MASK) == 0) {
		*why = "PFN reads as 0: no CAP_SYS_ADMIN (Linux >= 4.2 hides frame numbers); "
		       "refusing to send guest-physical address 0";
		return -1;
	}
	*gpa = (e & PM_PFN_MASK) * M_PAGE + (uintptr_t)va % M_PAGE;
	return 0;
}

void *m_map(size_t n, int populate)
{
	void *p = mmap(NULL, n, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | (populate ? MAP_POPULATE : 0), -1, 0);

	if (p == MAP_FAILED) {
		report_error("mmap of %#zx bytes: %s", n, strerror(errno));
		return NULL;
	}
	return p;
}

int m_cpu_paging(struct m_paging *p)
{
	unsigned long n = m_lookup(GML_SVC_CPU_PAGING);
	struct hc_regs r = { 0 };

	if (!n)
		return -1;
	if (m_strict()) {
		int fd;

		m_expect_denied(GML_SVC_CPU_PAGING, n, &r);
		fd = m_kmod_open();
		if (fd < 0)
			return -1;
		n = m_lookup0(fd, GML_SVC_CPU_PAGING);
		r = (struct hc_regs){ 0 };
		if (!n || m_call0(fd, n, &r) != 0) {
			close(fd);
			return -1;
		}
		close(fd);
		*p = (struct m_paging){ r.rbx, r.rcx, r.rdx, r.rsi, r.rdi };
		return report(r.rax == 0, "gml.cpu.paging at CPL0 status 0 (got %#lx)", r.rax) ? 0 : -1;
	}
	hc_call(n, &r);
	*p = (struct m_paging){ r.rbx, r.rcx, r.rdx, r.rsi, r.rdi };
	return report(r.rax == 0, "gml.cpu.paging status 0 (got %#lx)", r.rax) ? 0 : -1;
}

int m_cpu_has(const char *flag)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[4096];
	int has = 0;

	if (!f)
		return 0;
	while (!has && fgets(line, sizeof(line), f)) {
		char *tok, *save;

		if (strncmp(line, "flags", 5) != 0)
			continue;
		for (tok = strtok_r(strchr(line, ':'), " :\n", &save); tok;
		     tok = strtok_r(NULL, " \n", &save))
			if (strcmp(tok, flag) == 0)
				has = 1;
		break;
	}
	fclose(f);
	return has;
}

/* ---- zram swap ---- */

int m_swap_on(void)
{
	FILE *f;
	char line[256];
	int lines = 0;

	if ((f = fopen("/proc/swaps", "r"))) {
		while (fgets(line, sizeof(line), f))
			lines++;
		fclose(f);
	}
	if (lines > 1)
		return 0;	/* swap already on */
	if (system("modprobe zram num_devices=1") != 0) {
		report_error("modprobe zram failed");
		return -1;
	}
	if ((f = fopen("/sys/block/zram0/disksize", "w"))) {
		fputs("64M", f);
		fclose(f);
	}
	if (system("mkswap /dev/zram0 >/dev/null 2>&1 && swapon /dev/zram0") != 0) {
		report_error("mkswap/swapon /dev/zram0 failed (zram swap is needed to page out)");
		return -1;
	}
	return 0;
}

int m_kpti(void)
{
	char buf[128] = "";
	FILE *f = fopen("/sys/devices/system/cpu/vulnerabilities/meltdown", "r");

	if (f) {
		if (!fgets(buf, sizeof(buf), f))
			buf[0] = 0;
		fclose(f);
	}
	return strstr(buf, "PTI") != NULL;
}
