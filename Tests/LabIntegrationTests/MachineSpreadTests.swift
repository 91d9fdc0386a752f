import Foundation
import LabModel
import LabVirt
import Testing

@testable import LabKit

/// `lab run` over two machines (lab.json `machines`): the local daemon and a private libvirtd on
/// a loopback port (`RemoteMachineTests.PrivateDaemon`), one VM at a time each, the smoke suite
/// in the two `none` cells. The matrix spreads over both; a machine killed mid-cell has its cell
/// finished by the other, with the loss reported. Needs root.
@Suite(.serialized) struct MachineSpreadTests {
    func session(machines: [MachineConfig], paging: [PagingMode] = [.fiveLevel, .fourLevel]) throws -> LabSession {
        let paths = LabPaths(repository: RemoteMachineTests.repository, cache: LabPaths.defaultCache())
        var config = try LabConfig.load(from: URL(fileURLWithPath: paths.labJSON))
        config.timeouts.bootSeconds = 150
        config.matrix.paging = paging
        config.machines = machines
        return LabSession(paths: paths, config: config, configFile: paths.labJSON)
    }

    func request(_ results: String) -> RunRequest {
        var r = RunRequest()
        r.only = ["smoke"]
        r.overrides = ConfigOverrides(backends: ["none"], jobs: "1")
        r.resultsDirectory = results
        return r
    }

    static func temporaryDirectory(_ name: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("gmlab-it-\(name)-\(UUID().uuidString.prefix(8))")
            .path
    }

    @Test func theMatrixSpreadsOverTwoMachines() async throws {
        try await RemoteMachineTests.PrivateDaemon.with { daemon in
            let machines = [
                MachineConfig(name: "local", uri: try MachineURI(parsing: "qemu:///system"), jobs: 1),
                MachineConfig(name: "loopback", uri: try MachineURI(parsing: daemon.uri), jobs: 1),
            ]
            let results = Self.temporaryDirectory("spread")
            defer { try? FileManager.default.removeItem(atPath: results) }
            let started = Date()
            let summary = try await LabRunner(session: try session(machines: machines)).run(request(results))
            print("two cells on two machines: \(String(format: "%.1f", Date().timeIntervalSince(started))) s")
            let records = summary.results.records
            #expect(records.count == 10)
            for record in records {
                #expect(record.status == .pass || record.status == .skip, "\(record.caseId): \(record.message)")
            }
            // One cell on each machine, every record of a cell on the same one.
            let byCell = Dictionary(grouping: records, by: \.cellId).mapValues { Set($0.compactMap(\.machine)) }
            #expect(byCell.count == 2 && byCell.values.allSatisfy { $0.count == 1 })
            #expect(Set(byCell.values.flatMap { $0 }) == ["local", "loopback"])
            #expect(Set(summary.results.provenance.hosts?.keys.map { $0 } ?? []) == ["local", "loopback"])
            #expect(summary.results.provenance.hosts?["loopback"]?.uri == daemon.uri)
            #expect(summary.results.notes.contains { $0.hasPrefix("machine loopback (\(daemon.uri)) runs tcg") })
        }
    }

    /// SIGKILLs the private daemon alone, once its VM is running: the machine is gone, and the
    /// QEMU it started (pids in its own /run/libvirt/qemu, returned) is left for the lab to kill.
    static func killMachine(_ daemon: RemoteMachineTests.PrivateDaemon) throws -> [Int32] {
        let pid = try String(contentsOfFile: daemon.base + "/libvirtd.pid", encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        var qemu: [Int32] = []
        let run = daemon.base + "/run/qemu"
        for file in (try? FileManager.default.contentsOfDirectory(atPath: run)) ?? []
        where file.hasSuffix(".pid") && file != "driver.pid" {
            if let text = try? String(contentsOfFile: run + "/" + file, encoding: .utf8),
                let id = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines))
            {
                qemu.append(id)
            }
        }
        if let id = Int32(pid) { kill(id, SIGKILL) }
        print("killed machine: libvirtd \(pid); its QEMU \(qemu) left running")
        return qemu
    }

    @Test func aMachineKilledMidCellHasItsCellFinishedOnTheOther() async throws {
        try await RemoteMachineTests.PrivateDaemon.with { daemon in
            // The loopback machine first, so it takes the first cell.
            let machines = [
                MachineConfig(name: "loopback", uri: try MachineURI(parsing: daemon.uri), jobs: 1),
                MachineConfig(name: "local", uri: try MachineURI(parsing: "qemu:///system"), jobs: 1),
            ]
            let results = Self.temporaryDirectory("loss")
            defer { try? FileManager.default.removeItem(atPath: results) }
            let lab = try session(machines: machines)
            let run = Task { try await LabRunner(session: lab).run(request(results)) }
            // Wait for the loopback VM's console to show the guest running, then kill the machine.
            var killed = false
            var qemu: [Int32] = []
            for _ in 0..<600 where !killed {
                try await Task.sleep(for: .milliseconds(100))
                let vms = (try? FileManager.default.contentsOfDirectory(atPath: results + "/vms")) ?? []
                for vm in vms where FileManager.default.fileExists(atPath: results + "/vms/\(vm)/volumes.txt") {
                    let console =
                        (try? String(contentsOfFile: results + "/vms/\(vm)/console.log", encoding: .utf8)) ?? ""
                    if console.contains("GMLAB-GUEST: userspace up") {
                        qemu = try Self.killMachine(daemon)
                        killed = true
                        break
                    }
                }
            }
            #expect(killed, "the loopback machine's VM never reached userspace")
            let summary = try await run.value
            let records = summary.results.records
            #expect(records.count == 10)
            for record in records {
                #expect(
                    record.status == .pass || record.status == .skip,
                    "\(record.cellId) \(record.caseId): \(record.message)")
                #expect(record.machine == "local", "\(record.caseId) ran on \(record.machine ?? "?")")
            }
            let notes = summary.results.notes
            #expect(notes.contains { $0.hasPrefix("machine loopback was lost") }, "\(notes)")
            #expect(notes.contains { $0.contains("was cut short on loopback") })
            // A loss the lab recovered from: said, and the exit status follows the cases.
            #expect(summary.results.exitStatus == .passed)
            #expect(!summary.results.records.contains { $0.caseId == RunResults.labErrorCaseId })
            // The lost machine's QEMU did not outlive the run: the lab killed it by pid.
            #expect(!qemu.isEmpty, "no QEMU pid file in the private daemon's run directory")
            for pid in qemu { #expect(!EmulatorProcess.isRunning(pid), "QEMU \(pid) of the lost machine still runs") }
        }
    }

    /// Everything on the remote machine: an svm cell (the hypervisor image and its bundle as
    /// volumes, the hypervisor's log as the third console stream), no local machine at all.
    @Test func anSVMCellRunsWhollyOnTheRemoteMachine() async throws {
        try await RemoteMachineTests.PrivateDaemon.with { daemon in
            let machines = [MachineConfig(name: "loopback", uri: try MachineURI(parsing: daemon.uri), jobs: 1)]
            let results = Self.temporaryDirectory("svm-remote")
            defer { try? FileManager.default.removeItem(atPath: results) }
            let config = try session(machines: machines, paging: [.fourLevel])
            var r = request(results)
            r.overrides = ConfigOverrides(backends: ["svm"], jobs: "1")
            let started = Date()
            let summary = try await LabRunner(session: config).run(r)
            print("svm cell on the remote machine: \(String(format: "%.1f", Date().timeIntervalSince(started))) s")
            let records = summary.results.records
            #expect(!records.isEmpty)
            for record in records {
                #expect(record.status == .pass, "\(record.caseId): \(record.message)")
                #expect(record.machine == "loopback")
            }
            let vm = try #require(records.first?.vmName)
            let hypervisorLog = try String(contentsOfFile: results + "/vms/\(vm)/hypervisor.log", encoding: .utf8)
            #expect(!hypervisorLog.isEmpty, "the hypervisor's log stream is empty")
            let volumes = try String(contentsOfFile: results + "/vms/\(vm)/volumes.txt", encoding: .utf8)
            #expect(volumes.contains("-hv.elf") && volumes.contains("-bundle.img"), "\(volumes)")
            #expect(Set(summary.results.provenance.hosts?.keys.map { $0 } ?? []) == ["loopback"])
        }
    }
}
