// Instruction lengths of the instructions the hypervisor emulates (core/gml_guestinput.c,
// gml_insn_len and gml_insn_len_at): prefixes the CPU ignores are part of the instruction, so
// RIP must move past them (SVM without NRIP-save, and the #UD of the other vendor's hypercall,
// report no length). Suite hostile, case prefixed-exits, checks the same in a guest.
import HypervisorCore
import Testing

private func decode(_ bytes: [UInt8], mode64: Bool = true) -> (UInt32, gml_insn) {
    var insn = GML_INSN_UNKNOWN
    let len = bytes.withUnsafeBufferPointer {
        gml_insn_len($0.baseAddress, UInt32($0.count), mode64, &insn)
    }
    return (len, insn)
}

@Suite struct InstructionLengthTests {
    @Test func unprefixedInstructionsHaveTheirOpcodeLength() {
        #expect(decode([0x0f, 0xa2]) == (2, GML_INSN_CPUID))
        #expect(decode([0x0f, 0x32]) == (2, GML_INSN_RDMSR))
        #expect(decode([0x0f, 0x30]) == (2, GML_INSN_WRMSR))
        #expect(decode([0x0f, 0x01, 0xc1]) == (3, GML_INSN_VMCALL))
        #expect(decode([0x0f, 0x01, 0xd9]) == (3, GML_INSN_VMMCALL))
        // what follows the instruction does not matter
        #expect(decode([0x0f, 0xa2, 0xeb, 0x06, 0, 0]) == (2, GML_INSN_CPUID))
    }

    @Test func everyLegacyPrefixCountsInAnyNumberAndOrder() {
        for p: UInt8 in [0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65, 0x66, 0x67, 0xf0, 0xf2, 0xf3] {
            #expect(decode([p, 0x0f, 0xa2]) == (3, GML_INSN_CPUID), "prefix \(hex(UInt64(p)))")
        }
        #expect(decode([0x66, 0x2e, 0x0f, 0xa2]) == (4, GML_INSN_CPUID))
        #expect(decode([0x3e, 0x2e, 0x0f, 0x01, 0xd9]) == (5, GML_INSN_VMMCALL))
        #expect(decode([0x2e, 0x0f, 0x32]) == (3, GML_INSN_RDMSR))
        #expect(decode([0xf3, 0x0f, 0x01, 0xd9]) == (4, GML_INSN_VMMCALL), "VMGEXIT: VMMCALL outside SEV-ES")
    }

    @Test func rexIsAPrefixOnlyIn64BitMode() {
        #expect(decode([0x48, 0x0f, 0xa2]) == (3, GML_INSN_CPUID))
        // REX followed by another prefix: ignored by the CPU, still a byte of the instruction
        #expect(decode([0x41, 0x2e, 0x0f, 0x01, 0xc1]) == (5, GML_INSN_VMCALL))
        // outside 64-bit mode 0x48 is DEC EAX, an instruction of its own: not one of ours
        #expect(decode([0x48, 0x0f, 0xa2], mode64: false) == (0, GML_INSN_UNKNOWN))
        #expect(decode([0x2e, 0x0f, 0xa2], mode64: false) == (3, GML_INSN_CPUID))
    }

    @Test func fifteenBytesAtMostAsTheCPUAllows() {
        let thirteen: [UInt8] = [0x2e, 0x3e, 0x26, 0x36, 0x64, 0x65, 0x2e, 0x3e, 0x26, 0x36, 0x2e, 0x66, 0x48]
        #expect(decode(thirteen + [0x0f, 0xa2]) == (15, GML_INSN_CPUID))
        #expect(decode([0x2e] + thirteen + [0x0f, 0xa2]) == (0, GML_INSN_UNKNOWN), "16 bytes: #GP on a CPU")
        #expect(decode(Array(thirteen.dropLast()) + [0x0f, 0x01, 0xd9]) == (15, GML_INSN_VMMCALL))
        #expect(decode(thirteen + [0x0f, 0x01, 0xd9]) == (0, GML_INSN_UNKNOWN), "16-byte VMMCALL")
        #expect(decode([UInt8](repeating: 0x2e, count: 40)) == (0, GML_INSN_UNKNOWN))
    }

    @Test func otherInstructionsAndShortInputAreUnknown() {
        #expect(decode([]) == (0, GML_INSN_UNKNOWN))
        #expect(decode([0x2e]) == (0, GML_INSN_UNKNOWN))
        #expect(decode([0x2e, 0x0f]) == (0, GML_INSN_UNKNOWN))
        #expect(decode([0x0f, 0x01]) == (0, GML_INSN_UNKNOWN))
        #expect(decode([0x0f, 0x05]) == (0, GML_INSN_UNKNOWN), "SYSCALL")
        #expect(decode([0x0f, 0x01, 0xd0]) == (0, GML_INSN_UNKNOWN), "XGETBV")
        #expect(decode([0x0f, 0x0b]) == (0, GML_INSN_UNKNOWN), "UD2")
        #expect(decode([0x90, 0x0f, 0xa2]) == (0, GML_INSN_UNKNOWN), "NOP is not a prefix")
    }

    // gml_insn_len_at: the bytes fetched from guest memory with the caller's execute rights.

    private static let code: UInt64 = 0x0040_0000  // guest-linear
    private static let frame: UInt64 = Layout.data  // its page

    private func len(_ g: GuestFixture, _ lin: UInt64, mode64: Bool = true) -> (UInt32, gml_insn) {
        var w = g.walker()
        var insn = GML_INSN_UNKNOWN
        let n = gml_insn_len_at(&w, g.phys, lin, mode64, &insn)
        return (n, insn)
    }

    @Test func aPrefixedInstructionIsReadFromGuestMemory() {
        let g = GuestFixture()
        g.map(Self.code, to: Self.frame)
        g.fill(Self.frame + 0x100, [0x2e, 0x0f, 0xa2, 0xeb, 0x06])
        #expect(len(g, Self.code + 0x100) == (3, GML_INSN_CPUID))
        g.fill(Self.frame + 0x200, [0x0f, 0x01, 0xd9])
        #expect(len(g, Self.code + 0x200) == (3, GML_INSN_VMMCALL))
        g.fill(Self.frame + 0x300, [0x0f, 0x05])
        #expect(len(g, Self.code + 0x300) == (0, GML_INSN_UNKNOWN))
    }

    @Test func anInstructionCrossingIntoTheNextPageIsReadFromBoth() {
        let g = GuestFixture()
        g.map(Self.code, to: Self.frame)
        g.map(Self.code + 0x1000, to: Self.frame + 0x5000)  // not the next frame
        g.fill(Self.frame + 0xffc, [0x2e, 0x3e, 0x26, 0x36])
        g.fill(Self.frame + 0x5000, [0x66, 0x0f, 0x01, 0xc1])
        #expect(len(g, Self.code + 0xffc) == (8, GML_INSN_VMCALL))
        // an instruction that ends on its page never touches the next one (unmapped here)
        let h = GuestFixture()
        h.map(Self.code, to: Self.frame)
        h.fill(Self.frame + 0xffd, [0x2e, 0x0f, 0xa2])
        #expect(len(h, Self.code + 0xffd) == (3, GML_INSN_CPUID))
        // prefixes up to the end of the page and nothing mapped after: unreadable, 0
        h.fill(Self.frame + 0xffe, [0x2e, 0x2e])
        #expect(len(h, Self.code + 0xffe) == (0, GML_INSN_UNKNOWN))
    }

    @Test func theFetchHasExecuteRightsAndLeavesNoTrace() {
        let g = GuestFixture()
        g.map(Self.code, to: Self.frame, leaf: PTE.p | PTE.rw)  // supervisor, no A bit
        g.fill(Self.frame, [0x2e, 0x0f, 0x32])
        let leaf = g.entry(Self.code, level: 1)
        #expect(len(g, Self.code) == (3, GML_INSN_RDMSR))
        #expect(g.entry(Self.code, level: 1) == leaf, "no A bit set: the CPU's own fetch did that")
        g.cpu.cpl = 3
        #expect(len(g, Self.code) == (0, GML_INSN_UNKNOWN), "CPL3 cannot fetch from a supervisor page")
        g.cpu.cpl = 0
        g.modify(Self.code, level: 1, set: PTE.xd)
        #expect(len(g, Self.code) == (0, GML_INSN_UNKNOWN), "XD: not executable")
    }

    @Test func theHypervisorRegionAndMMIOAreNeverRead() {
        let g = GuestFixture()
        g.map(Self.code, to: Layout.hv.lowerBound)
        g.map(Self.code + 0x1000, to: Layout.mmio.lowerBound)
        #expect(len(g, Self.code) == (0, GML_INSN_UNKNOWN))
        #expect(len(g, Self.code + 0x1000) == (0, GML_INSN_UNKNOWN))
    }

    @Test func withPagingOffTheLinearAddressIsPhysical() {
        let g = GuestFixture()
        g.cpu.cr0 = CR.cr0PE
        g.cpu.cr4 = 0
        g.cpu.efer = 0
        g.fill(0x7000, [0x66, 0x0f, 0xa2])
        #expect(len(g, 0x7000, mode64: false) == (3, GML_INSN_CPUID))
    }
}
