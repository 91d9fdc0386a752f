// Access rights: R/W × U/S × CPL × CR0.WP, NX, SMEP, SMAP/AC, protection keys, and the level
// at which a right was removed.
import HypervisorCore
import Testing

@Suite struct PermissionTests {
    static let gva: UInt64 = 0x0000_0012_3456_7000

    /// The full matrix: R/W and U/S at an upper level (PDPT) and at the leaf, CPL 0/3,
    /// CR0.WP 0/1, read/write — 128 combinations against the architectural rules.
    @Test func readWriteUserSupervisorMatrix() {
        var checked = 0
        for bits in 0..<128 {
            let rwUp = bits & 1 != 0
            let rwLeaf = bits & 2 != 0
            let usUp = bits & 4 != 0
            let usLeaf = bits & 8 != 0
            let cpl3 = bits & 16 != 0
            let wp = bits & 32 != 0
            let write = bits & 64 != 0
            let f = GuestFixture()
            let upper = PTE.p | (rwUp ? PTE.rw : 0) | (usUp ? PTE.us : 0)
            f.map(
                Self.gva, to: 0x0080_1000, leaf: PTE.p | (rwLeaf ? PTE.rw : 0) | (usLeaf ? PTE.us : 0),
                upper: PTE.all)
            f.modify(Self.gva, level: 3, clear: PTE.all)
            f.modify(Self.gva, level: 3, set: upper)
            f.cpu.cpl = cpl3 ? 3 : 0
            f.cpu.cr0 = wp ? f.cpu.cr0 | CR.cr0WP : f.cpu.cr0 & ~CR.cr0WP

            var want = GML_OK
            var wantLevel = 1
            if cpl3 && !(usUp && usLeaf) {
                want = GML_E_USER_SUPERVISOR
                wantLevel = usUp ? 1 : 3
            } else if write && !(rwUp && rwLeaf) && (cpl3 || wp) {
                want = GML_E_READ_ONLY
                wantLevel = rwUp ? 1 : 3
            }
            let w = f.translate(Self.gva, write ? Acc.write : Acc.read)
            let label =
                "rwUp=\(rwUp) rwLeaf=\(rwLeaf) usUp=\(usUp) usLeaf=\(usLeaf) cpl3=\(cpl3) wp=\(wp) write=\(write)"
            #expect(w.err == want, "\(label)")
            #expect(Int(w.level) == wantLevel, "\(label)")
            if want == GML_OK { #expect(w.gpa == 0x0080_1000, "\(label)") }
            checked += 1
        }
        #expect(checked == 128)
    }

    @Test(arguments: [4, 5])
    func supervisorBitAtAnySingleLevelStopsCPL3(levels: Int) {
        for level in 1...levels {
            let f = GuestFixture(levels: levels)
            let gva = sampleGVA(levels: levels, size: .k4, user: true)
            f.map(gva, to: 0x0080_1000)
            f.modify(gva, level: level, clear: PTE.us)
            f.cpu.cpl = 3
            for acc in [Acc.read, Acc.write, Acc.exec] {
                let w = f.translate(gva, acc)
                #expect(w.err == GML_E_USER_SUPERVISOR && Int(w.level) == level, "level \(level)")
            }
            f.cpu.cpl = 0  // the kernel may
            #expect(f.translate(gva, Acc.write).err == GML_OK)
        }
    }

    @Test func noExecute() {
        let f = GuestFixture()
        f.map(Self.gva, to: 0x0080_1000, leaf: PTE.all | PTE.xd)
        for cpl: UInt8 in [0, 3] {
            f.cpu.cpl = cpl
            f.cpu.cr4 &= ~CR.cr4SMEP
            let w = f.translate(Self.gva, Acc.exec)
            #expect(w.err == GML_E_NX && w.level == 1)
            #expect(f.translate(Self.gva, Acc.read).err == GML_OK)
            #expect(f.translate(Self.gva, Acc.write).err == GML_OK)
        }
        f.modify(Self.gva, level: 1, clear: PTE.xd)
        f.modify(Self.gva, level: 4, set: PTE.xd)  // XD high up forbids the whole subtree
        #expect(f.translate(Self.gva, Acc.exec).err == GML_E_NX)
        #expect(f.translate(Self.gva, Acc.exec).level == 4)
        f.modify(Self.gva, level: 4, clear: PTE.xd)
        #expect(f.translate(Self.gva, Acc.exec).err == GML_OK)
    }

    @Test func smep() {
        let f = GuestFixture()
        f.map(Self.gva, to: 0x0080_1000)  // user page
        f.map(Self.gva + 0x1000, to: 0x0080_2000, leaf: PTE.p | PTE.rw)  // supervisor page
        f.cpu.cr4 |= CR.cr4SMEP
        #expect(f.translate(Self.gva, Acc.exec).err == GML_E_SMEP)
        #expect(f.translate(Self.gva, Acc.read).err == GML_OK)  // SMEP is execute only
        #expect(f.translate(Self.gva + 0x1000, Acc.exec).err == GML_OK)
        f.cpu.cpl = 3
        #expect(f.translate(Self.gva, Acc.exec).err == GML_OK)
        #expect(f.translate(Self.gva + 0x1000, Acc.exec).err == GML_E_USER_SUPERVISOR)
        f.cpu.cpl = 0
        f.cpu.cr4 &= ~CR.cr4SMEP
        #expect(f.translate(Self.gva, Acc.exec).err == GML_OK)
    }

    /// SMAP × RFLAGS.AC × CPL × page owner × access kind.
    @Test func smapMatrix() {
        for bits in 0..<48 {
            let smap = bits & 1 != 0
            let ac = bits & 2 != 0
            let cpl3 = bits & 4 != 0
            let userPage = bits & 8 != 0
            let access = [Acc.read, Acc.write, Acc.exec][bits >> 4]
            let f = GuestFixture()
            f.map(Self.gva, to: 0x0080_1000, leaf: PTE.p | PTE.rw | (userPage ? PTE.us : 0))
            if smap { f.cpu.cr4 |= CR.cr4SMAP }
            if ac { f.cpu.rflags |= CR.rflagsAC }
            f.cpu.cpl = cpl3 ? 3 : 0
            var want = GML_OK
            if cpl3 && !userPage {
                want = GML_E_USER_SUPERVISOR
            } else if !cpl3 && userPage && smap && !ac && access != Acc.exec {
                want = GML_E_SMAP
            }
            let w = f.translate(Self.gva, access)
            #expect(w.err == want, "smap=\(smap) ac=\(ac) cpl3=\(cpl3) user=\(userPage) acc=\(access)")
        }
    }

    @Test func protectionKeys() {
        let key: UInt64 = 5
        let f = GuestFixture()
        f.map(Self.gva, to: 0x0080_1000, leaf: PTE.all | (key << 59))
        f.map(Self.gva + 0x1000, to: 0x0080_2000, leaf: PTE.p | PTE.rw | (key << 59))  // supervisor
        f.cpu.pkru = 1 << (2 * 5)  // access-disable key 5
        #expect(f.translate(Self.gva).err == GML_OK, "PKE off: keys ignored")
        f.cpu.cr4 |= CR.cr4PKE
        for cpl: UInt8 in [0, 3] {
            f.cpu.cpl = cpl
            #expect(f.translate(Self.gva, Acc.read).err == GML_E_PKEY, "cpl \(cpl)")
            #expect(f.translate(Self.gva, Acc.write).err == GML_E_PKEY, "cpl \(cpl)")
            #expect(f.translate(Self.gva, Acc.exec).err == GML_OK, "keys do not govern fetches")
        }
        f.cpu.cpl = 0
        #expect(f.translate(Self.gva + 0x1000, Acc.read).err == GML_OK, "supervisor pages have no key")
        f.cpu.pkru = 2 << (2 * 5)  // write-disable key 5
        f.cpu.cpl = 3
        #expect(f.translate(Self.gva, Acc.read).err == GML_OK)
        #expect(f.translate(Self.gva, Acc.write).err == GML_E_PKEY)
        f.cpu.cpl = 0
        #expect(f.translate(Self.gva, Acc.write).err == GML_E_PKEY, "CPL0 with WP=1")
        f.cpu.cr0 &= ~CR.cr0WP
        #expect(f.translate(Self.gva, Acc.write).err == GML_OK, "CPL0 with WP=0")
        f.cpu.pkru = 3 << (2 * 4)  // another key's bits do not matter
        f.cpu.cr0 |= CR.cr0WP
        #expect(f.translate(Self.gva, Acc.write).err == GML_OK)
    }
}

@Suite struct AccessedDirtyTests {
    static let gva: UInt64 = 0x0000_0012_3456_7000

    /// Entries as built have A=0, D=0. Returns each level's entry.
    static func entries(_ f: GuestFixture, _ gva: UInt64, leaf: Int) -> [Int: UInt64] {
        var r: [Int: UInt64] = [:]
        for l in leaf...f.levels { r[l] = f.entry(gva, level: l) }
        return r
    }

    @Test(arguments: [4, 5], PageSize.allCases)
    func readSetsAEverywhereWriteSetsDOnLeafOnly(levels: Int, size: PageSize) {
        let f = GuestFixture(levels: levels)
        let gva = sampleGVA(levels: levels, size: size)
        let frame: UInt64 = size == .g1 ? Layout.ram1G.lowerBound : (size == .m2 ? 0x0060_0000 : 0x0080_1000)
        f.map(gva, to: frame, size: size)
        let leaf = size.leafLevel
        let before = Self.entries(f, gva, leaf: leaf)
        for (_, e) in before { #expect(e & (PTE.a | PTE.d) == 0) }

        #expect(f.translate(gva, Acc.read).err == GML_OK)
        for (l, e) in Self.entries(f, gva, leaf: leaf) {
            #expect(e == before[l]! | PTE.a, "read: level \(l)")
        }
        #expect(f.translate(gva + 8, Acc.write).err == GML_OK)
        for (l, e) in Self.entries(f, gva, leaf: leaf) {
            let want = before[l]! | PTE.a | (l == leaf ? PTE.d : 0)
            #expect(e == want, "write: level \(l)")
        }
    }

    @Test func writeFirstSetsAAndDTogether() {
        let f = GuestFixture()
        f.map(Self.gva, to: 0x0080_1000)
        let before = f.entry(Self.gva, level: 1)
        #expect(f.translate(Self.gva, Acc.write).err == GML_OK)
        #expect(f.entry(Self.gva, level: 1) == before | PTE.a | PTE.d)
        #expect(f.entry(Self.gva, level: 2) & PTE.d == 0)
    }

    @Test func faultingOrProbingWalkChangesNothing() {
        let f = GuestFixture()
        f.map(Self.gva, to: 0x0080_1000, leaf: PTE.p | PTE.us)  // read-only user page
        let before = Self.entries(f, Self.gva, leaf: 1)
        f.cpu.cpl = 3
        #expect(f.translate(Self.gva, Acc.write).err == GML_E_READ_ONLY)
        #expect(f.translate(Self.gva, Acc.exec | Acc.noAD).err == GML_OK)
        #expect(f.translate(Self.gva, Acc.read | Acc.noAD).err == GML_OK)
        #expect(Self.entries(f, Self.gva, leaf: 1) == before)
        f.modify(Self.gva, level: 1, clear: PTE.p)  // not present at the leaf: upper A stay clear
        let before2 = Self.entries(f, Self.gva, leaf: 1)
        #expect(f.translate(Self.gva, Acc.read).err == GML_E_NOT_PRESENT)
        #expect(Self.entries(f, Self.gva, leaf: 1) == before2)
        #expect(f.stats().write_maps == 0, "no compare-and-set attempted")
    }

    @Test func noCompareAndSetWhenBitsAlreadySet() {
        let f = GuestFixture()
        f.map(Self.gva, to: 0x0080_1000)
        #expect(f.translate(Self.gva, Acc.write).err == GML_OK)
        #expect(f.stats().write_maps == 4, "A on 4 levels, D with the leaf's A: one CAS per entry")
        f.resetStats()
        #expect(f.translate(Self.gva, Acc.write).err == GML_OK)
        #expect(f.translate(Self.gva, Acc.read).err == GML_OK)
        #expect(f.stats().write_maps == 0)
    }

    @Test func lostRaceRestartsTheWalk() {
        let f = GuestFixture()
        f.map(Self.gva, to: 0x0080_1000)
        let leafGPA = f.entryGPA(Self.gva, level: 1)
        let before = f.r64(leafGPA)
        gml_hmem_interfere(f.hmem, leafGPA, 1)
        let w = f.translate(Self.gva, Acc.write)
        #expect(w.err == GML_OK)
        #expect(w.restarts == 1)
        #expect(f.r64(leafGPA) == before ^ (1 << 9) | PTE.a | PTE.d, "the other vCPU's change kept")
    }

    @Test func endlessRaceGivesUpWithTypedError() {
        let f = GuestFixture()
        f.map(Self.gva, to: 0x0080_1000)
        gml_hmem_interfere(f.hmem, f.entryGPA(Self.gva, level: 2), 1000)
        let w = f.translate(Self.gva, Acc.read)
        #expect(w.err == GML_E_PT_CHANGED)
        #expect(w.restarts == UInt32(GML_WALK_MAX_RESTARTS))
        #expect(f.entry(Self.gva, level: 2) & PTE.a == 0)
    }
}
