// The services' one argument accessor (issue 12): every service in Sources/Hypervisor/services/
// reads and writes the caller's registers through include/svc_regs.h (svc_get / svc_set), not
// through its own RD/WR macros or direct current->vmctl calls. The seed's examples
// (services/seed_*.c) are exempt: they stay the seed's code, written the seed's way.
import Foundation
import Testing

@Suite struct ServiceSourceTests {
    static let servicesDir = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Sources/Hypervisor/services")

    @Test func servicesUseTheOneArgumentAccessor() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.servicesDir.path)
            .filter { $0.hasSuffix(".c") && !$0.hasPrefix("seed_") }.sorted()
        #expect(files.count >= 5, "service sources not found in \(Self.servicesDir.path)")
        for file in files {
            let text = try String(contentsOf: Self.servicesDir.appendingPathComponent(file), encoding: .utf8)
            let usesRegisters = text.contains("svc_get(") || text.contains("svc_set(")
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
            for (i, line) in lines.enumerated() {
                #expect(!line.contains("vmctl."), "\(file):\(i + 1): direct current->vmctl call: \(line)")
                #expect(
                    !line.contains("#define RD") && !line.contains("#define WR"),
                    "\(file):\(i + 1): a private register macro: \(line)"
                )
            }
            if usesRegisters {
                #expect(text.contains("#include \"svc_regs.h\""), "\(file) uses svc_get/svc_set without svc_regs.h")
            }
        }
    }
}
