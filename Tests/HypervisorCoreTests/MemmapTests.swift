// Guest-physical bounds checks: every boundary, overflow, and a brute-force comparison.
import HypervisorCore
import Testing

private final class Map {
    let p = UnsafeMutablePointer<gml_memmap>.allocate(capacity: 1)
    init() { gml_memmap_init(p) }
    deinit { p.deallocate() }
    func ram(_ b: UInt64, _ l: UInt64) -> gml_err { gml_memmap_add_ram(p, b, l) }
    func check(_ gpa: UInt64, _ len: UInt64, write: Bool = false) -> gml_err {
        gml_gpa_range_check(p, gpa, len, write)
    }
    func checkAt(_ gpa: UInt64, _ len: UInt64, write: Bool = false) -> (gml_err, UInt64) {
        var bad: UInt64 = 0xDEAD
        let e = gml_gpa_range_check_at(p, gpa, len, write, &bad)
        return (e, bad)
    }
}

@Suite struct MemmapTests {
    @Test func emptyMapHasNoRAM() {
        let m = Map()
        #expect(m.check(0, 1) == GML_E_GPA_OUTSIDE_RAM)
        #expect(m.check(UInt64.max, 1) == GML_E_GPA_OUTSIDE_RAM)
    }

    @Test func ramBoundariesExact() {
        let m = Map()
        #expect(m.ram(0x1000, 0x2000) == GML_OK)
        #expect(m.check(0x1000, 0x2000) == GML_OK)
        #expect(m.check(0x1000, 1) == GML_OK)
        #expect(m.check(0x2FFF, 1) == GML_OK)
        #expect(m.checkAt(0x0FFF, 1) == (GML_E_GPA_OUTSIDE_RAM, 0x0FFF))
        #expect(m.checkAt(0x0FFF, 2) == (GML_E_GPA_OUTSIDE_RAM, 0x0FFF))
        #expect(m.checkAt(0x3000, 1) == (GML_E_GPA_OUTSIDE_RAM, 0x3000))
        #expect(m.checkAt(0x2FFF, 2) == (GML_E_GPA_OUTSIDE_RAM, 0x3000))
        #expect(m.checkAt(0x1000, 0x2001) == (GML_E_GPA_OUTSIDE_RAM, 0x3000))
    }

    @Test func adjacentAndOverlappingRangesCoverTheirUnion() {
        let m = Map()
        #expect(m.ram(0x3000, 0x1000) == GML_OK)  // added out of order
        #expect(m.ram(0x1000, 0x1000) == GML_OK)
        #expect(m.ram(0x1800, 0x1800) == GML_OK)  // overlaps one neighbour, touches the other
        #expect(m.check(0x1000, 0x3000) == GML_OK)
        #expect(m.ram(0x5000, 0x1000) == GML_OK)
        #expect(m.checkAt(0x1000, 0x5000) == (GML_E_GPA_OUTSIDE_RAM, 0x4000))
    }

    @Test func hypervisorRegionRefusedForReadAndWriteAtEveryEdge() {
        let m = Map()
        #expect(m.ram(0, 0x10000) == GML_OK)
        #expect(gml_memmap_add_hv(m.p, 0x4000, 0x2000) == GML_OK)
        for write in [false, true] {
            #expect(m.check(0x3FFF, 1, write: write) == GML_OK)
            #expect(m.checkAt(0x3FFF, 2, write: write) == (GML_E_GPA_HV_REGION, 0x4000))
            #expect(m.checkAt(0x4000, 1, write: write) == (GML_E_GPA_HV_REGION, 0x4000))
            #expect(m.checkAt(0x5FFF, 1, write: write) == (GML_E_GPA_HV_REGION, 0x5FFF))
            #expect(m.check(0x6000, 1, write: write) == GML_OK)
            #expect(m.checkAt(0x0, 0x10000, write: write) == (GML_E_GPA_HV_REGION, 0x4000))
            #expect(m.checkAt(0x5000, 0x2000, write: write) == (GML_E_GPA_HV_REGION, 0x5000))
        }
    }

    @Test func mmioAndRomAreReported() {
        let m = Map()
        #expect(m.ram(0, 0x1000) == GML_OK)
        #expect(gml_memmap_add_mmio(m.p, 0x1000, 0x1000) == GML_OK)
        #expect(gml_memmap_add_rom(m.p, 0x3000, 0x1000) == GML_OK)
        #expect(m.checkAt(0xFFF, 2) == (GML_E_GPA_MMIO, 0x1000))
        #expect(m.checkAt(0x2000, 1) == (GML_E_GPA_OUTSIDE_RAM, 0x2000))
        #expect(m.check(0x3000, 0x1000) == GML_OK)
        #expect(m.checkAt(0x3000, 0x1000, write: true) == (GML_E_GPA_READ_ONLY, 0x3000))
        #expect(m.checkAt(0x3FFF, 2) == (GML_E_GPA_OUTSIDE_RAM, 0x4000))
    }

    @Test func zeroAndWrappingLengths() {
        let m = Map()
        #expect(m.ram(0, 0x1000) == GML_OK)
        #expect(m.ram(0xFFFF_FFFF_FFFF_F000, 0x1000) == GML_OK)  // ends exactly at 2^64 - 1
        #expect(m.check(0, 0) == GML_E_LEN_ZERO)
        #expect(m.check(UInt64.max, 1) == GML_OK)
        #expect(m.check(UInt64.max, 2) == GML_E_LEN_WRAP)
        #expect(m.check(0xFFFF_FFFF_FFFF_F000, 0x1000) == GML_OK)
        #expect(m.check(0xFFFF_FFFF_FFFF_F000, 0x1001) == GML_E_LEN_WRAP)
        #expect(m.check(0, UInt64.max) == GML_E_GPA_OUTSIDE_RAM)
        #expect(m.check(1, UInt64.max) == GML_E_GPA_OUTSIDE_RAM)  // [1, 2^64) fits exactly
        #expect(m.check(2, UInt64.max) == GML_E_LEN_WRAP)
        #expect(m.check(UInt64.max, UInt64.max) == GML_E_LEN_WRAP)
    }

    @Test func addRangeRejectsBadInputAndOverflowingCount() {
        let m = Map()
        #expect(m.ram(0x1000, 0) == GML_E_LEN_ZERO)
        #expect(m.ram(UInt64.max, 2) == GML_E_LEN_WRAP)
        #expect(m.ram(0, UInt64.max) == GML_OK)
        let n = Map()
        for i in 0..<UInt64(GML_MEMMAP_MAX) { #expect(n.ram(i * 0x2000, 0x1000) == GML_OK) }
        #expect(n.ram(0x1000_0000, 0x1000) == GML_E_MEMMAP_FULL)
        #expect(gml_memmap_add_hv(n.p, 0x1000_0000, 0x1000) == GML_OK)  // per-kind capacity
    }

    /// Random byte-granular maps over a small space, compared with a per-byte classification.
    @Test func randomizedAgainstBruteForce() {
        var rng = SplitMix(seed: 0x6D656D6D6170)
        print("memmap randomized seed 0x6D656D6D6170")
        for round in 0..<200 {
            let m = Map()
            var kind = [Int](repeating: 0, count: 600)  // bit0 ram, bit1 rom, bit2 mmio, bit3 hv
            for (bit, add) in [
                (1, gml_memmap_add_ram), (2, gml_memmap_add_rom),
                (4, gml_memmap_add_mmio), (8, gml_memmap_add_hv),
            ] {
                for _ in 0..<Int(rng.next() % 4) {
                    let b = Int(rng.next() % 480)
                    let l = Int(rng.next() % 64) + 1
                    #expect(add(m.p, UInt64(b), UInt64(l)) == GML_OK)
                    for i in b..<b + l { kind[i] |= bit }
                }
            }
            for _ in 0..<100 {
                let g = Int(rng.next() % 500)
                let l = Int(rng.next() % 40) + 1
                let w = rng.next() % 2 == 1
                var want = (GML_OK, UInt64(g))
                if let h = (g..<g + l).first(where: { kind[$0] & 8 != 0 }) {
                    want = (GML_E_GPA_HV_REGION, UInt64(h))
                } else if let u = (g..<g + l).first(where: { kind[$0] & 3 == 0 }) {
                    want = (kind[u] & 4 != 0 ? GML_E_GPA_MMIO : GML_E_GPA_OUTSIDE_RAM, UInt64(u))
                } else if w, let r = (g..<g + l).first(where: { kind[$0] & 1 == 0 }) {
                    want = (GML_E_GPA_READ_ONLY, UInt64(r))
                }
                let got = m.checkAt(UInt64(g), UInt64(l), write: w)
                #expect(got == want, "round \(round): [\(g), +\(l)) write=\(w)")
            }
        }
    }
}

/// Small deterministic PRNG for the randomized tests (seed printed by each test).
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func bool() -> Bool { next() & 1 == 1 }
}
