/* Helpers shared by the transfer-method suites (regs, phys, pagemap, linear, modes): calling the
 * gml.* services (core/include/gml_methods.h) at CPL3 and, through /dev/gmlab, at CPL0; checking their
 * results by name with expected vs got; the integrity pattern and hash; /proc/self/pagemap. */
#ifndef GML_METHOD_UTIL_H
#define GML_METHOD_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "gml_errors.h"
#include "gml_methods.h"
#include "gmlab_ioctl.h"
#include "hypercall.h"

#define M_PAGE 4096UL

/* Result registers of a transfer service (gml_methods.h). */
struct mres {
	uint64_t status, done, hash, detail;
};

/* "GML_E_NOT_PRESENT", "GML_ME_TOO_LONG", or "status 0x…" */
const char *m_errname(uint64_t status);

/* Look a service up at CPL3; a failed look-up is a reported check (returns 0). */
unsigned long m_lookup(const char *name);

/* A transfer at CPL3 (hc_call). Checks that rsi and rdi came back unchanged. */
struct mres m_xfer(unsigned long svc, uint64_t addr, uint64_t len, uint64_t flags, uint64_t seed,
		   uint64_t rdi);

/* Checks "what: status expected X, got Y" and "what: done expected N, got M". Returns both ok. */
int m_expect(const char *what, const struct mres *r, uint64_t status, uint64_t done);
/* m_expect(OK, len) plus, for a read, the hash against the guest's own FNV-1a of data. */
int m_expect_read(const char *what, const struct mres *r, const void *data, uint64_t len);

/* buf[i] == gml_pattern_byte(seed, off + i) for all i < n; one check naming the first bad byte. */
int m_check_pattern(const char *what, const unsigned char *buf, size_t n, uint64_t seed,
		    uint64_t off);
/* Every byte of buf equals byte (untouched guard / old contents). */
int m_check_fill(const char *what, const unsigned char *buf, size_t n, unsigned char byte);
/* buf equals ref (first difference named). */
int m_check_same(const char *what, const unsigned char *buf, const unsigned char *ref, size_t n);

/* ---- the hypervisor's access policy (gml_methods.h "Access policy") ---- */
/* 1 when the policy is strict: GMLAB_POLICY from the plan, else what gmlab.info reports (rdx
 * bits 15:8). Under strict, gml.phys.*, seed.phys, gml.linear.probe and gml.cpu.paging refuse
 * CPL3 callers. */
int m_strict(void);
/* A CPL3 call the strict policy must refuse: rax = GML_ME_DENIED and every other register as
 * it was (nothing ran). One reported check naming `what`; returns it. */
int m_expect_denied(const char *what, unsigned long svc, const struct hc_regs *in);

/* gmlab.echo still answers (after an error case): the hypervisor and the guest are alive. */
int m_alive(void);
/* The hypervisor's heap region from gmlab.info (reported check). */
int m_hv_region(uint64_t *base, uint64_t *size);

/* ---- the linear method under test (suites linear and modes) ---- */
/* Both suites run each case once per linear method: BOTH(fn) defines fn_bytewise and
 * fn_pagewise, which set the method under test with m_use and run fn. */
extern const char *m_method;	/* "bytewise" / "pagewise" */
extern const char *m_svc_name;	/* its service's name */
extern unsigned long m_svc;	/* and number (CPL3 look-up) */
/* Sets the three; 0, or -1 when the look-up failed (a reported check). */
int m_use(const char *method, const char *svc_name);
#define BYTEWISE(fn) \
	static void fn##_bytewise(void) { if (m_use("bytewise", GML_SVC_LINEAR_BYTEWISE) == 0) fn(); }
#define PAGEWISE(fn) \
	static void fn##_pagewise(void) { if (m_use("pagewise", GML_SVC_LINEAR_PAGEWISE) == 0) fn(); }
#define BOTH(fn) BYTEWISE(fn) PAGEWISE(fn)

/* ---- kernel module (CPL0) ---- */
int m_kmod_open(void);	/* report_error and -1 when /dev/gmlab is missing */
/* CPL0 hypercall through GMLAB_IOC_CALL; a failed ioctl or #UD is a failed check (-1). */
int m_call0(int fd, unsigned long num, struct hc_regs *r);
unsigned long m_lookup0(int fd, const char *name);
struct mres m_xfer0(int fd, unsigned long svc, uint64_t addr, uint64_t len, uint64_t flags,
		    uint64_t seed, uint64_t rdi);
int m_kbuf_alloc(int fd, unsigned kind, uint64_t size, struct gmlab_kbuf *out);
/* GMLAB_KBUF_PAGES inside [lo, hi): 0, or the errno (ENOSPC: none landed there), no report */
int m_kbuf_alloc_in(int fd, uint64_t size, uint64_t lo, uint64_t hi, struct gmlab_kbuf *out);
int m_kbuf_rw(int fd, int write, uint64_t off, void *buf, uint64_t len);

/* ---- /proc/self/pagemap ---- */
#define PM_PRESENT (1ULL << 63)
#define PM_SWAPPED (1ULL << 62)
#define PM_SOFT_DIRTY (1ULL << 55)
#define PM_PFN_MASK ((1ULL << 55) - 1)
/* The 64-bit entry of the page holding va; -1 with errno on failure. */
int m_pagemap_entry(const void *va, uint64_t *entry);
/* Guest-physical address of va via pagemap. Refuses (-1, reason in *why) a page that is not
 * present or whose PFN reads as 0 (no CAP_SYS_ADMIN): address 0 is never sent. */
int m_virt_to_gpa(const void *va, uint64_t *gpa, const char **why);

/* zram swap (module zram, 64 MiB device, busybox mkswap/swapon), unless some swap is on
 * already: 0, or -1 after report_error. Switch it off with system("swapoff /dev/zram0"). */
int m_swap_on(void);

/* Page-aligned anonymous mapping of n bytes, populated (MAP_POPULATE) or not. */
void *m_map(size_t n, int populate);

/* Paging state from gml.cpu.paging: 0 ok. A CPL3 call; under the strict policy that call must be
 * refused (checked), and the state comes from a CPL0 call through /dev/gmlab instead (CR3 is
 * then the kernel's, cpl 0). */
struct m_paging {
	uint64_t cr0, cr3, cr4, efer, cpl;
};
int m_cpu_paging(struct m_paging *p);
#define M_CR4_LA57 (1ULL << 12)
#define M_CR4_PCIDE (1ULL << 17)

/* Is flag (e.g. "pcid", "la57") in /proc/cpuinfo's flags line? */
int m_cpu_has(const char *flag);

/* Kernel page-table isolation (KPTI, which Linux turns on for Intel CPU models such as Bochs'
 * corei7_skylake_x): during a CPL3 hypercall the user page tables are live, and they do not map
 * most kernel memory, so the walk ends not-present instead of at a supervisor page. Both are
 * refusals; which one a CPL3 caller gets is a property of the guest kernel, not of the method.
 * 1 when /sys/devices/system/cpu/vulnerabilities/meltdown says PTI. */
int m_kpti(void);

#endif
