/*
 * ABI of the transfer-method services (services/method_*.c), shared with the guest:
 * The guest compiles this same file (Sources/Guest/Makefile puts core/include on its path).
 * Dependency-free. Look every service up by name; numbers depend on registration order.
 *
 * Status in rax: 0, a core gml_err (core/include/gml_errors.h, < 256), or a method error
 * below (>= 256). Every register a service does not list as a result is preserved.
 *
 * ---- Method 1: registers -------------------------------------------------------------------
 * gml.regs.echo   in  rbx rcx rdx rsi rdi
 *                 out rax = 0, each of rbx rcx rdx rsi rdi = bitwise NOT of its input
 * gml.regs.put    in  rbx = offset in the hypervisor's staging buffer (GML_REGS_BUF bytes),
 *                     rcx = count (1..GML_REGS_CHUNK), data bytes in rdx, rsi, rdi (little-
 *                     endian, rdx first) -> out rax = status
 * gml.regs.get    in  rbx = offset, rcx = count (1..GML_REGS_CHUNK)
 *                 out rax = status, rdx rsi rdi = data (bytes past count are 0)
 * gml.regs.fill   in  rbx = offset, rcx = len, rdx = seed: staging[offset+i] =
 *                     gml_pattern_byte(seed, i)          -> out rax = status
 * gml.regs.hash   in  rbx = offset, rcx = len -> out rax = status, rdx = FNV-1a-64 of
 *                     staging[offset, offset+len)
 *   Errors: count/len 0 -> GML_E_LEN_ZERO; count > 24 -> GML_ME_TOO_LONG;
 *   offset+len past the buffer (or wrapping) -> GML_ME_OUT_OF_BUFFER.
 *
 * ---- Methods 2-4: memory transfers -----------------------------------------------------------
 * Common registers:
 *   in  rbx = address (see below), rcx = length (1..GML_XFER_MAX), rdx = flags, rsi = seed
 *   out rax = status
 *       rbx = bytes done = offset of the first byte not transferred (== length on success)
 *       rcx = read: FNV-1a-64 of the bytes read (the first rbx bytes); write: 0
 *       rdx = fault detail: linear methods the paging level of the fault (1 PT .. 5 PML5,
 *             0 none), physical methods the first offending guest-physical byte (0 none)
 *   rsi, rdi preserved.
 * flags: GML_XFER_WRITE (hypervisor writes guest memory; else it reads it),
 *        GML_XFER_RAW  (no hashing / pattern: a read is copied and discarded, a write stores
 *                       GML_XFER_RAW_BYTE everywhere -- for timing the bare copy).
 * A write stores gml_pattern_byte(seed, i) at offset i of the transfer (offset within the
 * request, not an address), so the guest can verify it wherever the buffer lives.
 *
 * gml.phys.xfer        rbx = guest-physical address (contiguous). All or nothing: the whole
 *                      range is checked before the first byte moves (done = 0 or length).
 * gml.phys.list        rbx = guest-physical address of an array of u64 frame numbers (PFN,
 *                      4 KiB frames), rdi = offset into the first frame (0..4095). The array
 *                      has ceil((rdi + length) / 4096) entries and must be contiguous guest
 *                      RAM. Frames are checked and moved one by one: done = bytes moved
 *                      before the first refused frame, rdx = its first offending byte.
 *                      (rdi is an input here, still preserved.)
 * gml.linear.bytewise  rbx = guest-linear address; one read_linearaddr_b / write_linearaddr_b
 *                      per byte (BitVisor's way: a full page walk per byte, the caller's CPL).
 *                      Stops at the first faulting byte (rdx = 0: the seed API gives no level).
 *                      Up to GML_BYTEWISE_MAX (= GML_XFER_MAX) bytes per call: continuations
 *                      (below) keep each stay in the hypervisor short.
 * gml.linear.pagewise  rbx = guest-linear address; the core's page-wise copy (one walk per
 *                      page, once per 2 MiB / 1 GiB for large pages), caller's CPL.
 *
 * ---- Non-present pages: refuse (default) or fault-in (GML_XFER_FAULTIN) ------------------------
 * Refuse (flags without GML_XFER_FAULTIN; BitVisor's and Xen's answer): the transfer stops at
 *   the first byte it cannot use and returns its typed error with the exact offset (rbx).
 * Fault-in (GML_XFER_FAULTIN, linear methods only; the physical ones answer GML_ME_BAD_FLAGS;
 *   KVM's answer): when a CPL3 caller names a user-half address (canonical, bit 47 -- bit 56
 *   with LA57 -- clear) and the walk fails the way the CPU's own access would fault (not
 *   present, read-only for a write -- copy-on-write, soft-dirty, an mprotect'ed page --, a
 *   supervisor page, a protection key, a reserved bit), the hypervisor injects the #PF the
 *   CPU would have raised for that access: CR2 = the first byte not transferred, error code
 *   P (0 not present, 1 protection) | W (writes) | U | RSVD | PK as the walk found. RIP stays on
 *   the hypercall instruction and the registers describe the rest of the transfer (in-flight
 *   state, below): once the guest's page-fault handler has resolved the fault the
 *   instruction runs again and continues where it stopped. A fault the guest cannot resolve
 *   gets the guest's own verdict (Linux: SIGSEGV), exactly as if the caller had touched the
 *   byte. Everything else keeps the typed error: CPL0 callers (a kernel address, or a user
 *   address named by the kernel), kernel-half addresses named from CPL3, non-canonical
 *   addresses (the CPU would raise #GP, not #PF), guest-physical and paging-structure errors.
 *   GML_XFER_MAX_RETRIES faults in a row at the same offset (a handler that returns without
 *   mapping the page) end the call with that typed error instead of looping.
 *
 * ---- Continuations: no call holds the vCPU for more than one slice -------------------------
 * A transfer moves at most one slice per stay in the hypervisor (GML_SLICE_BYTEWISE bytes
 * byte-wise; GML_SLICE_COOKED bytes for patterned writes and hashed reads, GML_SLICE_RAW with
 * GML_XFER_RAW, for the page-wise and physical methods). With more to do it leaves RIP on the
 * instruction and the in-flight state in the registers and returns to the guest: pending
 * interrupts are delivered (an interrupt handler may make hypercalls of its own, a signal
 * handler may run), then the instruction runs again. The caller sees one call: the result
 * registers are exactly those of an uninterrupted call. In flight (seen only by an interrupt
 * or signal handler looking at the interrupted context):
 *   rax = the service number (unchanged), rbx = the address (unchanged),
 *   rcx = the running FNV-1a-64 of the bytes read so far (reads; 0 for writes and raw),
 *   rdx = GML_XFER_INFLIGHT_WORD(flags, retries, done, length): bits 2:0 flags, 7:3 fault-in
 *         retries at the current offset, 15:8 GML_XFER_INFLIGHT_TAG, 39:16 bytes done,
 *         63:40 length - 1,
 *   rsi, rdi = the caller's (unchanged).
 * A call whose rdx carries the tag is taken as in flight: a caller never sets bits 15:8 (they
 * are unknown flag bits, GML_ME_BAD_FLAGS, otherwise). An in-flight word is checked like a
 * fresh request (flags, done < length <= GML_XFER_MAX, no wrap); a forged one is only another
 * request of the same caller with the same rights.
 *
 * ---- Inspection (for the tests) ----------------------------------------------------------
 * gml.linear.probe     in  rbx = guest-linear address, rcx = GML_PROBE_* flags
 *                      out rax = status of the walk (caller's CPL and rights -- read, write
 *                          or execute; sets no A/D unless GML_PROBE_SET_AD), rbx = guest-physical address,
 *                          rcx = page size, rdx = paging levels (4/5; 0 paging off),
 *                          rsi = the leaf entry as read (A bit 5, D bit 6), rdi = its level
 *                          (on a fault: the level of the fault)
 *                      A CPL3 caller gets the entry (rsi) and the guest-physical address (rbx)
 *                      with bits 51:12 (GML_PHYS_ADDR_BITS) cleared: frame numbers are what
 *                      /proc/self/pagemap hides from unprivileged users; bits 11:0 (flags,
 *                      A/D; the offset in the page) and 63:52 remain.
 * gml.cpu.paging       out rax = 0, rbx = CR0, rcx = CR3, rdx = CR4, rsi = EFER, rdi = CPL
 *                      A CPL3 caller gets CR3 with bits 51:12 cleared (PCID, PWT, PCD kept).
 *
 * ---- Access policy (hypervisor option gmlab.policy=bitvisor|strict) ----------------------
 * GML_POLICY_BITVISOR (default): every service at CPL0 and CPL3, as BitVisor does.
 * GML_POLICY_STRICT: gml.phys.xfer, gml.phys.list, gml.linear.probe, gml.cpu.paging and
 *   seed.phys are CPL0-only: a CPL3 caller gets rax = GML_ME_DENIED, every other register
 *   unchanged, and nothing is read or written. The linear methods refuse supervisor pages to
 *   CPL3 callers under both policies (the walk uses the caller's CPL).
 * gmlab.info reports the active policy in rdx bits 15:8 (GML_INFO_POLICY(rdx)); bits 7:0 stay
 * the backend, so under the default policy rdx is exactly the backend number as before.
 */
#ifndef GML_METHODS_H
#define GML_METHODS_H

/* Method-level errors (never renumber; core's gml_err stays below 256). */
#define GML_ME_TOO_LONG 256        /* length above the service's limit */
#define GML_ME_BAD_FLAGS 257       /* unknown bits in flags */
#define GML_ME_BAD_OFFSET 258      /* gml.phys.list: first-frame offset > 4095 */
#define GML_ME_OUT_OF_BUFFER 259   /* gml.regs.*: offset + length outside the staging buffer */
#define GML_ME_DENIED 260          /* the hypervisor's policy (gmlab.policy=strict) refuses this
				      service to a CPL3 caller; only rax is written */

/* Access policy (gmlab.policy=; gmlab.info rdx bits 15:8) */
#define GML_POLICY_BITVISOR 0u
#define GML_POLICY_STRICT 1u
#define GML_INFO_POLICY_SHIFT 8
#define GML_INFO_POLICY(rdx) (((rdx) >> GML_INFO_POLICY_SHIFT) & 0xff)
#define GML_INFO_BACKEND(rdx) ((rdx) & 0xff)

/* Limits */
#define GML_XFER_MAX (16ull << 20) /* bytes per transfer request */
#define GML_BYTEWISE_MAX GML_XFER_MAX /* gml.linear.bytewise (256 KiB before continuations: a
					 page walk per byte held the vCPU ~0.5 s there) */
/* Bytes moved per stay in the hypervisor (continuations), each a few ms under QEMU TCG */
#define GML_SLICE_BYTEWISE (1ull << 10)   /* a full page walk per byte: ~7 ms a slice under TCG */
#define GML_SLICE_COOKED (256ull << 10)   /* page-wise / physical, hashed read or pattern write */
#define GML_SLICE_RAW (2ull << 20)        /* page-wise / physical with GML_XFER_RAW: copy only */
#define GML_XFER_MAX_RETRIES 31           /* fault-in: #PFs in a row at one offset */
#define GML_REGS_BUF (64u << 10)   /* the register method's staging buffer */
#define GML_REGS_CHUNK 24u         /* bytes per gml.regs.put / get call (rdx rsi rdi) */

/* gml.*.xfer / list / bytewise / pagewise flags (rdx) */
#define GML_XFER_WRITE 0x1ull
#define GML_XFER_RAW 0x2ull
#define GML_XFER_FAULTIN 0x4ull /* linear methods: fault-in mode (above) */
#define GML_XFER_FLAGS_ALL 0x7ull
#define GML_XFER_RAW_BYTE 0x5a

/* The in-flight word (rdx of a transfer between two slices, above) */
#define GML_XFER_INFLIGHT_TAG 0xc5ull
#define GML_XFER_TAG_MASK 0xff00ull
#define GML_XFER_INFLIGHT_WORD(flags, retries, done, len)                                   \
	(((flags) & GML_XFER_FLAGS_ALL) | (((retries) & 31ull) << 3) |                      \
	 (GML_XFER_INFLIGHT_TAG << 8) | (((done) & 0xffffffull) << 16) |                    \
	 ((((len) - 1) & 0xffffffull) << 40))
#define GML_XFER_IS_INFLIGHT(rdx) ((((rdx) >> 8) & 0xff) == GML_XFER_INFLIGHT_TAG)
#define GML_XFER_INFLIGHT_FLAGS(rdx) ((rdx) & GML_XFER_FLAGS_ALL)
#define GML_XFER_INFLIGHT_RETRIES(rdx) (((rdx) >> 3) & 31)
#define GML_XFER_INFLIGHT_DONE(rdx) (((rdx) >> 16) & 0xffffffull)
#define GML_XFER_INFLIGHT_LEN(rdx) ((((rdx) >> 40) & 0xffffffull) + 1)

/* The look-up (rax = 0) in fault-in mode: rcx = GML_LOOKUP_FAULTIN ("FAULTIN\0"). Any other
 * rcx (0, or whatever a caller left there: the seed's raw-asm look-ups set no rcx) is today's
 * look-up, which never faults. In fault-in mode a CPL3 caller's name on a user-half page the
 * CPU would fault on gets that #PF (CR2 = the first byte it could not read, RIP on the
 * instruction) and the look-up runs again from the start once the guest resolved it; the
 * hypervisor counts the #PFs in rcx bits 7:0 meanwhile (at most GML_XFER_MAX_RETRIES, then 0
 * as today) and returns rcx = GML_LOOKUP_FAULTIN. A kernel-half name, a CPL0 caller or a
 * non-canonical address: 0 as today. */
#define GML_LOOKUP_FAULTIN 0x4641554c54494e00ull
#define GML_LOOKUP_RETRY_MASK 0xffull

/* CR3 / paging-entry bits a CPL3 caller of gml.cpu.paging / gml.linear.probe never sees */
#define GML_PHYS_ADDR_BITS 0x000ffffffffff000ull /* bits 51:12 */

/* gml.linear.probe flags (rcx) */
#define GML_PROBE_WRITE 0x1ull  /* check write rights */
#define GML_PROBE_SET_AD 0x2ull /* set A/D like a real access (default: probe only) */
#define GML_PROBE_EXEC 0x4ull   /* check execute rights (XD, SMEP) instead of read; not with
				   GML_PROBE_WRITE (GML_ME_BAD_FLAGS) */

/* Service names */
#define GML_SVC_REGS_ECHO "gml.regs.echo"
#define GML_SVC_REGS_PUT "gml.regs.put"
#define GML_SVC_REGS_GET "gml.regs.get"
#define GML_SVC_REGS_FILL "gml.regs.fill"
#define GML_SVC_REGS_HASH "gml.regs.hash"
#define GML_SVC_PHYS_XFER "gml.phys.xfer"
#define GML_SVC_PHYS_LIST "gml.phys.list"
#define GML_SVC_LINEAR_BYTEWISE "gml.linear.bytewise"
#define GML_SVC_LINEAR_PAGEWISE "gml.linear.pagewise"
#define GML_SVC_LINEAR_PROBE "gml.linear.probe"
#define GML_SVC_CPU_PAGING "gml.cpu.paging"

/* The verification functions both sides compute (static inline: no library needed). */
#define GML_FNV_OFFSET 0xcbf29ce484222325ull
#define GML_FNV_PRIME 0x100000001b3ull

static inline unsigned long long gml_fnv1a(unsigned long long h, const unsigned char *p,
					   unsigned long long n)
{
	while (n--) {
		h ^= *p++;
		h *= GML_FNV_PRIME;
	}
	return h;
}

/* splitmix64: a well-mixed 64-bit value per 8-byte group of the transfer */
static inline unsigned long long gml_pattern_word(unsigned long long seed, unsigned long long group)
{
	unsigned long long z = seed + (group + 1) * 0x9e3779b97f4a7c15ull;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Byte i of the pattern for seed: byte (i % 8) of word i / 8, little-endian. */
static inline unsigned char gml_pattern_byte(unsigned long long seed, unsigned long long i)
{
	return (unsigned char)(gml_pattern_word(seed, i >> 3) >> ((i & 7) * 8));
}

/* Fill buf with pattern bytes for transfer offsets [off, off + n). */
static inline void gml_pattern_fill(unsigned char *buf, unsigned long long seed,
				    unsigned long long off, unsigned long long n)
{
	unsigned long long i = 0;

	while (i < n) {
		unsigned long long pos = off + i;
		unsigned long long w = gml_pattern_word(seed, pos >> 3);
		unsigned b;

		for (b = pos & 7; b < 8 && i < n; b++, i++)
			buf[i] = (unsigned char)(w >> (b * 8));
	}
}

#endif
