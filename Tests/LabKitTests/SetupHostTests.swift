import Foundation
import Testing

/// scripts/setup-host on a system that is not Debian: stops at once, with the reason, before
/// apt or any daemon is touched (docs/install.md "Ubuntu 24.04").
@Suite struct SetupHostTests {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("scripts/setup-host").path

    @Test func ubuntuIsRefusedWithTheReason() throws {
        guard getuid() == 0 else {
            Issue.record("setup-host checks for root first: run the tests as root (sudo make test)")
            return
        }
        let dir = try scratchDirectory("os-release")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let release = dir + "/os-release"
        try "PRETTY_NAME=\"Ubuntu 24.04.1 LTS\"\nNAME=\"Ubuntu\"\nVERSION_ID=\"24.04\"\nID=ubuntu\nID_LIKE=debian\n"
            .write(toFile: release, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [Self.script]
        var environment = ProcessInfo.processInfo.environment
        environment["GMLAB_OS_RELEASE"] = release
        environment["GMLAB_SETUP_ANY_DISTRO"] = nil
        process.environment = environment
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        let started = Date()
        try process.run()
        let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 1)
        #expect(text.contains("this host is 'ubuntu 24.04', not Debian"), "\(text)")
        #expect(text.contains("docs/install.md"))
        #expect(!text.contains("installing:") && !text.contains("libvirtd"), "it went on: \(text)")
        #expect(Date().timeIntervalSince(started) < 5)
    }
}
