import Foundation
import LabModel
import LabVirt

/// Starts the VMs of the cells of some host kinds, behind LabVirt's `VirtualMachine`: one type
/// per way of running a guest (libvirt on this machine for `tcg` and `kvm`; Bochs as the lab's
/// own child process for `bochs`). Everything that depends on how the VM runs is here and nowhere
/// else: the boot media (which kernel file, what the boot loader or the domain loads), the CPU
/// the guest sees, the emulator's log, the boot allowance, and what provenance records.
/// `CellRunner` and the executor only ask.
///
/// Adding a host kind or a machine (a remote libvirt host, a KVM host in a box, the BitVisor
/// boot chain) is one type conforming here plus its line in `Launchers.registered`.
public protocol Launcher: AnyObject, Sendable {
    /// The matrix host kinds whose cells it runs.
    var hostKinds: Set<HostKind> { get }
    /// Whether it runs `cell` (default: the cell's host kind is one of `hostKinds`; a launcher
    /// for one backend's boot chain, `BitVisorLauncher`, also looks at the backend).
    func runs(_ cell: MatrixCell) -> Bool
    /// How messages name it ("libvirt could not start the VM: …").
    var name: String { get }
    /// The emulator whose log each VM directory keeps, as `<emulator>.log` (also the log's
    /// role in a case record): `VMSession.emulator`, `BochsSession.emulator`.
    var emulator: String { get }

    /// How many times `timeouts.bootSeconds` a cell gets to reach the agent.
    func bootFactor(for cell: MatrixCell) -> Int
    /// The guest kernel file the cell boots (the bzImage unless the launcher knows better).
    func guestKernel(for cell: MatrixCell, images: ImageSet) -> String
    /// The guest kernel command line of a cell, from lab.json's `guest.cmdline`.
    func guestCmdline(for cell: MatrixCell, configured: String) -> String
    /// The CPU the cell's guest sees, as provenance records it (`qemu64,+svm,…`).
    func cpuDescription(for cell: MatrixCell) -> String

    /// Before the run's first VM: connect, sweep what dead runs left. `say` prints a line.
    func open(say: @escaping @Sendable (String) -> Void) async throws
    /// Writes the VM's files into `request.directory` and returns how to start it.
    func prepare(_ request: VMRequest) async throws -> PreparedVM
    /// Adds what this launcher ran with (emulator and daemon versions) to a run's provenance.
    func record(into provenance: inout Provenance) async
    /// After the run's last VM.
    func close()
    /// Why the launcher's daemon is lost (its libvirt connection broke: libvirtd died, the
    /// network went away); nil while it answers, or for launchers with no daemon.
    var connectionLoss: String? { get }
}

extension Launcher {
    public var connectionLoss: String? { nil }
}

extension LibvirtConnection {
    /// Nil while the connection is alive; else what broke, for messages and notes.
    var lossDescription: String? {
        guard !isClosed, !isAlive else { return nil }
        return "the connection to \(uri) broke" + (loss.reason.map { " (\($0))" } ?? "")
    }
}

/// What a launcher needs to know to prepare one VM.
public struct VMRequest: Sendable {
    /// `DomainName.next(runID:)`: the VM's name everywhere (libvirt, the reaper, its directory).
    public var name: String
    public var cell: MatrixCell
    /// The VM's own directory in the results (streams, logs, the files it boots).
    public var directory: String
    public var images: ImageSet
    /// lab.json's `guest.cmdline` (the launcher makes the cell's from it).
    public var configuredCmdline: String
    /// The agent's plan (`/gmlab/plan`).
    public var agentPlan: String
    /// The hypervisor's access policy (its `gmlab.policy=` option).
    public var policy: HypervisorPolicy
    /// `lab repro --gdb`: start paused with a gdb stub on this port.
    public var gdbPort: UInt16?
    public var runID: String
    public var labVersion: String
}

/// A VM whose files are written, ready to start.
public struct PreparedVM: Sendable {
    public let start: @Sendable () async throws -> any VirtualMachine

    public init(start: @escaping @Sendable () async throws -> any VirtualMachine) { self.start = start }
}

extension Launcher {
    public func runs(_ cell: MatrixCell) -> Bool { hostKinds.contains(cell.host) && cell.backend != .bitvisor }

    public func guestKernel(for cell: MatrixCell, images: ImageSet) -> String { images.kernel }

    public func guestCmdline(for cell: MatrixCell, configured: String) -> String {
        LaunchDefaults.guestCmdline(for: cell, configured: configured)
    }

    /// The hypervisor's own command line in a cell (its multiboot command line: libvirt's
    /// `<cmdline>`, the `multiboot` line of the Bochs CD's grub.cfg): the access policy, always
    /// explicit so the hypervisor log and the domain show what ran. nil for backend none, and
    /// for bitvisor (BitVisor's configuration is compiled in).
    public func hypervisorCmdline(for cell: MatrixCell, policy: HypervisorPolicy) -> String? {
        cell.backend.isLabHypervisor ? policy.hypervisorOption : nil
    }

    public func open(say: @escaping @Sendable (String) -> Void) async throws {}
    public func close() {}

    /// The log files of a VM directory (`relative`, as records name it) by role.
    func logFiles(relativeDirectory relative: String) -> [String: String] {
        [
            "console": relative + "/console.log", "results": relative + "/results.log",
            "hypervisor": relative + "/hypervisor.log", emulator: relative + "/\(emulator).log",
        ]
    }

    /// The boot media of a request: this launcher's kernel file and command line for the cell,
    /// the initramfs with the VM's plan, and with a hypervisor backend the hypervisor and its
    /// bundle (`BootMediaBuilder`).
    func bootMedia(for request: VMRequest) async throws -> BootMedia {
        var images = request.images
        images.kernel = guestKernel(for: request.cell, images: images)
        return try await BootMediaBuilder.prepare(
            vmDir: request.directory, images: images, backend: request.cell.backend.rawValue,
            guestCmdline: guestCmdline(for: request.cell, configured: request.configuredCmdline),
            plan: request.agentPlan,
            hypervisorCmdline: hypervisorCmdline(for: request.cell, policy: request.policy) ?? "")
    }

    /// Keeps the emulator's own log with the streams (libvirt writes QEMU's outside the results
    /// directory; Bochs writes its log there already).
    func keepEmulatorLog(of vm: any VirtualMachine, in directory: String) {
        let log = vm.emulatorLog
        if log.path != directory + "/" + log.keptAs {
            try? FileManager.default.copyItem(atPath: log.path, toPath: directory + "/" + log.keptAs)
        }
    }
}

/// What launchers do unless they know better (a launcher overriding a default for some cells
/// calls these for the others).
enum LaunchDefaults {
    /// lab.json's `guest.cmdline`, plus `no5lvl` in a 4-level cell (the CPU may offer LA57; the
    /// kernel then stays at 4 levels by choice).
    static func guestCmdline(for cell: MatrixCell, configured: String) -> String {
        switch cell.paging {
        case .fourLevel:
            return configured.split(separator: " ").contains("no5lvl") ? configured : configured + " no5lvl"
        case .fiveLevel: return configured
        }
    }
}
