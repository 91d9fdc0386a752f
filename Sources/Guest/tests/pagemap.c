/* Suite pagemap: method 3, guest-physical addresses from user space. The program translates its
 * own virtual addresses through /proc/self/pagemap (bit 63 present, bits 0-54 PFN) and passes
 * frames to gml.phys.xfer (one page) or gml.phys.list (a page list), as the seed does. Shows
 * the seed's three problems: PFNs read as 0 without CAP_SYS_ADMIN, buffers that are not
 * physically contiguous, and pages that move when they are not mlocked (zram swap).
 * Under the strict access policy (GMLAB_POLICY=strict) both services refuse CPL3 callers: each
 * case that would call them asserts that refusal instead (strict_refuses). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "method_util.h"
#include "report.h"

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif

#define GUARD_BYTE 0xc3

static unsigned long svc_xfer, svc_list;

static int lookups(void)
{
	svc_xfer = m_lookup(GML_SVC_PHYS_XFER);
	svc_list = m_lookup(GML_SVC_PHYS_LIST);
	return svc_xfer && svc_list ? 0 : -1;
}

static int gpa_of(const void *va, uint64_t *gpa)
{
	const char *why = "";

	if (m_virt_to_gpa(va, gpa, &why) != 0) {
		report(0, "translate %p through /proc/self/pagemap: %s", va, why);
		return -1;
	}
	return 0;
}

/* Strict policy: this process's own mlocked page, translated through pagemap as root, is
 * refused by both services in both directions (GML_ME_DENIED, registers unchanged) and stays
 * as it was. Returns 1 when the policy is strict (the case ends there), else 0. */
static int strict_refuses(void)
{
	static const char *const dir[] = { "read", "write" };
	unsigned char *page;
	uint64_t gpa, list_gpa, *list;
	char what[96];
	int w;

	if (!m_strict())
		return 0;
	if (!(page = m_map(2 * M_PAGE, 1)) ||
	    !report(mlock(page, 2 * M_PAGE) == 0, "mlock 2 pages (errno %d)", errno))
		return 1;
	gml_pattern_fill(page, 0x57, 0, M_PAGE);
	list = (uint64_t *)(page + M_PAGE);
	if (gpa_of(page, &gpa) != 0 || gpa_of(list, &list_gpa) != 0)
		return 1;
	list[0] = gpa / M_PAGE;
	for (w = 0; w <= 1; w++) {
		struct hc_regs in = { .rbx = gpa, .rcx = M_PAGE, .rdx = w ? GML_XFER_WRITE : 0,
				      .rsi = 0x58 };

		snprintf(what, sizeof(what), "%s %s of a page of this process", GML_SVC_PHYS_XFER,
			 dir[w]);
		m_expect_denied(what, svc_xfer, &in);
		in.rbx = list_gpa;
		snprintf(what, sizeof(what), "%s %s of a page of this process", GML_SVC_PHYS_LIST,
			 dir[w]);
		m_expect_denied(what, svc_list, &in);
	}
	m_check_pattern("the page after the refused calls", page, M_PAGE, 0x57, 0);
	m_alive();
	return 1;
}

/* One page at a time: [off, off+len) of the page at va, both ways; the rest of the page
 * must keep GUARD_BYTE. */
static void page_both_ways(unsigned char *page, uint64_t gpa_page, uint64_t off, uint64_t len,
			   uint64_t seed)
{
	char name[128];
	struct mres r;

	memset(page, GUARD_BYTE, M_PAGE);
	gml_pattern_fill(page + off, seed, 0, len);
	r = m_xfer(svc_xfer, gpa_page + off, len, 0, 0, 0);
	snprintf(name, sizeof(name), "read %#llx bytes at gpa %#llx", (unsigned long long)len,
		 (unsigned long long)(gpa_page + off));
	m_expect_read(name, &r, page + off, len);

	memset(page, GUARD_BYTE, M_PAGE);
	memset(page + off, 0, len);
	r = m_xfer(svc_xfer, gpa_page + off, len, GML_XFER_WRITE, seed + 1, 0);
	snprintf(name, sizeof(name), "write %#llx bytes at gpa %#llx", (unsigned long long)len,
		 (unsigned long long)(gpa_page + off));
	m_expect(name, &r, GML_OK, len);
	m_check_pattern(name, page + off, len, seed + 1, 0);
	m_check_fill("rest of the page", page, off, GUARD_BYTE);
	m_check_fill("rest of the page", page + off + len, M_PAGE - off - len, GUARD_BYTE);
}

static void mlock_pages(void)
{
	unsigned char *buf;
	uint64_t gpa[3];
	int i, contiguous = 0;

	if (lookups() != 0 || strict_refuses() || !(buf = m_map(3 * M_PAGE, 1)))
		return;
	if (!report(mlock(buf, 3 * M_PAGE) == 0, "mlock 3 pages (errno %d)", errno))
		return;
	for (i = 0; i < 3; i++)
		if (gpa_of(buf + i * M_PAGE, &gpa[i]) != 0)
			return;
	for (i = 0; i < 3; i++) {
		page_both_ways(buf + i * M_PAGE, gpa[i], 0, M_PAGE, 0x100 + i);
		page_both_ways(buf + i * M_PAGE, gpa[i], 123, 1000, 0x200 + i);
		page_both_ways(buf + i * M_PAGE, gpa[i], M_PAGE - 1, 1, 0x300 + i);
	}
	for (i = 0; i < 2; i++)
		contiguous += gpa[i + 1] == gpa[i] + M_PAGE;
	report_value("physically_adjacent_pairs", contiguous);
	report_value("gpa_page0", gpa[0]);
	m_alive();
}

/* Fill list[] with the frames of [va, va+len) (pages rounded out); -1 if one fails. */
static int frames_of(const unsigned char *va, uint64_t len, uint64_t *list, unsigned *n)
{
	const unsigned char *p = (const unsigned char *)((uintptr_t)va & ~(M_PAGE - 1));
	const unsigned char *end = va + len;
	uint64_t gpa;

	for (*n = 0; p < end; p += M_PAGE, (*n)++) {
		if (gpa_of(p, &gpa) != 0)
			return -1;
		list[*n] = gpa / M_PAGE;
	}
	return 0;
}

static void page_list(void)
{
	const uint64_t len = (1 << 20) + 100, off = 16; /* like a malloc'd buffer: odd start */
	const size_t map = len + off + 2 * M_PAGE;
	unsigned char *area, *buf;
	uint64_t *list, list_gpa, base, size;
	unsigned n, i, breaks = 0, k = 3;
	struct mres r;

	if (lookups() != 0 || strict_refuses())
		return;
	/* BitVisor names no region of its own (declared FINDING): the refused-frame part is left */
	if (!gml_on_bitvisor() && m_hv_region(&base, &size) != 0)
		return;
	area = m_map(map, 1);
	list = m_map(M_PAGE, 1); /* 512 frames: up to 2 MiB, in one physical page */
	if (!area || !list)
		return;
	if (!report(mlock(area, map) == 0 && mlock(list, M_PAGE) == 0, "mlock buffer and list (errno "
		    "%d)", errno))
		return;
	buf = area + off;
	memset(area, GUARD_BYTE, map);
	if (frames_of(buf, len, list, &n) != 0 || gpa_of(list, &list_gpa) != 0)
		return;
	for (i = 0; i + 1 < n; i++)
		breaks += list[i + 1] != list[i] + 1;
	report_value("pages", n);
	report_value("physical_discontinuities", breaks);

	gml_pattern_fill(buf, 0x500, 0, len);
	r = m_xfer(svc_list, list_gpa, len, 0, 0, off);
	m_expect_read("page list read, 1 MiB + 100 at +16", &r, buf, len);

	memset(buf, 0, len);
	r = m_xfer(svc_list, list_gpa, len, GML_XFER_WRITE, 0x501, off);
	m_expect("page list write, 1 MiB + 100 at +16", &r, GML_OK, len);
	m_check_pattern("page list write", buf, len, 0x501, 0);
	m_check_fill("bytes before the buffer", area, off, GUARD_BYTE);
	m_check_fill("bytes after the buffer", buf + len, map - off - len, GUARD_BYTE);

	/* frame k replaced by one in the hypervisor's region: stops exactly there */
	if (!gml_on_bitvisor()) {
		uint64_t saved = list[k], stop = k * M_PAGE - off;

		list[k] = base / M_PAGE;
		memset(buf, 0, len);
		r = m_xfer(svc_list, list_gpa, len, GML_XFER_WRITE, 0x502, off);
		m_expect("write with frame 3 in the hypervisor's region", &r, GML_E_GPA_HV_REGION, stop);
		report(r.detail == base, "offending byte expected %#llx, got %#llx",
		       (unsigned long long)base, (unsigned long long)r.detail);
		m_check_pattern("bytes before the refused frame written", buf, stop, 0x502, 0);
		m_check_fill("bytes from the refused frame on untouched", buf + stop, len - stop, 0);
		gml_pattern_fill(buf, 0x503, 0, len);
		r = m_xfer(svc_list, list_gpa, len, 0, 0, off);
		m_expect("read with frame 3 in the hypervisor's region", &r, GML_E_GPA_HV_REGION, stop);
		report(r.hash == gml_fnv1a(GML_FNV_OFFSET, buf, stop), "hash covers the bytes before "
		       "the refused frame (got %#llx)", (unsigned long long)r.hash);
		list[k] = 1ULL << 41; /* frame number beyond 52-bit physical addresses */
		r = m_xfer(svc_list, list_gpa, len, 0, 0, off);
		m_expect("read with frame number 2^41", &r, GML_E_GPA_OUTSIDE_RAM, stop);
		list[k] = saved;
	}
	m_alive();
}

/* Without CAP_SYS_ADMIN pagemap still says "present" but the PFN reads as 0. A child that
 * dropped to nobody shows it; the translation refuses instead of sending address 0. */
struct nocap_report {
	int setuid_ok, open_errno, refused;
	uint64_t entry;
	char why[160];
};

static void no_cap(void)
{
	volatile unsigned char *page = m_map(M_PAGE, 1);
	struct nocap_report rep;
	uint64_t gpa_root = 0;
	int pfd[2], st;
	pid_t pid;

	if (!page || lookups() != 0)
		return;
	page[0] = 1;
	gpa_of((const void *)page, &gpa_root);
	report(gpa_root != 0, "as root the page's frame is visible (gpa %#llx)",
	       (unsigned long long)gpa_root);
	if (pipe(pfd) != 0) {
		report_error("pipe: %s", strerror(errno));
		return;
	}
	pid = fork();
	if (pid == 0) {
		const char *why = "";
		uint64_t gpa = 0;

		memset(&rep, 0, sizeof(rep));
		/* nobody; dumpable again so /proc/self/pagemap stays ours to open */
		rep.setuid_ok = setgid(65534) == 0 && setuid(65534) == 0 &&
				prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) == 0;
		if (m_pagemap_entry((const void *)page, &rep.entry) != 0)
			rep.open_errno = errno;
		rep.refused = m_virt_to_gpa((const void *)page, &gpa, &why) != 0;
		snprintf(rep.why, sizeof(rep.why), "%s", why);
		/* never a hypercall with the refused address: that is the point */
		if (write(pfd[1], &rep, sizeof(rep)) != sizeof(rep))
			_exit(2);
		_exit(0);
	}
	close(pfd[1]);
	memset(&rep, 0, sizeof(rep));
	if (read(pfd[0], &rep, sizeof(rep)) != sizeof(rep))
		report_error("child (uid nobody) reported nothing");
	close(pfd[0]);
	waitpid(pid, &st, 0);
	report(rep.setuid_ok, "child dropped to uid/gid 65534 (no CAP_SYS_ADMIN)");
	if (!report(rep.open_errno == 0, "child read its pagemap (errno %d: %s)", rep.open_errno,
		    strerror(rep.open_errno)))
		return;
	report(!!(rep.entry & PM_PRESENT), "without CAP_SYS_ADMIN the page still reads present "
	       "(entry %#llx)", (unsigned long long)rep.entry);
	report((rep.entry & PM_PFN_MASK) == 0, "without CAP_SYS_ADMIN the PFN reads as 0 "
	       "(entry %#llx)", (unsigned long long)rep.entry);
	report(rep.refused, "the translation refuses instead of yielding address 0: \"%s\"", rep.why);
	report_info("unprivileged: %s", rep.why);
	report_value("unprivileged_entry", rep.entry);
}

#define STALE_PAGES 16

static void stale_frame(void)
{
	unsigned char *buf;
	uint64_t before[STALE_PAGES], after[STALE_PAGES], e;
	unsigned i, swapped = 0, moved = 0, wrong = 0, mismatched_claims = 0, refused = 0;
	int rc;
	const char *why;

	if (lookups() != 0 || strict_refuses() || m_swap_on() != 0 ||
	    !(buf = m_map(STALE_PAGES * M_PAGE, 1)))
		return;
	gml_pattern_fill(buf, 0xa000, 0, STALE_PAGES * M_PAGE);
	/* translate first (NOT mlocked) ... */
	for (i = 0; i < STALE_PAGES; i++) {
		uint64_t gpa;
		if (gpa_of(buf + i * M_PAGE, &gpa) != 0)
			return;
		before[i] = gpa;
	}
	/* ... the kernel pages the buffer out to zram meanwhile ... */
	rc = madvise(buf, STALE_PAGES * M_PAGE, MADV_PAGEOUT);
	if (!report(rc == 0, "madvise(MADV_PAGEOUT) (%s)", rc ? strerror(errno) : "ok"))
		return;
	for (i = 0; i < STALE_PAGES; i++)
		if (m_pagemap_entry(buf + i * M_PAGE, &e) == 0 && !(e & PM_PRESENT) && (e & PM_SWAPPED))
			swapped++;
	report_value("swapped_out", swapped);
	if (!report(swapped > 0, "MADV_PAGEOUT moved pages to zram swap (%u of %u show the pagemap "
		    "swap bit)", swapped, STALE_PAGES))
		return;
	/* ... and the program updates its data (pages come back, maybe in other frames) */
	gml_pattern_fill(buf, 0xb000, 0, STALE_PAGES * M_PAGE);
	for (i = 0; i < STALE_PAGES; i++) {
		uint64_t gpa;
		if (gpa_of(buf + i * M_PAGE, &gpa) != 0)
			return;
		after[i] = gpa;
	}
	/* read direction: the hypervisor reads through the old translation */
	for (i = 0; i < STALE_PAGES; i++) {
		struct mres r = m_xfer(svc_xfer, before[i], M_PAGE, 0, 0, 0);
		int stale = after[i] != before[i];
		int same = r.status == GML_OK &&
			   r.hash == gml_fnv1a(GML_FNV_OFFSET, buf + i * M_PAGE, M_PAGE);

		moved += stale;
		wrong += stale && !same;
		/* correct data exactly when the re-read of pagemap still names the same frame */
		if (same == stale)
			mismatched_claims++;
	}
	report_value("frames_changed", moved);
	report_value("stale_reads_wrong_data", wrong);
	report(mismatched_claims == 0, "reading through the old translation returns the buffer's "
	       "data exactly for the pages whose frame did not change (%u of %u pages disagree)",
	       mismatched_claims, STALE_PAGES);
	/* write direction: re-validate before writing; a freed frame may belong to anyone now */
	for (i = 0; i < STALE_PAGES; i++) {
		uint64_t gpa;
		if (m_virt_to_gpa(buf + i * M_PAGE, &gpa, &why) != 0 || gpa != before[i])
			refused++;
	}
	report(refused == moved, "re-reading pagemap before the write flags exactly the %u moved "
	       "pages (flagged %u): none of them is written", moved, refused);
	/* the seed's remedy: mlock, translate again, then the write lands in the buffer */
	rc = mlock(buf, STALE_PAGES * M_PAGE);
	if (report(rc == 0, "mlock after the fact (%s)", rc ? strerror(errno) : "ok")) {
		for (i = 0; i < STALE_PAGES; i++) {
			uint64_t gpa;
			struct mres r;

			if (gpa_of(buf + i * M_PAGE, &gpa) != 0)
				break;
			r = m_xfer(svc_xfer, gpa, M_PAGE, GML_XFER_WRITE, 0xc000 + i, 0);
			if (r.status != GML_OK ||
			    !m_check_pattern("write through the fresh frame after mlock",
					     buf + i * M_PAGE, M_PAGE, 0xc000 + i, 0))
				break;
		}
	}
	if (moved == 0)
		report_skip("every paged-out page came back in its old frame: the stale-frame race "
			    "did not happen this time (%u pages swapped)", swapped);
	munmap(buf, STALE_PAGES * M_PAGE);
	if (system("swapoff /dev/zram0") != 0)
		report_info("swapoff /dev/zram0 failed (swap stays on)");
	m_alive();
}

static const struct gml_case cases[] = {
	{ "pagemap/mlock-pages", "as root: mlocked pages translated through /proc/self/pagemap, "
	  "whole pages and parts, both ways", GML_NEEDS_HYPERVISOR, mlock_pages },
	{ "pagemap/page-list", "1 MiB + 100 bytes at an odd start over scattered frames as a page "
	  "list, both ways; a bad frame stops it exactly there", GML_NEEDS_HYPERVISOR, page_list,
	  "FINDING: BitVisor names no region of its own (no gmlab.info): the stop at a frame in "
	  "the hypervisor's memory is not asserted there, the page-list transfers both ways are" },
	{ "pagemap/no-cap", "without CAP_SYS_ADMIN (uid nobody) PFNs read as 0: the translation "
	  "refuses instead of sending address 0", GML_NEEDS_HYPERVISOR, no_cap },
	{ "pagemap/stale-frame", "a buffer NOT mlocked, paged out to zram between translation and "
	  "hypercall: the stale frame is detected, never accepted as the buffer's data",
	  GML_NEEDS_HYPERVISOR, stale_frame },
};

GML_MAIN("pagemap", cases)
