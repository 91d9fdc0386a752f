import Foundation
import LabModel
import LabVirt

/// Backend `bitvisor` (issue 10): the real BitVisor, built from the user's checkout
/// (`PlanBasis.buildBitVisor` → `ImageSet.bitvisor`), under QEMU TCG with SVM and nested paging
/// through this machine's libvirtd. The boot chain is BIOS boot from disks, not QEMU's direct
/// loader (`BitVisorBootMedia`): the domain boots the loader CD, whose GRUB multiboots
/// `bitvisor.elf`, which boots the guest disk's MBR (GRUB again, with the lab's kernel and the
/// VM's initramfs). Serial ports: BitVisor's log on COM1, the guest console on COM2, the
/// results on COM3 (`BitVisorBootMedia.serialPorts`); the files are the same three as in
/// every cell.
///
/// A checkout that is not one, or that does not build, makes `prepare` fail with the reason
/// (the compiler's messages): every case of the cell is then an error carrying it.
public final class BitVisorLauncher: Launcher, @unchecked Sendable {
    public let hostKinds: Set<HostKind> = [.tcg]
    public let name = "BitVisor (libvirt)"
    public let emulator = VMSession.emulator

    /// The libvirt connection (and its sweep of dead runs' VMs, its version record).
    private let libvirt: LibvirtLauncher
    private let lock = NSLock()
    private var build: BitVisorBuild?

    public init(uri: String = LibvirtConnection.systemURI) { libvirt = LibvirtLauncher(uri: uri) }

    public func runs(_ cell: MatrixCell) -> Bool { cell.backend == .bitvisor && hostKinds.contains(cell.host) }

    /// BIOS, GRUB twice and BitVisor's own start-up: 12-15 s more than a direct boot when the
    /// machine is idle (shared/docs/bitvisor-notes.md), more on a loaded one.
    public func bootFactor(for cell: MatrixCell) -> Int { 2 }

    /// The TCG CPU of the lab's svm cells without LA57 (BitVisor has no 5-level paging; its
    /// cells are 4-level): qemu64 with SVM, nested paging, 1 GiB pages, SMAP and SMEP.
    public static func cpu(for cell: MatrixCell) -> DomainSpec.CPU {
        .custom(model: "qemu64", requiredFeatures: ["svm", "npt", "pdpe1gb", "smap", "smep"])
    }

    public func cpuDescription(for cell: MatrixCell) -> String {
        guard case let .custom(model, features) = Self.cpu(for: cell) else { return "?" }
        return ([model] + features.map { "+" + $0 }).joined(separator: ",")
    }

    /// lab.json's command line as for every cell, with the console moved to ttyS1 and the
    /// results to ttyS2 (`BitVisorBootMedia.guestCommandLine`): COM1 is BitVisor's.
    public func guestCmdline(for cell: MatrixCell, configured: String) -> String {
        var base = configured
        if cell.paging == .fourLevel, !configured.split(separator: " ").contains("no5lvl") { base += " no5lvl" }
        return BitVisorBootMedia.guestCommandLine(from: base)
    }

    public func open(say: @escaping @Sendable (String) -> Void) async throws { try await libvirt.open(say: say) }

    public func close() { libvirt.close() }

    /// Why `images` cannot boot BitVisor, or nil when they can.
    static func unavailable(_ images: ImageSet) -> String? {
        if let build = images.bitvisor {
            if build.loaderCD != nil { return nil }
            return "BitVisor from \(build.checkout) did not build:\n\(build.error ?? "no image and no error (lab bug)")"
        }
        return images.bitvisorError.map { "no BitVisor to boot: \($0)" }
            ?? "no BitVisor to boot: \(Implemented.noBitVisorCheckout)"
    }

    public func prepare(_ request: VMRequest) async throws -> PreparedVM {
        if let why = Self.unavailable(request.images) { throw BitVisorError.unavailable(why) }
        guard let build = request.images.bitvisor, let loader = build.loaderCD else {
            throw BitVisorError.unavailable("no BitVisor image (lab bug)")
        }
        lock.withLock { self.build = build }
        let connection = try libvirt.openedConnection()
        // The initramfs with the VM's plan, as for every cell; no bundle (backend "none" here
        // means: no lab hypervisor image), then the guest disk around it.
        let media = try await BootMediaBuilder.prepare(
            vmDir: request.directory, images: request.images, backend: "none",
            guestCmdline: guestCmdline(for: request.cell, configured: request.configuredCmdline),
            plan: request.agentPlan)
        let disk = request.directory + "/guest.img"
        try await BitVisorBootMedia.makeGuestDisk(
            kernel: media.kernel, initrd: media.initrd, commandLine: media.cmdline, output: disk,
            work: request.directory)
        let cell = request.cell
        var spec = DomainSpec(
            name: request.name, memoryMiB: cell.memoryMiB, vcpus: cell.vcpus, accelerator: .tcg,
            cpu: Self.cpu(for: cell), kernel: media.kernel, initrd: nil, cmdline: media.cmdline,
            serial: .init(directory: URL(fileURLWithPath: request.directory)), gdbPort: request.gdbPort,
            metadata: .init(runID: request.runID, labVersion: request.labVersion))
        spec.biosBoot = .init(cdrom: loader, disk: disk)
        spec.serialOrder = Self.serialOrder
        try spec.xml().write(toFile: request.directory + "/domain.xml", atomically: true, encoding: .utf8)
        let startPaused = request.gdbPort != nil
        let domain = spec
        return PreparedVM { try await VMSession.start(spec: domain, connection: connection, startPaused: startPaused) }
    }

    /// The streams by serial port, from `BitVisorBootMedia.serialPorts`.
    static var serialOrder: [SerialStream] {
        var order: [SerialStream] = [.hypervisorLog, .hypervisorLog, .hypervisorLog]
        order[BitVisorBootMedia.serialPorts.hypervisorLog] = .hypervisorLog
        order[BitVisorBootMedia.serialPorts.console] = .console
        order[BitVisorBootMedia.serialPorts.results] = .results
        return order
    }

    /// QEMU and libvirt versions, and the BitVisor that ran: its checkout, commit, content key
    /// (the executor records it from the plan's images too, for a build that failed).
    public func record(into provenance: inout Provenance) async {
        await libvirt.record(into: &provenance)
        guard let build = lock.withLock({ build }) else { return }
        provenance.bitvisor = Self.provenance(of: build)
    }

    static func provenance(of build: BitVisorBuild) -> Provenance.BitVisor {
        Provenance.BitVisor(
            source: build.checkout, commit: build.provenance.commit, localChanges: build.provenance.localChanges,
            contentKey: build.key, checkoutDigest: build.checkoutDigest, elfDigest: build.digest)
    }
}
