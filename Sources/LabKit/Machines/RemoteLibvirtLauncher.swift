import Foundation
import LabModel
import LabVirt

/// Cells `tcg` and `kvm` on a libvirt machine the lab shares no filesystem with (lab.json
/// `machines[]`: `qemu+tcp://…`, `qemu+ssh://…`, `qemu+tls://…`). Nothing of a VM depends on a
/// path of the lab's own filesystem:
/// - the boot files go to a storage pool on the machine (`virStorageVolUpload`), each volume
///   named by the content digest of its file, so a later VM or run reuses it instead of uploading
///   again; the domain's `<kernel>` and `<initrd>` name those volumes' paths on the machine;
/// - the three serial ports are ptys read live through the connection (`virDomainOpenConsole`),
///   opened while the domain is still paused so no byte is lost, and copied into the VM's
///   directory here, where the run follows them as it follows local stream files.
/// The same launcher drives the local daemon through this path when given `qemu:///system`.
/// It also boots the real BitVisor (backend `bitvisor`, `BitVisorVM`): the loader CD (shared,
/// content-named like the kernel) and the VM's guest disk (per VM, deleted like its initramfs)
/// go up as volumes and the domain's `<cdrom>` and `<disk>` name their paths; BitVisor's log,
/// the console and the results come through the consoles as for every cell, under TCG with SVM
/// or under KVM with nested SVM.
public final class RemoteLibvirtLauncher: Launcher, @unchecked Sendable {
    public let hostKinds: Set<HostKind>
    public var name: String { "libvirt on \(machine.name)" }
    public let emulator = VMSession.emulator
    public let machine: MachineConfig
    /// The pool images go to, and where to create it on the machine when it does not exist.
    public let pool: String
    public let poolPath: String?

    private let lock = NSLock()
    private var connection: LibvirtConnection?
    private var uploads: [String: UploadedVolume] = [:]  // volume name → what happened first
    private var uploadLog: [UploadedVolume] = []

    /// `pool`: an existing pool on the machine, or (with `poolPath`) one the lab creates there.
    public init(
        machine: MachineConfig, hostKinds: Set<HostKind> = [.tcg, .kvm], pool: String = "gmlab",
        poolPath: String? = "/var/lib/libvirt/gmlab"
    ) {
        self.machine = machine
        self.hostKinds = hostKinds
        self.pool = pool
        self.poolPath = poolPath
    }

    /// Every backend's cells of its host kinds, BitVisor's included (no Bochs here).
    public func runs(_ cell: MatrixCell) -> Bool { hostKinds.contains(cell.host) }

    public func bootFactor(for cell: MatrixCell) -> Int {
        guard cell.backend == .bitvisor else { return 1 }
        return machine.box && cell.host == .kvm ? BitVisorVM.boxBootFactor : BitVisorVM.bootFactor
    }

    public func cpuDescription(for cell: MatrixCell) -> String {
        cell.backend == .bitvisor
            ? BitVisorVM.cpuDescription(for: cell) : LibvirtLauncher().cpuDescription(for: cell)
    }

    public func guestCmdline(for cell: MatrixCell, configured: String) -> String {
        let standard = LaunchDefaults.guestCmdline(for: cell, configured: configured)
        return cell.backend == .bitvisor ? BitVisorVM.guestCmdline(standard: standard) : standard
    }

    public func open(say: @escaping @Sendable (String) -> Void) async throws {
        let connection = try LibvirtConnection(uri: machine.uri.text)
        // Opened again after the machine came back (a restarted KVM box): the old connection
        // is dead; close it.
        let previous: LibvirtConnection? = lock.withLock {
            defer { self.connection = connection }
            return self.connection
        }
        previous?.close()
        // No orphan sweep here (unlike the local launcher): the owner pid in a domain's name is a
        // pid of the lab's own machine, and another lab host sharing this machine has other
        // pids. The domains are AUTODESTROY: they end when the connection that made them closes.
        let (pool, poolPath) = (self.pool, self.poolPath)
        _ = try await remote { try connection.ensureDirectoryPool(name: pool, createAt: poolPath) }
    }

    private func remote<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global(qos: .userInitiated).async { continuation.resume(with: Result { try body() }) }
        }
    }

    /// The volume name of a file: `gmlab-<first 24 hex digits of its SHA-256>-<file name>`.
    public static func volumeName(digest: String, file: String) -> String {
        let hex = digest.hasPrefix("sha256:") ? String(digest.dropFirst(7)) : digest
        let base = URL(fileURLWithPath: file).lastPathComponent.map {
            $0.isLetter || $0.isNumber || $0 == "." ? $0 : "-"
        }
        return "gmlab-\(hex.prefix(24))-\(String(base))"
    }

    /// Uploads `file` unless its volume is there; returns the volume's path on the machine.
    func upload(_ file: String) async throws -> UploadedVolume {
        guard let connection = lock.withLock({ connection }) else {
            throw LabError.launcher("the launcher of \(machine.name) was not opened before its first VM")
        }
        let volume = Self.volumeName(digest: try await Digest.file(file), file: file)
        let pool = self.pool
        let done = try await remote {
            try connection.uploadVolume(pool: pool, name: volume, from: URL(fileURLWithPath: file))
        }
        lock.withLock {
            if uploads[volume] == nil { uploads[volume] = done }
            uploadLog.append(done)
        }
        return done
    }

    var currentConnection: LibvirtConnection? { lock.withLock { connection } }

    public var connectionLoss: String? { currentConnection?.lossDescription }

    /// Every upload of this launcher (reused ones with `uploaded == false`), in order.
    public var uploadsSoFar: [UploadedVolume] { lock.withLock { uploadLog } }

    public func prepare(_ request: VMRequest) async throws -> PreparedVM {
        guard let connection = lock.withLock({ connection }) else {
            throw LabError.launcher("the launcher of \(machine.name) was not opened before its first VM")
        }
        if request.cell.backend == .bitvisor { return try await prepareBitVisor(request, connection: connection) }
        let media = try await bootMedia(for: request)
        let kernel = try await upload(media.kernel)
        let initrd = try await upload(media.initrd)
        let cell = request.cell
        var spec = DomainSpec(
            name: request.name, memoryMiB: cell.memoryMiB, vcpus: cell.vcpus,
            accelerator: cell.host == .kvm ? .kvm : .tcg, cpu: LibvirtLauncher.cpu(for: cell),
            kernel: kernel.path, initrd: initrd.path, cmdline: media.cmdline,
            serial: .init(directory: URL(fileURLWithPath: request.directory)), gdbPort: request.gdbPort,
            metadata: .init(runID: request.runID, labVersion: request.labVersion))
        spec.serialTransport = .consoleStreams
        let volumes =
            "kernel \(kernel.name) (\(kernel.uploaded ? "uploaded" : "reused")), "
            + "initrd \(initrd.name) (\(initrd.uploaded ? "uploaded" : "reused"))\n"
        return try finish(request, spec: spec, volumes: volumes, connection: connection)
    }

    /// A BitVisor VM (`BitVisorVM`): its loader CD and guest disk uploaded, the domain booting
    /// them by BIOS from the pool.
    func prepareBitVisor(_ request: VMRequest, connection: LibvirtConnection) async throws -> PreparedVM {
        let media = try await BitVisorVM.prepareMedia(
            request, guestCmdline: guestCmdline(for: request.cell, configured: request.configuredCmdline))
        let cdrom = try await upload(media.loaderCD)
        let disk = try await upload(media.guestDisk)
        let spec = BitVisorVM.domainSpec(
            request, media: media, cdrom: cdrom.path, disk: disk.path, transport: .consoleStreams)
        let volumes =
            "loader CD \(cdrom.name) (\(cdrom.uploaded ? "uploaded" : "reused")), "
            + "guest disk \(disk.name) (\(disk.uploaded ? "uploaded" : "reused"))\n"
        return try finish(request, spec: spec, volumes: volumes, connection: connection)
    }

    /// Writes what the VM directory keeps (volumes, domain XML, where QEMU's log is) and returns
    /// how to start the domain.
    private func finish(
        _ request: VMRequest, spec: DomainSpec, volumes: String, connection: LibvirtConnection
    ) throws -> PreparedVM {
        try volumes.write(toFile: request.directory + "/volumes.txt", atomically: true, encoding: .utf8)
        try spec.xml().write(toFile: request.directory + "/domain.xml", atomically: true, encoding: .utf8)
        // QEMU's own log stays on the machine (libvirt has no call that fetches it): say where, so
        // the record's `qemu` log is a file that explains instead of a missing one.
        try """
        QEMU's log of \(request.name) stays on machine \(machine.name) (\(machine.uri)):
        /var/log/libvirt/qemu/\(request.name).log (libvirt offers no call that fetches it).

        """.write(toFile: request.directory + "/\(emulator).log", atomically: true, encoding: .utf8)
        let startPaused = request.gdbPort != nil
        return PreparedVM { try await VMSession.start(spec: spec, connection: connection, startPaused: startPaused) }
    }

    public func record(into provenance: inout Provenance) async {
        guard let connection = lock.withLock({ connection }) else { return }
        let versions = try? connection.versions()
        let node = try? connection.nodeInfo()
        let hostname = try? connection.hostname()
        var hosts = provenance.hosts ?? [:]
        hosts[machine.name] = HostRecord(
            uri: machine.uri.text, cpus: node?.cpus, memoryMiB: node.map { Int($0.memoryKiB / 1024) },
            cpuModel: node?.model, libvirtDaemon: versions.map { "\($0.daemon)" }, hostname: hostname)
        provenance.hosts = hosts
        // QEMU's version as that daemon reports it (virConnectGetVersion), when nothing local did.
        if provenance.qemuVersion == nil, let versions {
            provenance.qemuVersion = "\(versions.hypervisor) (on \(machine.name))"
        }
        if provenance.libvirtDaemonVersion == nil, let versions {
            provenance.libvirtDaemonVersion = "\(versions.daemon) (on \(machine.name))"
        }
    }

    /// Deletes the volumes only one VM boots (the initramfs or bundle carrying its plan: each
    /// VM's is new), keeping the shared ones (kernel, hypervisor) for later runs; then closes.
    public func close() {
        let open: LibvirtConnection? = lock.withLock { connection }
        let uploaded: [UploadedVolume] = lock.withLock { uploadLog }
        let perVM = Set(uploaded.filter { $0.uploaded && Self.isPerVM($0.name) }.map { $0.name })
        if let open {
            for name in perVM { _ = try? open.deleteVolume(pool: pool, name: name) }
        }
        lock.withLock {
            self.connection?.close()
            self.connection = nil
        }
    }

    /// The files `BootMediaBuilder` writes per VM, and a BitVisor VM's guest disk (its
    /// initramfs inside carries the VM's plan).
    static func isPerVM(_ volume: String) -> Bool {
        volume.hasSuffix("-initrd.img") || volume.hasSuffix("-bundle.img") || volume.hasSuffix("-guest.img")
    }
}

/// What a machine can run, asked of its daemon (`virConnectGetDomainCapabilities` for `kvm` and
/// `qemu`, `virNodeGetInfo`) — never of this machine's /proc/cpuinfo.
public enum MachineProbe {
    public struct Answer: Sendable {
        public var capabilities: MachineCapabilities
        public var hostname: String?
        public var seconds: Double
        /// What the trial start of a KVM domain found, when the daemon claimed KVM
        /// ("a KVM domain with host-passthrough +svm started in 1.2 s", or why it did not).
        public var trial: String?
    }

    public static func probe(_ connection: LibvirtConnection) throws -> Answer {
        let started = Date()
        let kvm = try connection.domainCapabilities(virtType: "kvm").map { try DomainCapabilityFacts.parse($0) }
        let qemu = try connection.domainCapabilities(virtType: "qemu").map { try DomainCapabilityFacts.parse($0) }
        let node = try connection.nodeInfo()
        var capabilities = MachineCapabilities.from(
            kvm: kvm, qemu: qemu,
            node: NodeFacts(cpus: node.cpus, memoryMiB: Int(node.memoryKiB / 1024), model: node.model))
        var trial: String?
        if capabilities.accelerators.contains(.kvm) {
            if let failure = trialStart(connection) {
                // What the capabilities promised does not start: no KVM cells there.
                capabilities.accelerators.remove(.kvm)
                capabilities.nestedSVM = false
                capabilities.nestedVMX = false
                capabilities.la57 = false
                trial =
                    "its daemon offers KVM, but a trial KVM domain did not start, so it runs no kvm cells: \(failure)"
            } else {
                trial = "a trial KVM domain (host-passthrough) started"
            }
        }
        return Answer(
            capabilities: capabilities, hostname: try? connection.hostname(),
            seconds: Date().timeIntervalSince(started),
            trial: trial)
    }

    /// Domain capabilities say what libvirt believes QEMU could do; a daemon whose QEMU then
    /// cannot open /dev/kvm (permissions, a device node bound over it) still says "kvm". So a
    /// transient KVM domain with host-passthrough is started — no disk: SeaBIOS runs and waits
    /// for a boot device — and destroyed at once. Returns nil when it started, else libvirt's
    /// error. (Nested SVM/VMX come from the domain capabilities: libvirt does not check a
    /// `require`d feature against host-passthrough — QEMU drops what the CPU lacks — so a
    /// trial with `requiredFeatures` proves only that libvirt knows the names.)
    static func trialStart(_ connection: LibvirtConnection, requiredFeatures: [String] = []) -> String? {
        let name = "gmlab-trial-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let features = requiredFeatures.map { "<feature policy='require' name='\($0)'/>" }.joined()
        let xml = """
            <domain type='kvm'><name>\(name)</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>
            <os><type arch='x86_64'>hvm</type></os><cpu mode='host-passthrough'>\(features)</cpu>
            <on_poweroff>destroy</on_poweroff><on_reboot>destroy</on_reboot><on_crash>destroy</on_crash>
            <devices/></domain>
            """
        do {
            try connection.createTransientDomain(xml: xml)
            _ = try? connection.destroy(domain: name)
            return nil
        } catch {
            return "\(error)"
        }
    }
}
