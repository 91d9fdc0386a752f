// Service registry: numbering, capacity, duplicates, name limits, dispatch, and the look-up of
// a name in guest-linear memory.
import HypervisorCore
import Testing

// Handlers have the seed's C signature void(void); they can only reach globals.
nonisolated(unsafe) private var hits = [0, 0, 0]
private let handlers: [gml_service_fn] = [{ hits[0] += 1 }, { hits[1] += 1 }, { hits[2] += 1 }]

private final class Registry {
    let p = UnsafeMutablePointer<gml_registry>.allocate(capacity: 1)
    init() { gml_registry_init(p) }
    deinit { p.deallocate() }
    @discardableResult
    func register(_ name: String, _ fn: gml_service_fn? = handlers[0]) -> (gml_err, UInt64) {
        var n: UInt64 = 99
        let e = gml_registry_register(p, name, fn, &n)
        return (e, n)
    }
    func lookup(_ name: String) -> UInt64 { gml_registry_lookup(p, name) }
}

@Suite(.serialized) struct RegistryTests {
    @Test func numbersFollowRegistrationOrderAndDispatchRunsTheRightHandler() {
        let r = Registry()
        #expect(r.register("alpha", handlers[0]) == (GML_OK, 1))
        #expect(r.register("beta", handlers[1]) == (GML_OK, 2))
        #expect(r.register("gamma", handlers[2]) == (GML_OK, 3))
        #expect(r.lookup("beta") == 2)
        #expect(r.lookup("gamma") == 3)
        #expect(r.lookup("delta") == 0)
        #expect(r.lookup("bet") == 0 && r.lookup("betaa") == 0, "prefixes are different names")
        #expect(String(cString: gml_registry_name(r.p, 3)) == "gamma")
        hits = [0, 0, 0]
        #expect(gml_registry_dispatch(r.p, 2) == GML_OK)
        #expect(gml_registry_dispatch(r.p, 3) == GML_OK)
        #expect(gml_registry_dispatch(r.p, 3) == GML_OK)
        #expect(hits == [0, 1, 2])
        for bad: UInt64 in [0, 4, 1000, UInt64.max, GML_HC_ENOSYS] {
            #expect(gml_registry_dispatch(r.p, bad) == GML_E_UNKNOWN_SERVICE, "\(bad)")
            #expect(gml_registry_get(r.p, bad) == nil)
            #expect(gml_registry_name(r.p, bad) == nil)
        }
        #expect(hits == [0, 1, 2], "a bad number ran a handler")
    }

    @Test func capacityAndFullRegistry() {
        let r = Registry()
        let cap = Int(GML_REGISTRY_CAPACITY)
        #expect(cap >= 128)
        for i in 1...cap { #expect(r.register("svc\(i)") == (GML_OK, UInt64(i))) }
        #expect(r.register("one-too-many") == (GML_E_REGISTRY_FULL, 0))
        #expect(r.register("svc1") == (GML_E_NAME_DUPLICATE, 0), "duplicate reported before full")
        #expect(r.lookup("svc\(cap)") == UInt64(cap))
        #expect(r.lookup("one-too-many") == 0)
    }

    @Test func nameRules() {
        let r = Registry()
        let n255 = String(repeating: "x", count: 255)
        let n256 = String(repeating: "y", count: 256)
        #expect(r.register(n255) == (GML_OK, 1))
        #expect(r.lookup(n255) == 1)
        #expect(r.register(n256) == (GML_E_NAME_TOO_LONG, 0))
        #expect(r.register(String(repeating: "x", count: 1000)) == (GML_E_NAME_TOO_LONG, 0))
        #expect(r.lookup(n256) == 0)
        #expect(r.lookup(n255 + "x") == 0, "256-char name matched its 255-char prefix")
        #expect(r.register("") == (GML_E_NAME_EMPTY, 0))
        #expect(r.register("dup") == (GML_OK, 2))
        #expect(r.register("dup", handlers[1]) == (GML_E_NAME_DUPLICATE, 0))
        #expect(r.register("nofn", nil) == (GML_E_INVALID_ARG, 0))
        #expect(gml_registry_register(r.p, nil, handlers[0], nil) == GML_E_INVALID_ARG)
        #expect(r.p.pointee.count == 2)
    }

    @Test func cpl0OnlyFlagIsStoredAndOnlyAcceptedFlagsRegister() {
        let r = Registry()
        var n: UInt64 = 99
        #expect(gml_registry_register_flags(r.p, "phys", handlers[0], GML_SVC_CPL0_ONLY, &n) == GML_OK && n == 1)
        #expect(r.register("echo") == (GML_OK, 2), "the seed's register() still works, flags 0")
        #expect(gml_registry_flags(r.p, 1) == GML_SVC_CPL0_ONLY)
        #expect(gml_registry_flags(r.p, 2) == 0)
        for bad: UInt64 in [0, 3, UInt64.max] { #expect(gml_registry_flags(r.p, bad) == 0, "\(bad)") }
        for flags: UInt32 in [0x2, 0x80, ~0] {
            #expect(
                gml_registry_register_flags(r.p, "odd\(flags)", handlers[0], flags, &n) == GML_E_INVALID_ARG
                    && n == 0,
                "unknown flag bits \(flags) accepted"
            )
        }
        #expect(r.p.pointee.count == 2, "a refused registration took a number")
        #expect(r.lookup("phys") == 1, "the flag does not change numbering or look-up")
    }

    @Test func policyRefusesOnlyCpl0OnlyServicesToCpl3UnderStrict() {
        let r = Registry()
        #expect(gml_registry_register_flags(r.p, "phys", handlers[0], GML_SVC_CPL0_ONLY, nil) == GML_OK)
        r.register("echo")
        let bitvisor = GML_POLICY_BITVISOR
        let strict = GML_POLICY_STRICT
        for cpl: UInt8 in 0...3 {
            for number: UInt64 in [1, 2, 0, 7, UInt64.max] {
                #expect(gml_registry_allowed(r.p, number, cpl, bitvisor), "bitvisor refused \(number) at CPL\(cpl)")
                let refused = cpl == 3 && number == 1
                #expect(
                    gml_registry_allowed(r.p, number, cpl, strict) == !refused,
                    "strict: service \(number) at CPL\(cpl) expected \(refused ? "refused" : "allowed")"
                )
                #expect(
                    gml_registry_allowed(r.p, number, cpl, 7) == !refused,
                    "an unknown policy value must act as strict (service \(number), CPL\(cpl))"
                )
            }
        }
        #expect(GML_ME_DENIED == 260 && GML_POLICY_BITVISOR == 0 && GML_POLICY_STRICT == 1, "ABI values")
    }
}

@Suite struct GuestNameLookupTests {
    static let gva: UInt64 = 0x0000_0040_0000_0000  // two mapped pages, third not present

    private static func setup() -> (GuestFixture, Registry) {
        let f = GuestFixture()
        f.map(gva, to: 0x0080_1000)
        f.map(gva + 0x1000, to: 0x0090_2000)
        let r = Registry()
        r.register("log")
        r.register("hello")
        r.register(String(repeating: "n", count: 255))
        return (f, r)
    }

    private static func put(_ f: GuestFixture, at gva: UInt64, _ s: [UInt8]) {
        var w = f.walker()
        for (i, b) in s.enumerated() {
            let e = gml_write_linear_b(&w, f.phys, gva + UInt64(i), b)
            if e != GML_OK {
                Issue.record("setting up the name at \(hex(gva &+ UInt64(i))): \(e)")
                return
            }
        }
    }

    private static func lookup(_ f: GuestFixture, _ r: Registry, _ gva: UInt64) -> (UInt64, gml_err) {
        var w = f.walker()
        var why = GML_E__COUNT
        let n = gml_lookup_guest_name(r.p, &w, f.phys, gva, &why)
        return (n, why)
    }

    @Test func findsNamesAnywhereIncludingAcrossAPage() {
        let (f, r) = Self.setup()
        Self.put(f, at: Self.gva + 0x10, Array("hello".utf8) + [0])
        #expect(Self.lookup(f, r, Self.gva + 0x10) == (2, GML_OK))
        Self.put(f, at: Self.gva + 0xFFE, Array("hello".utf8) + [0])  // "he" | "llo\0"
        #expect(Self.lookup(f, r, Self.gva + 0xFFE) == (2, GML_OK))
        Self.put(f, at: Self.gva + 0x100, Array("hellO".utf8) + [0])
        #expect(Self.lookup(f, r, Self.gva + 0x100) == (0, GML_E_UNKNOWN_SERVICE))
        Self.put(f, at: Self.gva + 0x200, [0])
        #expect(Self.lookup(f, r, Self.gva + 0x200) == (0, GML_E_NAME_EMPTY))
    }

    @Test func nameEndingAtTheLastByteBeforeANonPresentPage() {
        let (f, r) = Self.setup()
        Self.put(f, at: Self.gva + 0x2000 - 4, Array("log".utf8) + [0])
        #expect(Self.lookup(f, r, Self.gva + 0x2000 - 4) == (1, GML_OK))
        // one byte later the NUL would be on the non-present page
        Self.put(f, at: Self.gva + 0x2000 - 3, Array("log".utf8))
        #expect(Self.lookup(f, r, Self.gva + 0x2000 - 3) == (0, GML_E_NOT_PRESENT))
    }

    @Test func faultAddressIsTheFirstUnreadableByte() {
        let (f, r) = Self.setup()
        Self.put(f, at: Self.gva + 0x2000 - 2, Array("lo".utf8))  // "lo" | not present
        var w = f.walker()
        var why = GML_E__COUNT
        var at: UInt64 = 1
        #expect(gml_lookup_guest_name_at(r.p, &w, f.phys, Self.gva + 0x2000 - 2, &why, &at) == 0)
        #expect(why == GML_E_NOT_PRESENT && at == Self.gva + 0x2000, "fault at \(hex(at)): \(why)")
        Self.put(f, at: Self.gva + 0x10, [0])
        #expect(gml_lookup_guest_name_at(r.p, &w, f.phys, Self.gva + 0x10, &why, &at) == 0)
        #expect(why == GML_E_NAME_EMPTY && at == 0, "no fault address without a fault")
        #expect(gml_lookup_guest_name_at(r.p, &w, f.phys, Self.gva + 0x2000 - 2, nil, nil) == 0)
    }

    @Test func longestNameAndUnterminated() {
        let (f, r) = Self.setup()
        let n = Array(String(repeating: "n", count: 255).utf8)
        Self.put(f, at: Self.gva + 0xF80, n + [0])  // 255 chars + NUL, crossing a page
        #expect(Self.lookup(f, r, Self.gva + 0xF80) == (3, GML_OK))
        Self.put(f, at: Self.gva + 0xF80, n + [UInt8(ascii: "n")])  // 256 bytes, no NUL
        Self.put(f, at: Self.gva + 0xF80 + 256, [0])  // NUL one byte too late
        #expect(Self.lookup(f, r, Self.gva + 0xF80) == (0, GML_E_NAME_UNTERMINATED))
    }

    @Test func unreadableNames() {
        let (f, r) = Self.setup()
        #expect(Self.lookup(f, r, Self.gva + 0x2000) == (0, GML_E_NOT_PRESENT))
        #expect(Self.lookup(f, r, 0x0000_8000_0000_0000) == (0, GML_E_NONCANONICAL))
        #expect(Self.lookup(f, r, UInt64.max) == (0, GML_E_NOT_PRESENT))
        Self.put(f, at: Self.gva, Array("log".utf8) + [0])
        f.modify(Self.gva, level: 1, clear: PTE.us)
        f.cpu.cpl = 3  // a user program naming a kernel address
        #expect(Self.lookup(f, r, Self.gva) == (0, GML_E_USER_SUPERVISOR))
        f.cpu.cpl = 0
        #expect(Self.lookup(f, r, Self.gva) == (1, GML_OK))
        f.map(Self.gva + 0x3000, to: Layout.hv.lowerBound)
        #expect(Self.lookup(f, r, Self.gva + 0x3000) == (0, GML_E_GPA_HV_REGION))
    }

    @Test func nameWrappingPast2To64() {
        let (f, r) = Self.setup()
        f.map(0xFFFF_FFFF_FFFF_F000, to: 0x0080_3000)
        Self.put(f, at: UInt64.max - 1, Array("lo".utf8))  // would continue at address 0
        #expect(Self.lookup(f, r, UInt64.max - 1) == (0, GML_E_LEN_WRAP))
        Self.put(f, at: UInt64.max - 3, Array("log".utf8) + [0])  // ends exactly at 2^64 - 1
        #expect(Self.lookup(f, r, UInt64.max - 3) == (1, GML_OK))
    }
}
