// A synthetic guest for the core's unit tests: sparse host memory pretending to be guest RAM
// (with MMIO gaps, a ROM range, the hypervisor's region inside RAM, and a partial 1 GiB frame),
// a memory map describing it, and a page-table builder working on that memory.
import HypervisorCore

extension gml_err: @retroactive CustomStringConvertible {
    public var description: String { String(cString: gml_errname(self)) }
}

/// Paging-entry bits (kept as Swift constants so the tests do not depend on macro import).
enum PTE {
    static let p: UInt64 = 1 << 0
    static let rw: UInt64 = 1 << 1
    static let us: UInt64 = 1 << 2
    static let pwt: UInt64 = 1 << 3
    static let a: UInt64 = 1 << 5
    static let d: UInt64 = 1 << 6
    static let ps: UInt64 = 1 << 7
    static let xd: UInt64 = 1 << 63
    static let addr: UInt64 = 0x000F_FFFF_FFFF_F000
    static let all: UInt64 = p | rw | us
}

enum CR {
    static let cr0PE: UInt64 = 1 << 0
    static let cr0WP: UInt64 = 1 << 16
    static let cr0PG: UInt64 = 1 << 31
    static let cr4PAE: UInt64 = 1 << 5
    static let cr4LA57: UInt64 = 1 << 12
    static let cr4PCIDE: UInt64 = 1 << 17
    static let cr4SMEP: UInt64 = 1 << 20
    static let cr4SMAP: UInt64 = 1 << 21
    static let cr4PKE: UInt64 = 1 << 22
    static let eferLME: UInt64 = 1 << 8
    static let eferLMA: UInt64 = 1 << 10
    static let eferNXE: UInt64 = 1 << 11
    static let rflagsAC: UInt64 = 1 << 18
}

enum Acc {
    static let read = UInt32(GML_ACC_READ)
    static let write = UInt32(GML_ACC_WRITE)
    static let exec = UInt32(GML_ACC_EXEC)
    static let noAD = UInt32(GML_ACC_NO_AD)
}

enum PageSize: CaseIterable, CustomStringConvertible {
    case k4, m2, g1
    var leafLevel: Int {
        switch self {
        case .k4: 1
        case .m2: 2
        case .g1: 3
        }
    }
    var bytes: UInt64 { 1 << (12 + 9 * UInt64(leafLevel - 1)) }
    var description: String {
        switch self {
        case .k4: "4K"
        case .m2: "2M"
        case .g1: "1G"
        }
    }
}

/// Guest-physical layout of every fixture.
enum Layout {
    static let ramLow: Range<UInt64> = 0x0..<0x0100_0000  // 16 MiB RAM
    static let mmio: Range<UInt64> = 0x0100_0000..<0x0200_0000  // MMIO gap (not backed)
    static let ramHigh: Range<UInt64> = 0x0200_0000..<0x0280_0000  // 8 MiB RAM …
    static let hv: Range<UInt64> = 0x0240_0000..<0x0260_0000  // … with the hypervisor inside
    static let rom: Range<UInt64> = 0x0300_0000..<0x0301_0000  // read-only, backed
    static let unbacked: UInt64 = 0x0380_0000  // in no range at all
    static let ram1G: Range<UInt64> = 0x4000_0000..<0x4040_0000  // 4 MiB at the 1 GiB frame
    static let tables: UInt64 = 0x0010_0000  // page-table pool start
    static let tablesEnd: UInt64 = 0x0080_0000
    static let data: UInt64 = 0x0080_0000  // data frames from here
}

final class GuestFixture {
    let hmem: OpaquePointer
    let map: UnsafeMutablePointer<gml_memmap>
    let phys: UnsafeMutablePointer<gml_phys>
    var cpu = gml_cpu_state()
    let levels: Int
    let root: UInt64
    private var nextTable = Layout.tables

    init(levels: Int = 4, maxphyaddr: UInt8 = 46) {
        precondition(levels == 4 || levels == 5)
        guard let created = gml_hmem_create() else { preconditionFailure("gml_hmem_create: out of memory") }
        hmem = created
        map = .allocate(capacity: 1)
        phys = .allocate(capacity: 1)
        gml_memmap_init(map)
        for r in [Layout.ramLow, Layout.ramHigh, Layout.rom, Layout.ram1G] {
            let e = gml_hmem_add_chunk(hmem, r.lowerBound, UInt64(r.count))
            precondition(e == GML_OK, "backing \(r): \(e)")
        }
        for r in [Layout.ramLow, Layout.ramHigh, Layout.ram1G] {
            precondition(gml_memmap_add_ram(map, r.lowerBound, UInt64(r.count)) == GML_OK)
        }
        precondition(gml_memmap_add_rom(map, Layout.rom.lowerBound, UInt64(Layout.rom.count)) == GML_OK)
        precondition(gml_memmap_add_mmio(map, Layout.mmio.lowerBound, UInt64(Layout.mmio.count)) == GML_OK)
        precondition(gml_memmap_add_hv(map, Layout.hv.lowerBound, UInt64(Layout.hv.count)) == GML_OK)
        gml_hmem_phys(hmem, map, phys)
        self.levels = levels
        root = nextTable
        nextTable += 0x1000
        cpu.cr0 = CR.cr0PE | CR.cr0PG | CR.cr0WP
        cpu.cr4 = CR.cr4PAE | (levels == 5 ? CR.cr4LA57 : 0)
        cpu.efer = CR.eferLME | CR.eferLMA | CR.eferNXE
        cpu.cr3 = root
        cpu.cpl = 0
        cpu.maxphyaddr = maxphyaddr
    }

    deinit {
        gml_hmem_destroy(hmem)
        map.deallocate()
        phys.deallocate()
    }

    // MARK: raw guest-physical memory

    func ptr(_ gpa: UInt64, _ len: UInt64 = 1) -> UnsafeMutablePointer<UInt8> {
        guard let p = gml_hmem_ptr(hmem, gpa, len) else { fatalError("GPA \(hex(gpa)) not backed") }
        return p
    }

    func r64(_ gpa: UInt64) -> UInt64 {
        UnsafeRawPointer(ptr(gpa, 8)).loadUnaligned(as: UInt64.self)
    }

    func w64(_ gpa: UInt64, _ v: UInt64) {
        UnsafeMutableRawPointer(ptr(gpa, 8)).storeBytes(of: v, as: UInt64.self)
    }

    func bytes(_ gpa: UInt64, _ n: Int) -> [UInt8] {
        Array(UnsafeBufferPointer(start: ptr(gpa, UInt64(n)), count: n))
    }

    func fill(_ gpa: UInt64, _ data: [UInt8]) {
        let p = ptr(gpa, UInt64(data.count))
        for (i, b) in data.enumerated() { p[i] = b }
    }

    func fill(_ gpa: UInt64, count: Int, byte: UInt8) {
        fill(gpa, [UInt8](repeating: byte, count: count))
    }

    // MARK: page tables

    func allocTable() -> UInt64 {
        let t = nextTable
        precondition(t < Layout.tablesEnd, "page-table pool exhausted")
        nextTable += 0x1000
        return t
    }

    static func index(_ gva: UInt64, level: Int) -> UInt64 { (gva >> (12 + 9 * UInt64(level - 1))) & 511 }

    /// Map gva → gpa with a leaf of `size`. Intermediate entries are created (or their flags
    /// replaced) with `upper`; the leaf gets `leaf` (PS added for large pages).
    func map(
        _ gva: UInt64, to gpa: UInt64, size: PageSize = .k4, leaf: UInt64 = PTE.all,
        upper: UInt64 = PTE.all
    ) {
        var table = root
        var level = levels
        while level > size.leafLevel {
            let egpa = table + Self.index(gva, level: level) * 8
            var e = r64(egpa)
            if e & PTE.p == 0 { e = allocTable() }
            e = (e & PTE.addr) | upper
            w64(egpa, e)
            table = e & PTE.addr
            level -= 1
        }
        precondition(gpa % size.bytes == 0, "unaligned frame")
        w64(table + Self.index(gva, level: level) * 8, gpa | leaf | (size == .k4 ? 0 : PTE.ps))
    }

    /// GPA of the entry used at `level` for gva (the tables down to it must be present).
    func entryGPA(_ gva: UInt64, level: Int) -> UInt64 {
        var table = root & PTE.addr
        var l = levels
        while true {
            let egpa = table + Self.index(gva, level: l) * 8
            if l == level { return egpa }
            let e = r64(egpa)
            precondition(e & PTE.p != 0 && e & PTE.ps == 0, "no table below level \(l)")
            table = e & PTE.addr
            l -= 1
        }
    }

    /// Same, but nil when the path down to `level` is not present or leaves backed memory.
    func walkableEntryGPA(_ gva: UInt64, level: Int) -> UInt64? {
        var table = root & PTE.addr
        var l = levels
        while true {
            let egpa = table + Self.index(gva, level: l) * 8
            guard gml_hmem_ptr(hmem, egpa, 8) != nil else { return nil }
            if l == level { return egpa }
            let e = r64(egpa)
            if e & PTE.p == 0 || e & PTE.ps != 0 { return nil }
            table = e & PTE.addr
            l -= 1
        }
    }

    func entry(_ gva: UInt64, level: Int) -> UInt64 { r64(entryGPA(gva, level: level)) }
    func setEntry(_ gva: UInt64, level: Int, _ v: UInt64) { w64(entryGPA(gva, level: level), v) }
    func modify(_ gva: UInt64, level: Int, set: UInt64 = 0, clear: UInt64 = 0) {
        let g = entryGPA(gva, level: level)
        w64(g, (r64(g) | set) & ~clear)
    }

    // MARK: core entry points

    func walker() -> gml_walker {
        var w = gml_walker()
        w.cpu = cpu
        gml_pt_ops_init_phys(&w.pt, phys)
        return w
    }

    func translate(_ gva: UInt64, _ access: UInt32 = Acc.read) -> gml_walk {
        var w = walker()
        var out = gml_walk()
        let r = gml_translate(&w, gva, access, &out)
        precondition(r == out.err)
        return out
    }

    func copyFrom(_ gva: UInt64, into buf: inout [UInt8], len: UInt64? = nil) -> gml_copy_status {
        var w = walker()
        var st = gml_copy_status()
        let n = len ?? UInt64(buf.count)
        _ = buf.withUnsafeMutableBytes { gml_copy_from_guest_linear(&w, phys, $0.baseAddress, gva, n, &st) }
        return st
    }

    func copyTo(_ gva: UInt64, from buf: [UInt8], len: UInt64? = nil) -> gml_copy_status {
        var w = walker()
        var st = gml_copy_status()
        let n = len ?? UInt64(buf.count)
        _ = buf.withUnsafeBytes { gml_copy_to_guest_linear(&w, phys, gva, $0.baseAddress, n, &st) }
        return st
    }

    func stats() -> gml_hmem_stats {
        var s = gml_hmem_stats()
        gml_hmem_stats(hmem, &s)
        return s
    }

    func resetStats() { gml_hmem_reset_stats(hmem) }
}

func hex(_ v: UInt64) -> String { "0x" + String(v, radix: 16) }

/// Deterministic pseudo-random bytes (so failures reproduce).
func pattern(_ n: Int, seed: UInt8 = 1) -> [UInt8] {
    (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ Int(seed) &* 7 &+ ($0 >> 8)) }
}
