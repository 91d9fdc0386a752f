import Foundation
import LabVirt
import Testing

@testable import LabKit

/// A `lab run` that is killed (SIGKILL: no handler runs) or interrupted (Ctrl-C) leaves no VM
/// behind. Runs the real `lab` executable on a case that hangs the guest, waits until its VM
/// exists, then kills the process.
@Suite(.serialized) struct InterruptedRunTests {
    /// The `lab` executable built beside this test bundle.
    static func labExecutable() throws -> String {
        let bundleDir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for candidate in [bundleDir, bundleDir.deletingLastPathComponent()] {
            let path = candidate.appendingPathComponent("lab").path
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        Issue.record("no lab executable beside \(CommandLine.arguments[0]); build it with `swift build --product lab`")
        throw CancellationError()
    }

    func domains(ofPID pid: Int32) throws -> [String] {
        let connection = try LibvirtConnection()
        defer { connection.close() }
        return try connection.domainNames(withPrefix: DomainName.prefix + "\(pid)-")
    }

    /// Starts `lab run` on the guest-hanging case and returns once its VM exists.
    func startHangingRun() async throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try Self.labExecutable())
        process.currentDirectoryURL = URL(fileURLWithPath: LabRunIntegrationTests.repository)
        process.arguments = [
            "run", "--backend", "none", "--only", "selftest/hang-guest", "--quiet",
            "--results", LabRunIntegrationTests.temporaryDirectory("killed"),
        ]
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        for _ in 0..<600 {
            if try !domains(ofPID: process.processIdentifier).isEmpty { return process }
            if !process.isRunning { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        process.terminate()
        Issue.record(
            "lab run never started a VM (exit status \(process.isRunning ? "running" : "\(process.terminationStatus)"))"
        )
        throw CancellationError()
    }

    func waitUntilGone(_ pid: Int32, within seconds: Int) async throws -> [String] {
        var left: [String] = []
        for _ in 0..<(seconds * 10) {
            left = try domains(ofPID: pid)
            if left.isEmpty { return [] }
            try await Task.sleep(for: .milliseconds(100))
        }
        return left
    }

    @Test func killedLabRunLeavesNoDomain() async throws {
        let process = try await startHangingRun()
        let pid = process.processIdentifier
        kill(pid, SIGKILL)
        process.waitUntilExit()
        // libvirtd destroys AUTODESTROY domains when the connection of their creator closes.
        let left = try await waitUntilGone(pid, within: 15)
        #expect(left.isEmpty, "domains left after SIGKILL: \(left)")
    }

    @Test func interruptedLabRunDestroysItsVMAndExits130() async throws {
        let process = try await startHangingRun()
        let pid = process.processIdentifier
        kill(pid, SIGINT)
        process.waitUntilExit()
        #expect(process.terminationStatus == 130)
        #expect(try domains(ofPID: pid).isEmpty)
    }
}
