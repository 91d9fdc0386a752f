import Foundation
import LabModel
import LabVirt

/// Backend `bitvisor` (issue 10): the real BitVisor, built from the user's checkout
/// (`PlanBasis.buildBitVisor` → `ImageSet.bitvisor`), under QEMU TCG with SVM and nested paging
/// (or KVM with nested SVM) through this machine's libvirtd. What a BitVisor VM is lives in
/// `BitVisorVM`, shared with `RemoteLibvirtLauncher`, which boots the same VMs on other machines. The boot chain is BIOS boot from disks, not QEMU's direct
/// loader (`BitVisorBootMedia`): the domain boots the loader CD, whose GRUB multiboots
/// `bitvisor.elf`, which boots the guest disk's MBR (GRUB again, with the lab's kernel and the
/// VM's initramfs). Serial ports: BitVisor's log on COM1, the guest console on COM2, the
/// results on COM3 (`BitVisorBootMedia.serialPorts`); the files are the same three as in
/// every cell.
///
/// A checkout that is not one, or that does not build, makes `prepare` fail with the reason
/// (the compiler's messages): every case of the cell is then an error carrying it.
public final class BitVisorLauncher: Launcher, @unchecked Sendable {
    public let hostKinds: Set<HostKind> = [.tcg, .kvm]
    public let name = "BitVisor (libvirt)"
    public let emulator = VMSession.emulator

    /// The libvirt connection (and its sweep of dead runs' VMs, its version record).
    private let libvirt: LibvirtLauncher
    private let lock = NSLock()
    private var build: BitVisorBuild?

    public init(uri: String = LibvirtConnection.systemURI) { libvirt = LibvirtLauncher(uri: uri) }

    public func runs(_ cell: MatrixCell) -> Bool { cell.backend == .bitvisor && hostKinds.contains(cell.host) }

    public func bootFactor(for cell: MatrixCell) -> Int { BitVisorVM.bootFactor }

    public static func cpu(for cell: MatrixCell) -> DomainSpec.CPU { BitVisorVM.cpu(for: cell) }

    public func cpuDescription(for cell: MatrixCell) -> String { BitVisorVM.cpuDescription(for: cell) }

    public func guestCmdline(for cell: MatrixCell, configured: String) -> String {
        BitVisorVM.guestCmdline(standard: LaunchDefaults.guestCmdline(for: cell, configured: configured))
    }

    public func open(say: @escaping @Sendable (String) -> Void) async throws { try await libvirt.open(say: say) }

    public func close() { libvirt.close() }

    static func unavailable(_ images: ImageSet) -> String? { BitVisorVM.unavailable(images) }

    public func prepare(_ request: VMRequest) async throws -> PreparedVM {
        let media = try await BitVisorVM.prepareMedia(
            request, guestCmdline: guestCmdline(for: request.cell, configured: request.configuredCmdline))
        lock.withLock { self.build = media.build }
        let connection = try libvirt.openedConnection()
        let spec = BitVisorVM.domainSpec(
            request, media: media, cdrom: media.loaderCD, disk: media.guestDisk, transport: .files)
        try spec.xml().write(toFile: request.directory + "/domain.xml", atomically: true, encoding: .utf8)
        let startPaused = request.gdbPort != nil
        return PreparedVM { try await VMSession.start(spec: spec, connection: connection, startPaused: startPaused) }
    }

    static var serialOrder: [SerialStream] { BitVisorVM.serialOrder }

    /// QEMU and libvirt versions, and the BitVisor that ran: its checkout, commit, content key
    /// (the executor records it from the plan's images too, for a build that failed).
    public func record(into provenance: inout Provenance) async {
        await libvirt.record(into: &provenance)
        guard let build = lock.withLock({ build }) else { return }
        provenance.bitvisor = Self.provenance(of: build)
    }

    static func provenance(of build: BitVisorBuild) -> Provenance.BitVisor { BitVisorVM.provenance(of: build) }
}
