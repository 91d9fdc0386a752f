// Copy engine: page-wise linear copies (odd offsets, scattered frames, mixed page sizes),
// faults mid-copy with exact progress and canaries, single-datum accessors, physical copies.
import HypervisorCore
import Testing

private let canary: UInt8 = 0xC5

@Suite struct LinearCopyTests {
    /// Four consecutive linear pages on scattered, out-of-order frames.
    static let gva: UInt64 = 0x0000_0040_0000_0000
    static let frames: [UInt64] = [0x0090_3000, 0x0080_1000, 0x0200_5000, 0x0085_7000]

    static func scattered(_ f: GuestFixture) {
        for (i, fr) in frames.enumerated() { f.map(gva + UInt64(i) * 0x1000, to: fr) }
    }

    /// Where byte `off` of the linear range lives physically.
    static func gpa(_ off: UInt64) -> UInt64 { frames[Int(off / 0x1000)] + off % 0x1000 }

    @Test(
        arguments: [
            (UInt64(0), 1), (UInt64(0xFFD), 7), (UInt64(0xFFF), 0x1002), (UInt64(0x3), 3 * 0x1000 + 0xFF0),
            (UInt64(0), 0x4000), (UInt64(0x7FF), 0x2000),
        ] as [(UInt64, Int)])
    func roundTripAcrossPages(start: UInt64, count: Int) {
        let f = GuestFixture()
        Self.scattered(f)
        let data = pattern(count, seed: UInt8(truncatingIfNeeded: count))
        let st = f.copyTo(Self.gva + start, from: data)
        #expect(st.err == GML_OK && st.done == UInt64(count))
        for i in 0..<UInt64(count) {
            if f.ptr(Self.gpa(start + i))[0] != data[Int(i)] {
                Issue.record("byte \(i) at \(hex(Self.gpa(start + i))) wrong")
                break
            }
        }
        var back = [UInt8](repeating: 0, count: count)
        let st2 = f.copyFrom(Self.gva + start, into: &back)
        #expect(st2.err == GML_OK && st2.done == UInt64(count))
        #expect(back == data)
    }

    @Test func mixedPageSizes() {
        let f = GuestFixture()
        // 4 KiB page just below a 1 GiB page, and a 4 KiB page just below a 2 MiB page
        f.map(0x3FFF_F000, to: 0x0080_4000)
        f.map(0x4000_0000, to: Layout.ram1G.lowerBound, size: .g1)
        f.map(0x001F_F000, to: 0x0080_6000)
        f.map(0x0020_0000, to: 0x0060_0000, size: .m2)
        f.map(0x0040_0000, to: 0x0080_7000)  // 4 KiB right after the 2 MiB page
        let a = pattern(0x3001, seed: 3)
        #expect(f.copyTo(0x3FFF_F800, from: a).err == GML_OK)
        #expect(f.bytes(0x0080_4800, 0x800) == Array(a[0..<0x800]))
        #expect(f.bytes(Layout.ram1G.lowerBound, 0x2801) == Array(a[0x800...]))
        let b = pattern(0x20_1000 + 0x234, seed: 9)  // 4K tail + whole 2M page + into the next 4K
        #expect(f.copyTo(0x001F_F000, from: b).err == GML_OK)
        #expect(f.bytes(0x0080_6000, 0x1000) == Array(b[0..<0x1000]))
        #expect(f.bytes(0x0060_0000, 0x20_0000) == Array(b[0x1000..<0x20_1000]))
        #expect(f.bytes(0x0080_7000, 0x234) == Array(b[0x20_1000...]))
        var back = [UInt8](repeating: 0, count: b.count)
        #expect(f.copyFrom(0x001F_F000, into: &back).err == GML_OK)
        #expect(back == b)
    }

    @Test func oneTranslationPerLargePage() {
        let f = GuestFixture()
        f.map(0x0020_0000, to: 0x0060_0000, size: .m2)
        #expect(f.translate(0x0020_0000, Acc.write).err == GML_OK)  // A/D set beforehand
        f.resetStats()
        var buf = [UInt8](repeating: 0, count: 0x10000)
        #expect(f.copyFrom(0x0020_0000, into: &buf).err == GML_OK)
        // 3 entry reads for one walk (PML4, PDPT, PD) + 16 data pieces of 4 KiB
        #expect(f.stats().maps == 3 + 16)
        f.map(0x0080_0000, to: 0x0080_8000)
        f.map(0x0080_1000, to: 0x0080_9000)
        #expect(f.translate(0x0080_0000, Acc.write).err == GML_OK)
        #expect(f.translate(0x0080_1000, Acc.write).err == GML_OK)
        f.resetStats()
        var w = f.walker()
        #expect(gml_copy_from_guest_linear_uncached(&w, f.phys, &buf, 0x0080_0000, 0x2000, nil) == GML_OK)
        #expect(f.stats().maps == 2 * 4 + 2, "one 4-level walk per 4 KiB page")
        // the default copy caches the upper levels within the call (WalkCacheTests)
        f.resetStats()
        #expect(f.copyFrom(0x0080_0000, into: &buf, len: 0x2000).err == GML_OK)
        #expect(f.stats().maps == 4 + 1 + 2, "one 4-level walk, then the next page's PTE")
    }

    /// Page 2 of 4 not present: exact progress, fault offset and level; nothing at or after the
    /// fault read or written (canaries in the buffer and in the guest's later frames).
    @Test(arguments: [UInt64(0), 0x7, 0xFFF])
    func faultMidCopyStopsExactly(start: UInt64) {
        let f = GuestFixture()
        Self.scattered(f)
        f.modify(Self.gva + 0x2000, level: 1, clear: PTE.p)
        let len: UInt64 = 0x4000 - start
        let expectDone = 0x2000 - start

        for (i, fr) in Self.frames.enumerated() { f.fill(fr, count: 0x1000, byte: UInt8(0x10 + i)) }
        var buf = [UInt8](repeating: canary, count: Int(len) + 16)
        let st = f.copyFrom(Self.gva + start, into: &buf, len: len)
        #expect(st.err == GML_E_NOT_PRESENT)
        #expect(st.level == 1)
        #expect(st.done == expectDone)
        #expect(st.fault_addr == Self.gva + 0x2000)
        #expect(buf[Int(expectDone) - 1] == (expectDone > 0x1000 ? 0x11 : 0x10))
        #expect(buf[Int(expectDone)...].allSatisfy { $0 == canary }, "bytes beyond the fault written")

        let data = [UInt8](repeating: 0xAB, count: Int(len))
        let st2 = f.copyTo(Self.gva + start, from: data)
        #expect(st2.err == GML_E_NOT_PRESENT && st2.done == expectDone)
        #expect(f.bytes(Self.frames[1], 0x1000).allSatisfy { $0 == 0xAB })
        #expect(f.bytes(Self.frames[2], 0x1000).allSatisfy { $0 == 0x12 }, "frame of the non-present page")
        #expect(f.bytes(Self.frames[3], 0x1000).allSatisfy { $0 == 0x13 }, "frame after the fault")
        #expect(f.entry(Self.gva + 0x3000, level: 1) & PTE.a == 0, "page after the fault walked")
    }

    @Test func readOnlyPageMidWriteFromUser() {
        let f = GuestFixture()
        Self.scattered(f)
        f.modify(Self.gva + 0x1000, level: 1, clear: PTE.rw)
        f.cpu.cpl = 3
        f.fill(Self.frames[1], count: 0x1000, byte: canary)
        let st = f.copyTo(Self.gva + 0x10, from: [UInt8](repeating: 1, count: 0x3000))
        #expect(st.err == GML_E_READ_ONLY && st.level == 1)
        #expect(st.done == 0xFF0)
        #expect(f.bytes(Self.frames[1], 0x1000).allSatisfy { $0 == canary })
        #expect(f.entry(Self.gva, level: 1) & PTE.d != 0)
        #expect(f.entry(Self.gva + 0x1000, level: 1) & (PTE.a | PTE.d) == 0)
    }

    @Test func supervisorPageMidCopyFromUser() {
        let f = GuestFixture()
        Self.scattered(f)
        f.modify(Self.gva + 0x3000, level: 1, clear: PTE.us)
        f.cpu.cpl = 3
        var buf = [UInt8](repeating: canary, count: 0x4000)
        let st = f.copyFrom(Self.gva, into: &buf)
        #expect(st.err == GML_E_USER_SUPERVISOR && st.done == 0x3000)
        #expect(buf[0x3000...].allSatisfy { $0 == canary })
    }

    /// A linear page whose frame is in the hypervisor's region, MMIO, outside RAM, or ROM.
    @Test(arguments: [
        (Layout.hv.lowerBound, GML_E_GPA_HV_REGION, true),
        (Layout.hv.upperBound - 0x1000, GML_E_GPA_HV_REGION, true),
        (Layout.mmio.lowerBound + 0x5000, GML_E_GPA_MMIO, true),
        (Layout.unbacked, GML_E_GPA_OUTSIDE_RAM, true),
        (Layout.rom.lowerBound, GML_E_GPA_READ_ONLY, false),  // readable, not writable
    ])
    func frameInForbiddenPlace(frame: UInt64, want: gml_err, readFails: Bool) {
        let f = GuestFixture()
        Self.scattered(f)
        f.map(Self.gva + 0x1000, to: frame)
        let backed = gml_hmem_ptr(f.hmem, frame, 0x1000) != nil
        if backed { f.fill(frame, count: 0x1000, byte: canary) }
        let st = f.copyTo(Self.gva + 0x800, from: [UInt8](repeating: 7, count: 0x2000))
        #expect(st.err == want)
        #expect(st.done == 0x800 && st.fault_addr == Self.gva + 0x1000 && st.fault_gpa == frame)
        if backed { #expect(f.bytes(frame, 0x1000).allSatisfy { $0 == canary }, "forbidden frame written") }
        var buf = [UInt8](repeating: 0, count: 0x2000)
        let st2 = f.copyFrom(Self.gva + 0x800, into: &buf)
        if readFails {
            #expect(st2.err == want && st2.done == 0x800)
        } else {
            #expect(st2.err == GML_OK && buf[0x800..<0x1800].allSatisfy { $0 == canary })
        }
    }

    /// Memory-map regions need not be page-aligned: a hypervisor range starting mid-page
    /// stops the copy at the start of that page piece, and names the first forbidden byte.
    @Test func unalignedForbiddenRangeInsideAPage() {
        let f = GuestFixture()
        Self.scattered(f)
        #expect(gml_memmap_add_hv(f.map, Self.frames[1] + 0x800, 0x10) == GML_OK)
        f.fill(Self.frames[1], count: 0x1000, byte: canary)
        let st = f.copyTo(Self.gva + 0x100, from: [UInt8](repeating: 9, count: 0x2000))
        #expect(st.err == GML_E_GPA_HV_REGION)
        #expect(st.done == 0xF00 && st.fault_gpa == Self.frames[1] + 0x800)
        #expect(f.bytes(Self.frames[1], 0x1000).allSatisfy { $0 == canary })
        var buf = [UInt8](repeating: canary, count: 0x2000)
        let st2 = f.copyFrom(Self.gva + 0x100, into: &buf)
        #expect(st2.err == GML_E_GPA_HV_REGION && st2.done == 0xF00)
        #expect(buf[0xF00...].allSatisfy { $0 == canary })
    }

    @Test func zeroWrappingAndNonCanonicalLengths() {
        let f = GuestFixture()
        f.map(0x0000_7FFF_FFFF_F000, to: 0x0080_1000)
        f.map(0xFFFF_FFFF_FFFF_F000, to: 0x0080_2000)
        var buf = [UInt8](repeating: canary, count: 0x3000)
        #expect(f.copyFrom(0x0000_7FFF_FFFF_F000, into: &buf, len: 0).err == GML_E_LEN_ZERO)
        let wrap = f.copyFrom(0xFFFF_FFFF_FFFF_F000, into: &buf, len: 0x1001)
        #expect(wrap.err == GML_E_LEN_WRAP && wrap.done == 0)
        #expect(f.copyTo(0xFFFF_FFFF_FFFF_F000, from: buf, len: UInt64.max).err == GML_E_LEN_WRAP)
        #expect(f.entry(0xFFFF_FFFF_FFFF_F000, level: 1) & PTE.a == 0, "wrap detected before walking")
        #expect(buf.allSatisfy { $0 == canary })
        let top = f.copyFrom(0xFFFF_FFFF_FFFF_F000, into: &buf, len: 0x1000)  // ends exactly at 2^64-1
        #expect(top.err == GML_OK && top.done == 0x1000)
        let hole = f.copyFrom(0x0000_7FFF_FFFF_FF00, into: &buf, len: 0x200)  // runs into the hole
        #expect(hole.err == GML_E_NONCANONICAL && hole.done == 0x100 && hole.fault_addr == 0x0000_8000_0000_0000)
    }

    @Test func fiveLevelUpperHalfCopy() {
        let f = GuestFixture(levels: 5)
        let gva: UInt64 = 0xFF12_3456_789F_F000  // PML5 index 0x1E2 (upper half), crosses into the next PML1 table
        f.map(gva, to: 0x0080_1000)
        f.map(gva + 0x1000, to: 0x0200_3000)
        let data = pattern(0x1800, seed: 11)
        #expect(f.copyTo(gva + 0x400, from: data).err == GML_OK)
        #expect(f.bytes(0x0080_1400, 0xC00) == Array(data[..<0xC00]))
        #expect(f.bytes(0x0200_3000, 0xC00) == Array(data[0xC00...]))
        var back = [UInt8](repeating: 0, count: data.count)
        #expect(f.copyFrom(gva + 0x400, into: &back).err == GML_OK && back == data)
    }

    @Test func pagingOffCopiesPhysicallyWithTheSameChecks() {
        let f = GuestFixture()
        f.cpu.cr0 = CR.cr0PE
        f.cpu.efer = 0
        f.cpu.cr4 = 0
        let data = pattern(0x1801, seed: 2)
        #expect(f.copyTo(0x0080_0FFF, from: data).err == GML_OK)
        #expect(f.bytes(0x0080_0FFF, data.count) == data)
        f.fill(Layout.hv.lowerBound, count: 16, byte: canary)
        let st = f.copyTo(Layout.hv.lowerBound - 0x10, from: [UInt8](repeating: 0, count: 0x20))
        #expect(st.err == GML_E_GPA_HV_REGION && st.done == 0x10)
        #expect(f.bytes(Layout.hv.lowerBound, 16).allSatisfy { $0 == canary })
        var buf = [UInt8](repeating: 0, count: 0x20)
        let st2 = f.copyFrom(0xFFFF_FFF0, into: &buf)
        #expect(st2.err != GML_OK && st2.done == 0)
        #expect(f.copyFrom(0x1_0000_0000, into: &buf).err == GML_E_NONCANONICAL)
    }

    /// RAM the memory map admits but the map hook cannot map (as a broken identity map would
    /// be): a typed error for data and for paging structures, never a dereference.
    @Test func mapHookFailureIsTyped() {
        let f = GuestFixture()
        let ghost: UInt64 = 0x0500_0000  // RAM in the map, no backing in the synthetic memory
        #expect(gml_memmap_add_ram(f.map, ghost, 0x10_0000) == GML_OK)
        f.map(0x1000, to: 0x0080_1000)
        f.map(0x2000, to: ghost)
        var buf = [UInt8](repeating: canary, count: 0x2000)
        let st = f.copyFrom(0x1000, into: &buf)
        #expect(st.err == GML_E_GPA_UNMAPPED && st.done == 0x1000 && st.fault_gpa == ghost)
        #expect(buf[0x1000...].allSatisfy { $0 == canary })
        f.setEntry(0x2000, level: 2, (f.entry(0x2000, level: 2) & ~PTE.addr) | ghost)
        let w = f.translate(0x2000)
        #expect(w.err == GML_E_GPA_UNMAPPED && w.level == 1)
        var pbuf: UInt8 = 0
        var pst = gml_copy_status()
        #expect(gml_copy_from_guest_phys(f.phys, &pbuf, ghost, 1, &pst) == GML_E_GPA_UNMAPPED)
    }

    @Test func nullArgumentsAreTypedErrors() {
        let f = GuestFixture()
        var w = f.walker()
        var st = gml_copy_status()
        #expect(gml_copy_from_guest_linear(&w, f.phys, nil, 0x1000, 1, &st) == GML_E_INVALID_ARG)
        #expect(gml_copy_to_guest_linear(nil, f.phys, 0x1000, [1], 1, &st) == GML_E_INVALID_ARG)
        #expect(gml_copy_from_guest_phys(nil, nil, 0, 1, nil) == GML_E_INVALID_ARG)
    }
}

@Suite struct DatumTests {
    static let gva: UInt64 = 0x0000_0040_0000_0000

    static func twoPages(_ f: GuestFixture) {
        f.map(gva, to: 0x0080_1000)
        f.map(gva + 0x1000, to: 0x0090_5000)
    }

    @Test func allWidthsAlignedAndCrossing() {
        let f = GuestFixture()
        Self.twoPages(f)
        var w = f.walker()
        for base in [Self.gva + 0x10, Self.gva + 0xFFF, Self.gva + 0xFFD, Self.gva + 0xFF9] {
            #expect(gml_write_linear_q(&w, f.phys, base, 0x0102_0304_0506_0708) == GML_OK)
            var q: UInt64 = 0
            var l: UInt32 = 0
            var s: UInt16 = 0
            var b: UInt8 = 0
            #expect(gml_read_linear_q(&w, f.phys, base, &q) == GML_OK && q == 0x0102_0304_0506_0708)
            #expect(gml_read_linear_l(&w, f.phys, base + 1, &l) == GML_OK && l == 0x0405_0607)
            #expect(gml_read_linear_w(&w, f.phys, base + 2, &s) == GML_OK && s == 0x0506)
            #expect(gml_read_linear_b(&w, f.phys, base + 7, &b) == GML_OK && b == 0x01)
            #expect(gml_write_linear_l(&w, f.phys, base, 0xAABB_CCDD) == GML_OK)
            #expect(gml_write_linear_w(&w, f.phys, base + 4, 0xEEFF) == GML_OK)
            #expect(gml_write_linear_b(&w, f.phys, base + 6, 0x11) == GML_OK)
            #expect(gml_read_linear_q(&w, f.phys, base, &q) == GML_OK && q == 0x0111_EEFF_AABB_CCDD, "\(hex(base))")
        }
        // little-endian layout in guest memory, split over the two frames
        #expect(f.bytes(0x0080_1FF9, 7) == [0xDD, 0xCC, 0xBB, 0xAA, 0xFF, 0xEE, 0x11])
        #expect(f.bytes(0x0090_5000, 1) == [0x01])
    }

    @Test func crossingIntoAFaultTouchesNeitherPage() {
        let f = GuestFixture()
        Self.twoPages(f)
        f.modify(Self.gva + 0x1000, level: 1, clear: PTE.p)
        f.fill(0x0080_1FF0, count: 16, byte: canary)
        var w = f.walker()
        #expect(gml_write_linear_q(&w, f.phys, Self.gva + 0xFFC, 0) == GML_E_NOT_PRESENT)
        #expect(f.bytes(0x0080_1FF0, 16).allSatisfy { $0 == canary })
        #expect(f.entry(Self.gva, level: 1) & (PTE.a | PTE.d) == 0, "first page's A/D touched")
        var q: UInt64 = 0x5555
        var walk = gml_walk()
        var buf = [UInt8](repeating: 0, count: 8)
        #expect(gml_access_linear_datum(&w, f.phys, Self.gva + 0xFFC, &buf, 8, false, &walk) == GML_E_NOT_PRESENT)
        #expect(walk.level == 1 && walk.entry_gpa == f.entryGPA(Self.gva + 0x1000, level: 1))
        #expect(gml_read_linear_q(&w, f.phys, Self.gva + 0xFFC, &q) == GML_E_NOT_PRESENT && q == 0x5555)
        // not crossing: fine
        #expect(gml_read_linear_l(&w, f.phys, Self.gva + 0xFFC, nil) == GML_E_INVALID_ARG)
        var l: UInt32 = 0
        #expect(gml_read_linear_l(&w, f.phys, Self.gva + 0xFFC, &l) == GML_OK && l == 0xC5C5_C5C5)
    }

    @Test func crossingIntoTheHypervisorRegionOrReadOnly() {
        let f = GuestFixture()
        f.map(Self.gva, to: 0x0080_1000)
        f.map(Self.gva + 0x1000, to: Layout.hv.lowerBound)
        f.fill(Layout.hv.lowerBound, count: 8, byte: canary)
        f.fill(0x0080_1FF8, count: 8, byte: canary)
        var w = f.walker()
        #expect(gml_write_linear_q(&w, f.phys, Self.gva + 0xFFE, 0) == GML_E_GPA_HV_REGION)
        #expect(f.bytes(Layout.hv.lowerBound, 8).allSatisfy { $0 == canary })
        #expect(f.bytes(0x0080_1FF8, 8).allSatisfy { $0 == canary })
        f.map(Self.gva + 0x1000, to: 0x0080_2000, leaf: PTE.p | PTE.us)
        f.cpu.cpl = 3
        w = f.walker()
        #expect(gml_write_linear_w(&w, f.phys, Self.gva + 0xFFF, 0) == GML_E_READ_ONLY)
        #expect(f.bytes(0x0080_1FF8, 8).allSatisfy { $0 == canary })
    }

    @Test func sizesAndWrap() {
        let f = GuestFixture()
        Self.twoPages(f)
        var w = f.walker()
        var buf = [UInt8](repeating: 0, count: 16)
        #expect(gml_access_linear_datum(&w, f.phys, Self.gva, &buf, 0, false, nil) == GML_E_INVALID_ARG)
        #expect(gml_access_linear_datum(&w, f.phys, Self.gva, &buf, 9, false, nil) == GML_E_INVALID_ARG)
        #expect(gml_access_linear_datum(&w, f.phys, UInt64.max - 2, &buf, 4, false, nil) == GML_E_LEN_WRAP)
    }
}

@Suite struct PhysCopyTests {
    @Test func roundTripAcrossPagesAndRanges() {
        let f = GuestFixture()
        let data = pattern(0x3003, seed: 5)
        var st = gml_copy_status()
        #expect(gml_copy_to_guest_phys(f.phys, 0x0080_0FFE, data, UInt64(data.count), &st) == GML_OK)
        #expect(st.done == UInt64(data.count))
        #expect(f.bytes(0x0080_0FFE, data.count) == data)
        var back = [UInt8](repeating: 0, count: data.count)
        #expect(gml_copy_from_guest_phys(f.phys, &back, 0x0080_0FFE, UInt64(data.count), &st) == GML_OK)
        #expect(back == data)
        #expect(gml_copy_from_guest_phys(f.phys, &back, Layout.rom.lowerBound, 16, &st) == GML_OK)
    }

    /// All or nothing: a range that ends in a forbidden place is refused before any byte moves.
    @Test(arguments: [
        (Layout.hv.lowerBound - 0x800, GML_E_GPA_HV_REGION, Layout.hv.lowerBound),
        (Layout.ramLow.upperBound - 0x800, GML_E_GPA_MMIO, Layout.mmio.lowerBound),
        (Layout.ramHigh.upperBound - 0x800, GML_E_GPA_OUTSIDE_RAM, Layout.ramHigh.upperBound),
        (Layout.rom.lowerBound - 0x10, GML_E_GPA_OUTSIDE_RAM, Layout.rom.lowerBound - 0x10),
    ])
    func refusedRangesTouchNothing(start: UInt64, want: gml_err, bad: UInt64) {
        let f = GuestFixture()
        let valid = gml_hmem_ptr(f.hmem, start, 0x800) != nil
        if valid { f.fill(start, count: 0x800, byte: canary) }
        var st = gml_copy_status()
        let data = [UInt8](repeating: 1, count: 0x1000)
        #expect(gml_copy_to_guest_phys(f.phys, start, data, 0x1000, &st) == want)
        #expect(st.done == 0 && st.fault_gpa == bad && st.fault_addr == start)
        if valid { #expect(f.bytes(start, 0x800).allSatisfy { $0 == canary }) }
        var buf = [UInt8](repeating: canary, count: 0x1000)
        #expect(gml_copy_from_guest_phys(f.phys, &buf, start, 0x1000, &st) == want)
        #expect(buf.allSatisfy { $0 == canary })
    }

    @Test func romWriteZeroAndWrap() {
        let f = GuestFixture()
        var st = gml_copy_status()
        #expect(gml_copy_to_guest_phys(f.phys, Layout.rom.lowerBound, [1], 1, &st) == GML_E_GPA_READ_ONLY)
        #expect(gml_copy_to_guest_phys(f.phys, 0x1000, [1], 0, &st) == GML_E_LEN_ZERO)
        var b: UInt8 = 0
        #expect(gml_copy_from_guest_phys(f.phys, &b, UInt64.max, 2, &st) == GML_E_LEN_WRAP)
        #expect(st.fault_gpa == 0)
    }
}
