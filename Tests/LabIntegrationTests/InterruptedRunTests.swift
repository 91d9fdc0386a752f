import Foundation
import LabModel
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
    func startHangingRun(results: String = LabRunIntegrationTests.temporaryDirectory("killed")) async throws -> Process
    {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try Self.labExecutable())
        process.currentDirectoryURL = URL(fileURLWithPath: LabRunIntegrationTests.repository)
        process.arguments = [
            "run", "--backend", "none", "--only", "selftest/hang-guest", "--quiet",
            "--results", results,
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

    /// Ctrl-C mid-cell: the VM is destroyed, the lab exits 130, and the results directory
    /// still has results.json, junit.xml and the reports, the unfinished case marked
    /// `interrupted`.
    @Test func interruptedLabRunDestroysItsVMWritesResultsAndExits130() async throws {
        let directory = LabRunIntegrationTests.temporaryDirectory("interrupted")
        let process = try await startHangingRun(results: directory)
        let pid = process.processIdentifier
        kill(pid, SIGINT)
        process.waitUntilExit()
        #expect(process.terminationStatus == 130)
        #expect(try domains(ofPID: pid).isEmpty)
        let results = try RunResults.load(from: URL(fileURLWithPath: directory))
        let record = try #require(results.records.first { $0.caseId == "selftest/hang-guest" })
        #expect(record.status == .interrupted)
        #expect(record.message.contains("SIGINT"))
        #expect(results.exitStatus == .interrupted)
        for file in [RunResults.FileName.junit, RunResults.FileName.text, RunResults.FileName.html] {
            #expect(FileManager.default.fileExists(atPath: directory + "/" + file), "\(file) missing")
        }
        let junit = try String(contentsOfFile: directory + "/" + RunResults.FileName.junit, encoding: .utf8)
        #expect(junit.contains("type=\"interrupted\""))
    }

    /// Ctrl-C after one case of the cell finished and while the next runs: the finished case
    /// keeps its pass, the running one reads interrupted (the live START line tells when).
    @Test func interruptedMidCellKeepsTheFinishedCase() async throws {
        let directory = LabRunIntegrationTests.temporaryDirectory("midcell")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try Self.labExecutable())
        process.currentDirectoryURL = URL(fileURLWithPath: LabRunIntegrationTests.repository)
        process.arguments = [
            "run", "--backend", "none", "--paging", "4-level", "--jobs", "1", "--only", "selftest/pass",
            "--only", "selftest/hang-guest", "--results", directory,
        ]
        process.standardOutput = FileHandle.nullDevice
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        var seen = ""
        let deadline = Date() + 180
        while Date() < deadline, !seen.contains("START selftest/hang-guest") {
            let chunk = errors.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            seen += String(decoding: chunk, as: UTF8.self)
        }
        #expect(seen.contains("PASS selftest/pass"), "progress so far:\n\(seen)")
        kill(process.processIdentifier, SIGINT)
        process.waitUntilExit()
        #expect(process.terminationStatus == 130)
        let results = try RunResults.load(from: URL(fileURLWithPath: directory))
        let statuses = Dictionary(results.records.map { ($0.caseId, $0.status) }, uniquingKeysWith: { a, _ in a })
        #expect(statuses["selftest/pass"] == .pass)
        #expect(statuses["selftest/hang-guest"] == .interrupted)
        try ResultsSchemaCheck.expectValid(directory)
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// A configuration the lab cannot use: exit 2, and a results file with one error record
    /// carrying the message (no VM, no build: lab.json is read first).
    @Test func badConfigurationExits2WithAnErrorRecord() throws {
        let directory = LabRunIntegrationTests.temporaryDirectory("badconfig")
        let config = directory + "-lab.json"
        try #"{"schema": 1, "matrix": {"backend": ["none"]}}"#.write(toFile: config, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try Self.labExecutable())
        process.currentDirectoryURL = URL(fileURLWithPath: LabRunIntegrationTests.repository)
        process.arguments = ["run", "--config", config, "--results", directory, "--quiet"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 2)
        let results = try RunResults.load(from: URL(fileURLWithPath: directory))
        #expect(results.records.count == 1)
        #expect(results.records.first?.status == .error)
        #expect(results.records.first?.message.contains("backend") == true)
        try ResultsSchemaCheck.expectValid(directory)
        #expect(FileManager.default.fileExists(atPath: directory + "/" + RunResults.FileName.junit))
    }

    /// An unknown option is a usage error: exit 2, not ArgumentParser's 64.
    @Test func badOptionExits2() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try Self.labExecutable())
        process.arguments = ["run", "--no-such-option"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 2)
    }
}
