import Foundation
import LabModel
import LabVirt

/// The launchers the lab has, and what it can therefore run. Adding a host kind or a machine is
/// a `Launcher` type plus its line in `registered`; the matrix then plans its cells (its host
/// kinds join `Implemented.hostKinds`) and the executor starts their VMs through it.
public enum Launchers {
    /// One factory per launcher type. Each run gets fresh launchers (they hold connections).
    static let registered: [@Sendable () -> any Launcher] = [
        { BitVisorLauncher() },
        { LibvirtLauncher() },
        { BochsLauncher() },
    ]

    /// Fresh, unopened launchers, one of each registered type.
    public static func make() -> [any Launcher] { registered.map { $0() } }

    /// A fresh launcher for the lab's own cells (backends none, svm, vmx) of `host`, nil when
    /// the lab has none (a backend's own launcher, `BitVisorLauncher`, is not one of them).
    public static func launcher(for host: HostKind) -> (any Launcher)? {
        launcher(for: MatrixCell(backend: .none, host: host, kernel: .debianCurrent, memoryMiB: 1024, vcpus: 1))
    }

    /// A fresh launcher for `cell` (its backend may pick one: `bitvisor`), nil when none runs it.
    public static func launcher(for cell: MatrixCell) -> (any Launcher)? {
        make().first { $0.runs(cell) }
    }

    /// Every host kind some launcher runs.
    public static var hostKinds: Set<HostKind> { Set(make().flatMap(\.hostKinds)) }
}

extension Implemented {
    /// What a plan can run: the backends every one of its images implements (the hypervisor
    /// build's `backends` file), on the host kinds that have a launcher. The one place the lab
    /// decides what it implements.
    public static func of(images: [ImageSet]) -> Implemented {
        Implemented(backends: HypervisorBackends.implemented(by: images), hostKinds: Launchers.hostKinds)
    }

    /// Before any image is built (`lab doctor`): what the hypervisor sources declare.
    public static func declared(hypervisorSources: String) async -> Implemented {
        Implemented(
            backends: await HypervisorBackends.declared(hypervisorSources: hypervisorSources),
            hostKinds: Launchers.hostKinds)
    }
}
