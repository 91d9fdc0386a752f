import Foundation
import LabModel
import LabVirt
import Testing

@testable import LabKit

/// The KVM box as a libvirt machine (`--host box`, docs/kvm-box.md): the lab boots L1 with
/// libvirtd on a loopback port, plans against what that daemon reports, runs the svm-kvm cell
/// there through the remote path (pool volumes, console streams) and stops the box after the
/// run. The second test freezes the box mid-cell (SIGSTOP, as the box's known TCG stall
/// freezes L1): the heartbeat watcher kills it, the box boots again, the cell runs again and
/// passes, and the notes call it an infrastructure flake.
@Suite(.serialized) struct KVMBoxMachineTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path
    static let missing: String? = KVMBox.missingTools()

    func session() throws -> LabSession {
        let paths = LabPaths(repository: Self.repository, cache: LabPaths.defaultCache())
        let config = try LabConfig.load(from: URL(fileURLWithPath: paths.labJSON))
        return LabSession(paths: paths, config: config, configFile: paths.labJSON)
    }

    func request(only: [String], results: String) -> RunRequest {
        var request = RunRequest()
        // What `--host box --backend svm --paging 4-level` asks for.
        request.overrides = ConfigOverrides(backends: ["svm"], hosts: ["kvm"], paging: ["4-level"])
        request.machines = ["box"]
        request.only = only
        request.resultsDirectory = results
        return request
    }

    /// QEMU processes whose command line names `text`.
    static func processes(naming text: String) -> [String] {
        let fm = FileManager.default
        return ((try? fm.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { pid in
            guard pid.allSatisfy(\.isNumber),
                let data = fm.contents(atPath: "/proc/\(pid)/cmdline")
            else { return nil }
            let line = String(decoding: data.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)
            return line.contains("qemu-system") && line.contains(text) ? "\(pid): \(line)" : nil
        }
    }

    @Test(
        "--host box: smoke and the hidden signature pass in the svm-kvm cell inside the box, through its libvirtd",
        .enabled(if: missing == nil, "the KVM box needs \(missing ?? "")"), .timeLimit(.minutes(10)))
    func smokeRunsInTheBoxThroughItsLibvirtd() async throws {
        let results = FileManager.default.temporaryDirectory.appendingPathComponent(
            "gmlab-it-box-machine-\(UUID().uuidString.prefix(8))"
        ).path
        let started = ContinuousClock.now
        // Boot the box first, to ask its daemon directly; the run then reuses it.
        let lab = try session()
        let builder = lab.builder(progress: RunProgress(enabled: false))
        let kernel = try await builder.build(kernel: lab.config.matrix.kernels.first?.description ?? "debian")
            .kernelVersion
        let (served, notes) = await KVMBoxMachines.shared.start(
            [.box], image: { try await builder.buildKVMBox(kernelVersion: kernel) }, directory: results,
            say: { print($0) })
        let box = try #require(served.first, "the box did not start: \(notes)")
        let connection = try LibvirtConnection(uri: box.uri.text)
        let answer = try MachineProbe.probe(connection)
        #expect(
            answer.capabilities.accelerators == Set<HostKind>([.kvm, .tcg]) && answer.capabilities.nestedSVM,
            "\(answer)")
        #expect(answer.trial?.contains("trial KVM domain (host-passthrough) started") == true, "\(answer.trial ?? "")")
        // A trial that cannot start says libvirt's reason, and leaves no domain behind.
        let failed = MachineProbe.trialStart(connection, requiredFeatures: ["gmlab-no-such-feature"])
        #expect(failed?.contains("gmlab-no-such-feature") == true, "\(failed ?? "started")")
        #expect(try connection.domainNames(withPrefix: "gmlab-trial-").isEmpty)
        connection.close()
        let summary = try await LabRunner(session: lab).run(
            request(only: ["smoke", "hv/hidden-virtualization"], results: results))
        print("box run: \(ContinuousClock.now - started)")
        let records = summary.results.records
        #expect(records.count >= 6, "\(records.map(\.caseId))")
        for record in records {
            #expect(record.status == .pass, "\(record.caseId): \(record.message)")
            #expect(record.machine == "box" && record.cellId.hasPrefix("svm-kvm-"))
        }
        let hidden = records.first { $0.caseId == "hv/hidden-virtualization" }
        #expect(hidden?.values["cpuid_40000000_eax"] == .number(0), "\(hidden?.values ?? [:])")
        // The box is a remote machine on a loopback port, as its daemon describes itself.
        let host = try #require(summary.results.provenance.hosts?["box"])
        #expect(host.uri.hasPrefix("qemu+tcp://127.0.0.1:") && host.hostname == "gmlab-box", "\(host)")
        #expect(notes.contains { $0.contains("machine box is the KVM box") }, "\(notes)")
        #expect(summary.results.notes.contains { $0.contains("machine box (qemu+tcp://127.0.0.1:") })
        // The hypervisor saw KVM's signature: it ran under KVM, not TCG.
        let vms = results + "/vms"
        let logs = try FileManager.default.contentsOfDirectory(atPath: vms).compactMap {
            try? String(contentsOfFile: "\(vms)/\($0)/hypervisor.log", encoding: .utf8)
        }
        #expect(logs.contains { $0.contains("signature \"KVMKVMKVM\"") }, "no KVM signature in the hypervisor logs")
        // Nothing of the box outlives the run.
        #expect(Self.processes(naming: results + "/machines/box").isEmpty)
        try? FileManager.default.removeItem(atPath: results)
    }

    @Test(
        "a box frozen mid-cell is killed by its heartbeat watcher, boots again, and the cell passes there (a flake)",
        .enabled(if: missing == nil, "the KVM box needs \(missing ?? "")"), .timeLimit(.minutes(10)))
    func aFrozenBoxBootsAgainAndTheCellRunsAgain() async throws {
        let results = FileManager.default.temporaryDirectory.appendingPathComponent(
            "gmlab-it-box-stall-\(UUID().uuidString.prefix(8))"
        ).path
        let boxes = KVMBoxMachines.shared
        let saved = boxes.settings
        boxes.settings.heartbeatGapSeconds = 10
        defer { boxes.settings = saved }
        // Freeze the box once the cell's first case has a result.
        let freezer = Task {
            while !Task.isCancelled {
                let vms = (try? FileManager.default.contentsOfDirectory(atPath: results + "/vms")) ?? []
                let started = vms.contains {
                    ((try? String(contentsOfFile: "\(results)/vms/\($0)/results.log", encoding: .utf8)) ?? "")
                        .contains("GMLAB-RESULT")
                }
                if started, let pid = boxes.processID("box") {
                    print("freezing the box (pid \(pid))")
                    kill(pid, SIGSTOP)
                    return true
                }
                try? await Task.sleep(for: .milliseconds(200))
            }
            return false
        }
        let summary = try await LabRunner(session: try session()).run(
            request(only: ["smoke"], results: results))
        freezer.cancel()
        #expect(await freezer.value, "the box was never frozen")
        let records = summary.results.records
        #expect(!records.isEmpty)
        for record in records {
            #expect(record.status == .pass, "\(record.caseId): \(record.message)")
        }
        #expect(
            summary.results.notes.contains { $0.contains("infrastructure flake") && $0.contains("attempt 2") },
            "\(summary.results.notes)")
        #expect(FileManager.default.fileExists(atPath: results + "/machines/box/attempt-2/l1-console.log"))
        #expect(Self.processes(naming: results + "/machines/box").isEmpty)
        try? FileManager.default.removeItem(atPath: results)
    }
}
