import Foundation
import FoundationXML
import LabModel
import LabVirt
import Testing

@testable import LabKit

/// End-to-end: real images, real VMs under QEMU TCG through libvirt. Needs root and a running
/// libvirtd (`scripts/setup-host`, which `make test` runs first). Serialized: each test boots
/// VMs, and the machines this runs on have two cores.
@Suite(.serialized) struct LabRunIntegrationTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path

    func session(configure: (inout LabConfig) -> Void = { _ in }) throws -> LabSession {
        guard getuid() == 0 else {
            Issue.record("integration tests drive libvirtd on qemu:///system and must run as root (sudo make test)")
            throw CancellationError()
        }
        let paths = LabPaths(repository: Self.repository, cache: LabPaths.defaultCache())
        var config = try LabConfig.load(from: URL(fileURLWithPath: paths.labJSON))
        config.timeouts.bootSeconds = 150
        // One cell per backend (these tests look records up by case id); both paging modes
        // run in PagingIntegrationTests.
        config.matrix.paging = [.fourLevel]
        configure(&config)
        return LabSession(paths: paths, config: config, configFile: paths.labJSON)
    }

    func request(_ only: [String], backends: [String], results: String) -> RunRequest {
        var r = RunRequest()
        r.only = only
        r.overrides = ConfigOverrides(backends: backends)
        r.resultsDirectory = results
        r.showProgress = true
        return r
    }

    static func temporaryDirectory(_ name: String) -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
            "gmlab-it-\(name)-\(UUID().uuidString.prefix(8))"
        ).path
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    func ourDomains() throws -> [String] {
        let connection = try LibvirtConnection()
        defer { connection.close() }
        return try connection.domainNames(withPrefix: DomainName.prefix + "\(getpid())-")
    }

    // MARK: - The pipeline, both backends

    /// The lab's own suites (lab.json's: smoke, hv, the four methods, the seed's examples and the
    /// fuzzer) in the none and svm cells: nothing may fail; under none everything that needs the
    /// hypervisor skips instead of failing or hanging.
    @Test func everySuitePassesUnderSVMAndSkipsCleanlyUnderNone() async throws {
        let lab = try session()
        let dir = Self.temporaryDirectory("matrix")
        let summary = try await LabRunner(session: lab).run(request([], backends: ["none", "svm"], results: dir))
        let results = summary.results
        for r in results.records {
            #expect(!r.status.isProblem, "\(r.cellId) \(r.caseId): \(r.status) \(r.message)")
        }
        for suite in lab.config.matrix.suites {
            #expect(
                results.records.contains { $0.caseId.hasPrefix(suite + "/") && $0.status == .pass },
                "suite \(suite) has no passing case")
        }

        // Every case has a record in both cells; smoke passes everywhere, hv passes under svm and
        // is skipped (needs the hypervisor) under none.
        let none = results.records.filter { $0.cellId.hasPrefix("none-") }
        let svm = results.records.filter { $0.cellId.hasPrefix("svm-") }
        #expect(!none.isEmpty && !svm.isEmpty)
        for r in none + svm where r.caseId.hasPrefix("smoke/") {
            #expect(r.status == .pass, "\(r.cellId) \(r.caseId): \(r.message)")
        }
        for r in svm where r.caseId.hasPrefix("hv/") { #expect(r.status == .pass, "\(r.caseId): \(r.message)") }
        for r in none where r.caseId.hasPrefix("hv/") { #expect(r.status == .skip, "\(r.caseId): \(r.status)") }

        // The smoke suite reports what it measured: the guest kernel and whether a hypervisor answered.
        let images = try await lab.builder().build(kernel: "debian")
        let kernel = try #require(none.first { $0.caseId == "smoke/kernel-version" })
        #expect(kernel.values.values.contains(.string(images.kernelVersion)), "\(kernel.values)")
        let lookupNone = try #require(none.first { $0.caseId == "smoke/hypervisor-lookup" })
        #expect(lookupNone.values["presence"] == .string("absent"))
        let lookupSVM = try #require(svm.first { $0.caseId == "smoke/hypervisor-lookup" })
        #expect(lookupSVM.values["presence"] != .string("absent"))

        // Results directory: JUnit with one testcase per case and cell, JSON with provenance, logs.
        let junit = try XMLDocument(contentsOf: URL(fileURLWithPath: dir + "/junit.xml"))
        let testcases = try junit.nodes(forXPath: "//testcase")
        // One testcase per case and cell, the skips impossible by construction once per cell and reason.
        #expect(testcases.count == results.cells.map { results.reportRows(for: $0).count }.reduce(0, +))
        // The file a real run writes validates against the Jenkins xunit plugin's structure.
        let schema = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Schemas/jenkins-junit-10.xsd").path
        let (lint, lintOutput) = try Self.xmllint(["--noout", "--schema", schema, dir + "/junit.xml"])
        #expect(lint == 0, "junit.xml does not validate: \(lintOutput)")
        // Each VM directory keeps its plan and logs, not the shared images (< 5 MB a VM).
        for vm in try FileManager.default.contentsOfDirectory(atPath: dir + "/vms") {
            let vmDir = dir + "/vms/" + vm
            #expect(Cleaner.size(of: vmDir) < 5_000_000, "\(vm): \(Cleaner.size(of: vmDir)) bytes")
            #expect(FileManager.default.fileExists(atPath: vmDir + "/boot-images.txt"))
            #expect(FileManager.default.fileExists(atPath: vmDir + "/plan.cpio"))
            #expect(FileManager.default.fileExists(atPath: vmDir + "/console.log"))
        }
        let reloaded = try RunResults.load(from: URL(fileURLWithPath: dir))
        #expect(reloaded.records.count == results.records.count)
        try ResultsSchemaCheck.expectValid(dir)
        let p = reloaded.provenance
        #expect(p.qemuVersion?.first?.isNumber == true, "QEMU version: \(p.qemuVersion ?? "none")")
        #expect(p.libvirtDaemonVersion != nil && p.libvirtLibraryVersion != nil)
        #expect(p.imageDigests["kernel"]?.hasPrefix("sha256:") == true)
        #expect(p.imageDigests["hypervisor"]?.hasPrefix("sha256:") == true)
        #expect(p.guestKernels["debian"]?.version == images.kernelVersion)
        #expect(p.machines.values.allSatisfy { $0.accelerator == "tcg" && $0.cpuModel.contains("svm") })
        let hvLogs = svm.compactMap { $0.logs["hypervisor"] }.map { dir + "/" + $0 }
        let hvLog = try String(contentsOfFile: try #require(hvLogs.first), encoding: .utf8)
        #expect(hvLog.contains("GMLAB-HV"), "the hypervisor log of the svm VM is captured apart")
        #expect(try ourDomains().isEmpty)

        // `lab repro` boots one case again from that run's record, with identical images.
        var repro = ReproRequest(caseId: "smoke/hypervisor-lookup")
        repro.from = dir
        repro.cell = svm.first!.cellId
        repro.resultsDirectory = Self.temporaryDirectory("repro")
        let again = try await ReproRunner(session: lab).run(repro)
        #expect(again.results.records.map(\.caseId) == ["smoke/hypervisor-lookup"])
        #expect(again.results.records.first?.status == .pass)
    }

    /// Runs xmllint (Debian package libxml2-utils); exit status and standard error.
    static func xmllint(_ arguments: [String]) throws -> (Int32, String) {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/xmllint") else {
            Issue.record("xmllint is missing: install Debian's libxml2-utils to validate junit.xml")
            return (-1, "no xmllint")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/xmllint")
        process.arguments = arguments
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, text)
    }

    // MARK: - Deadlines, crashes, cleanup

    @Test func hungGuestIsDestroyedAtItsDeadlineWithLogsKept() async throws {
        let lab = try session { $0.timeouts.perCase["selftest/hang-guest"] = 3 }
        let dir = Self.temporaryDirectory("hang")
        let started = ContinuousClock.now
        let summary = try await LabRunner(session: lab).run(
            request(["selftest/hang-guest"], backends: ["none"], results: dir))
        let record = try #require(summary.results.records.first)
        #expect(record.status == .timeout, "\(record.status): \(record.message)")
        #expect(record.message.contains("ran past its deadline"))
        #expect(!summary.results.succeeded)
        let console = try String(contentsOfFile: dir + "/" + (record.logs["console"] ?? ""), encoding: .utf8)
        #expect(console.contains("GMLAB-GUEST: userspace up"), "the console log of the killed VM is kept")
        #expect(ContinuousClock.now - started < .seconds(150 + 60))
        #expect(try ourDomains().isEmpty)
    }

    /// A case that passes, then one that hangs the guest: the hang is blamed, not the case
    /// before it (its RESULT reached the lab before the deadline struck). BochsCellIntegrationTests
    /// has the same under Bochs, whose ports used to deliver that line late.
    @Test func passThenHangBlamesTheHangingCase() async throws {
        let lab = try session { $0.timeouts.perCase["selftest/hang-guest"] = 3 }
        let dir = Self.temporaryDirectory("blame")
        let summary = try await LabRunner(session: lab).run(
            request(["selftest/pass", "selftest/hang-guest"], backends: ["none"], results: dir))
        try Self.expectHangBlamed(summary.results.records)
        #expect(try ourDomains().isEmpty)
    }

    static func expectHangBlamed(_ records: [CaseRecord]) throws {
        #expect(
            records.map(\.caseId).sorted() == ["selftest/hang-guest", "selftest/pass"], "one record each, no rerun")
        let pass = try #require(records.first { $0.caseId == "selftest/pass" })
        let hang = try #require(records.first { $0.caseId == "selftest/hang-guest" })
        #expect(pass.status == .pass, "the case before the hang passed: \(pass.status) \(pass.message)")
        #expect(pass.wallSeconds != nil, "its wall time was measured from its BEGIN and RESULT lines")
        #expect(hang.status == .timeout, "the hanging case is blamed: \(hang.status) \(hang.message)")
        #expect(hang.attempt == 1 && hang.vmName == pass.vmName, "in the same VM")
    }

    @Test func caseThatKillsTheVMDoesNotHideTheOthers() async throws {
        let lab = try session()
        let dir = Self.temporaryDirectory("crash")
        let summary = try await LabRunner(session: lab).run(
            request(["selftest/crash-guest", "smoke/kernel-version"], backends: ["none"], results: dir))
        let byId = Dictionary(uniqueKeysWithValues: summary.results.records.map { ($0.caseId, $0) })
        let crash = try #require(byId["selftest/crash-guest"])
        #expect(crash.status == .error)
        #expect(crash.message.contains("the VM died during this case"), "\(crash.message)")
        let after = try #require(byId["smoke/kernel-version"])
        #expect(after.status == .pass, "the case after the crash ran in a fresh VM: \(after.message)")
        #expect(after.attempt == 2 && after.vmName != crash.vmName)
        #expect(try ourDomains().isEmpty)
    }

    @Test func reproWithGDBWaitsPausedUntilADebuggerLetsItRun() async throws {
        let lab = try session()
        var request = ReproRequest(caseId: "smoke/kernel-version")
        request.cell = "none-tcg-debian-1024m-1cpu"
        request.gdbPort = UInt16.random(in: 20000...40000)
        request.resultsDirectory = Self.temporaryDirectory("gdb")
        let repro = Task { try await ReproRunner(session: lab).run(request) }

        // The VM is created paused: no instruction has run, and nothing moves without a debugger.
        var paused = false
        for _ in 0..<600 where !paused {
            try await Task.sleep(for: .milliseconds(100))
            let connection = try LibvirtConnection()
            for name in try connection.domainNames(withPrefix: DomainName.prefix + "\(getpid())-") {
                paused = try connection.state(ofDomain: name)?.state == .paused
            }
            connection.close()
        }
        #expect(paused, "the repro VM was not seen paused")
        try await Task.sleep(for: .seconds(3))
        let vmDir = try #require(
            FileManager.default.contentsOfDirectory(atPath: request.resultsDirectory! + "/vms").first)
        let console =
            (try? String(contentsOfFile: request.resultsDirectory! + "/vms/\(vmDir)/console.log", encoding: .utf8))
            ?? ""
        #expect(console.isEmpty, "the guest ran before a debugger attached")

        // A debugger attaches to the stub and lets it go: the case then runs to its result.
        let gdb = Process()
        gdb.executableURL = URL(fileURLWithPath: "/usr/bin/gdb")
        gdb.arguments = ["-batch", "-ex", "target remote 127.0.0.1:\(request.gdbPort!)", "-ex", "detach"]
        gdb.standardOutput = FileHandle.nullDevice
        gdb.standardError = FileHandle.nullDevice
        try gdb.run()
        gdb.waitUntilExit()
        #expect(gdb.terminationStatus == 0)
        let summary = try await repro.value
        #expect(summary.results.records.first?.status == .pass)
    }

    @Test func secondBuildWithNothingChangedRebuildsNothing() async throws {
        let lab = try session()
        _ = try await lab.builder().build(kernel: "debian")
        let steps = LockedLines()
        let images = try await ImageBuilder(paths: lab.paths, log: { steps.append($0) }).build(kernel: "debian")
        #expect(steps.lines.isEmpty, "a second build ran steps: \(steps.lines)")
        #expect(images.hypervisor != nil)
    }
}

final class LockedLines: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [String] = []
    func append(_ s: String) { lock.withLock { storage.append(s) } }
    var lines: [String] { lock.withLock { storage } }
}
