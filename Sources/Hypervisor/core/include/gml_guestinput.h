/*
 * Checks of guest-chosen values before the hypervisor acts on them or copies them into the
 * VMCB / VMCS (issue 9: a guest must never make the next VM entry fail, reach the outer
 * hypervisor's paravirtual interfaces, or power the machine off). Hardware-free: the backends
 * pass in what they read from the CPU (CPUID words, the exit's fields), so the host tests cover
 * every rule, including the ones our emulators cannot express (AMX, LMSLE, ports, MSR ranges).
 */
#ifndef GML_GUESTINPUT_H
#define GML_GUESTINPUT_H
#include "gml_types.h"
#include "gml_memmap.h"
#include "gml_pagewalk.h"

/* MSRs the guest gets #GP for on both backends, reads and writes alike, whatever the CPU under
 * us has: the hypervisor range 0x40000000-0x400000ff and KVM's paravirtual MSRs (0x11, 0x12,
 * 0x4b564d00-0x4b564dff: an outer KVM would write guest-chosen physical addresses, possibly in
 * our region), and AMD's SVM control MSRs 0xc0010114-0xc0010118 (nested SVM is not offered;
 * VM_HSAVE_PA would make every #VMEXIT load host state from a guest page). */
bool gml_msr_hidden(u32 msr);

/* CPUID leaves that read as all zeros: the hypervisor range, so an outer hypervisor's signature
 * (KVM's "KVMKVMKVM") never makes the guest turn on its paravirtual clock & co. */
bool gml_cpuid_hidden(u32 leaf);

/* Does the I/O access [port, port + size) touch any of the n ports from base? (An access that
 * overlaps the hypervisor's log port in any byte is the log port's, e.g. `inw 0x3e7`.) */
bool gml_io_overlaps(u32 port, u32 size, u32 base, u32 n);

/* XSETBV to XCR0: false where the CPU raises #GP (SDM vol. 1 13.3 and the XSETBV page): x87
 * always set, only supported components, AVX needs SSE, MPX's two components together, the
 * AVX-512 trio together and with AVX, AMX's XTILECFG and XTILEDATA together. `index` is ECX. */
bool gml_xsetbv_valid(u32 index, u64 value, u64 supported);

/* EFER bits a guest WRMSR may set on this CPU (AMD), from CPUID 0x80000001 ECX/EDX: SCE, LME,
 * NXE, FFXSR and TCE where the CPU lists them. Never LMSLE: Zen 3 and later lack it (CPUID
 * 0x80000008 EBX[20]) and QEMU's TCG does not implement it, so the guest gets the #GP those
 * CPUs give rather than a VMRUN that fails on an EFER the CPU rejects. (LMA is read-only, SVME
 * the hypervisor's.) */
u64 gml_efer_writable(u32 ext1_ecx, u32 ext1_edx);

/* MOV to CR0: false where the CPU raises #GP (bits 63:32 set, PG without PE, NW without CD). */
bool gml_cr0_write_valid(u64 value);

/* SVM: an event interrupted by a #VMEXIT (EXITINTINFO) that must NOT be re-injected, because
 * re-injecting it without next-RIP would run its instruction twice: software interrupts (INT n)
 * and the trap-like INT3/INTO. RIP still points at the instruction, which re-executes. */
bool gml_svm_event_reexecutes(u64 exitintinfo);

/* SVM: the exception to give the guest for an intercepted fault `vector` that the CPU raised
 * while it delivered EXITINTINFO's event (AMD APM vol. 2, 8.2.9 and 15.7.2): with no event, or a
 * benign one (interrupt, NMI, INT n, #DB, ...), `vector` itself; a contributory fault (#DE, #TS,
 * #NP, #SS, #GP) on a contributory fault or on #PF, and a #PF on #PF, become #DF (error code 0);
 * any of them while #DF was delivered is a triple fault (GML_EXC_SHUTDOWN). The CPU checks the
 * intercept before it combines the two, so the hypervisor that intercepts must do it. */
#define GML_EXC_SHUTDOWN 0x100
unsigned gml_svm_fault_during_event(u64 exitintinfo, unsigned vector);

/* SVM: the TR attributes (VMCB segment format: type 3:0, S 4, DPL 6:5, P 7, ...) to load at the
 * next VMLOAD: a busy 64-bit TSS (type 0xb) as available (type 9), anything else unchanged. In
 * long mode a real CPU never looks at the cached TR type after LTR (the I/O permission check and
 * the IST/RSP0 stack switches use its base and limit), and the VMCB of a real AMD CPU shows no
 * busy bit (Linux's KVM sets it itself in svm_get_segment for that reason); but QEMU's TCG, in
 * its I/O permission check, raises #GP(0) unless the cached type is exactly 9. Under a nested KVM host on TCG (the lab's KVM
 * box) L1's KVM loads the guest's TR as busy, so every IN/OUT a process was allowed by
 * ioperm() took #GP before any intercept. Normalising costs nothing on real hardware. */
u16 gml_svm_tr_attrib(u16 attrib);

/*
 * Instruction lengths. A hypervisor that emulates an instruction moves RIP past it, and the
 * instruction includes every prefix the CPU ignored (segment overrides, 66, 67, F2/F3, REX in
 * 64-bit mode; at most 15 bytes in all): `2e 0f a2` is a 3-byte CPUID. VMX reports the length
 * (VM_EXIT_INSTRUCTION_LEN) for the instruction exits, SVM gives the next RIP only with
 * NRIP-save (CPUID 0x8000000A EDX[3]), which QEMU's TCG and the lab's KVM box lack; and an
 * exception exit (#UD of the other vendor's hypercall) has neither. Then the hypervisor reads
 * the bytes at CS:RIP and decodes them, for exactly the instructions it emulates.
 */
enum gml_insn {
	GML_INSN_UNKNOWN = 0,
	GML_INSN_CPUID,   /* 0f a2 */
	GML_INSN_RDMSR,   /* 0f 32 */
	GML_INSN_WRMSR,   /* 0f 30 */
	GML_INSN_VMCALL,  /* 0f 01 c1 (Intel) */
	GML_INSN_VMMCALL, /* 0f 01 d9 (AMD; with F2/F3 it is VMGEXIT, a VMMCALL outside SEV-ES) */
};
#define GML_INSN_MAX_LEN 15

/* Decode bytes[0..n): legacy prefixes in any number and order, in 64-bit mode (mode64) also REX
 * bytes (a REX followed by another prefix is ignored by the CPU but still a byte of the
 * instruction), then one of the opcodes above. Returns the length (2..15) and sets *insn, or
 * returns 0 with *insn = GML_INSN_UNKNOWN: another opcode, bytes running out before the opcode
 * ends, or more than 15 bytes (the CPU raises #GP then, so no such instruction ever exits). */
unsigned gml_insn_len(const u8 *bytes, unsigned n, bool mode64, enum gml_insn *insn);

/* The instruction at guest-linear address lin, fetched as the CPU fetches it: translated with
 * execute rights at the walker's CPL (GML_ACC_EXEC, setting no A/D bit: the CPU's own fetch
 * already did), page by page, at most 15 bytes and no further than the decoder needs. Returns
 * gml_insn_len of what it read (0 and GML_INSN_UNKNOWN when nothing decodes: the bytes could not
 * be read, e.g. a paging mode the walker does not model, or they are another instruction). In
 * a non-64-bit mode the caller passes CS.base + EIP and addresses wrap at 4 GiB. */
unsigned gml_insn_len_at(const struct gml_walker *w, const struct gml_phys *phys, u64 lin,
			 bool mode64, enum gml_insn *insn);

#endif
