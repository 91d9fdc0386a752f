import Foundation
import LabModel
import LabVirt

/// What a BitVisor VM is, whichever libvirt daemon boots it: the one home both
/// `BitVisorLauncher` (this machine's libvirtd, files where they were written, file serials) and
/// `RemoteLibvirtLauncher` (any machine: the same files uploaded as pool volumes, pty serials
/// read through the connection) use. The boot chain is BIOS boot from disks
/// (`BitVisorBootMedia`): the loader CD's GRUB multiboots `bitvisor.elf`, which boots the guest
/// disk's MBR (GRUB again, with the lab's kernel and the VM's initramfs).
enum BitVisorVM {
    /// BIOS, GRUB twice and BitVisor's own start-up: 12-15 s more than a direct boot when the
    /// machine is idle (shared/docs/bitvisor-notes.md), more on a loaded one.
    static let bootFactor = 2
    /// Under KVM in the KVM box (TCG underneath: every exit of the guest is a nested exit that
    /// TCG emulates): measured 2026-12-06 on this 2-core machine, `lab run --backend bitvisor
    /// --host box --only smoke`, the first userspace line 198 s after the VM started (the loader
    /// CD until "Loading MBR." ~50 s; GRUB reading the kernel and initramfs, 17.9 MB, through the
    /// BIOS ~80 s; the kernel ~70 s), and two VMs found nothing in 240 s while other VMs ran.
    static let boxBootFactor = 5

    /// The files one BitVisor VM boots, on the lab's filesystem.
    struct Media {
        /// The BitVisor that boots (its loader CD is shared by every VM of the build).
        var build: BitVisorBuild
        var loaderCD: String
        /// Per VM: the initramfs inside carries the VM's plan.
        var guestDisk: String
        /// The guest kernel's command line (written into the guest disk's grub.cfg).
        var cmdline: String
    }

    /// The CPU the guest sees (BitVisor has no 5-level paging; its cells are 4-level). Under TCG:
    /// qemu64 with SVM, nested paging, 1 GiB pages, SMAP and SMEP, the lab's svm CPU without LA57.
    /// Under KVM: the host CPU with nested SVM and nested paging (BitVisor runs on AMD here).
    static func cpu(for cell: MatrixCell) -> DomainSpec.CPU {
        switch cell.host {
        case .kvm: return .hostPassthrough(requiredFeatures: ["svm", "npt"])
        default: return .custom(model: "qemu64", requiredFeatures: ["svm", "npt", "pdpe1gb", "smap", "smep"])
        }
    }

    static func cpuDescription(for cell: MatrixCell) -> String {
        switch cpu(for: cell) {
        case let .custom(model, features): return ([model] + features.map { "+" + $0 }).joined(separator: ",")
        case let .hostPassthrough(features):
            return (["host-passthrough"] + features.map { "+" + $0 }).joined(separator: ",")
        }
    }

    /// lab.json's command line as for every cell (`standard`: the launcher default, with
    /// `no5lvl` in 4-level cells), with the console moved to ttyS1 and the results to ttyS2
    /// (`BitVisorBootMedia.guestCommandLine`): COM1 is BitVisor's.
    static func guestCmdline(standard: String) -> String { BitVisorBootMedia.guestCommandLine(from: standard) }

    /// The streams by serial port, from `BitVisorBootMedia.serialPorts`.
    static var serialOrder: [SerialStream] {
        var order: [SerialStream] = [.hypervisorLog, .hypervisorLog, .hypervisorLog]
        order[BitVisorBootMedia.serialPorts.hypervisorLog] = .hypervisorLog
        order[BitVisorBootMedia.serialPorts.console] = .console
        order[BitVisorBootMedia.serialPorts.results] = .results
        return order
    }

    /// Why `images` cannot boot BitVisor, or nil when they can.
    static func unavailable(_ images: ImageSet) -> String? {
        if let build = images.bitvisor {
            if build.loaderCD != nil { return nil }
            return "BitVisor from \(build.checkout) did not build:\n\(build.error ?? "no image and no error (lab bug)")"
        }
        return images.bitvisorError.map { "no BitVisor to boot: \($0)" }
            ?? "no BitVisor to boot: \(Implemented.noBitVisorCheckout)"
    }

    /// Writes the VM's files into `request.directory`: the initramfs with the VM's plan, as for
    /// every cell (no bundle: backend "none" here means no lab hypervisor image), and the guest
    /// disk around it. `guestCmdline` is the launcher's for the cell. Throws
    /// `BitVisorError.unavailable` with the reason (the compiler's messages) when there is no
    /// BitVisor to boot.
    static func prepareMedia(_ request: VMRequest, guestCmdline: String) async throws -> Media {
        if let why = unavailable(request.images) { throw BitVisorError.unavailable(why) }
        guard let build = request.images.bitvisor, let loader = build.loaderCD else {
            throw BitVisorError.unavailable("no BitVisor image (lab bug)")
        }
        let media = try await BootMediaBuilder.prepare(
            vmDir: request.directory, images: request.images, backend: "none", guestCmdline: guestCmdline,
            plan: request.agentPlan)
        let disk = request.directory + "/guest.img"
        try await BitVisorBootMedia.makeGuestDisk(
            kernel: media.kernel, initrd: media.initrd, commandLine: media.cmdline, output: disk,
            work: request.directory)
        return Media(build: build, loaderCD: loader, guestDisk: disk, cmdline: media.cmdline)
    }

    /// The domain of a BitVisor VM booting `cdrom` and `disk` (paths on the machine whose
    /// daemon starts it: the lab's own files locally, pool volumes elsewhere), its serial ports
    /// in BitVisor's order carried by `transport`.
    static func domainSpec(
        _ request: VMRequest, media: Media, cdrom: String, disk: String, transport: DomainSpec.SerialTransport
    ) -> DomainSpec {
        let cell = request.cell
        // No `<kernel>` under BIOS boot: the spec's kernel names the disk, so that no path of
        // the lab's own filesystem is in a remote VM's spec at all.
        var spec = DomainSpec(
            name: request.name, memoryMiB: cell.memoryMiB, vcpus: cell.vcpus,
            accelerator: cell.host == .kvm ? .kvm : .tcg, cpu: cpu(for: cell), kernel: disk, initrd: nil,
            cmdline: media.cmdline, serial: .init(directory: URL(fileURLWithPath: request.directory)),
            gdbPort: request.gdbPort, metadata: .init(runID: request.runID, labVersion: request.labVersion))
        spec.biosBoot = .init(cdrom: cdrom, disk: disk)
        spec.serialOrder = serialOrder
        spec.serialTransport = transport
        return spec
    }

    static func provenance(of build: BitVisorBuild) -> Provenance.BitVisor {
        Provenance.BitVisor(
            source: build.checkout, commit: build.provenance.commit, localChanges: build.provenance.localChanges,
            contentKey: build.key, checkoutDigest: build.checkoutDigest, elfDigest: build.digest)
    }
}
