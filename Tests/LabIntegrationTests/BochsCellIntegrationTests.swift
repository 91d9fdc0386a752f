import Foundation
import LabModel
import LabVirt
import Testing

@testable import LabKit

/// End-to-end on host bochs: real images, the VMX hypervisor under Bochs (LabVirt/Bochs), the
/// same pipeline as the TCG cells. Runs once the hypervisor declares `vmx` in its Makefile's
/// BACKENDS (Sources/Hypervisor/README.md); skipped with that reason before.
/// Budget (issue 6): a VMX cell of the default matrix within 10 minutes in CI.
@Suite(.serialized) struct BochsCellIntegrationTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path

    static let vmxDeclared: Bool = {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/make")
        process.arguments = ["-s", "-C", repository + "/Sources/Hypervisor", "print-backends"]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return false }
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return output.split(whereSeparator: \.isWhitespace).contains("vmx")
    }()

    @Test(
        "the smoke suite passes in a vmx-bochs cell within the CI budget, every Bochs file kept, no Bochs left",
        .enabled(if: vmxDeclared, "the hypervisor does not declare the vmx backend yet (Makefile BACKENDS)"),
        .timeLimit(.minutes(12)))
    func smokeUnderVMXOnBochs() async throws {
        guard getuid() == 0 else {
            Issue.record("integration tests must run as root (sudo make test)")
            return
        }
        let paths = LabPaths(repository: Self.repository, cache: LabPaths.defaultCache())
        let config = try LabConfig.load(from: URL(fileURLWithPath: paths.labJSON))
        let lab = LabSession(paths: paths, config: config, configFile: paths.labJSON)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
            "gmlab-it-bochs-\(UUID().uuidString.prefix(8))"
        ).path
        var request = RunRequest()
        request.only = ["smoke"]
        request.overrides = ConfigOverrides(backends: ["vmx"], hosts: ["bochs"])
        request.resultsDirectory = dir
        request.showProgress = true

        let started = ContinuousClock.now
        let summary = try await LabRunner(session: lab).run(request)
        let elapsed = ContinuousClock.now - started
        print("vmx-bochs smoke cell: \(elapsed) including image builds")

        let records = summary.results.records
        // A VM directory holds the bundle with the uncompressed kernel (~75 MiB): keep it only
        // when something failed, for its logs.
        defer {
            if records.allSatisfy({ $0.status == .pass }) {
                try? FileManager.default.removeItem(atPath: dir)
            } else {
                print("results kept in \(dir)")
            }
        }
        #expect(!records.isEmpty && records.allSatisfy { $0.cellId.hasPrefix("vmx-bochs-") })
        for r in records { #expect(r.status == .pass, "\(r.caseId): \(r.status) \(r.message)") }
        let lookup = try #require(records.first { $0.caseId == "smoke/hypervisor-lookup" })
        #expect(lookup.values["presence"] != .string("absent"), "the guest finds the hypervisor: \(lookup.values)")
        #expect(elapsed < .seconds(600), "a VMX cell runs within the 10-minute CI budget")

        // Every VM's Bochs files are kept with the streams; the CD image is not.
        let vms = try FileManager.default.contentsOfDirectory(atPath: dir + "/vms")
        #expect(!vms.isEmpty)
        for vm in vms {
            let files = Set(try FileManager.default.contentsOfDirectory(atPath: dir + "/vms/" + vm))
            for kept in ["bochsrc", "bochs.log", "grub.cfg", "console.log", "results.log", "hypervisor.log"] {
                #expect(files.contains(kept), "\(vm) keeps \(kept): \(files.sorted())")
            }
            #expect(!files.contains("boot.iso"))
        }
        #expect(records.allSatisfy { $0.logs["bochs"] != nil }, "records point at bochs.log")
        // No Bochs outlives its VM: no process whose parent is this one runs bochs.
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] where Int32(entry) != nil {
            guard let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { continue }
            let comm = stat[stat.index(after: stat.firstIndex(of: "(")!)..<close]
            let parent = stat[stat.index(close, offsetBy: 2)...].split(separator: " ").dropFirst().first
            #expect(!(comm.hasPrefix("bochs") && parent == "\(getpid())"), "bochs pid \(entry) survived")
        }
    }

    @Test(
        "a case that passes, then one that hangs the guest: under Bochs the hang is blamed (live ports)",
        .enabled(if: vmxDeclared, "the hypervisor does not declare the vmx backend yet (Makefile BACKENDS)"),
        .timeLimit(.minutes(8)))
    func passThenHangUnderBochs() async throws {
        guard getuid() == 0 else {
            Issue.record("integration tests must run as root (sudo make test)")
            return
        }
        let paths = LabPaths(repository: Self.repository, cache: LabPaths.defaultCache())
        var config = try LabConfig.load(from: URL(fileURLWithPath: paths.labJSON))
        config.timeouts.perCase["selftest/hang-guest"] = 3
        config.matrix.paging = [.fourLevel]
        let lab = LabSession(paths: paths, config: config, configFile: paths.labJSON)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
            "gmlab-it-bochs-blame-\(UUID().uuidString.prefix(8))"
        ).path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var request = RunRequest()
        request.only = ["selftest/pass", "selftest/hang-guest"]
        request.overrides = ConfigOverrides(backends: ["vmx"], hosts: ["bochs"])
        request.resultsDirectory = dir
        request.showProgress = true
        let summary = try await LabRunner(session: lab).run(request)
        #expect(summary.results.records.allSatisfy { $0.cellId.hasPrefix("vmx-bochs-") })
        try LabRunIntegrationTests.expectHangBlamed(summary.results.records)
    }
}
