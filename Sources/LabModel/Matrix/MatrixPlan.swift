import Foundation

/// Whether a cell runs, and if not, why (shown in reports and as JUnit `<skipped>`).
public enum CellStatus: Sendable, Hashable, Codable {
    case runnable
    case skipped(reason: String)

    public var skipReason: String? {
        if case .skipped(let reason) = self { return reason }
        return nil
    }
}

/// A cell of the expanded matrix with its verdict.
public struct PlannedCell: Sendable, Hashable, Codable {
    public var cell: MatrixCell
    /// The host names in lab.json that produced this cell (`auto`, `tcg`, …).
    public var requestedHosts: [HostRequest]
    public var status: CellStatus

    public var id: String { cell.id }
}

/// The matrix after expansion against what the host can do. Every combination of the axes is
/// here, runnable or skipped with a reason; only exact duplicates (two host requests that
/// resolve to the same host) are merged, and each merge leaves a note.
public struct MatrixPlan: Sendable, Hashable, Codable {
    public var cells: [PlannedCell]
    /// Human-readable remarks about the expansion (merges, auto resolutions).
    public var notes: [String]

    public var runnableCells: [MatrixCell] { cells.filter { $0.status == .runnable }.map(\.cell) }

    /// The guest kernels of the cells, each once, in matrix order.
    public var kernels: [KernelSpec] {
        var seen: Set<KernelSpec> = []
        return cells.map(\.cell.kernel).filter { seen.insert($0).inserted }
    }

    /// VM memory overhead beyond the guest's RAM (QEMU/Bochs process, page tables, buffers).
    public static let perVMOverheadMiB = 300
    /// Memory left to the host itself when planning VMs.
    public static let hostReserveMiB = 1024

    /// Expands `matrix` (cartesian product of backends × hosts × kernels × memory × vCPUs ×
    /// paging, in that order) and judges each cell against what the host can do
    /// (`capabilities`) and what the lab implements (`implemented`).
    public init(matrix: LabConfig.Matrix, capabilities: HostCapabilities, implemented: Implemented) {
        var cells: [PlannedCell] = []
        var indexById: [String: Int] = [:]
        var notes: [String] = []
        var autoNoted: Set<Backend> = []
        for backend in matrix.backends {
            for request in matrix.hosts {
                let host: HostKind
                switch request {
                case .auto:
                    host = capabilities.autoHost(for: backend)
                    if autoNoted.insert(backend).inserted {
                        notes.append(
                            "host auto for backend \(backend.rawValue) resolved to \(host.rawValue): "
                                + Self.autoExplanation(backend: backend, host: host, capabilities: capabilities))
                    }
                case .host(let kind):
                    host = kind
                }
                // kernels × memory × vCPUs × paging, in that order, for this backend and host.
                let combinations = matrix.kernels.flatMap { kernel in
                    matrix.memoryMiB.flatMap { memory in
                        matrix.vcpus.flatMap { vcpus in
                            matrix.paging.map {
                                MatrixCell(
                                    backend: backend, host: host, kernel: kernel, memoryMiB: memory, vcpus: vcpus,
                                    paging: $0)
                            }
                        }
                    }
                }
                for cell in combinations {
                    if let existing = indexById[cell.id] {
                        let before = cells[existing].requestedHosts.map(\.description).joined(separator: ", ")
                        cells[existing].requestedHosts.append(request)
                        notes.append("cell \(cell.id) comes from host \(before) and host \(request); it runs once")
                        continue
                    }
                    indexById[cell.id] = cells.count
                    let reasons = Self.skipReasons(cell, capabilities: capabilities, implemented: implemented)
                    cells.append(
                        PlannedCell(
                            cell: cell, requestedHosts: [request],
                            status: reasons.isEmpty ? .runnable : .skipped(reason: reasons.joined(separator: "; "))))
                }
            }
        }
        self.cells = cells
        self.notes = notes
    }

    private static func autoExplanation(backend: Backend, host: HostKind, capabilities: HostCapabilities) -> String {
        switch (backend, host) {
        case (.bitvisor, .kvm): return "KVM boots guests here and exposes nested SVM, which BitVisor needs"
        case (_, .kvm):
            return "KVM boots guests here"
                + (backend == .none ? "" : " and exposes nested \(backend.rawValue.uppercased())")
        case (_, _) where capabilities.kvmOnlyInBox:
            return "the only KVM is the KVM box's, slower than the emulators (ask for it: --host box or kvm)"
        case (.none, _): return "KVM cannot boot a guest on this machine"
        case (.svm, _):
            return capabilities.kvmBootsGuest
                ? "KVM has no nested SVM here; QEMU TCG emulates SVM with NPT"
                : "KVM cannot boot a guest on this machine; QEMU TCG emulates SVM with NPT"
        case (.vmx, _):
            return capabilities.kvmBootsGuest
                ? "KVM has no nested VMX here; Bochs emulates VMX with EPT"
                : "KVM cannot boot a guest on this machine; Bochs emulates VMX with EPT"
        case (.bitvisor, _):
            return capabilities.kvmBootsGuest
                ? "KVM has no nested SVM here; QEMU TCG emulates SVM with NPT, which BitVisor needs"
                : "KVM cannot boot a guest on this machine; QEMU TCG emulates SVM with NPT, which BitVisor needs"
        }
    }

    /// What keeps a `bitvisor` cell from running, apart from memory: no checkout, no SVM (TCG
    /// without it, KVM without nested SVM; Bochs is Intel-only), 5-level paging, more than one
    /// vCPU. (KVM that cannot boot a guest at all is `skipReasons`'s.)
    static func bitvisorSkipReasons(
        _ cell: MatrixCell, capabilities: HostCapabilities, implemented: Implemented
    ) -> [String] {
        var reasons: [String] = []
        if !implemented.backends.contains(.bitvisor) { reasons.append(Implemented.noBitVisorCheckout) }
        switch cell.host {
        case .tcg:
            if !capabilities.tcgEmulatesSVM {
                reasons.append("bitvisor needs SVM: this QEMU's TCG does not offer SVM with NPT (doctor tried)")
            }
        case .kvm:
            if capabilities.kvmBootsGuest, !capabilities.nestedSVM {
                reasons.append(
                    "bitvisor needs SVM: KVM on this machine does not expose nested SVM; use host tcg (QEMU TCG emulates SVM with NPT)"
                )
            }
        case .bochs:
            reasons.append(
                "host bochs: the lab runs Bochs with an Intel CPU model and BitVisor here with SVM only; use host tcg or kvm"
            )
        }
        if cell.paging == .fiveLevel {
            reasons.append(
                "BitVisor has no 5-level paging (its guest-linear walker stops at 4 levels): "
                    + "its 4-level cell runs the suites")
        }
        if cell.vcpus > 1 {
            reasons.append("BitVisor runs with one vCPU here (its AMD multi-CPU support under QEMU is not working)")
        }
        return reasons
    }

    /// Every reason `cell` cannot run here (empty: runnable).
    static func skipReasons(_ cell: MatrixCell, capabilities: HostCapabilities, implemented: Implemented) -> [String] {
        var reasons: [String] = []
        let backend = cell.backend.rawValue
        if cell.backend == .bitvisor {
            reasons += bitvisorSkipReasons(cell, capabilities: capabilities, implemented: implemented)
        } else if cell.backend != .none, !implemented.backends.contains(cell.backend) {
            reasons.append("hypervisor backend \(backend) is not implemented yet")
        }
        if !implemented.hostKinds.contains(cell.host) {
            reasons.append(
                "host \(cell.host.rawValue): the lab's \(cell.host.displayName) driver is not implemented yet")
        }
        switch cell.host {
        case .kvm:
            if !capabilities.kvmBootsGuest {
                reasons.append("host kvm: KVM cannot boot a guest on this machine (tried)")
            } else if cell.backend == .svm, !capabilities.nestedSVM {
                reasons.append(
                    "svm needs SVM: KVM on this machine does not expose nested SVM; use host tcg (QEMU TCG emulates SVM with NPT)"
                )
            } else if cell.backend == .vmx, !capabilities.nestedVMX {
                reasons.append("vmx needs VMX: KVM on this machine does not expose nested VMX; use host bochs")
            }
        case .tcg:
            if cell.backend == .vmx {
                reasons.append("vmx needs VMX: QEMU TCG does not emulate VMX; use host bochs or a host with nested VMX")
            } else if cell.backend == .svm, !capabilities.tcgEmulatesSVM {
                reasons.append("svm needs SVM: this QEMU's TCG does not offer SVM with NPT (doctor tried)")
            }
        case .bochs:
            if cell.backend == .svm {
                reasons.append("svm needs SVM: the lab runs Bochs with an Intel CPU model (VMX only); use host tcg")
            } else if cell.backend == .vmx, !capabilities.bochsEmulatesVMX {
                reasons.append("vmx needs VMX: Bochs here does not emulate VMX with EPT (doctor tried)")
            }
        }
        if cell.paging == .fiveLevel {
            switch cell.host {
            case .tcg: break  // QEMU TCG emulates LA57 (`-cpu qemu64,+la57`)
            case .kvm where !capabilities.hostCPUHasLA57:
                reasons.append(
                    "5-level paging needs LA57: the host CPU has no la57 flag (/proc/cpuinfo), so a KVM guest cannot have it; "
                        + "use host tcg (QEMU TCG emulates LA57)")
            case .kvm: break
            case .bochs:
                // Where the backend is vmx, TCG is no way out (no VMX there): say what is possible.
                reasons.append(
                    "5-level paging needs LA57: Bochs 2.7's corei7_skylake_x has no LA57; "
                        + (cell.backend == .vmx
                            ? "5-level VMX cells need a KVM host with nested VMX and la57"
                            : "use host tcg (QEMU TCG emulates LA57)"))
            }
        }
        if cell.backend.isLabHypervisor, cell.vcpus > capabilities.hypervisorMaxVCPUs {
            let supported =
                capabilities.hypervisorMaxVCPUs == 1 ? "one vCPU" : "\(capabilities.hypervisorMaxVCPUs) vCPUs"
            reasons.append("the hypervisor supports \(supported); vcpus=\(cell.vcpus) runs only with backend none")
        }
        let budget = capabilities.availableMemoryMiB - hostReserveMiB
        if cell.memoryMiB + perVMOverheadMiB > budget {
            reasons.append(
                "memory \(cell.memoryMiB) MiB (+\(perVMOverheadMiB) MiB VM overhead) does not fit: "
                    + "\(capabilities.availableMemoryMiB) MiB available, \(hostReserveMiB) MiB kept for the host")
        }
        return reasons
    }
}

/// How many VMs run at once, and what limited it.
public struct JobPlan: Sendable, Hashable, Codable {
    public var jobs: Int
    /// The largest count the host allows for these cells.
    public var maximum: Int
    /// Why `maximum` is what it is, e.g. "2 cores (each emulated VM burns a core per vCPU)".
    public var limitedBy: String
    /// Set when an explicit request was lowered to `maximum`.
    public var note: String?
}

/// The number of VMs to run in parallel for `cells` (the runnable ones). Never more than the
/// cores allow (an emulated vCPU keeps a core busy; KVM vCPUs are counted the same so a VM never
/// waits for a core) nor than memory allows (each VM takes its RAM plus
/// `MatrixPlan.perVMOverheadMiB`, with `MatrixPlan.hostReserveMiB` kept for the host); the
/// largest VM of the set is assumed for every slot. `auto` is that maximum; an explicit request
/// above it is lowered, with a note. At least 1.
public func plannedJobs(requested: JobsSetting, cells: [MatrixCell], capabilities: HostCapabilities) -> JobPlan {
    let maxVCPUs = cells.map(\.vcpus).max() ?? 1
    let maxMemory = cells.map(\.memoryMiB).max() ?? 0
    let byCores = max(1, capabilities.cores / maxVCPUs)
    let budget = capabilities.availableMemoryMiB - MatrixPlan.hostReserveMiB
    let byMemory = max(1, budget / (maxMemory + MatrixPlan.perVMOverheadMiB))
    let maximum = min(byCores, byMemory)
    let limitedBy: String
    if byCores <= byMemory {
        limitedBy = "\(capabilities.cores) cores, \(maxVCPUs) vCPU\(maxVCPUs == 1 ? "" : "s") per VM"
    } else {
        limitedBy =
            "\(capabilities.availableMemoryMiB) MiB available memory (\(MatrixPlan.hostReserveMiB) MiB kept for the host), "
            + "\(maxMemory + MatrixPlan.perVMOverheadMiB) MiB per VM"
    }
    switch requested {
    case .auto:
        return JobPlan(jobs: maximum, maximum: maximum, limitedBy: limitedBy, note: nil)
    case .fixed(let count) where count > maximum:
        return JobPlan(
            jobs: maximum, maximum: maximum, limitedBy: limitedBy,
            note: "jobs \(count) lowered to \(maximum): limited by \(limitedBy)")
    case .fixed(let count):
        return JobPlan(jobs: max(1, count), maximum: maximum, limitedBy: limitedBy, note: nil)
    }
}
