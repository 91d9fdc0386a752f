// Host tests of machine-side hypervisor files that no guest in the lab's emulators can drive
// (Sources/Hypervisor/hosttests): the ROM write step with 64 region pages in one instruction
// (an AVX-512 scatter) and nested paging beyond 2^48 or over more high GiB than the on-demand
// budget. The real vmm/romwrite.c and mem/nested.c, under ASan and UBSan.
import Foundation
import Testing

@Suite struct MachineSideTests {
    static let repository = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test func romWriteStepAndNestedPagingHoldUnderInputsNoEmulatorCanMake() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [
            "make", "-s", "-C", Self.repository.appendingPathComponent("Sources/Hypervisor/hosttests").path, "check",
            "O=" + Self.repository.appendingPathComponent(".build/hosttests").path,
        ]
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0, "\(output)")
        #expect(output.contains("machine-side host tests: all passed"), "\(output)")
        #expect(output.contains("the 65th refused with #GP"), "\(output)")
    }
}
