// The error numbers are ABI (returned to guests): pin them.
import HypervisorCore
import Testing

@Suite struct ErrorTests {
    @Test func numbersAreStable() {
        let expected: [(gml_err, UInt32)] = [
            (GML_OK, 0), (GML_E_LEN_ZERO, 1), (GML_E_LEN_WRAP, 2), (GML_E_NONCANONICAL, 3),
            (GML_E_NOT_PRESENT, 4), (GML_E_READ_ONLY, 5), (GML_E_USER_SUPERVISOR, 6),
            (GML_E_SMAP, 7), (GML_E_SMEP, 8), (GML_E_NX, 9), (GML_E_PKEY, 10),
            (GML_E_RESERVED_BIT, 11), (GML_E_GPA_OUTSIDE_RAM, 12), (GML_E_GPA_MMIO, 13),
            (GML_E_GPA_HV_REGION, 14), (GML_E_GPA_READ_ONLY, 15), (GML_E_GPA_UNMAPPED, 16),
            (GML_E_PT_OUTSIDE_RAM, 17), (GML_E_PT_HV_REGION, 18), (GML_E_PT_CHANGED, 19),
            (GML_E_UNSUPPORTED_MODE, 20), (GML_E_UNKNOWN_SERVICE, 21),
            (GML_E_NAME_UNTERMINATED, 22), (GML_E_NAME_TOO_LONG, 23), (GML_E_NAME_EMPTY, 24),
            (GML_E_NAME_DUPLICATE, 25), (GML_E_REGISTRY_FULL, 26), (GML_E_INVALID_ARG, 27),
            (GML_E_MEMMAP_FULL, 28),
        ]
        for (e, n) in expected { #expect(e.rawValue == n, "\(e)") }
        #expect(GML_E__COUNT.rawValue == 29)
        #expect(GML_HC_ENOSYS == UInt64.max)
    }

    @Test func everyErrorHasADistinctNameAndText() {
        var names = Set<String>()
        var texts = Set<String>()
        for n in 0..<GML_E__COUNT.rawValue {
            let e = gml_err(rawValue: n)
            let name = String(cString: gml_errname(e))
            let text = String(cString: gml_strerror(e))
            #expect(name.hasPrefix("GML_") && name != "GML_E_?", "\(n)")
            #expect(!text.isEmpty && text != "unknown error number", "\(n)")
            names.insert(name)
            texts.insert(text)
        }
        #expect(names.count == Int(GML_E__COUNT.rawValue))
        #expect(texts.count == Int(GML_E__COUNT.rawValue))
        #expect(String(cString: gml_errname(GML_E__COUNT)) == "GML_E_?")
        #expect(String(cString: gml_strerror(gml_err(rawValue: 9999))) == "unknown error number")
    }
}
