import Foundation

/// What the host can do, measured by `lab doctor` (by trying, not by looking at /dev/kvm).
/// Only facts about the machine: what the lab itself implements is `Implemented`.
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
    /// The host CPU has LA57 (`la57` in /proc/cpuinfo), so a KVM guest can run 5-level paging.
    /// (QEMU TCG emulates LA57 on any host.)
    public var hostCPUHasLA57: Bool
    /// vCPUs the hypervisor supports per guest (1 today); backend `none` is not limited.
    public var hypervisorMaxVCPUs: Int
    /// Host CPU cores usable by VMs.
    public var cores: Int
    /// Host memory available for VMs, in MiB (MemAvailable).
    public var availableMemoryMiB: Int
    /// The only KVM there is runs in the KVM box (lab.json machine `"box": true`): `kvm` cells
    /// can run, but `auto` keeps to the emulators, which are faster than the box (TCG
    /// underneath TCG). Not a host fact: set by machine planning, never stored.
    public var kvmOnlyInBox = false

    enum CodingKeys: String, CodingKey {
        case kvmBootsGuest, nestedSVM, nestedVMX, tcgEmulatesSVM, bochsEmulatesVMX, hostCPUHasLA57
        case hypervisorMaxVCPUs, cores, availableMemoryMiB
    }

    public init(
        kvmBootsGuest: Bool, nestedSVM: Bool, nestedVMX: Bool, tcgEmulatesSVM: Bool, bochsEmulatesVMX: Bool,
        hypervisorMaxVCPUs: Int = 1,
        hostCPUHasLA57: Bool = false, cores: Int, availableMemoryMiB: Int
    ) {
        self.kvmBootsGuest = kvmBootsGuest
        self.nestedSVM = nestedSVM
        self.nestedVMX = nestedVMX
        self.tcgEmulatesSVM = tcgEmulatesSVM
        self.bochsEmulatesVMX = bochsEmulatesVMX
        self.hypervisorMaxVCPUs = hypervisorMaxVCPUs
        self.hostCPUHasLA57 = hostCPUHasLA57
        self.cores = cores
        self.availableMemoryMiB = availableMemoryMiB
    }

    /// The host `auto` stands for under `backend`: KVM when it can run that backend's guest (and
    /// is not only the box's), otherwise the emulator that can (TCG for none/svm, Bochs for vmx).
    public func autoHost(for backend: Backend) -> HostKind {
        let kvm = kvmBootsGuest && !kvmOnlyInBox
        switch backend {
        case .none: return kvm ? .kvm : .tcg
        case .svm: return kvm && nestedSVM ? .kvm : .tcg
        case .vmx: return kvm && nestedVMX ? .kvm : .bochs
        // The lab runs BitVisor with SVM: KVM with nested SVM, else QEMU TCG.
        case .bitvisor: return kvm && nestedSVM ? .kvm : .tcg
        }
    }
}

/// What the lab itself can run, apart from what the host can: the hypervisor backends its
/// images implement and the host kinds it has a launcher for. Not host facts: computed for each
/// plan (LabKit's `Implemented.of(images:)`), never remembered with the host's capabilities.
public struct Implemented: Sendable, Hashable {
    /// Backends the hypervisor image implements (`none` needs no hypervisor and is implied).
    public var backends: Set<Backend>
    /// Host kinds the lab can start VMs on (a launcher is registered for each).
    public var hostKinds: Set<HostKind>

    public init(backends: Set<Backend>, hostKinds: Set<HostKind>) {
        self.backends = backends
        self.hostKinds = hostKinds
    }

    /// Why `bitvisor` cells are skipped when no checkout was named (`backends` then lacks it),
    /// and how to name one. `lab doctor` says the same.
    public static let noBitVisorCheckout =
        "no BitVisor checkout given: name one with lab.json \"bitvisor\": {\"source\": DIR}, "
        + "lab run --bitvisor DIR or BITVISOR_SRC=DIR (a clone of https://github.com/matsu/bitvisor; "
        + "the lab copies and builds it, never fetches it)"
}
