import Foundation
import LabModel
import LabVirt
import Testing

@testable import LabKit

/// libvirtd SIGKILLed while a VM runs (issue 11): the lab notices (libvirt's close callback, the
/// failing state polls), says so, kills the VM's QEMU by pid (libvirt runs it with `-no-shutdown`
/// and nothing else would end it), and exits 2 when no other machine can run the cell. The daemon
/// killed is a private one (`RemoteMachineTests.PrivateDaemon`, on 127.0.0.1, QEMU on this host so
/// its pid is visible); the system libvirtd is never touched. Needs root.
@Suite(.serialized) struct LostDaemonTests {
    @Test func aKilledDaemonIsReportedItsQEMUKilledAndTheRunExits2() async throws {
        try await RemoteMachineTests.PrivateDaemon.with { daemon in
            let paths = LabPaths(repository: RemoteMachineTests.repository, cache: LabPaths.defaultCache())
            var config = try LabConfig.load(from: URL(fileURLWithPath: paths.labJSON))
            config.timeouts.bootSeconds = 150
            config.timeouts.perCase["selftest/hang"] = 600
            config.matrix.paging = [.fourLevel]
            config.machines = [MachineConfig(name: "loopback", uri: try MachineURI(parsing: daemon.uri), jobs: 1)]
            let lab = LabSession(paths: paths, config: config, configFile: paths.labJSON)
            let results = MachineSpreadTests.temporaryDirectory("lostdaemon")
            defer { try? FileManager.default.removeItem(atPath: results) }
            var request = RunRequest()
            request.only = ["selftest/hang"]
            request.overrides = ConfigOverrides(backends: ["none"], jobs: "1")
            request.resultsDirectory = results
            let started = Date()
            let run = Task { try await LabRunner(session: lab).run(request) }

            // Once the guest is in user space (the hang case running): its QEMU, then SIGKILL the
            // daemon alone.
            var vm: String?
            var qemu: [Int32] = []
            for _ in 0..<1800 where vm == nil {
                try await Task.sleep(for: .milliseconds(100))
                for name in (try? FileManager.default.contentsOfDirectory(atPath: results + "/vms")) ?? [] {
                    let console =
                        (try? String(contentsOfFile: results + "/vms/\(name)/console.log", encoding: .utf8)) ?? ""
                    if console.contains("GMLAB-GUEST: userspace up") {
                        vm = name
                        break
                    }
                }
            }
            let name = try #require(vm, "the VM never reached user space")
            qemu = EmulatorProcess.pids(ofDomain: name)
            #expect(qemu.count == 1, "the QEMU of \(name) is not visible on this host: \(qemu)")
            let daemonPID = try #require(daemon.pid, "no pid file in \(daemon.base)")
            #expect(kill(daemonPID, SIGKILL) == 0)
            print("killed private libvirtd \(daemonPID) while \(name) ran (QEMU \(qemu))")
            let killedAt = Date()

            let summary = try await run.value
            let noticed = Date().timeIntervalSince(killedAt)
            print(
                "run returned \(String(format: "%.1f", noticed)) s after the kill "
                    + "(\(String(format: "%.1f", Date().timeIntervalSince(started))) s in all)")
            // The run ended long before the case's 600 s timeout: the loss was noticed.
            #expect(noticed < 60)
            // No QEMU of the lab's outlives the run.
            #expect(EmulatorProcess.pids(ofDomain: name).isEmpty, "QEMU of \(name) still alive")
            for pid in qemu { #expect(!EmulatorProcess.isRunning(pid), "QEMU pid \(pid) still alive") }
            // The VM says what happened to it.
            let timing = try String(contentsOfFile: results + "/vms/\(name)/timing.txt", encoding: .utf8)
            #expect(timing.contains("the connection to \(daemon.uri) broke"), "\(timing)")
            #expect(timing.contains("killed its QEMU (pid \(qemu.first ?? 0))"), "\(timing)")
            // The results: the loss in the notes, the case not run for it, exit status 2.
            let notes = summary.results.notes
            #expect(notes.contains { $0.hasPrefix("machine loopback was lost") }, "\(notes)")
            let hang = try #require(summary.results.records.first { $0.caseId == "selftest/hang" })
            #expect(hang.status == .error && hang.message.contains("loopback was lost"), "\(hang.message)")
            let labRecord = try #require(summary.results.records.first { $0.caseId == RunResults.labErrorCaseId })
            #expect(labRecord.message.contains("lost its libvirt daemon"), "\(labRecord.message)")
            #expect(summary.results.exitStatus == .labError)
            // What was written to disk says the same.
            let written = try RunResults.load(from: URL(fileURLWithPath: results))
            #expect(written.exitStatus == .labError)
            #expect(written.notes.contains { $0.hasPrefix("machine loopback was lost") })
        }
    }
    /// The other half of issue 11's "no VM outlives the lab": Ctrl-C or SIGTERM after the daemon
    /// is lost. The signal path is `DomainReaper.destroyAll()` and an exit (the exit is
    /// `InterruptedRunTests`'); with the connection dead, libvirt cannot destroy the domain, so
    /// the reaper kills its QEMU by pid (`EmulatorProcess`). A transient domain with no disk
    /// (SeaBIOS waits for a boot device) stands in for a lab VM; a reaper of its own, so the
    /// process-wide one is not touched.
    @Test func theSignalPathKillsByPidTheQEMUOfADomainWhoseDaemonIsLost() async throws {
        try await RemoteMachineTests.PrivateDaemon.with { daemon in
            let connection = try LibvirtConnection(uri: daemon.uri)
            let name = DomainName.next(runID: "reaper")
            let xml = """
                <domain type='qemu'><name>\(name)</name><memory unit='MiB'>32</memory><vcpu>1</vcpu>
                <os><type arch='x86_64'>hvm</type></os>
                <on_poweroff>destroy</on_poweroff><on_reboot>destroy</on_reboot><on_crash>destroy</on_crash>
                <devices/></domain>
                """
            let reaper = DomainReaper()
            reaper.register(name, on: connection)
            try connection.createTransientDomain(xml: xml)
            let qemu = EmulatorProcess.pids(ofDomain: name)
            #expect(qemu.count == 1, "the QEMU of \(name) is not visible on this host: \(qemu)")
            reaper.register(name, emulatorPIDs: qemu)

            let daemonPID = try #require(daemon.pid, "no pid file in \(daemon.base)")
            #expect(kill(daemonPID, SIGKILL) == 0)
            var alive = true
            for _ in 0..<100 where alive {
                try await Task.sleep(for: .milliseconds(100))
                alive = connection.isAlive
            }
            #expect(!alive, "the connection still answers 10 s after its daemon was SIGKILLed")
            // A SIGKILLed daemon leaves QEMU running (libvirt starts it with -no-shutdown).
            #expect(qemu.allSatisfy(EmulatorProcess.isRunning), "QEMU died with its daemon: \(qemu)")

            let destroyed = reaper.destroyAll()
            #expect(destroyed == [name], "destroyAll returned \(destroyed)")
            #expect(EmulatorProcess.pids(ofDomain: name).isEmpty, "QEMU of \(name) still alive")
            for pid in qemu { #expect(!EmulatorProcess.isRunning(pid), "QEMU pid \(pid) still alive") }
            #expect(reaper.registeredNames.isEmpty)
            // What the signal handler then prints names it.
            #expect(DomainReaper.interruptionMessage(signal: SIGTERM, destroyed: destroyed).contains(name))
        }
    }
}
