import Foundation

extension HostProbes {
    /// What `libvirtBootsGuest` measured.
    public struct LibvirtBoot: Sendable, Equatable {
        /// How long virDomainCreateXML took (0.5 s on a well set-up host; tens of seconds when
        /// libvirtd re-probes QEMU on every call).
        public let creationTime: Duration
        /// From domain creation to the guest's power-off.
        public let runTime: Duration
    }

    /// The whole path the lab uses, tried end to end: a transient TCG domain (qemu64 with
    /// svm+npt, our XML) boots a tiny multiboot guest that writes a line on each of the three
    /// serial ports and powers off. Catches what no single check does: a libvirtd that cannot
    /// create domains, serial files that stay empty, a power-off that does not end the domain.
    public static func libvirtBootsGuest(
        uri: String = LibvirtConnection.systemURI, timeout: Duration = .seconds(120),
        slowCreation: Duration = .seconds(5)
    ) async -> ProbeResult<LibvirtBoot> {
        let name = "libvirt boots a TCG guest"
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("gmlab-probe-\(getpid())-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: directory) }
        let fix = "run `sudo scripts/setup-host`; details in /var/log/libvirt/libvirtd.log and /var/log/libvirt/qemu/"
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let kernel = directory.appendingPathComponent("probe.mb")
            try Data(
                TinyGuest.multiboot(
                    writes: [(0x3f8, "probe console\n"), (0x2f8, "probe results\n"), (0x3e8, "probe hv\n")],
                    ending: .powerOff)
            ).write(to: kernel)
            let spec = DomainSpec(
                name: DomainName.next(runID: "probe"), memoryMiB: 32, accelerator: .tcg, cpu: .tcgSVM,
                kernel: kernel.path, serial: .init(directory: directory),
                metadata: .init(runID: "probe", labVersion: "probe"))
            let connection = try LibvirtConnection(uri: uri)
            defer { connection.close() }
            // Creation itself may hang on a broken daemon: bound it too.
            let started = ContinuousClock.now
            guard
                let session = try await withThrowingTimeout(
                    timeout,
                    {
                        try await VMSession.start(spec: spec, connection: connection)
                    })
            else {
                return ProbeResult(
                    name: name, value: nil, status: .problem,
                    explanation: "creating the domain did not finish within \(timeout)", fix: fix)
            }
            let exit = await session.waitUntilExit(deadline: started + timeout)
            let lines = [spec.serial.console, spec.serial.results, spec.serial.hypervisorLog]
                .map { (try? String(contentsOfFile: $0, encoding: .utf8)) ?? "" }
            let measured = LibvirtBoot(creationTime: session.creationTime, runTime: exit.elapsed)
            guard exit.reason == .poweredOff,
                lines == ["probe console\n", "probe results\n", "probe hv\n"]
            else {
                return ProbeResult(
                    name: name, value: measured, status: .problem,
                    explanation:
                        "the probe guest ended as '\(exit.reason)' with serial files \(lines.map { $0.debugDescription }) "
                        + "(expected a power-off and one line in each of the three files)",
                    fix: fix)
            }
            let creation = String(format: "%.1f s", measured.creationTime.seconds)
            if measured.creationTime > slowCreation {
                return ProbeResult(
                    name: name, value: measured, status: .warning,
                    explanation:
                        "works, but creating a domain took \(creation): libvirtd is probably re-probing QEMU on every call "
                        + "(a /dev/kvm it thinks usable but that cannot boot a guest)",
                    fix: "restart libvirtd the way this host needs: `sudo scripts/setup-host`")
            }
            return ProbeResult(
                name: name, value: measured, status: .ok,
                explanation:
                    "domain created in \(creation), guest wrote on all three serial ports and powered off after "
                    + String(format: "%.1f s", measured.runTime.seconds))
        } catch {
            return ProbeResult(name: name, value: nil, status: .problem, explanation: "\(error)", fix: fix)
        }
    }

    /// Runs `body`; nil when it did not finish within `timeout` (it is cancelled).
    static func withThrowingTimeout<T: Sendable>(
        _ timeout: Duration, _ body: @escaping @Sendable () async throws -> T
    ) async throws -> T? {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            let first = try await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }
}
