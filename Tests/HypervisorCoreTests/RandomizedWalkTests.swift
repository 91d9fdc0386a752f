// The walker against a plain reference model written from the SDM rules, on random page
// tables and random CPU states. Fixed seed, printed, so a failure reproduces.
import HypervisorCore
import Testing

/// Reference translation: straight from the architectural description, no shared code.
struct ReferenceWalk {
    var err = GML_OK
    var level = 0
    var gpa: UInt64 = 0
    var pageSize: UInt64 = 0
    var updates: [(UInt64, UInt64)] = []  // (entry GPA, value after A/D)

    init(_ f: GuestFixture, _ cpu: gml_cpu_state, _ gva: UInt64, _ access: UInt32) {
        let levels = cpu.cr4 & CR.cr4LA57 != 0 ? 5 : 4
        let vbits = levels == 5 ? 57 : 48
        let shift = UInt64(64 - vbits)
        guard Int64(bitPattern: gva << shift) >> shift == Int64(bitPattern: gva) else {
            err = GML_E_NONCANONICAL
            return
        }
        let m = cpu.maxphyaddr == 0 ? 52 : Int(cpu.maxphyaddr)
        let addrMask = ((UInt64(1) << UInt64(m)) - 1) & ~UInt64(0xFFF)
        let rsvdAddr: UInt64 = m == 52 ? 0 : ((UInt64(1) << 52) - 1) & ~((UInt64(1) << UInt64(m)) - 1)
        let nxe = cpu.efer & CR.eferNXE != 0
        if cpu.cr3 & rsvdAddr != 0 {
            err = GML_E_RESERVED_BIT
            return
        }
        var table = cpu.cr3 & addrMask
        var path: [(level: Int, gpa: UInt64, e: UInt64)] = []
        for lvl in stride(from: levels, through: 1, by: -1) {
            let egpa = table + ((gva >> UInt64(12 + 9 * (lvl - 1))) & 511) * 8
            level = lvl
            if Layout.hv.contains(egpa) {
                err = GML_E_PT_HV_REGION
                return
            }
            let ram = [Layout.ramLow, Layout.ramHigh, Layout.ram1G].contains { $0.contains(egpa) }
            if !ram {
                err = GML_E_PT_OUTSIDE_RAM
                return
            }
            let e = f.r64(egpa)
            if e & PTE.p == 0 {
                err = GML_E_NOT_PRESENT
                return
            }
            let ps = e & PTE.ps != 0
            var bad = e & rsvdAddr != 0 || (!nxe && e & PTE.xd != 0)
            if lvl >= 4 && ps { bad = true }
            if lvl == 3 && ps && (e >> 13) & 0x1FFFF != 0 { bad = true }
            if lvl == 2 && ps && (e >> 13) & 0xFF != 0 { bad = true }
            if bad {
                err = GML_E_RESERVED_BIT
                return
            }
            path.append((lvl, egpa, e))
            if lvl == 1 || ps {
                pageSize = UInt64(1) << UInt64(12 + 9 * (lvl - 1))
                gpa = (e & addrMask & ~(pageSize - 1)) | (gva & (pageSize - 1))
                break
            }
            table = e & addrMask
        }
        guard let leaf = path.last else { preconditionFailure("a walk that ended OK has a path") }
        let write = access & Acc.write != 0
        let exec = access & Acc.exec != 0
        let user = cpu.cpl == 3
        let firstNoUS = path.first { $0.e & PTE.us == 0 }
        let firstNoRW = path.first { $0.e & PTE.rw == 0 }
        let firstXD = nxe ? path.first { $0.e & PTE.xd != 0 } : nil
        let userPage = firstNoUS == nil
        let wp = cpu.cr0 & CR.cr0WP != 0
        func fail(_ e: gml_err, _ l: Int) {
            err = e
            level = l
            gpa = 0
            pageSize = 0
        }
        if user, let noUS = firstNoUS {
            fail(GML_E_USER_SUPERVISOR, noUS.level)
            return
        }
        if write, let r = firstNoRW, user || wp {
            fail(GML_E_READ_ONLY, r.level)
            return
        }
        if exec {
            if let x = firstXD {
                fail(GML_E_NX, x.level)
                return
            }
            if !user && userPage && cpu.cr4 & CR.cr4SMEP != 0 {
                fail(GML_E_SMEP, leaf.level)
                return
            }
        } else {
            if !user && userPage && cpu.cr4 & CR.cr4SMAP != 0 && cpu.rflags & CR.rflagsAC == 0 {
                fail(GML_E_SMAP, leaf.level)
                return
            }
            if cpu.cr4 & CR.cr4PKE != 0 && userPage {
                let key = (leaf.e >> 59) & 15
                let ad = (cpu.pkru >> UInt32(2 * key)) & 1 != 0
                let wd = (cpu.pkru >> UInt32(2 * key + 1)) & 1 != 0
                if ad || (write && wd && (user || wp)) {
                    fail(GML_E_PKEY, leaf.level)
                    return
                }
            }
        }
        level = leaf.level
        if access & Acc.noAD == 0 {
            for p in path {
                updates.append((p.gpa, p.e | PTE.a | (p.level == leaf.level && write ? PTE.d : 0)))
            }
        }
    }
}

@Suite struct RandomizedWalkTests {
    static let seed: UInt64 = 0x9E3779B97F4A7C15

    @Test func walkerMatchesReferenceModel() {
        print("randomized walk seed \(hex(Self.seed))")
        var rng = SplitMix(seed: Self.seed)
        var outcomes: [String: Int] = [:]
        for round in 0..<1500 {
            let levels = rng.bool() ? 5 : 4
            let f = GuestFixture(levels: levels, maxphyaddr: [36, 40, 46, 52][Int(rng.next() % 4)])
            var gvas: [UInt64] = []
            var damage: [(gva: UInt64, level: Int, leaf: Int, kind: UInt64, r: UInt64)] = []
            for _ in 0..<6 {
                let size = PageSize.allCases[Int(rng.next() % 3)]
                let vbits: UInt64 = levels == 5 ? 57 : 48
                var gva = rng.next() & ((1 << vbits) - 1) & ~(size.bytes - 1)
                if gva >> (vbits - 1) != 0 { gva |= ~((1 << vbits) - 1) }  // sign-extend
                let frame: UInt64
                switch size {
                case .k4: frame = Layout.data + (rng.next() % 0x400) * 0x1000
                case .m2: frame = [0x0040_0000, 0x0060_0000, 0x0200_0000][Int(rng.next() % 3)]
                case .g1: frame = Layout.ram1G.lowerBound
                }
                func flags() -> UInt64 {
                    var v = PTE.p
                    if rng.next() % 8 == 0 { v = 0 }  // not present
                    if rng.next() % 4 != 0 { v |= PTE.rw }
                    if rng.next() % 3 != 0 { v |= PTE.us }
                    if rng.next() % 6 == 0 { v |= PTE.xd }
                    if rng.bool() { v |= PTE.a }
                    if rng.next() % 3 == 0 { v |= PTE.d }
                    return v
                }
                f.map(gva, to: frame, size: size, leaf: flags() | ((rng.next() % 16) << 59), upper: flags() | PTE.p)
                // occasionally (applied after all mappings): reserved bit, cleared P, PS where
                // it is reserved, or a paging structure moved to a forbidden place
                let lvl = size.leafLevel + Int(rng.next() % UInt64(levels - size.leafLevel + 1))
                damage.append((gva, lvl, size.leafLevel, rng.next() % 12, rng.next()))
                gvas.append(gva | (rng.next() & (size.bytes - 1)))
            }
            for d in damage {
                guard let egpa = f.walkableEntryGPA(d.gva, level: d.level) else { continue }
                let e = f.r64(egpa)
                switch d.kind {
                case 0: f.w64(egpa, e | 1 << (36 + d.r % 16))
                case 1: f.w64(egpa, e & ~PTE.p)
                case 2 where d.level > d.leaf:
                    let place = [Layout.hv.lowerBound, Layout.mmio.lowerBound, Layout.unbacked][Int(d.r % 3)]
                    f.w64(egpa, (e & ~PTE.addr) | place)
                case 3: f.w64(egpa, e | PTE.ps)
                default: break
                }
            }
            for _ in 0..<12 {
                var cpu = f.cpu
                cpu.cpl = rng.bool() ? 3 : 0
                if rng.bool() { cpu.cr0 &= ~CR.cr0WP }
                if rng.bool() { cpu.cr4 |= CR.cr4SMAP }
                if rng.bool() { cpu.cr4 |= CR.cr4SMEP }
                if rng.next() % 3 == 0 {
                    cpu.cr4 |= CR.cr4PKE
                    cpu.pkru = UInt32(truncatingIfNeeded: rng.next())
                }
                if rng.bool() { cpu.rflags |= CR.rflagsAC }
                if rng.next() % 5 == 0 { cpu.efer &= ~CR.eferNXE }
                if rng.next() % 4 == 0 {
                    cpu.cr4 |= CR.cr4PCIDE
                    cpu.cr3 |= rng.next() & 0xFFF
                }
                let gva = rng.next() % 5 == 0 ? rng.next() : gvas[Int(rng.next() % UInt64(gvas.count))]
                var access = [Acc.read, Acc.write, Acc.exec][Int(rng.next() % 3)]
                if rng.next() % 6 == 0 { access |= Acc.noAD }

                let ref = ReferenceWalk(f, cpu, gva, access)
                f.cpu = cpu
                let got = f.translate(gva, access)
                let label = "round \(round) gva \(hex(gva)) access \(access) cpl \(cpu.cpl) levels \(levels)"
                #expect(got.err == ref.err, "\(label)")
                #expect(Int(got.level) == ref.level, "\(label)")
                #expect(got.gpa == ref.gpa && got.page_size == ref.pageSize, "\(label)")
                for (egpa, v) in ref.updates {
                    #expect(f.r64(egpa) == v, "\(label): entry at \(hex(egpa))")
                }
                outcomes[got.err.description, default: 0] += 1
                if got.err != ref.err { return }  // one detailed failure is enough
            }
        }
        print("randomized walk outcomes: \(outcomes.sorted { $0.key < $1.key })")
        // the generator must actually reach the interesting cases
        for e in [
            GML_OK, GML_E_NOT_PRESENT, GML_E_RESERVED_BIT, GML_E_USER_SUPERVISOR, GML_E_READ_ONLY,
            GML_E_SMAP, GML_E_NX, GML_E_PKEY, GML_E_NONCANONICAL, GML_E_PT_HV_REGION, GML_E_PT_OUTSIDE_RAM,
        ] {
            #expect(outcomes[e.description, default: 0] > 0, "never produced \(e)")
        }
    }

    /// A self-referencing PML4 entry (recursive mapping): the same entry is used at two levels;
    /// the A-bit compare-and-set of the second use sees the first's update and restarts once.
    @Test func recursiveMappingSettlesAfterOneRestart() {
        let f = GuestFixture()
        f.map(0x1000, to: 0x0080_1000)
        f.w64(f.root + 511 * 8, f.root | PTE.p | PTE.rw)  // PML4[511] → PML4
        // indices 511, 511, 0, 0: PML4[511] used at levels 4 and 3, then PML4[0] as a PD
        // entry, then PDPT[0] as a PT entry → the PD page of the 0x1000 mapping
        let gva: UInt64 = 0xFFFF_FFFF_C000_0000
        let w = f.translate(gva, Acc.read)
        #expect(w.err == GML_OK)
        #expect(w.restarts == 1)
        #expect(w.gpa == f.entryGPA(0x1000, level: 2) & PTE.addr)
        #expect(f.r64(f.root + 511 * 8) & PTE.a != 0)
    }
}
