// The hypervisor's checks of guest-chosen values (core/gml_guestinput.c), which both backends
// apply before acting on an MSR, CPUID, I/O, CR0, XSETBV or EFER exit. These host tests stand in
// for what the lab's emulators cannot express in a guest (issue 9): AMX (no AMX in QEMU TCG's or
// Bochs' models), an outer KVM's paravirtual MSRs and CPUID leaves, SMCA-style MSRs.
import HypervisorCore
import Testing

@Suite struct GuestInputTests {
    @Test func hiddenMSRsAreTheHypervisorRangeKVMsParavirtualAndTheSVMControlMSRs() {
        let hidden: [UInt32] = [
            0x4000_0000, 0x4000_0001, 0x4000_00ff,  // hypervisor range (Hyper-V, KVM)
            0x11, 0x12,  // KVM's legacy wall clock / system time
            // kvmclock, wall clock, async PF, steal time, PV EOI, …
            0x4b56_4d00, 0x4b56_4d01, 0x4b56_4d02, 0x4b56_4d03, 0x4b56_4d04, 0x4b56_4dff,
            0xc001_0114, 0xc001_0115, 0xc001_0116, 0xc001_0117, 0xc001_0118,  // VM_CR .. SVM_KEY
        ]
        for msr in hidden { #expect(gml_msr_hidden(msr), "MSR \(String(msr, radix: 16))") }
        let visible: [UInt32] = [
            0x10, 0x13, 0x3a, 0x1d9, 0x277, 0x3fff_ffff, 0x4000_0100, 0x4b56_4cff, 0x4b56_4e00,
            0xc000_0080, 0xc000_0100, 0xc000_2000,  // EFER, FS_BASE, an SMCA MSR
            0xc001_0113, 0xc001_0119, 0xc001_1029,
        ]
        for msr in visible { #expect(!gml_msr_hidden(msr), "MSR \(String(msr, radix: 16))") }
    }

    @Test func hypervisorCPUIDLeavesAreHidden() {
        #expect(gml_cpuid_hidden(0x4000_0000))  // "KVMKVMKVM" signature
        #expect(gml_cpuid_hidden(0x4000_0001))  // KVM features (kvmclock)
        #expect(gml_cpuid_hidden(0x4000_00ff))
        #expect(!gml_cpuid_hidden(0x3fff_ffff))
        #expect(!gml_cpuid_hidden(0x4000_0100))
        #expect(!gml_cpuid_hidden(0))
        #expect(!gml_cpuid_hidden(0x8000_0001))
    }

    @Test func anAccessOverlappingTheLogPortInAnyByteIsTheLogPorts() {
        let base: UInt32 = 0x3e8
        let n: UInt32 = 8
        #expect(gml_io_overlaps(0x3e7, 2, base, n))  // inw 0x3e7
        #expect(gml_io_overlaps(0x3e5, 4, base, n))  // inl 0x3e5
        #expect(gml_io_overlaps(0x3ef, 4, base, n))
        #expect(gml_io_overlaps(0x3e8, 1, base, n))
        #expect(!gml_io_overlaps(0x3e4, 4, base, n))  // 0x3e4..0x3e7
        #expect(!gml_io_overlaps(0x3e7, 1, base, n))
        #expect(!gml_io_overlaps(0x3f0, 1, base, n))
        #expect(!gml_io_overlaps(0x3f8, 4, base, n))  // COM1
    }

    @Test func xsetbvFollowsTheSDMIncludingTheAMXPairing() {
        let x87: UInt64 = 1
        let sse: UInt64 = 2
        let avx: UInt64 = 4
        let mpx: UInt64 = 0x18
        let avx512: UInt64 = 0xe0
        let tilecfg: UInt64 = 1 << 17
        let tiledata: UInt64 = 1 << 18
        let all = x87 | sse | avx | mpx | avx512 | tilecfg | tiledata
        #expect(gml_xsetbv_valid(0, x87, all))
        #expect(gml_xsetbv_valid(0, x87 | sse | avx, all))
        #expect(gml_xsetbv_valid(0, all, all))
        #expect(!gml_xsetbv_valid(1, x87, all), "only XCR0 exists")
        #expect(!gml_xsetbv_valid(0, sse, all), "x87 must stay set")
        #expect(!gml_xsetbv_valid(0, x87 | avx, all), "AVX without SSE")
        #expect(!gml_xsetbv_valid(0, x87 | sse | avx, x87 | sse), "unsupported component")
        #expect(!gml_xsetbv_valid(0, x87 | 0x8, all), "MPX halves apart")
        #expect(!gml_xsetbv_valid(0, x87 | sse | avx | 0x20, all), "AVX-512 trio apart")
        #expect(!gml_xsetbv_valid(0, x87 | sse | avx512, all), "AVX-512 without AVX")
        #expect(!gml_xsetbv_valid(0, x87 | sse | avx | tilecfg, all), "XTILECFG without XTILEDATA")
        #expect(!gml_xsetbv_valid(0, x87 | sse | avx | tiledata, all), "XTILEDATA without XTILECFG")
        #expect(gml_xsetbv_valid(0, x87 | sse | avx | tilecfg | tiledata, all))
    }

    @Test func eferWritableBitsFollowTheCPUAndNeverIncludeLMSLE() {
        let sce: UInt64 = 1
        let lme: UInt64 = 1 << 8
        let nxe: UInt64 = 1 << 11
        let lmsle: UInt64 = 1 << 13
        let ffxsr: UInt64 = 1 << 14
        let tce: UInt64 = 1 << 15
        let syscall: UInt32 = 1 << 11
        let nx: UInt32 = 1 << 20
        let ffxsrCPU: UInt32 = 1 << 25
        let lm: UInt32 = 1 << 29
        let tceCPU: UInt32 = 1 << 17
        // qemu64-like: SYSCALL, NX, LM; no FFXSR, no TCE
        let basic = gml_efer_writable(0, syscall | nx | lm)
        #expect(basic == sce | lme | nxe)
        #expect(basic & lmsle == 0, "LMSLE: Zen 3+ and TCG lack it; the guest gets #GP")
        // A CPU with everything
        let full = gml_efer_writable(tceCPU, syscall | nx | lm | ffxsrCPU)
        #expect(full == sce | lme | nxe | ffxsr | tce)
        // No NX: NXE is reserved
        #expect(gml_efer_writable(0, syscall | lm) & nxe == 0)
    }

    @Test func cr0WritesTheCPURefusesAreRefused() {
        let pe: UInt64 = 1
        let ne: UInt64 = 1 << 5
        let nw: UInt64 = 1 << 29
        let cd: UInt64 = 1 << 30
        let pg: UInt64 = 1 << 31
        #expect(gml_cr0_write_valid(pe | ne | pg))
        #expect(gml_cr0_write_valid(pe | pg))  // NE cleared: allowed
        #expect(!gml_cr0_write_valid(pe | ne | pg | (1 << 32)), "bits 63:32 set")
        #expect(!gml_cr0_write_valid(pe | ne | pg | (1 << 63)))
        #expect(!gml_cr0_write_valid(ne | pg), "PG without PE")
        #expect(!gml_cr0_write_valid(pe | ne | pg | nw), "NW without CD")
        #expect(gml_cr0_write_valid(pe | ne | pg | nw | cd))
    }

    @Test func softwareEventsReExecuteInsteadOfBeingReinjected() {
        let valid: UInt64 = 1 << 31
        func event(type: UInt64, vector: UInt64) -> UInt64 { valid | (type << 8) | vector }
        #expect(gml_svm_event_reexecutes(event(type: 4, vector: 0x80)), "INT 0x80")
        #expect(gml_svm_event_reexecutes(event(type: 3, vector: 3)), "INT3")
        #expect(gml_svm_event_reexecutes(event(type: 3, vector: 4)), "INTO")
        #expect(!gml_svm_event_reexecutes(event(type: 3, vector: 14)), "#PF is re-injected")
        #expect(!gml_svm_event_reexecutes(event(type: 0, vector: 0x20)), "external interrupt")
        #expect(!gml_svm_event_reexecutes(event(type: 2, vector: 2)), "NMI")
        #expect(!gml_svm_event_reexecutes(4 << 8 | 0x80), "not valid")
    }

    // A #GP the hypervisor intercepts (for the other vendor's hypercall under a KVM host) may
    // arise while the CPU delivers another event: then the hypervisor combines them as the CPU
    // would have.
    @Test func aFaultDuringEventDeliveryCombinesAsTheCPUWould() {
        let valid: UInt64 = 1 << 31
        func exception(_ vector: UInt64) -> UInt64 { valid | (3 << 8) | vector }
        let gp: UInt32 = 13
        let pf: UInt32 = 14
        #expect(gml_svm_fault_during_event(0, gp) == gp, "no event")
        #expect(gml_svm_fault_during_event(valid | 0x20, gp) == gp, "external interrupt")
        #expect(gml_svm_fault_during_event(valid | (4 << 8) | 0x81, gp) == gp, "INT n")
        #expect(gml_svm_fault_during_event(valid | (2 << 8) | 2, gp) == gp, "NMI")
        #expect(gml_svm_fault_during_event(exception(1), gp) == gp, "#DB is benign")
        #expect(gml_svm_fault_during_event(exception(13), gp) == 8, "#GP on #GP")
        #expect(gml_svm_fault_during_event(exception(0), gp) == 8, "#GP on #DE")
        #expect(gml_svm_fault_during_event(exception(11), gp) == 8, "#GP on #NP")
        #expect(gml_svm_fault_during_event(exception(14), gp) == 8, "#GP on #PF")
        #expect(gml_svm_fault_during_event(exception(14), pf) == 8, "#PF on #PF")
        #expect(gml_svm_fault_during_event(exception(13), pf) == pf, "#PF on #GP: serial")
        #expect(gml_svm_fault_during_event(exception(8), gp) == UInt32(GML_EXC_SHUTDOWN))
        #expect(gml_svm_fault_during_event(exception(13) & ~valid, gp) == gp, "not valid")
    }

    // The KVM box: L1's KVM hands TR back as a busy 64-bit TSS (0x8b) and QEMU's TCG then
    // refuses every ioperm() port with #GP; only that type becomes available (0x89).
    @Test func aBusy64BitTSSIsLoadedAsAvailableAndNothingElseChanges() {
        #expect(gml_svm_tr_attrib(0x8b) == 0x89)  // P, busy 64-bit TSS
        #expect(gml_svm_tr_attrib(0x88b) == 0x889)  // with G
        #expect(gml_svm_tr_attrib(0x89) == 0x89)  // already available
        #expect(gml_svm_tr_attrib(0x83) == 0x83)  // busy 16-bit TSS: not long mode's
        #expect(gml_svm_tr_attrib(0x9b) == 0x9b)  // S set: a code segment, not a TSS
        #expect(gml_svm_tr_attrib(0) == 0)
    }
}
