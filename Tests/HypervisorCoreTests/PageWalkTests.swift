// Guest page walk: modes, page sizes, canonical addresses, CR3/PCID, reserved bits,
// not-present entries at every level, paging structures in forbidden places.
import HypervisorCore
import Testing

/// A linear address whose index at every level is distinct and non-zero, so a walk that used
/// the wrong index or level would read an empty entry.
func sampleGVA(levels: Int, size: PageSize, user: Bool = false) -> UInt64 {
    var gva: UInt64 = user ? 0 : (levels == 5 ? 0xFF00_0000_0000_0000 : 0xFFFF_8000_0000_0000)
    let idx: [UInt64] = [0, 0x011, 0x022, 0x033, 0x044, user ? 0x055 : 0x1AA]  // by level
    for level in 1...levels { gva |= idx[level] << (12 + 9 * UInt64(level - 1)) }
    if levels == 4 && !user { gva |= 0x1AA << 39 }  // keeps bit 47 set → canonical upper half
    gva &= ~(size.bytes - 1)
    return gva
}

@Suite struct PageWalkModeTests {
    @Test func pagingOffIsIdentityBelow4GiB() {
        let f = GuestFixture()
        f.cpu.cr0 = CR.cr0PE
        f.cpu.efer = 0
        f.cpu.cr4 = 0
        for gva: UInt64 in [0, 0x1234, 0xFFFF_FFFF] {
            let w = f.translate(gva, Acc.write)
            #expect(w.err == GML_OK)
            #expect(w.gpa == gva && w.page_size == 0x1000 && w.levels == 0)
        }
        #expect(f.translate(0x1_0000_0000).err == GML_E_NONCANONICAL)
    }

    @Test func legacyAndPAEPagingAreRefusedAsUnsupported() {
        let f = GuestFixture()
        f.cpu.efer = 0  // no long mode
        f.cpu.cr4 = 0  // legacy 32-bit
        #expect(f.translate(0x1000).err == GML_E_UNSUPPORTED_MODE)
        f.cpu.cr4 = CR.cr4PAE  // PAE
        #expect(f.translate(0x1000).err == GML_E_UNSUPPORTED_MODE)
        f.cpu.efer = CR.eferLME | CR.eferLMA  // long mode, fine
        f.map(0x1000, to: Layout.data)
        #expect(f.translate(0x1000).err == GML_OK)
    }

    @Test(arguments: [4, 5], PageSize.allCases)
    func translatesEveryPageSize(levels: Int, size: PageSize) throws {
        let f = GuestFixture(levels: levels)
        let frame: UInt64 = size == .g1 ? Layout.ram1G.lowerBound : (size == .m2 ? 0x0060_0000 : 0x0080_3000)
        for user in [false, true] {
            let gva = sampleGVA(levels: levels, size: size, user: user)
            f.map(gva, to: frame, size: size)
            for off: UInt64 in [0, 1, 0xFFF, 0x1000, size.bytes - 1] where off < size.bytes {
                let w = f.translate(gva + off)
                #expect(w.err == GML_OK, "\(hex(gva + off))")
                #expect(w.gpa == frame + off)
                #expect(w.page_size == size.bytes)
                #expect(Int(w.level) == size.leafLevel)
                #expect(Int(w.levels) == levels)
                #expect(w.entry_gpa == f.entryGPA(gva, level: size.leafLevel))
            }
        }
    }

    @Test func fiveLevelUsesBits48To56() {
        let f = GuestFixture(levels: 5)
        let a: UInt64 = 0x0001_0000_0000_0000  // differs from b only in PML5 index
        let b: UInt64 = 0x0002_0000_0000_0000
        f.map(a, to: 0x0080_1000)
        f.map(b, to: 0x0080_2000)
        #expect(f.translate(a).gpa == 0x0080_1000)
        #expect(f.translate(b).gpa == 0x0080_2000)
        #expect(f.translate(0x0003_0000_0000_0000).err == GML_E_NOT_PRESENT)
        #expect(f.translate(0x0003_0000_0000_0000).level == 5)
        let g = GuestFixture(levels: 4)  // the same address is not canonical with 4 levels
        #expect(g.translate(a).err == GML_E_NONCANONICAL)
    }

    @Test func canonicalChecks() {
        let f4 = GuestFixture(levels: 4)
        let f5 = GuestFixture(levels: 5)
        let cases4: [(UInt64, Bool)] = [
            (0, true), (0x0000_7FFF_FFFF_FFFF, true), (0x0000_8000_0000_0000, false),
            (0x7FFF_FFFF_FFFF_FFFF, false), (0xFFFF_7FFF_FFFF_FFFF, false),
            (0xFFFF_8000_0000_0000, true), (UInt64.max, true), (0x8000_0000_0000_0000, false),
        ]
        let cases5: [(UInt64, Bool)] = [
            (0x00FF_FFFF_FFFF_FFFF, true), (0x0100_0000_0000_0000, false),
            (0xFEFF_FFFF_FFFF_FFFF, false), (0xFF00_0000_0000_0000, true),
            (0x0000_8000_0000_0000, true), (0xFFFF_7FFF_FFFF_FFFF, true),
        ]
        for (f, cases) in [(f4, cases4), (f5, cases5)] {
            for (gva, ok) in cases {
                var cpu = f.cpu
                #expect(gml_is_canonical(&cpu, gva) == ok, "\(hex(gva)) levels \(f.levels)")
                let err = f.translate(gva).err
                // canonical but unmapped → not present; otherwise the canonical error
                #expect(err == (ok ? GML_E_NOT_PRESENT : GML_E_NONCANONICAL), "\(hex(gva))")
            }
        }
    }
}

@Suite struct CR3Tests {
    @Test(arguments: [false, true])
    func pcidAndFlagBitsInCR3AreNotAddress(pcide: Bool) {
        let f = GuestFixture()
        f.map(0x40_0000, to: 0x0080_5000)
        if pcide {
            f.cpu.cr4 |= CR.cr4PCIDE
            f.cpu.cr3 = f.root | 0xABC | (1 << 63)  // PCID 0xABC, no-flush hint
        } else {
            f.cpu.cr3 = f.root | PTE.pwt | (1 << 4)  // PWT, PCD
        }
        let w = f.translate(0x40_0123)
        #expect(w.err == GML_OK)
        #expect(w.gpa == 0x0080_5123)
    }

    @Test func cr3AddressAboveMaxPhyAddrIsReserved() {
        let f = GuestFixture(maxphyaddr: 40)
        f.map(0x40_0000, to: 0x0080_5000)
        f.cpu.cr3 = f.root | (1 << 40)
        let w = f.translate(0x40_0000)
        #expect(w.err == GML_E_RESERVED_BIT)
        #expect(w.level == 0)
        f.cpu.cr3 = f.root | (1 << 39)  // below MAXPHYADDR: a real (absent) address
        #expect(f.translate(0x40_0000).err == GML_E_PT_OUTSIDE_RAM)
    }

    @Test func invalidCPUStateIsRefused() {
        let f = GuestFixture()
        f.map(0x40_0000, to: 0x0080_5000)
        f.cpu.cpl = 4
        #expect(f.translate(0x40_0000).err == GML_E_INVALID_ARG)
        f.cpu.cpl = 0
        f.cpu.maxphyaddr = 20
        #expect(f.translate(0x40_0000).err == GML_E_INVALID_ARG)
        f.cpu.maxphyaddr = 0  // means 52
        #expect(f.translate(0x40_0000).err == GML_OK)
    }
}

@Suite struct NotPresentAndReservedTests {
    @Test(arguments: [4, 5])
    func notPresentAtEveryLevel(levels: Int) {
        for level in 1...levels {
            let f = GuestFixture(levels: levels)
            let gva = sampleGVA(levels: levels, size: .k4)
            f.map(gva, to: 0x0080_1000)
            let egpa = f.entryGPA(gva, level: level)
            f.w64(egpa, f.r64(egpa) & ~PTE.p)  // everything else kept
            let w = f.translate(gva)
            #expect(w.err == GML_E_NOT_PRESENT, "level \(level)")
            #expect(Int(w.level) == level)
            #expect(w.entry_gpa == egpa)
        }
    }

    /// Address bit 45 with MAXPHYADDR 40 is reserved in every entry at every level.
    @Test(arguments: [4, 5])
    func addressBitsAboveMaxPhyAddrAreReservedAtEveryLevel(levels: Int) {
        for level in 1...levels {
            let f = GuestFixture(levels: levels, maxphyaddr: 40)
            let gva = sampleGVA(levels: levels, size: .k4)
            f.map(gva, to: 0x0080_1000)
            f.modify(gva, level: level, set: 1 << 45)
            let w = f.translate(gva)
            #expect(w.err == GML_E_RESERVED_BIT, "level \(level)")
            #expect(Int(w.level) == level)
            // with MAXPHYADDR 52 the same bit is address: the walk goes elsewhere instead
            f.cpu.maxphyaddr = 52
            #expect(f.translate(gva).err != GML_E_RESERVED_BIT, "level \(level)")
        }
    }

    @Test(arguments: [4, 5])
    func psIsReservedInPML4AndPML5(levels: Int) {
        for level in 4...levels {
            let f = GuestFixture(levels: levels)
            let gva = sampleGVA(levels: levels, size: .k4)
            f.map(gva, to: 0x0080_1000)
            f.modify(gva, level: level, set: PTE.ps)
            let w = f.translate(gva)
            #expect(w.err == GML_E_RESERVED_BIT && Int(w.level) == level, "level \(level): \(w.err)")
        }
    }

    @Test func largePageReservedBits() {
        let f = GuestFixture()
        f.map(0x4000_0000, to: Layout.ram1G.lowerBound, size: .g1)
        f.map(0x20_0000, to: 0x0060_0000, size: .m2)
        f.map(0x1000, to: 0x0080_1000)
        for bit: UInt64 in [13, 20, 29] {
            f.modify(0x4000_0000, level: 3, set: 1 << bit)
            #expect(f.translate(0x4000_0000).err == GML_E_RESERVED_BIT, "1G bit \(bit)")
            f.modify(0x4000_0000, level: 3, clear: 1 << bit)
        }
        for bit: UInt64 in [13, 20] {
            f.modify(0x20_0000, level: 2, set: 1 << bit)
            #expect(f.translate(0x20_0000).err == GML_E_RESERVED_BIT, "2M bit \(bit)")
            f.modify(0x20_0000, level: 2, clear: 1 << bit)
        }
        // bit 12 is PAT in large leaves and bit 7 is PAT in a 4 KiB leaf: not reserved, not address
        f.modify(0x4000_0000, level: 3, set: 1 << 12)
        f.modify(0x20_0000, level: 2, set: 1 << 12)
        f.modify(0x1000, level: 1, set: PTE.ps)
        #expect(f.translate(0x4000_0000).gpa == Layout.ram1G.lowerBound)
        #expect(f.translate(0x20_0000).gpa == 0x0060_0000)
        #expect(f.translate(0x1000).gpa == 0x0080_1000)
        // a 1 GiB leaf whose frame is only 2 MiB-aligned has reserved bits set (29:13)
        f.modify(0x4000_0000, level: 3, set: 1 << 21)
        #expect(f.translate(0x4000_0000).err == GML_E_RESERVED_BIT)
    }

    @Test func xdIsReservedWithoutNXE() {
        let f = GuestFixture()
        f.map(0x1000, to: 0x0080_1000, leaf: PTE.all | PTE.xd)
        #expect(f.translate(0x1000).err == GML_OK)
        f.cpu.efer &= ~CR.eferNXE
        let w = f.translate(0x1000)
        #expect(w.err == GML_E_RESERVED_BIT && w.level == 1)
        f.modify(0x1000, level: 1, clear: PTE.xd)
        f.modify(0x1000, level: 3, set: PTE.xd)
        #expect(f.translate(0x1000).err == GML_E_RESERVED_BIT)
        #expect(f.translate(0x1000).level == 3)
    }

    @Test func ignoredBitsAreIgnored() {
        let f = GuestFixture()
        f.map(0x1000, to: 0x0080_1000)
        for level in 1...4 {
            f.modify(0x1000, level: level, set: (1 << 9) | (1 << 10) | (1 << 11) | (1 << 52) | (1 << 58))
        }
        let w = f.translate(0x1000)
        #expect(w.err == GML_OK && w.gpa == 0x0080_1000)
    }
}

@Suite struct PagingStructurePlacementTests {
    /// A paging-structure page at a forbidden GPA at each level gives the typed error for
    /// that level and never a crash or a read of that memory.
    @Test(arguments: [4, 5])
    func tableInHypervisorRegionOrOutsideRAM(levels: Int) {
        let places: [(UInt64, gml_err)] = [
            (Layout.hv.lowerBound, GML_E_PT_HV_REGION),
            (Layout.hv.upperBound - 0x1000, GML_E_PT_HV_REGION),
            (Layout.mmio.lowerBound, GML_E_PT_OUTSIDE_RAM),
            (Layout.unbacked, GML_E_PT_OUTSIDE_RAM),
            (Layout.rom.lowerBound, GML_E_PT_OUTSIDE_RAM),
            (0x000F_FFFF_F000, GML_E_PT_OUTSIDE_RAM),  // below MAXPHYADDR, far beyond RAM
        ]
        for (place, want) in places {
            // the table *below* `level` is moved: the entry at `level` points at `place`
            for level in 2...levels {
                let f = GuestFixture(levels: levels)
                let gva = sampleGVA(levels: levels, size: .k4)
                f.map(gva, to: 0x0080_1000)
                let e = f.entry(gva, level: level)
                f.setEntry(gva, level: level, (e & ~PTE.addr) | place)
                f.resetStats()
                let w = f.translate(gva)
                #expect(w.err == want, "table at \(hex(place)) under level \(level)")
                #expect(Int(w.level) == level - 1)
                #expect(f.stats().highest_gpa < Layout.mmio.lowerBound, "forbidden memory mapped")
            }
            // CR3 itself pointing there
            let f = GuestFixture(levels: levels)
            f.cpu.cr3 = place
            let w = f.translate(sampleGVA(levels: levels, size: .k4))
            #expect(w.err == want && Int(w.level) == levels, "CR3 at \(hex(place))")
        }
    }

    @Test func tableStraddlingNothingButLeafFrameAnywhereIsTheCopysBusiness() {
        // The walker translates to a frame in the hypervisor region without touching it; the
        // copy engine (tested elsewhere) refuses it. The translation itself succeeds.
        let f = GuestFixture()
        f.map(0x1000, to: Layout.hv.lowerBound)
        f.resetStats()
        let w = f.translate(0x1000)
        #expect(w.err == GML_OK && w.gpa == Layout.hv.lowerBound)
        #expect(f.stats().highest_gpa < Layout.hv.lowerBound)
    }
}
