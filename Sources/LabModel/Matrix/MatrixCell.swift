import Foundation

/// One machine configuration of the matrix: everything that needs its own VM.
///
/// Its `id` is stable and short: `<backend>-<host>-<kernel>-<memory>m-<vcpus>cpu`, e.g.
/// `svm-tcg-debian-1024m-1cpu` or `none-kvm-6.1.0-56-amd64-2048m-2cpu`. The kernel part is the
/// kernel as configured (`debian`, not the version it resolved to, which goes to provenance),
/// and the host is the resolved one (never `auto`). Ids are matched by `--only`/`--skip` and
/// used as JUnit `classname`s and results directory names; they contain only `[a-z0-9.+-]`.
public struct MatrixCell: Sendable, Hashable, Codable, Comparable, CustomStringConvertible {
    public var backend: Backend
    public var host: HostKind
    public var kernel: KernelSpec
    public var memoryMiB: Int
    public var vcpus: Int

    public init(backend: Backend, host: HostKind, kernel: KernelSpec, memoryMiB: Int, vcpus: Int) {
        self.backend = backend
        self.host = host
        self.kernel = kernel
        self.memoryMiB = memoryMiB
        self.vcpus = vcpus
    }

    public var id: String {
        "\(backend.rawValue)-\(host.rawValue)-\(kernel)-\(memoryMiB)m-\(vcpus)cpu"
    }

    public var description: String { id }

    /// Matrix order: backend, host, kernel (as written), memory, vCPUs.
    public static func < (lhs: MatrixCell, rhs: MatrixCell) -> Bool {
        (lhs.backend, lhs.host, lhs.kernel.description, lhs.memoryMiB, lhs.vcpus)
            < (rhs.backend, rhs.host, rhs.kernel.description, rhs.memoryMiB, rhs.vcpus)
    }
}

/// What the host can do, measured by `lab doctor` (by trying, not by looking at /dev/kvm).
public struct HostCapabilities: Sendable, Hashable, Codable {
    /// QEMU with `-accel kvm` boots an ordinary guest to userspace.
    public var kvmBootsGuest: Bool
    /// A KVM guest sees SVM with NPT (nested virtualization on AMD).
    public var nestedSVM: Bool
    /// A KVM guest sees VMX with EPT (nested virtualization on Intel).
    public var nestedVMX: Bool
    /// QEMU TCG offers `svm` + `npt` to its guest.
    public var tcgEmulatesSVM: Bool
    /// Bochs is installed and its CPU model emulates VMX with EPT.
    public var bochsEmulatesVMX: Bool
    /// Backends the hypervisor image implements (`none` needs no hypervisor and is implied).
    public var implementedBackends: Set<Backend>
    /// The lab can drive Bochs as a host (its VM driver exists).
    public var bochsDriverImplemented: Bool
    /// vCPUs the hypervisor supports per guest (1 today); backend `none` is not limited.
    public var hypervisorMaxVCPUs: Int
    /// Host CPU cores usable by VMs.
    public var cores: Int
    /// Host memory available for VMs, in MiB (MemAvailable).
    public var availableMemoryMiB: Int

    public init(kvmBootsGuest: Bool, nestedSVM: Bool, nestedVMX: Bool, tcgEmulatesSVM: Bool, bochsEmulatesVMX: Bool,
                implementedBackends: Set<Backend>, bochsDriverImplemented: Bool, hypervisorMaxVCPUs: Int = 1,
                cores: Int, availableMemoryMiB: Int) {
        self.kvmBootsGuest = kvmBootsGuest
        self.nestedSVM = nestedSVM
        self.nestedVMX = nestedVMX
        self.tcgEmulatesSVM = tcgEmulatesSVM
        self.bochsEmulatesVMX = bochsEmulatesVMX
        self.implementedBackends = implementedBackends
        self.bochsDriverImplemented = bochsDriverImplemented
        self.hypervisorMaxVCPUs = hypervisorMaxVCPUs
        self.cores = cores
        self.availableMemoryMiB = availableMemoryMiB
    }

    /// The host `auto` stands for under `backend`: KVM when it can run that backend's guest,
    /// otherwise the emulator that can (TCG for none/svm, Bochs for vmx).
    public func autoHost(for backend: Backend) -> HostKind {
        switch backend {
        case .none: return kvmBootsGuest ? .kvm : .tcg
        case .svm: return kvmBootsGuest && nestedSVM ? .kvm : .tcg
        case .vmx: return kvmBootsGuest && nestedVMX ? .kvm : .bochs
        }
    }
}
