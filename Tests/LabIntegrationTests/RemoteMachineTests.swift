import Foundation
import FoundationXML
import LabModel
import LabVirt
import Testing

@testable import LabKit

/// The remote-machine path against a second libvirtd the test starts itself
/// (`scripts/private-libvirtd`: its own mount namespace, config, runtime and storage, TCP on
/// 127.0.0.1 only, no authentication), stopped at the end. The system libvirtd is never touched.
/// A smoke cell boots there through `qemu+tcp://127.0.0.1:PORT/system`; the test proves the
/// domain names only pool volumes and that the streams came through libvirt. Needs root.
@Suite(.serialized) struct RemoteMachineTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path
    static let script = repository + "/scripts/private-libvirtd"

    /// A private daemon for the test's lifetime.
    struct PrivateDaemon: Sendable {
        let base: String
        let port: Int
        var uri: String { "qemu+tcp://127.0.0.1:\(port)/system" }
        var poolPath: String { base + "/pool" }
        /// The daemon's pid, from the pid file `scripts/private-libvirtd` keeps in `base`.
        var pid: Int32? {
            (try? String(contentsOfFile: base + "/libvirtd.pid", encoding: .utf8))
                .flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        }

        /// Starts one, runs `body`, and stops it whatever happens.
        static func with(_ body: (PrivateDaemon) async throws -> Void) async throws {
            guard getuid() == 0 else {
                Issue.record(
                    "the remote-machine test starts a privileged libvirtd and must run as root (sudo make test)")
                return
            }
            let base = "/tmp/gmlab-remote-\(getpid())-\(UUID().uuidString.prefix(6))"
            // A port nothing listens on (loopback only), from a range the lab uses for nothing else.
            var port = 0
            for candidate in (16_600..<16_700).shuffled() {
                let probe = await Command.run("ss", ["-Htln", "sport = :\(candidate)"], timeout: .seconds(10))
                if probe.exitCode == 0, !probe.standardOutput.contains("LISTEN") {
                    port = candidate
                    break
                }
            }
            guard port != 0 else { throw ShardError("no free loopback port in 16600-16699") }
            let started = await Command.run(script, ["start", base, String(port)], timeout: .seconds(90))
            let daemon = PrivateDaemon(base: base, port: port)
            guard started.exitCode == 0 else {
                _ = await Command.run(script, ["stop", base], timeout: .seconds(30))
                throw ShardError(
                    "private libvirtd did not start (\(started.endingText)): \(started.standardError)\(started.standardOutput)"
                )
            }
            var failure: (any Error)?
            do { try await body(daemon) } catch { failure = error }
            let stopped = await Command.run(script, ["stop", base], timeout: .seconds(60))
            #expect(
                stopped.exitCode == 0, "stopping the private libvirtd: \(stopped.endingText) \(stopped.standardError)")
            try? FileManager.default.removeItem(atPath: base)
            if let failure { throw failure }
        }
    }

    /// `bitvisor`: a BitVisor checkout to build and boot (`BITVISOR_SRC`).
    func session(bitvisor: String? = nil) throws -> LabSession {
        let paths = LabPaths(repository: Self.repository, cache: LabPaths.defaultCache())
        var config = try LabConfig.load(from: URL(fileURLWithPath: paths.labJSON))
        config.timeouts.bootSeconds = 150
        config.matrix.paging = [.fourLevel]
        if let bitvisor {
            config = config.resolvingBitVisorSource(
                flag: bitvisor, environment: nil, currentDirectory: FileManager.default.currentDirectoryPath,
                configDirectory: Self.repository)
        }
        return LabSession(paths: paths, config: config, configFile: paths.labJSON)
    }

    /// Every absolute path a domain XML names (attribute values and element texts).
    static func paths(inDomainXML xml: String) throws -> [String] {
        let document = try XMLDocument(xmlString: xml)
        var found: [String] = []
        func walk(_ node: XMLNode) {
            if let element = node as? XMLElement {
                for attribute in element.attributes ?? [] {
                    if let value = attribute.stringValue, value.hasPrefix("/") { found.append(value) }
                }
                if element.childCount == 1, let text = element.children?.first, text.kind == .text,
                    let value = text.stringValue?.trimmingCharacters(in: .whitespaces), value.hasPrefix("/")
                {
                    found.append(value)
                }
            }
            for child in node.children ?? [] { walk(child) }
        }
        if let root = document.rootElement() { walk(root) }
        return found
    }

    @Test func aCellBootsThroughASecondLibvirtdWithOnlyPoolVolumesAndConsoleStreams() async throws {
        try await PrivateDaemon.with { daemon in try await bootThrough(daemon) }
    }

    static let bitvisorSource = ProcessInfo.processInfo.environment["BITVISOR_SRC"]

    /// The real BitVisor through the same remote path: its loader CD and the VM's guest disk
    /// as pool volumes, its log, the console and the results through the consoles (BitVisor's
    /// log is on serial0, so a mixed-up port order puts it in the wrong file).
    @Test(
        .enabled(
            if: bitvisorSource != nil,
            "BITVISOR_SRC is not set: set it to a BitVisor checkout (a clone of https://github.com/matsu/bitvisor) to boot the real BitVisor on a remote machine"
        ))
    func aBitVisorCellBootsThroughASecondLibvirtdFromPoolVolumes() async throws {
        try await PrivateDaemon.with { daemon in try await bootBitVisorThrough(daemon) }
    }

    func bootBitVisorThrough(_ daemon: PrivateDaemon) async throws {
        let machine = MachineConfig(name: "loopback", uri: try MachineURI(parsing: daemon.uri), jobs: 1)
        let lab = try session(bitvisor: Self.bitvisorSource)
        var request = RunRequest()
        request.only = ["smoke"]
        request.overrides = ConfigOverrides(backends: ["bitvisor"], hosts: ["tcg"], jobs: "1")
        let progress = RunProgress(enabled: true)
        let plan = try await LabRunner(session: lab).plan(request, progress: progress)
        let selection = try #require(plan.selection.cells.first { $0.cell.status == .runnable })
        #expect(selection.cell.cell.backend == .bitvisor)
        let images = try #require(plan.images[selection.cell.cell.kernel])
        let results = FileManager.default.temporaryDirectory.appendingPathComponent(
            "gmlab-it-remote-bv-\(UUID().uuidString.prefix(8))"
        ).path
        defer { try? FileManager.default.removeItem(atPath: results) }
        let launcher = RemoteLibvirtLauncher(machine: machine, pool: "gmlab-test", poolPath: daemon.poolPath)
        try await launcher.open(say: { print($0) })
        defer { launcher.close() }
        var context = CellRunner.Context(
            runID: plan.runID, resultsDirectory: results, images: images, config: plan.config, launcher: launcher,
            labVersion: "test", progress: progress, reproCommand: ["lab", "repro"])
        context.machine = machine.name
        let started = Date()
        let records = await CellRunner(context: context).run(selection)
        print(
            "remote BitVisor cell: \(records.count) records in \(String(format: "%.1f", Date().timeIntervalSince(started))) s"
        )
        #expect(records.count == selection.cases.count)
        for record in records {
            #expect(record.status == .pass || record.status == .skip, "\(record.caseId): \(record.message)")
        }
        let vmName = try #require(records.first?.vmName)
        let vmDir = results + "/vms/" + vmName
        let xml = try String(contentsOfFile: vmDir + "/domain.xml", encoding: .utf8)
        let named = try Self.paths(inDomainXML: xml)
        let connection = try LibvirtConnection(uri: daemon.uri)
        defer { connection.close() }
        let volumes = try connection.volumeNames(pool: "gmlab-test")
        #expect(named.count == 2, "the loader CD and the guest disk: \(named)")
        for path in named {
            #expect(path.hasPrefix(daemon.poolPath + "/"), "domain XML names \(path), not a pool volume")
            #expect(volumes.contains(URL(fileURLWithPath: path).lastPathComponent), "\(path) is no volume of the pool")
        }
        let serials = try XMLDocument(xmlString: xml).nodes(forXPath: "/domain/devices/serial/@type")
        #expect(serials.compactMap(\.stringValue) == ["pty", "pty", "pty"])
        // Each stream in its own file: BitVisor's log (serial0), the guest's console, the results.
        let log = try String(contentsOfFile: vmDir + "/hypervisor.log", encoding: .utf8)
        let console = try String(contentsOfFile: vmDir + "/console.log", encoding: .utf8)
        let resultsLog = try String(contentsOfFile: vmDir + "/results.log", encoding: .utf8)
        #expect(log.hasPrefix("Starting BitVisor") && log.contains("Loading MBR."), "\(log.prefix(200))")
        #expect(console.contains("GMLAB-GUEST: userspace up") && !console.contains("Starting BitVisor"))
        #expect(resultsLog.contains("GMLAB-RESULT"))
        // The guest disk (the VM's plan inside) goes with the run; the loader CD stays.
        launcher.close()
        let left = try connection.volumeNames(pool: "gmlab-test")
        #expect(left.contains { $0.hasSuffix("-loader.iso") })
        #expect(!left.contains { $0.hasSuffix("-guest.img") }, "per-VM volumes left: \(left)")
    }

    func bootThrough(_ daemon: PrivateDaemon) async throws {
        let machine = MachineConfig(name: "loopback", uri: try MachineURI(parsing: daemon.uri), jobs: 1)
        #expect(machine.uri.isLoopback && !machine.uri.isLocal)

        // What the machine can run, from its daemon.
        let probeConnection = try LibvirtConnection(uri: daemon.uri)
        let answer = try MachineProbe.probe(probeConnection)
        probeConnection.close()
        print("probe of \(daemon.uri): \(answer.capabilities) in \(String(format: "%.2f", answer.seconds)) s")
        #expect(answer.capabilities.accelerators.contains(.tcg) && answer.capabilities.tcgSVM)
        #expect(!answer.capabilities.accelerators.contains(.kvm), "the private daemon hides /dev/kvm")
        #expect(answer.capabilities.cpus >= 1 && answer.capabilities.memoryMiB > 1024)

        // Plan the smoke suite in the none cell, then run that cell on the machine.
        let lab = try session()
        var request = RunRequest()
        request.only = ["smoke"]
        request.overrides = ConfigOverrides(backends: ["none"], jobs: "1")
        let progress = RunProgress(enabled: true)
        let plan = try await LabRunner(session: lab).plan(request, progress: progress)
        let selection = try #require(plan.selection.cells.first { $0.cell.status == .runnable })
        let images = try #require(plan.images[selection.cell.cell.kernel])
        let results = FileManager.default.temporaryDirectory.appendingPathComponent(
            "gmlab-it-remote-\(UUID().uuidString.prefix(8))"
        ).path
        defer { try? FileManager.default.removeItem(atPath: results) }

        let launcher = RemoteLibvirtLauncher(machine: machine, pool: "gmlab-test", poolPath: daemon.poolPath)
        try await launcher.open(say: { print($0) })
        defer { launcher.close() }
        func runner() -> CellRunner {
            var context = CellRunner.Context(
                runID: plan.runID, resultsDirectory: results, images: images, config: plan.config, launcher: launcher,
                labVersion: "test", progress: progress, reproCommand: ["lab", "repro"])
            context.machine = machine.name
            return CellRunner(context: context)
        }
        let started = Date()
        let records = await runner().run(selection)
        let firstSeconds = Date().timeIntervalSince(started)
        print("remote cell: \(records.count) records in \(String(format: "%.1f", firstSeconds)) s")
        #expect(records.count == selection.cases.count)
        for record in records {
            #expect(record.status == .pass || record.status == .skip, "\(record.caseId): \(record.message)")
            #expect(record.machine == "loopback")
        }

        // The domain named only pool volumes (paths inside the pool on the machine) and pty serials.
        let vmName = try #require(records.first?.vmName)
        let vmDir = results + "/vms/" + vmName
        let xml = try String(contentsOfFile: vmDir + "/domain.xml", encoding: .utf8)
        let named = try Self.paths(inDomainXML: xml)
        #expect(!named.isEmpty)
        let connection = try LibvirtConnection(uri: daemon.uri)
        defer { connection.close() }
        let volumes = try connection.volumeNames(pool: "gmlab-test")
        for path in named {
            #expect(path.hasPrefix(daemon.poolPath + "/"), "domain XML names \(path), not a pool volume")
            #expect(volumes.contains(URL(fileURLWithPath: path).lastPathComponent), "\(path) is no volume of the pool")
            #expect(!path.hasPrefix(results) && !path.hasPrefix(Self.repository) && !path.hasPrefix(lab.paths.cache))
        }
        let document = try XMLDocument(xmlString: xml)
        let serials = try document.nodes(forXPath: "/domain/devices/serial")
        #expect(serials.count == 3)
        for serial in serials {
            #expect((serial as? XMLElement)?.attribute(forName: "type")?.stringValue == "pty")
            #expect(try serial.nodes(forXPath: "source").isEmpty)
        }
        // The streams came through libvirt: the local copies hold the guest's console and results.
        let console = try String(contentsOfFile: vmDir + "/console.log", encoding: .utf8)
        let resultsLog = try String(contentsOfFile: vmDir + "/results.log", encoding: .utf8)
        // With `quiet` the kernel prints nothing; the first line is init's, as in a local run.
        #expect(console.hasPrefix("GMLAB-GUEST: userspace up"), "console stream lost its start: \(console.prefix(200))")
        #expect(console.contains("reboot: Power down"), "console stream lost its end")
        print("first VM timing: " + ((try? String(contentsOfFile: vmDir + "/timing.txt", encoding: .utf8)) ?? "none"))
        #expect(resultsLog.contains("GMLAB-RESULT"))
        // Every log a record names is there (QEMU's: a note saying where it stays).
        for (role, path) in records[0].logs {
            #expect(FileManager.default.fileExists(atPath: results + "/" + path), "\(role): \(path) missing")
        }
        // The system daemon never saw the domain.
        let system = try LibvirtConnection()
        #expect(try system.domainNames(withPrefix: vmName).isEmpty)
        system.close()

        // A second VM reuses the kernel volume (content-named) instead of uploading it again.
        let uploadsBefore = launcher.uploadsSoFar.count
        let againStarted = Date()
        let again = await runner().run(selection)
        print(
            "second VM of the cell on the machine: \(String(format: "%.1f", Date().timeIntervalSince(againStarted))) s")
        if let name = again.first?.vmName {
            print(
                "second VM timing: "
                    + ((try? String(contentsOfFile: results + "/vms/\(name)/timing.txt", encoding: .utf8)) ?? "none"))
        }
        #expect(again.allSatisfy { $0.status == .pass || $0.status == .skip })
        let second = Array(launcher.uploadsSoFar.dropFirst(uploadsBefore))
        #expect(second.count == 2)
        #expect(second.first?.uploaded == false, "kernel uploaded again: \(second)")
        #expect(second.last?.uploaded == true, "the initrd carries the VM's plan and VM name: a new volume")
        for upload in launcher.uploadsSoFar {
            print(
                "volume \(upload.name): \(upload.bytes) bytes, \(upload.uploaded ? "uploaded" : "reused") in "
                    + String(format: "%.3f", upload.seconds) + " s")
        }

        // The other way to get streams: a file in the pool fetched with virStorageVolDownload.
        // Measured here on the console log for the report (the lab uses console streams).
        let consoleFile = URL(fileURLWithPath: vmDir + "/console.log")
        _ = try connection.uploadVolume(pool: "gmlab-test", name: "console-copy.log", from: consoleFile)
        let t0 = Date()
        let fetched = try connection.downloadVolume(pool: "gmlab-test", name: "console-copy.log")
        let fetchSeconds = Date().timeIntervalSince(t0)
        print("virStorageVolDownload of \(fetched.count) bytes: \(String(format: "%.3f", fetchSeconds)) s")
        #expect(fetched == (try Data(contentsOf: consoleFile)))

        // Closing the launcher deletes the per-VM volumes (initramfs with the plan) and keeps the
        // shared kernel for later runs.
        launcher.close()
        let left = try connection.volumeNames(pool: "gmlab-test")
        #expect(left.contains { $0.hasSuffix("-vmlinuz") })
        #expect(!left.contains { $0.hasSuffix("-initrd.img") }, "per-VM volumes left: \(left)")
    }
}
