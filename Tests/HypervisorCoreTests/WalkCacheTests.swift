// The paging-structure cache of the linear copies (gml_walk_cache, issue 14): the cached walk
// against gml_translate, and the cached copy against the uncached one (a full walk per page), on
// identical twin guests with random page tables, CPU states and access patterns — results, A/D
// side effects, lost races, faults mid-copy, large pages, level-boundary crossings — then
// directed cases with exact entry-read counts, and the measurement of the saving.
import Foundation
import HypervisorCore
import Testing

private let canary: UInt8 = 0xC5

extension GuestFixture {
    func copyFromUncached(_ gva: UInt64, into buf: inout [UInt8], len: UInt64? = nil) -> gml_copy_status {
        var w = walker()
        var st = gml_copy_status()
        let n = len ?? UInt64(buf.count)
        _ = buf.withUnsafeMutableBytes {
            gml_copy_from_guest_linear_uncached(&w, phys, $0.baseAddress, gva, n, &st)
        }
        return st
    }

    func copyToUncached(_ gva: UInt64, from buf: [UInt8], len: UInt64? = nil) -> gml_copy_status {
        var w = walker()
        var st = gml_copy_status()
        let n = len ?? UInt64(buf.count)
        _ = buf.withUnsafeBytes { gml_copy_to_guest_linear_uncached(&w, phys, gva, $0.baseAddress, n, &st) }
        return st
    }

    func translateCached(_ cache: inout gml_walk_cache, _ gva: UInt64, _ access: UInt32 = Acc.read) -> gml_walk {
        var w = walker()
        var out = gml_walk()
        let r = gml_translate_cached(&w, &cache, gva, access, &out)
        precondition(r == out.err)
        return out
    }

    /// Paging-entry reads of a copy: map_gpa calls minus the data pieces and compare-and-sets.
    func entryReads(dataPieces: UInt64, cas: UInt64 = 0) -> UInt64 { stats().maps - dataPieces - cas }
}

func sameWalk(_ a: gml_walk, _ b: gml_walk) -> Bool {
    a.err == b.err && a.level == b.level && a.levels == b.levels && a.restarts == b.restarts && a.gpa == b.gpa
        && a.page_size == b.page_size && a.entry == b.entry && a.entry_gpa == b.entry_gpa
}

func describe(_ w: gml_walk) -> String {
    "\(w.err) level \(w.level) restarts \(w.restarts) gpa \(hex(w.gpa)) size \(hex(w.page_size)) "
        + "entry \(hex(w.entry)) at \(hex(w.entry_gpa))"
}

func describe(_ s: gml_copy_status) -> String {
    "\(s.err) level \(s.level) done \(hex(s.done)) at \(hex(s.fault_addr)) gpa \(hex(s.fault_gpa))"
}

func sameStatus(_ a: gml_copy_status, _ b: gml_copy_status) -> Bool {
    a.err == b.err && a.level == b.level && a.done == b.done && a.fault_addr == b.fault_addr
        && a.fault_gpa == b.fault_gpa
}

/// First GPA where the two guests' memories differ (nil when equal); `written`: only pages
/// handed out for writing since the last stats reset.
func difference(_ a: GuestFixture, _ b: GuestFixture, written: Bool = false) -> UInt64? {
    var at: UInt64 = 0
    let differs = written ? gml_hmem_written_differs(a.hmem, b.hmem, &at) : gml_hmem_differs(a.hmem, b.hmem, &at)
    return differs ? at : nil
}

/// A random guest for the cache: regions of mapped pages around boundaries of every level
/// (two page tables, two PDs, two PDPTs, two PML4s), 4 KiB pages with some 2 MiB / 1 GiB ones,
/// random rights, keys and A/D bits at every level, some damage. Deterministic in the
/// generator, so building it twice from the same generator state gives identical twins.
struct CacheScenario {
    var regions: [(start: UInt64, len: UInt64)] = []
    var entryGPAs: [UInt64] = []  // every paging entry on the regions' paths
    var boundaries: [Int: Int] = [:]  // regions per boundary level
    static let forbiddenFrames = [Layout.hv.lowerBound, Layout.mmio.lowerBound, Layout.unbacked, Layout.rom.lowerBound]

    /// `forCopies`: no damage that would map data onto the page tables (a copy writing its own
    /// tables is outside the cache's contract, as for the CPU's paging-structure caches).
    init(_ f: GuestFixture, _ rng: inout SplitMix, forCopies: Bool) {
        let levels = f.levels
        let vbits: UInt64 = levels == 5 ? 57 : 48
        let low = (UInt64(1) << vbits) - 1
        func canonical(_ v: UInt64) -> Bool {
            let top = v >> (vbits - 1)
            return top == 0 || top == ~UInt64(0) >> (vbits - 1)
        }
        func sext(_ v: UInt64) -> UInt64 { v & (1 << (vbits - 1)) != 0 ? v | ~low : v & low }
        var usedSlots = Set<UInt64>()  // gva >> 39: regions never share a PDPT
        var pathEntries = Set<UInt64>()
        var upperEntries: [(gpa: UInt64, level: Int)] = []
        for _ in 0..<(2 + Int(rng.next() % 3)) {
            let bl = 2 + Int(rng.next() % UInt64(levels - 1))  // boundary between two level-(bl-1) tables
            let align = UInt64(1) << UInt64(12 + 9 * (bl - 1))
            // sometimes the end of the lower half: the pages after it are not canonical
            let boundary =
                bl == levels && rng.next() % 4 == 0 ? 1 << (vbits - 1) : sext(rng.next() & low & ~(align - 1))
            let before = 1 + rng.next() % 12
            let after = 1 + rng.next() % 12
            let start = boundary &- before * 0x1000
            let len = (before + after) * 0x1000
            let slots = Set(stride(from: 0, to: len, by: 0x1000).map { (start &+ $0) >> 39 })
            if !slots.isDisjoint(with: usedSlots) { continue }
            usedSlots.formUnion(slots)
            regions.append((start, len))
            boundaries[bl, default: 0] += 1
            var off: UInt64 = 0
            while off < len {
                let gva = start &+ off
                guard canonical(gva) else {
                    off += 0x1000
                    continue
                }
                var size = PageSize.k4
                if gva % PageSize.g1.bytes == 0 && rng.next() % 5 == 0 {
                    size = .g1
                } else if gva % PageSize.m2.bytes == 0 && rng.next() % 3 == 0 {
                    size = .m2
                }
                let frame: UInt64
                switch size {
                case .k4:
                    if rng.next() % 16 == 0 {
                        frame = Self.forbiddenFrames[Int(rng.next() % 4)]
                    } else {
                        frame = Layout.data + (rng.next() % 0x800) * 0x1000
                    }
                case .m2:
                    frame = [0x0080_0000, 0x00A0_0000, 0x00C0_0000, 0x00E0_0000, 0x0200_0000][Int(rng.next() % 5)]
                case .g1: frame = Layout.ram1G.lowerBound
                }
                var leaf: UInt64 = rng.next() % 12 == 0 ? 0 : PTE.p
                if rng.next() % 5 != 0 { leaf |= PTE.rw }
                if rng.next() % 4 != 0 { leaf |= PTE.us }
                if rng.next() % 8 == 0 { leaf |= PTE.xd }
                if rng.bool() { leaf |= PTE.a }
                if rng.next() % 3 == 0 { leaf |= PTE.d }
                if rng.next() % 24 == 0 { leaf |= 1 << (36 + rng.next() % 16) }  // reserved or far away
                leaf |= (rng.next() % 16) << 59
                f.map(gva, to: frame, size: size, leaf: leaf)
                for lvl in size.leafLevel...levels {
                    guard let g = f.walkableEntryGPA(gva, level: lvl), pathEntries.insert(g).inserted else { continue }
                    entryGPAs.append(g)
                    if lvl > size.leafLevel { upperEntries.append((g, lvl)) }
                }
                off += min(size.bytes, len - off)
            }
        }
        // Rights, keys (ignored above the leaf), A/D and damage on the upper levels.
        for (g, lvl) in upperEntries {
            var e = f.r64(g)
            if rng.bool() { e |= PTE.a }
            if rng.next() % 5 == 0 { e |= PTE.d }
            if rng.next() % 10 == 0 { e &= ~PTE.rw }
            if rng.next() % 10 == 0 { e &= ~PTE.us }
            if rng.next() % 12 == 0 { e |= PTE.xd }
            if rng.next() % 4 == 0 { e |= (rng.next() % 16) << 59 }
            switch rng.next() % 40 {
            case 0: e &= ~PTE.p
            case 1: e |= 1 << (36 + rng.next() % 16)
            case 2 where lvl >= 4: e |= PTE.ps
            case 3 where !forCopies: e |= PTE.ps
            case 4:
                let place = [Layout.hv.lowerBound, Layout.mmio.lowerBound, Layout.unbacked][Int(rng.next() % 3)]
                e = (e & ~PTE.addr) | place
            default: break
            }
            f.w64(g, e)
        }
    }

    /// Random CPU state on top of the fixture's (rights-related bits, PCID, sometimes NXE or
    /// MAXPHYADDR, which change the cache's key).
    static func cpu(_ base: gml_cpu_state, _ rng: inout SplitMix) -> gml_cpu_state {
        var cpu = base
        cpu.cpl = rng.bool() ? 3 : 0
        if rng.next() % 3 == 0 { cpu.cr0 &= ~CR.cr0WP }
        if rng.bool() { cpu.cr4 |= CR.cr4SMAP }
        if rng.bool() { cpu.cr4 |= CR.cr4SMEP }
        if rng.next() % 3 == 0 {
            cpu.cr4 |= CR.cr4PKE
            cpu.pkru = UInt32(truncatingIfNeeded: rng.next()) & (rng.bool() ? 0x5555_5555 : 0xFFFF_FFFF)
        }
        if rng.bool() { cpu.rflags |= CR.rflagsAC }
        if rng.next() % 12 == 0 { cpu.efer &= ~CR.eferNXE }
        if rng.next() % 3 == 0 {
            cpu.cr4 |= CR.cr4PCIDE
            cpu.cr3 |= rng.next() & 0xFFF
        }
        if rng.next() % 4 == 0 { cpu.cr3 |= 1 << 63 }  // no-flush hint: ignored
        if rng.next() % 12 == 0 { cpu.maxphyaddr = [36, 40, 46, 52][Int(rng.next() % 4)] }
        return cpu
    }

    /// Twin guests built from one generator state (identical: checked with the rest of the
    /// memory at the end of each round).
    static func twins(_ rng: inout SplitMix, forCopies: Bool) -> (GuestFixture, GuestFixture, CacheScenario) {
        let levels = rng.bool() ? 5 : 4
        let m: UInt8 = [36, 40, 46, 52][Int(rng.next() % 4)]
        let a = GuestFixture(levels: levels, maxphyaddr: m)
        let b = GuestFixture(levels: levels, maxphyaddr: m)
        var rb = rng
        let s = CacheScenario(a, &rng, forCopies: forCopies)
        _ = CacheScenario(b, &rb, forCopies: forCopies)
        return (a, b, s)
    }
}

@Suite struct WalkCacheRandomizedTests {
    static let seed: UInt64 = 0xC0FF_EE15_5EED_0014

    /// gml_translate_cached with one cache over a run of translations (mostly walking forward
    /// page by page through the regions, as a copy does, with jumps, random rights and access
    /// kinds, and simulated lost races) against gml_translate on the twin: every field of every
    /// walk, the number of compare-and-sets, and the memory both wrote.
    @Test func cachedWalkMatchesFullWalk() {
        print("walk-cache seed \(hex(Self.seed))")
        var rng = SplitMix(seed: Self.seed)
        var outcomes: [String: Int] = [:]
        var reused: UInt64 = 0
        var reads: UInt64 = 0
        var restarts = 0
        var boundaries: [Int: Int] = [:]
        for round in 0..<250 {
            let (a, b, s) = CacheScenario.twins(&rng, forCopies: false)
            guard !s.regions.isEmpty else { continue }
            boundaries.merge(s.boundaries, uniquingKeysWith: +)
            if rng.next() % 3 == 0 {
                let g = s.entryGPAs[Int(rng.next() % UInt64(s.entryGPAs.count))]
                let times = UInt32([1, 2, 3, 9][Int(rng.next() % 4)])
                gml_hmem_interfere(a.hmem, g, times)
                gml_hmem_interfere(b.hmem, g, times)
            }
            var cache = gml_walk_cache()
            gml_walk_cache_init(&cache)
            var region = s.regions[0]
            var gva = region.start
            let base = a.cpu
            a.resetStats()
            b.resetStats()
            for step in 0..<48 {
                switch rng.next() % 20 {
                case 0..<12: gva = gva &+ 0x1000  // the next page, as a copy
                case 12..<14: gva = (gva & ~0xFFF) | (rng.next() & 0xFFF)  // same page
                case 14..<18:
                    region = s.regions[Int(rng.next() % UInt64(s.regions.count))]
                    gva = region.start &+ (rng.next() % region.len)
                case 18: gva = gva &- 0x1000
                default: gva = rng.next()
                }
                let cpu = CacheScenario.cpu(base, &rng)
                a.cpu = cpu
                b.cpu = cpu
                var access = [Acc.read, Acc.write, Acc.exec][Int(rng.next() % 3)]
                if rng.next() % 8 == 0 { access |= Acc.noAD }
                let full = a.translate(gva, access)
                let cached = b.translateCached(&cache, gva, access)
                let label = "round \(round) step \(step) gva \(hex(gva)) access \(access) cpl \(cpu.cpl)"
                #expect(sameWalk(full, cached), "\(label):\n full   \(describe(full))\n cached \(describe(cached))")
                #expect(a.stats().write_maps == b.stats().write_maps, "\(label): compare-and-sets differ")
                if let at = difference(a, b, written: true) {
                    Issue.record("\(label): memory differs at \(hex(at))")
                    return
                }
                if !sameWalk(full, cached) { return }  // one detailed failure is enough
                outcomes[full.err.description, default: 0] += 1
                restarts += Int(full.restarts)
                a.resetStats()
                b.resetStats()
            }
            reused += cache.reused
            reads += cache.reads
            #expect(difference(a, b) == nil, "round \(round): memory differs")
        }
        print("walk-cache walks: \(outcomes.sorted { $0.key < $1.key }), restarts \(restarts)")
        print("walk-cache entries: \(reads) read, \(reused) from the cache; boundaries by level \(boundaries)")
        #expect(reused * 4 > reads, "the cache was hardly used")
        #expect(restarts > 0, "no lost race simulated")
        for l in 2...5 { #expect(boundaries[l, default: 0] > 0, "no region crossing a level-\(l) boundary") }
        for e in [
            GML_OK, GML_E_NOT_PRESENT, GML_E_RESERVED_BIT, GML_E_USER_SUPERVISOR, GML_E_READ_ONLY, GML_E_SMAP,
            GML_E_SMEP, GML_E_NX, GML_E_PKEY, GML_E_NONCANONICAL, GML_E_PT_HV_REGION, GML_E_PT_OUTSIDE_RAM,
            GML_E_PT_CHANGED,
        ] {
            #expect(outcomes[e.description, default: 0] > 0, "never produced \(e)")
        }
    }

    /// The copies themselves: random reads and writes over the regions (start anywhere, lengths
    /// up to past the region's end) with random CPU states, the cached copy on one twin and the
    /// uncached one on the other: the same status (error, level, bytes done, fault address and
    /// GPA), the same bytes in the buffer, the same compare-and-sets, the same guest memory —
    /// and never more paging-entry reads.
    @Test func cachedCopyMatchesUncachedCopy() {
        print("copy-cache seed \(hex(Self.seed ^ 1))")
        var rng = SplitMix(seed: Self.seed ^ 1)
        var outcomes: [String: Int] = [:]
        var pagesDone = 0
        var mapsCached: UInt64 = 0
        var mapsUncached: UInt64 = 0
        var restarts = 0
        for round in 0..<200 {
            let (a, b, s) = CacheScenario.twins(&rng, forCopies: true)
            guard !s.regions.isEmpty else { continue }
            if rng.next() % 3 == 0 {
                let g = s.entryGPAs[Int(rng.next() % UInt64(s.entryGPAs.count))]
                let times = UInt32([1, 2, 9][Int(rng.next() % 3)])
                gml_hmem_interfere(a.hmem, g, times)
                gml_hmem_interfere(b.hmem, g, times)
                restarts += 1
            }
            let base = a.cpu
            a.resetStats()
            b.resetStats()
            for step in 0..<12 {
                let region = s.regions[Int(rng.next() % UInt64(s.regions.count))]
                let start = region.start &+ (rng.next() % region.len) &- (rng.next() % 4 == 0 ? 0x1000 : 0)
                var len = 1 + rng.next() % (region.len + 0x2000)
                if len > ~start { len = ~start + 1 }  // stay below 2^64 (wrapping is tested elsewhere)
                let cpu = CacheScenario.cpu(base, &rng)
                a.cpu = cpu
                b.cpu = cpu
                let write = rng.bool()
                let label = "round \(round) step \(step) \(write ? "write" : "read") \(hex(start)) +\(hex(len))"
                let sa: gml_copy_status
                let sb: gml_copy_status
                if write {
                    let data = pattern(Int(len), seed: UInt8(truncatingIfNeeded: step))
                    sa = a.copyToUncached(start, from: data)
                    sb = b.copyTo(start, from: data)
                } else {
                    var ba = [UInt8](repeating: canary, count: Int(len) + 8)
                    var bb = ba
                    sa = a.copyFromUncached(start, into: &ba, len: len)
                    sb = b.copyFrom(start, into: &bb, len: len)
                    #expect(ba == bb, "\(label): buffers differ")
                }
                #expect(sameStatus(sa, sb), "\(label):\n uncached \(describe(sa))\n cached   \(describe(sb))")
                #expect(a.stats().write_maps == b.stats().write_maps, "\(label): writes differ")
                #expect(b.stats().maps <= a.stats().maps, "\(label): the cached copy mapped more")
                if let at = difference(a, b, written: true) {
                    Issue.record("\(label): memory differs at \(hex(at))")
                    return
                }
                if !sameStatus(sa, sb) { return }
                outcomes[sa.err.description, default: 0] += 1
                pagesDone += Int(sa.done / 0x1000)
                mapsUncached += a.stats().maps
                mapsCached += b.stats().maps
                a.resetStats()
                b.resetStats()
            }
            #expect(difference(a, b) == nil, "round \(round): memory differs")
        }
        print("copy-cache copies: \(outcomes.sorted { $0.key < $1.key }), ~\(pagesDone) pages moved")
        print("copy-cache map_gpa calls: uncached \(mapsUncached), cached \(mapsCached)")
        #expect(mapsCached < mapsUncached)
        #expect(restarts > 0)
        for e in [
            GML_OK, GML_E_NOT_PRESENT, GML_E_RESERVED_BIT, GML_E_USER_SUPERVISOR, GML_E_READ_ONLY, GML_E_SMAP,
            GML_E_PKEY, GML_E_NONCANONICAL, GML_E_PT_HV_REGION, GML_E_PT_OUTSIDE_RAM, GML_E_GPA_HV_REGION,
            GML_E_GPA_OUTSIDE_RAM, GML_E_GPA_READ_ONLY, GML_E_GPA_MMIO,
        ] {
            #expect(outcomes[e.description, default: 0] > 0, "never produced \(e)")
        }
    }
}

/// Twin guests with the same mappings: `f` for the cached copy, `g` for the uncached one.
private func twins(levels: Int = 4, _ build: (GuestFixture) -> Void) -> (GuestFixture, GuestFixture) {
    let f = GuestFixture(levels: levels)
    let g = GuestFixture(levels: levels)
    build(f)
    build(g)
    return (f, g)
}

@Suite struct WalkCacheCopyTests {
    /// 16 pages in one page table: the first page walks all levels, the other 15 read only
    /// their PTE; the A/D compare-and-sets are those of 16 full walks.
    @Test(arguments: [4, 5])
    func consecutivePagesReadOnlyTheirPTE(levels: Int) {
        let gva = sampleGVA(levels: levels, size: .m2)
        let (f, g) = twins(levels: levels) { fx in
            for i in 0..<UInt64(16) { fx.map(gva + i * 0x1000, to: Layout.data + (i * 5 % 16) * 0x1000) }
        }
        let n = UInt64(levels)
        let data = pattern(0x10000, seed: 4)
        #expect(f.copyTo(gva, from: data).err == GML_OK)
        #expect(g.copyToUncached(gva, from: data).err == GML_OK)
        #expect(difference(f, g) == nil)
        // A on every upper entry once and A+D on every leaf: levels + 15 compare-and-sets
        #expect(f.stats().write_maps == n + 15 + 16 && g.stats().write_maps == n + 15 + 16)
        #expect(f.entryReads(dataPieces: 16, cas: n + 15) == n + 15)
        #expect(g.entryReads(dataPieces: 16, cas: n + 15) == 16 * n)
        for i in 0..<UInt64(16) {
            #expect(f.entry(gva + i * 0x1000, level: 1) & (PTE.a | PTE.d) == PTE.a | PTE.d)
            #expect(
                f.bytes(Layout.data + (i * 5 % 16) * 0x1000, 0x1000)
                    == Array(data[Int(i) * 0x1000..<Int(i + 1) * 0x1000]))
        }
        for l in 2...levels { #expect(f.entry(gva, level: l) & PTE.a != 0) }
        f.resetStats()
        g.resetStats()
        var back = [UInt8](repeating: 0, count: data.count)
        #expect(f.copyFrom(gva, into: &back).err == GML_OK && back == data)
        #expect(f.stats().maps == n + 15 + 16, "one full walk, then one PTE per page")
        #expect(g.copyFromUncached(gva, into: &back).err == GML_OK && back == data)
        #expect(g.stats().maps == 16 * n + 16, "one full walk per page")
    }

    /// A copy over the boundary between two page tables, PDs, PDPTs or (5-level) PML4 tables:
    /// at the crossing only the entries below the shared level are read again.
    @Test(arguments: [(4, 2), (4, 3), (4, 4), (5, 2), (5, 3), (5, 4), (5, 5)])
    func copyAcrossALevelBoundary(levels: Int, boundaryLevel: Int) {
        let boundary = UInt64(3) << UInt64(12 + 9 * (boundaryLevel - 1))
        let frames: [UInt64] = (0..<8).map { Layout.data + UInt64(($0 * 3) % 8 + 8) * 0x1000 }
        let (f, g) = twins(levels: levels) { fx in
            for (i, fr) in frames.enumerated() { fx.map(boundary - 0x4000 + UInt64(i) * 0x1000, to: fr) }
        }
        let start = boundary - 0x3800
        let data = pattern(0x7000, seed: UInt8(boundaryLevel))
        let st = f.copyTo(start, from: data)
        #expect(st.err == GML_OK && st.done == 0x7000)
        #expect(sameStatus(st, g.copyToUncached(start, from: data)))
        #expect(difference(f, g) == nil, "A/D or data differ")
        for i in 0..<8 {
            let gva = boundary - 0x4000 + UInt64(i) * 0x1000
            for l in 1...levels { #expect(f.entry(gva, level: l) & PTE.a != 0, "A at level \(l) for page \(i)") }
            #expect(f.entry(gva, level: 1) & PTE.d != 0)
        }
        #expect(f.bytes(frames[0] + 0x800, 0x800) == Array(data[0..<0x800]))
        #expect(f.bytes(frames[4], 0x1000) == Array(data[0x800 + 3 * 0x1000..<0x800 + 4 * 0x1000]))
        f.resetStats()
        g.resetStats()
        var back = [UInt8](repeating: 0, count: data.count)
        #expect(f.copyFrom(start, into: &back).err == GML_OK && back == data)
        let n = UInt64(levels)
        let crossing = UInt64(boundaryLevel)
        #expect(f.entryReads(dataPieces: 8) == n + 3 + crossing + 3, "levels \(levels) boundary \(boundaryLevel)")
        #expect(g.copyFromUncached(start, into: &back).err == GML_OK && back == data)
        #expect(g.entryReads(dataPieces: 8) == 8 * n)
    }

    /// 4 KiB → 2 MiB → 4 KiB in one PD, 2 MiB → 2 MiB across two PDs, 4 KiB → 1 GiB, and
    /// 1 GiB → 4 KiB (translations: the 1 GiB frame is backed only at its start).
    @Test(arguments: [4, 5])
    func largePageBoundaries(levels: Int) {
        let n = UInt64(levels)
        let p: UInt64 = 0x0000_0080_4000_0000  // 1 GiB-aligned, PML4 index 1
        let (f, g) = twins(levels: levels) { fx in
            fx.map(p + 0x1F_F000, to: 0x0080_1000)
            fx.map(p + 0x20_0000, to: 0x00A0_0000, size: .m2)
            fx.map(p + 0x40_0000, to: 0x0080_2000)
            fx.map(p + 0x40_1000, to: 0x0080_3000)
            fx.map(p + 0x3FE0_0000, to: 0x00C0_0000, size: .m2)  // last 2 MiB of this GiB
            fx.map(p + 0x4000_0000, to: 0x00E0_0000, size: .m2)  // first 2 MiB of the next
            fx.map(p + 0x7FFF_E000, to: 0x0080_4000)
            fx.map(p + 0x7FFF_F000, to: 0x0080_5000)
            fx.map(p + 0x8000_0000, to: Layout.ram1G.lowerBound, size: .g1)
            fx.map(p + 0xC000_0000, to: 0x0080_6000)
        }
        let cases: [(start: UInt64, len: UInt64, pieces: UInt64, reads: UInt64, uncached: UInt64)] = [
            // 4K (all levels), 2M (PDE), 4K after it (PDE + PTE), 4K (PTE)
            (p + 0x1F_F800, 0x800 + 0x20_0000 + 0x1800, 1 + 512 + 2, n + 1 + 2 + 1, 3 * n + (n - 1)),
            // 2M, then the next PD's 2M (PDPTE + PDE)
            (p + 0x3FF0_0000, 0x20_0000, 512, (n - 1) + 2, 2 * (n - 1)),
            // 4K, 4K (PTE), then the 1 GiB page (PDPTE)
            (p + 0x7FFF_E000, 0x4000, 4, n + 1 + 1, 2 * n + (n - 2)),
        ]
        for (i, c) in cases.enumerated() {
            let data = pattern(Int(c.len), seed: UInt8(i + 1))
            #expect(f.copyTo(c.start, from: data).err == GML_OK, "case \(i)")
            #expect(g.copyToUncached(c.start, from: data).err == GML_OK, "case \(i)")
            #expect(difference(f, g) == nil, "case \(i)")
            f.resetStats()
            g.resetStats()
            var back = [UInt8](repeating: 0, count: data.count)
            #expect(f.copyFrom(c.start, into: &back).err == GML_OK && back == data, "case \(i)")
            #expect(f.entryReads(dataPieces: c.pieces) == c.reads, "case \(i)")
            #expect(g.copyFromUncached(c.start, into: &back).err == GML_OK && back == data, "case \(i)")
            #expect(g.entryReads(dataPieces: c.pieces) == c.uncached, "case \(i)")
        }
        #expect(f.bytes(0x00A0_0000, 0x20_0000) == Array(pattern(0x20_2000, seed: 1)[0x800..<0x20_0800]))
        // 1 GiB → 4 KiB: the next PDPTE, its PD and PT
        var cache = gml_walk_cache()
        gml_walk_cache_init(&cache)
        for gva in [p + 0xBFFF_F000, p + 0xC000_0000] {
            #expect(sameWalk(f.translateCached(&cache, gva), g.translate(gva)), "\(hex(gva))")
        }
        #expect(cache.reads == n - 2 + 3 && cache.reused == n - 3)
    }

    /// The copy crosses a boundary of level `bl`; beyond it the entry at level k (≤ bl, so not
    /// shared with the pages before) is not present, has a reserved bit, is supervisor-only for
    /// a CPL3 caller, or read-only for a CPL3 write: exact progress, fault address and level,
    /// A/D only on the pages before, as the uncached copy.
    @Test(arguments: [4, 5])
    func faultBeyondABoundaryAtEveryLevel(levels: Int) {
        for bl in 2...levels {
            for k in 1...bl {
                for kind in 0..<4 {
                    let boundary = UInt64(5) << UInt64(12 + 9 * (bl - 1))
                    let (f, g) = twins(levels: levels) { fx in
                        for i in 0..<6 {
                            fx.map(boundary - 0x3000 + UInt64(i) * 0x1000, to: Layout.data + UInt64(i) * 0x1000)
                        }
                        switch kind {
                        case 0: fx.modify(boundary, level: k, clear: PTE.p)
                        case 1: fx.modify(boundary, level: k, set: 1 << 51)
                        case 2: fx.modify(boundary, level: k, clear: PTE.us)
                        default: fx.modify(boundary, level: k, clear: PTE.rw)
                        }
                        if kind >= 2 { fx.cpu.cpl = 3 }
                    }
                    let far = (1...bl).compactMap { f.walkableEntryGPA(boundary, level: $0) }.map { f.r64($0) }
                    let want = [GML_E_NOT_PRESENT, GML_E_RESERVED_BIT, GML_E_USER_SUPERVISOR, GML_E_READ_ONLY][kind]
                    let label = "levels \(levels) boundary \(bl) entry level \(k) \(want)"
                    let st: gml_copy_status
                    let su: gml_copy_status
                    if kind == 3 {
                        let data = [UInt8](repeating: 0x5A, count: 0x5000)
                        st = f.copyTo(boundary - 0x2800, from: data)
                        su = g.copyToUncached(boundary - 0x2800, from: data)
                        #expect(f.bytes(Layout.data + 0x3000, 0x1000).allSatisfy { $0 == 0 }, "\(label): written")
                    } else {
                        var buf = [UInt8](repeating: canary, count: 0x5000)
                        st = f.copyFrom(boundary - 0x2800, into: &buf)
                        #expect(buf[0x2800...].allSatisfy { $0 == canary }, "\(label): read beyond the fault")
                        su = g.copyFromUncached(boundary - 0x2800, into: &buf)
                    }
                    #expect(st.err == want && Int(st.level) == k, "\(label): \(describe(st))")
                    #expect(st.done == 0x2800 && st.fault_addr == boundary, "\(label): \(describe(st))")
                    #expect(sameStatus(st, su), "\(label): uncached \(describe(su))")
                    #expect(difference(f, g) == nil, "\(label): memory differs")
                    #expect(f.entry(boundary - 0x1000, level: 1) & PTE.a != 0, "\(label)")
                    let after = (1...bl).compactMap { f.walkableEntryGPA(boundary, level: $0) }.map { f.r64($0) }
                    #expect(after == far, "\(label): entries beyond the fault touched")
                }
            }
        }
    }

    /// A lost A/D race on page 5's PTE (another vCPU, simulated): the cached copy restarts
    /// that walk with full reads, as the uncached one; after 9 lost races both give up there.
    @Test(arguments: [UInt32(1), 2, 9])
    func lostRaceMidCopy(times: UInt32) {
        let gva: UInt64 = 0x0000_0040_0000_0000
        let (f, g) = twins { fx in
            for i in 0..<UInt64(8) { fx.map(gva + i * 0x1000, to: Layout.data + i * 0x1000) }
        }
        let pte5 = f.entryGPA(gva + 0x5000, level: 1)
        let before = f.r64(pte5)
        gml_hmem_interfere(f.hmem, pte5, times)
        gml_hmem_interfere(g.hmem, pte5, times)
        let data = pattern(0x8000, seed: 8)
        let st = f.copyTo(gva, from: data)
        let su = g.copyToUncached(gva, from: data)
        #expect(sameStatus(st, su), "cached \(describe(st)) uncached \(describe(su))")
        #expect(difference(f, g) == nil)
        if times < UInt32(GML_WALK_MAX_RESTARTS) + 1 {
            #expect(st.err == GML_OK && st.done == 0x8000)
            #expect(f.r64(pte5) == (before ^ (UInt64(times & 1) << 9)) | PTE.a | PTE.d)
        } else {
            #expect(st.err == GML_E_PT_CHANGED && st.done == 0x5000 && st.level == 0)
            #expect(f.entry(gva + 0x6000, level: 1) & PTE.a == 0)
        }
    }

    /// A recursive mapping (PML4[511] → the PML4 itself): one entry used at several levels,
    /// the leaf among them. The cache keeps what the leaf's compare-and-set wrote into the
    /// shared entry, so even the entry a later fault reports is gml_translate's.
    /// Write first: the general walk sets A on the way down, loses the race at the next use of
    /// the same entry, and sets D on the second try; read first: the next-PTE path sets D on
    /// an entry the cache also holds as PML4E, PDPTE and PDE.
    @Test(arguments: [false, true])
    func sharedEntriesStayExact(readFirst: Bool) {
        let (f, g) = twins { fx in
            fx.map(0x1000, to: 0x0080_1000)
            fx.map(0x4000_1000, to: 0x0080_2000)
            fx.w64(fx.root + 511 * 8, fx.root | PTE.p | PTE.rw)  // supervisor-only, A and D clear
            fx.w64(fx.root + 510 * 8, fx.root | PTE.p | PTE.rw | PTE.us)
        }
        var cache = gml_walk_cache()
        gml_walk_cache_init(&cache)
        // all indices 511: PML4[511] at every level, leaf included (a write sets D in it)
        let top: UInt64 = 0xFFFF_FFFF_FFFF_F000
        var steps: [(UInt64, UInt32, UInt8)] = [
            (top, Acc.write, 0), (top - 0x1000, Acc.read, 0), (top - 0x1000, Acc.read, 3),
            (top, Acc.read, 3), (top - 0x2000, Acc.write, 0),
        ]
        if readFirst { steps.insert((top, Acc.read, 0), at: 0) }
        for (i, (gva, acc, cpl)) in steps.enumerated() {
            f.cpu.cpl = cpl
            g.cpu.cpl = cpl
            let c = f.translateCached(&cache, gva, acc)
            let u = g.translate(gva, acc)
            #expect(sameWalk(c, u), "step \(i):\n cached \(describe(c))\n full   \(describe(u))")
            #expect(difference(f, g) == nil, "step \(i)")
        }
        #expect(f.r64(f.root + 511 * 8) & (PTE.a | PTE.d) == PTE.a | PTE.d)
        // reading the paging structures through the self-map, four pages: 511, 511, 0, k →
        // PDPT[k] as the leaf (the PD pages as data)
        f.cpu.cpl = 0
        g.cpu.cpl = 0
        var a = [UInt8](repeating: canary, count: 0x2000)
        var b = a
        let st = f.copyFrom(0xFFFF_FFFF_C000_0000, into: &a)
        let su = g.copyFromUncached(0xFFFF_FFFF_C000_0000, into: &b)
        #expect(st.err == GML_OK && sameStatus(st, su) && a == b)
        #expect(difference(f, g) == nil)
    }

    /// A page table only partly RAM (the hypervisor's region, byte-exact, over two of its
    /// entries): the entries outside are read as before, those inside give GML_E_PT_HV_REGION,
    /// exactly as the uncached walk checking each entry.
    @Test func pageTablePartlyInTheHypervisorRegion() {
        let gva: UInt64 = 0x0000_0040_0000_0000
        let (f, g) = twins { fx in
            for i in 0..<UInt64(8) { fx.map(gva + i * 0x1000, to: Layout.data + i * 0x1000) }
            for i in [254, 255, 256, 258] as [UInt64] { fx.map(gva + i * 0x1000, to: Layout.data + i * 0x1000) }
        }
        let pt = f.entryGPA(gva, level: 1) & PTE.addr
        for fx in [f, g] { #expect(gml_memmap_add_hv(fx.map, pt + 256 * 8, 16) == GML_OK) }
        let data = pattern(0x8000, seed: 6)
        let st = f.copyTo(gva, from: data)
        #expect(st.err == GML_OK && sameStatus(st, g.copyToUncached(gva, from: data)))
        #expect(difference(f, g) == nil)
        for start in [gva + 254 * 0x1000, gva + 257 * 0x1000] {
            var a = [UInt8](repeating: canary, count: 0x3000)
            var b = a
            let sa = f.copyFrom(start, into: &a)
            let sb = g.copyFromUncached(start, into: &b)
            #expect(sameStatus(sa, sb) && a == b, "cached \(describe(sa)) uncached \(describe(sb))")
            #expect(sa.err == GML_E_PT_HV_REGION && sa.level == 1 && sa.fault_addr == max(start, gva + 256 * 0x1000))
        }
        var cache = gml_walk_cache()
        gml_walk_cache_init(&cache)
        for page: UInt64 in [0, 1, 255, 256, 258, 257, 2] {
            #expect(sameWalk(f.translateCached(&cache, gva + page * 0x1000), g.translate(gva + page * 0x1000)))
        }
        #expect(difference(f, g) == nil)
    }

    /// The cache belongs to one walker state: another CR3, paging mode, NXE, MAXPHYADDR or
    /// memory misses; CR3's PCID bits and the rights-related state do not matter.
    @Test func cacheMissesForAnotherWalkerState() {
        let f = GuestFixture()
        let gva: UInt64 = 0x0000_0040_0000_0000
        f.map(gva, to: 0x0080_1000)
        f.map(gva + 0x1000, to: 0x0080_2000)
        // a second hierarchy: the same PML4 but gva's PDPT replaced by a copy with another PD
        let root2 = f.allocTable()
        for i in 0..<UInt64(512) { f.w64(root2 + i * 8, f.r64(f.root + i * 8)) }
        let pdpt2 = f.allocTable()
        let pd2 = f.allocTable()
        let pt2 = f.allocTable()
        f.w64(root2 + GuestFixture.index(gva, level: 4) * 8, pdpt2 | PTE.all)
        f.w64(pdpt2 + GuestFixture.index(gva, level: 3) * 8, pd2 | PTE.all)
        f.w64(pd2 + GuestFixture.index(gva, level: 2) * 8, pt2 | PTE.all)
        f.w64(pt2 + GuestFixture.index(gva + 0x1000, level: 1) * 8, 0x0080_7000 | PTE.all)
        var cache = gml_walk_cache()
        gml_walk_cache_init(&cache)
        #expect(f.translateCached(&cache, gva).gpa == 0x0080_1000)
        #expect(cache.reads == 4 && cache.reused == 0)
        func step(_ change: (inout gml_cpu_state) -> Void, hit: Bool, _ label: String) {
            let saved = f.cpu
            change(&f.cpu)
            let reused = cache.reused
            _ = f.translate(gva + 0x1000, Acc.write)  // A and D set: both walks below read the same
            let c = f.translateCached(&cache, gva + 0x1000)
            let u = f.translate(gva + 0x1000)
            #expect(sameWalk(c, u), "\(label): cached \(describe(c)) full \(describe(u))")
            #expect((cache.reused > reused) == hit, "\(label): \(cache.reused - reused) entries reused")
            f.cpu = saved
            _ = f.translateCached(&cache, gva)  // refill with the fixture's state
        }
        step({ $0.cr3 = root2 }, hit: false, "another CR3")
        #expect(f.translateCached(&cache, gva + 0x1000).gpa == 0x0080_2000)
        step({ $0.cr3 = root2 | 0x123 }, hit: false, "another CR3 with a PCID")
        step(
            {
                $0.cr4 |= CR.cr4PCIDE
                $0.cr3 |= 0xABC | 1 << 63
            }, hit: true, "PCID and no-flush bit")
        step({ $0.efer &= ~CR.eferNXE }, hit: false, "NXE off")
        step({ $0.maxphyaddr = 40 }, hit: false, "MAXPHYADDR 40")
        step(
            {
                $0.cpl = 3
                $0.cr0 &= ~CR.cr0WP
                $0.cr4 |= CR.cr4SMAP | CR.cr4PKE
                $0.pkru = 3
            }, hit: true, "rights")
        step({ $0.cr0 &= ~CR.cr0PG }, hit: false, "paging off")
        // LA57: the same tables read as 5-level give a different walk
        step({ $0.cr4 |= CR.cr4LA57 }, hit: false, "LA57")
        // the same cache with another guest's memory (its twin): no hit
        let g = GuestFixture()
        g.map(gva, to: 0x0080_1000)
        g.map(gva + 0x1000, to: 0x0080_3000)
        let reads = cache.reads
        #expect(g.translateCached(&cache, gva + 0x1000).gpa == 0x0080_3000)
        #expect(cache.reads - reads == 4)
    }
}

/// What the cache saves: paging-entry reads (map_gpa calls of the walker) and host time, uncached
/// (a full walk per 4 KiB page) against cached, for 8 MiB of scattered 4 KiB pages (four page
/// tables) with A/D already set, 4- and 5-level: the translations alone (per page), and the
/// copies, reads and writes (per MiB). The counts are exact and asserted; the times are printed,
/// best of 9 (they depend on the build and the host's load: `swift test -c release --filter
/// WalkCacheBenchmark` for optimized C).
@Suite(.serialized) struct WalkCacheBenchmark {
    static func best(_ body: () -> Void) -> Double {
        let clock = ContinuousClock()
        var best = Duration.seconds(1000)
        for _ in 0..<9 { best = min(best, clock.measure(body)) }
        return Double(best.components.seconds) * 1e9 + Double(best.components.attoseconds) / 1e9  // ns
    }

    @Test(arguments: [4, 5])
    func entryReadsAndTimePerMiB(levels: Int) {
        let f = GuestFixture(levels: levels)
        let gva = sampleGVA(levels: levels, size: .m2)
        let pages: UInt64 = 2048
        for i in 0..<pages { f.map(gva + i * 0x1000, to: Layout.data + (i * 797 % pages) * 0x1000) }
        var buf = [UInt8](repeating: 1, count: Int(pages) * 0x1000)
        #expect(f.copyTo(gva, from: buf).err == GML_OK)  // sets A and D everywhere
        let n = UInt64(levels)
        let mib = Double(pages) / 256
        var lines: [String] = []
        var w = f.walker()
        let wantReads = (uncached: n * pages, cached: n + (pages - 1) + 3)  // + the PDE at 3 PT crossings

        // the translations alone
        var out = gml_walk()
        f.resetStats()
        let tFull = Self.best {
            for i in 0..<pages { gml_translate(&w, gva + i * 0x1000, Acc.read, &out) }
        }
        #expect(f.stats().maps == wantReads.uncached * 9)
        var cache = gml_walk_cache()
        f.resetStats()
        let tCached = Self.best {
            gml_walk_cache_init(&cache)
            for i in 0..<pages { gml_translate_cached(&w, &cache, gva + i * 0x1000, Acc.read, &out) }
        }
        #expect(f.stats().maps == wantReads.cached * 9)
        lines.append(
            String(
                format: "%d-level walks: uncached %.0f ns/page, cached %.0f ns/page (%.2fx)", levels,
                tFull / Double(pages), tCached / Double(pages), tCached / tFull))

        // the copies
        for write in [false, true] {
            var ns: [Double] = []
            for cached in [false, true] {
                func copy() -> gml_err {
                    buf.withUnsafeMutableBytes { b in
                        switch (write, cached) {
                        case (false, false):
                            gml_copy_from_guest_linear_uncached(&w, f.phys, b.baseAddress, gva, pages * 0x1000, nil)
                        case (false, true):
                            gml_copy_from_guest_linear(&w, f.phys, b.baseAddress, gva, pages * 0x1000, nil)
                        case (true, false):
                            gml_copy_to_guest_linear_uncached(&w, f.phys, gva, b.baseAddress, pages * 0x1000, nil)
                        case (true, true): gml_copy_to_guest_linear(&w, f.phys, gva, b.baseAddress, pages * 0x1000, nil)
                        }
                    }
                }
                f.resetStats()
                #expect(copy() == GML_OK)
                let reads = f.stats().maps - pages
                #expect(reads == (cached ? wantReads.cached : wantReads.uncached), "levels \(levels) write \(write)")
                #expect(f.stats().write_maps == (write ? pages : 0), "no compare-and-set once A/D are set")
                ns.append(Self.best { _ = copy() })
            }
            lines.append(
                String(
                    format: "%d-level %@: uncached %.0f entry reads/MiB, %.0f µs/MiB; cached %.2f reads/MiB, "
                        + "%.0f µs/MiB (%.2fx)", levels, write ? "write" : "read ", Double(wantReads.uncached) / mib,
                    ns[0] / 1000 / mib, Double(wantReads.cached) / mib, ns[1] / 1000 / mib, ns[1] / ns[0]))
        }
        print("walk-cache benchmark, 8 MiB of 4 KiB pages:\n" + lines.joined(separator: "\n"))
    }

    /// The same comparison built with gcc -O2 (the image's optimization; `swift test` builds C
    /// at -O0 in debug), with the image's identity map hook and the page-list / contiguous
    /// physical copies beside it (as gml.phys.list / gml.phys.xfer call them): prints ns per
    /// translation and µs per MiB, best of 31, all variants interleaved.
    @Test func optimizedBuild() throws {
        let core = FreestandingTests.coreDir
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("gml-walkbench-\(getpid())")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: tmp) }
        let src = tmp.appendingPathComponent("walkbench.c")
        try Self.harness.write(to: src, atomically: true, encoding: .utf8)
        let exe = tmp.appendingPathComponent("walkbench").path
        let sources = try FileManager.default.contentsOfDirectory(atPath: core.path).filter { $0.hasSuffix(".c") }
            .map { core.appendingPathComponent($0).path }
        let (rc, out) = try FreestandingTests.run(
            ["gcc", "-std=gnu11", "-O2", "-DGML_HOSTED", "-I", core.appendingPathComponent("include").path]
                + sources + [core.appendingPathComponent("hosted/gml_hosted_mem.c").path, src.path, "-o", exe])
        try #require(rc == 0, "gcc not available or the harness does not build:\n\(out)")
        for levels in ["4", "5"] {
            let (rc2, result) = try FreestandingTests.run([exe, levels, "31"])
            #expect(rc2 == 0, "harness failed: \(result)")
            print("walk-cache benchmark (-O2):\n" + result)
        }
    }

    static let harness = #"""
        /* Host benchmark of the page-wise linear copy, cached vs uncached, against the physical copies
         * (built -O2 by WalkCacheBenchmark.optimizedBuild). 8 MiB of scattered 4 KiB pages, A/D set, an
         * e820-like memory map, and the image's identity map hook; best of N, variants interleaved. */
        #include <stdio.h>
        #include <stdlib.h>
        #include <time.h>
        #include "gml_copy.h"
        #include "gml_hosted.h"

        #define PAGES 2048ULL
        #define DATA 0x800000ULL

        static struct gml_hmem *m;
        static u8 *base;
        static u64 next_table = 0x100000, gva0;
        static struct gml_walker w;
        static struct gml_phys phys;
        static u8 *buf;
        static volatile gml_err sink;

        static double now_ns(void)
        {
        	struct timespec t;
        	clock_gettime(CLOCK_MONOTONIC, &t);
        	return t.tv_sec * 1e9 + t.tv_nsec;
        }

        static void *identity(void *ctx, u64 gpa, u64 len, bool write)
        {
        	(void)ctx, (void)len, (void)write;
        	return base + gpa;
        }

        static void map4k(int levels, u64 gva, u64 frame)
        {
        	u64 table = w.cpu.cr3;
        	for (int l = levels; l > 1; l--) {
        		u64 *e = (u64 *)(base + table + ((gva >> (12 + 9 * (l - 1))) & 511) * 8);
        		if (!(*e & 1)) {
        			*e = next_table | 7;
        			next_table += 4096;
        		}
        		table = *e & 0x000FFFFFFFFFF000ULL;
        	}
        	*(u64 *)(base + table + ((gva >> 12) & 511) * 8) = frame | 7;
        }

        static u64 frame(u64 i) { return DATA + (i * 797 % PAGES) * 4096; }

        static void walks_uncached(void)
        {
        	struct gml_walk o;
        	for (u64 i = 0; i < PAGES; i++)
        		sink = gml_translate(&w, gva0 + i * 4096, GML_ACC_READ, &o);
        }
        static void walks_cached(void)
        {
        	struct gml_walk o;
        	struct gml_walk_cache c;
        	gml_walk_cache_init(&c);
        	for (u64 i = 0; i < PAGES; i++)
        		sink = gml_translate_cached(&w, &c, gva0 + i * 4096, GML_ACC_READ, &o);
        }
        static void read_uncached(void) { sink = gml_copy_from_guest_linear_uncached(&w, &phys, buf, gva0, PAGES * 4096, NULL); }
        static void read_cached(void) { sink = gml_copy_from_guest_linear(&w, &phys, buf, gva0, PAGES * 4096, NULL); }
        static void read_list(void) /* as gml.phys.list: one physical copy per frame */
        {
        	for (u64 i = 0; i < PAGES; i++)
        		sink = gml_copy_from_guest_phys(&phys, buf + i * 4096, frame(i), 4096, NULL);
        }
        static void read_contig(void) { sink = gml_copy_from_guest_phys(&phys, buf, DATA, PAGES * 4096, NULL); }
        static void write_uncached(void) { sink = gml_copy_to_guest_linear_uncached(&w, &phys, gva0, buf, PAGES * 4096, NULL); }
        static void write_cached(void) { sink = gml_copy_to_guest_linear(&w, &phys, gva0, buf, PAGES * 4096, NULL); }
        static void write_list(void)
        {
        	for (u64 i = 0; i < PAGES; i++)
        		sink = gml_copy_to_guest_phys(&phys, frame(i), buf + i * 4096, 4096, NULL);
        }
        static void write_contig(void) { sink = gml_copy_to_guest_phys(&phys, DATA, buf, PAGES * 4096, NULL); }

        int main(int argc, char **argv)
        {
        	int levels = argc > 1 ? atoi(argv[1]) : 4, reps = argc > 2 ? atoi(argv[2]) : 31;
        	void (*fn[10])(void) = { walks_uncached, walks_cached, read_uncached, read_cached, read_list,
        				 read_contig, write_uncached, write_cached, write_list, write_contig };
        	double best[10];
        	struct gml_memmap map;

        	m = gml_hmem_create();
        	if (!m || gml_hmem_add_chunk(m, 0, 32 << 20) != GML_OK)
        		return 2;
        	base = gml_hmem_ptr(m, 0, 1);
        	gml_memmap_init(&map);
        	gml_memmap_add_ram(&map, 0, 0x9F000);
        	gml_memmap_add_rom(&map, 0xF0000, 0x10000);
        	gml_memmap_add_ram(&map, 0x100000, (32 << 20) - 0x100000);
        	gml_memmap_add_hv(&map, 0x1800000, 0x200000);
        	gml_memmap_add_hv(&map, 0x1C00000, 0x1000);
        	gml_memmap_add_mmio(&map, 0xFEC00000, 0x1000);
        	gml_memmap_add_mmio(&map, 0xFEE00000, 0x1000);
        	phys.map = &map;
        	phys.map_gpa = identity;
        	phys.unmap = NULL;
        	w.cpu.cr0 = X86_CR0_PE | X86_CR0_PG | X86_CR0_WP;
        	w.cpu.cr4 = X86_CR4_PAE | (levels == 5 ? X86_CR4_LA57 : 0);
        	w.cpu.efer = X86_EFER_LME | X86_EFER_LMA | X86_EFER_NXE;
        	w.cpu.maxphyaddr = 46;
        	w.cpu.cr3 = next_table;
        	next_table += 4096;
        	gml_pt_ops_init_phys(&w.pt, &phys);
        	gva0 = levels == 5 ? 0xFF12340000000000ULL : 0xFFFF888000000000ULL;
        	for (u64 i = 0; i < PAGES; i++)
        		map4k(levels, gva0 + i * 4096, frame(i));
        	buf = calloc(1, PAGES * 4096);
        	if (!buf || gml_copy_to_guest_linear(&w, &phys, gva0, buf, PAGES * 4096, NULL) != GML_OK)
        		return 3; /* (also sets A and D everywhere) */
        	for (int i = 0; i < 10; i++)
        		best[i] = 1e300;
        	for (int r = 0; r < reps; r++) {
        		for (int i = 0; i < 10; i++) {
        			double t = now_ns();
        			fn[i]();
        			t = now_ns() - t;
        			if (t < best[i])
        				best[i] = t;
        		}
        	}
        	printf("%d-level translations: uncached %.1f ns/page, cached %.1f ns/page (%.2fx)\n", levels,
        	       best[0] / PAGES, best[1] / PAGES, best[1] / best[0]);
        	for (int d = 0; d < 2; d++) {
        		double *b = best + 2 + 4 * d, mib = PAGES / 256.0;
        		printf("%d-level %s: linear uncached %.0f us/MiB, cached %.0f; page-list physical %.0f; "
        		       "contiguous physical %.0f; linear/page-list throughput: uncached %.2f, cached %.2f\n",
        		       levels, d ? "write" : "read ", b[0] / 1e3 / mib, b[1] / 1e3 / mib, b[2] / 1e3 / mib,
        		       b[3] / 1e3 / mib, b[2] / b[0], b[2] / b[1]);
        	}
        	return 0;
        }
        """#
}
