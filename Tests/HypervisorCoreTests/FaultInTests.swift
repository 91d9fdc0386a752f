// Fault-in mode (issue 14): which of the walker's refusals a hypercall may hand to the guest as
// the #PF its CPU would have raised (core/gml_faultin.c), and the look-up's fault address.
import HypervisorCore
import Testing

@Suite struct FaultInTests {
    static let p = UInt32(GML_PF_P), w = UInt32(GML_PF_W), u = UInt32(GML_PF_U)
    static let rsvd = UInt32(GML_PF_RSVD), i = UInt32(GML_PF_I), pk = UInt32(GML_PF_PK)

    private static func cpu(cpl: UInt8, la57: Bool = false) -> gml_cpu_state {
        var c = gml_cpu_state()
        c.cr0 = CR.cr0PE | CR.cr0PG | CR.cr0WP
        c.cr4 = CR.cr4PAE | (la57 ? CR.cr4LA57 : 0)
        c.efer = CR.eferLME | CR.eferLMA | CR.eferNXE
        c.cpl = cpl
        c.maxphyaddr = 46
        return c
    }

    private static func code(_ c: gml_cpu_state, _ e: gml_err, _ access: UInt32) -> UInt32? {
        var c = c
        var out: UInt32 = 0xdead
        return gml_pf_error_code(&c, e, access, &out) ? out : nil
    }

    @Test func errorCodesAsTheCPUPushesThem() {
        let user = Self.cpu(cpl: 3)
        let kernel = Self.cpu(cpl: 0)
        #expect(Self.code(user, GML_E_NOT_PRESENT, Acc.read) == Self.u)
        #expect(Self.code(user, GML_E_NOT_PRESENT, Acc.write) == Self.u | Self.w)
        #expect(Self.code(user, GML_E_READ_ONLY, Acc.write) == Self.u | Self.w | Self.p)
        #expect(Self.code(user, GML_E_USER_SUPERVISOR, Acc.read) == Self.u | Self.p)
        #expect(Self.code(user, GML_E_RESERVED_BIT, Acc.read) == Self.u | Self.p | Self.rsvd)
        #expect(Self.code(user, GML_E_PKEY, Acc.write) == Self.u | Self.w | Self.p | Self.pk)
        #expect(Self.code(user, GML_E_NX, Acc.exec) == Self.u | Self.p | Self.i)
        #expect(Self.code(kernel, GML_E_NOT_PRESENT, Acc.read) == 0)
        #expect(Self.code(kernel, GML_E_SMAP, Acc.write) == Self.w | Self.p)
        #expect(Self.code(kernel, GML_E_SMEP, Acc.exec) == Self.p | Self.i)
        var noNX = kernel
        noNX.efer &= ~CR.eferNXE
        #expect(Self.code(noNX, GML_E_NOT_PRESENT, Acc.exec) == 0, "no I bit without NXE or SMEP")
    }

    @Test func refusalsThatAreNoPageFault() {
        let user = Self.cpu(cpl: 3)
        for e in [
            GML_E_NONCANONICAL, GML_E_LEN_WRAP, GML_E_GPA_OUTSIDE_RAM, GML_E_GPA_MMIO, GML_E_GPA_HV_REGION,
            GML_E_PT_OUTSIDE_RAM, GML_E_PT_HV_REGION, GML_E_PT_CHANGED, GML_E_UNSUPPORTED_MODE,
            GML_E_INVALID_ARG, GML_OK,
        ] {
            #expect(Self.code(user, e, Acc.read) == nil, "\(e) must stay a typed error")
        }
    }

    @Test func onlyCPL3AndUserHalfAddresses() {
        var user = Self.cpu(cpl: 3)
        var kernel = Self.cpu(cpl: 0)
        var la57 = Self.cpu(cpl: 3, la57: true)
        #expect(gml_faultin_allowed(&user, 0x0000_7FFF_FFFF_F000))
        #expect(gml_faultin_allowed(&user, 0x1000))
        #expect(!gml_faultin_allowed(&user, 0xFFFF_8000_0000_0000), "kernel half")
        #expect(!gml_faultin_allowed(&user, 0x0000_8000_0000_0000), "non-canonical: #GP, not #PF")
        #expect(!gml_faultin_allowed(&kernel, 0x1000), "CPL0 callers never")
        #expect(gml_faultin_allowed(&la57, 0x0010_0000_0000_0000), "user half with 57 bits")
        #expect(!gml_faultin_allowed(&la57, 0xFF00_0000_0000_0000), "kernel half with 57 bits")
        var off = user
        off.cr0 &= ~CR.cr0PG
        #expect(!gml_faultin_allowed(&off, 0x1000), "paging off: nothing to fault in")
        var out: UInt32 = 0
        #expect(gml_faultin_decide(&user, 0x1000, GML_E_NOT_PRESENT, Acc.write, &out) && out == Self.u | Self.w)
        #expect(!gml_faultin_decide(&user, 0xFFFF_8000_0000_0000, GML_E_NOT_PRESENT, Acc.read, &out))
        #expect(!gml_faultin_decide(&user, 0x1000, GML_E_GPA_MMIO, Acc.read, &out))
    }
}
