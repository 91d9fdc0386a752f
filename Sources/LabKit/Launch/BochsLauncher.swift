import Foundation
import LabModel
import LabVirt

/// Host kind `bochs`: each VM a Bochs process the lab runs itself (`BochsSession`; libvirt has
/// no Bochs driver), booting a GRUB CD that multiboots the hypervisor with its bundle, or loads
/// the kernel with GRUB's `linux` for backend `none`. The VMX backend's host on machines
/// without nested VMX. No gdb stub (`lab repro --gdb` is refused with the reason).
public final class BochsLauncher: Launcher, @unchecked Sendable {
    public let hostKinds: Set<HostKind> = [.bochs]
    public let name = "Bochs"
    public let emulator = BochsSession.emulator

    public init() {}

    /// Bochs runs ~80 M instructions/s, an order of magnitude below TCG: its BIOS, GRUB reading
    /// the CD and the kernel take ~1 min where TCG takes seconds (shared/docs/host-notes.md).
    public func bootFactor(for cell: MatrixCell) -> Int { 3 }

    /// The bzImage everywhere but in hypervisor cells: the switch to 5-level paging happens in the
    /// bzImage's decompressor (a vmlinux entered directly stays at 4 levels), and at ~80 M
    /// instructions/s the uncompressed kernel in the bundle saves the guest a minute of
    /// decompressing itself (Bochs cells are 4-level; backend none boots through GRUB's
    /// `linux`, which needs the bzImage).
    public func guestKernel(for cell: MatrixCell, images: ImageSet) -> String {
        if cell.backend != .none, cell.paging == .fourLevel, let vmlinux = images.vmlinux { return vmlinux }
        return images.kernel
    }

    /// The Bochs CPU model (VMX with EPT), whatever the cell.
    public func cpuDescription(for cell: MatrixCell) -> String { BochsMachine.vmxCPUModel }

    public func prepare(_ request: VMRequest) async throws -> PreparedVM {
        let media = try await bootMedia(for: request)
        let machine = BochsMachine(
            name: request.name, memoryMiB: request.cell.memoryMiB,
            boot: request.cell.backend == .none
                ? .linux(kernel: media.kernel, initrd: media.initrd, commandLine: media.cmdline)
                : .multiboot(kernel: media.kernel, modules: [media.initrd], commandLine: media.cmdline),
            serial: .init(directory: URL(fileURLWithPath: request.directory)), directory: request.directory)
        try machine.validate()
        let startPaused = request.gdbPort != nil
        return PreparedVM { try await BochsSession.start(machine: machine, startPaused: startPaused) }
    }

    public func record(into provenance: inout Provenance) async {
        provenance.bochsVersion = await HostProbes.bochs().value?.version
    }
}
