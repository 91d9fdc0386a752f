import Foundation

/// lab.json `machines[]`: *where* cells run (the matrix's host axis says *how*: kvm, tcg, bochs).
/// A machine is a libvirt endpoint with capacity hints; a cell runs on any machine that can run
/// its accelerator. Without `machines`, the lab uses one: `local`, `qemu:///system`.
public struct MachineConfig: Sendable, Hashable, Codable {
    /// A short name for reports and provenance (`local`, `box`, `rack-3`).
    public var name: String
    public var uri: MachineURI
    /// At most this many of the lab's VMs at once on the machine (nil: what its cores and memory
    /// allow, from `virNodeGetInfo`).
    public var jobs: Int?
    /// Memory the lab may use there, MiB (nil: the machine's, from `virNodeGetInfo`).
    public var memoryMiB: Int?
    /// Only these accelerators (nil: whatever the machine offers). Bochs runs only on the local
    /// machine: the lab runs it as its own process, not through libvirt.
    public var accelerators: [HostKind]?
    /// The KVM host in a box (lab.json `"box": true`, docs/kvm-box.md): the lab boots it (an L1
    /// KVM host under QEMU TCG) before planning and stops it after the run; `uri` is then the
    /// loopback port its libvirtd answers on, forwarded by the box's QEMU.
    public var box: Bool

    public init(
        name: String, uri: MachineURI, jobs: Int? = nil, memoryMiB: Int? = nil, accelerators: [HostKind]? = nil,
        box: Bool = false
    ) {
        self.name = name
        self.uri = uri
        self.jobs = jobs
        self.memoryMiB = memoryMiB
        self.accelerators = accelerators
        self.box = box
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        uri = try c.decode(MachineURI.self, forKey: .uri)
        jobs = try c.decodeIfPresent(Int.self, forKey: .jobs)
        memoryMiB = try c.decodeIfPresent(Int.self, forKey: .memoryMiB)
        accelerators = try c.decodeIfPresent([HostKind].self, forKey: .accelerators)
        box = try c.decodeIfPresent(Bool.self, forKey: .box) ?? false
    }

    /// The machine used when lab.json names none.
    public static let local = MachineConfig(name: "local", uri: localURI)

    /// The box as `--machine box` and `--host box` give it when lab.json names no box: KVM cells
    /// only, one VM at once (L1 has one vCPU).
    public static let box = MachineConfig(
        name: "box", uri: boxPlaceholderURI, jobs: 1, accelerators: [.kvm], box: true)

    /// A box's URI until the lab has started it and knows its port.
    public static let boxPlaceholderURI: MachineURI = {
        guard let uri = try? MachineURI(parsing: "qemu+tcp://127.0.0.1/system") else {
            fatalError("qemu+tcp://127.0.0.1/system must parse")
        }
        return uri
    }()

    static let localURI: MachineURI = {
        // A literal the parser accepts; checked by the unit tests.
        guard let uri = try? MachineURI(parsing: "qemu:///system") else { fatalError("qemu:///system must parse") }
        return uri
    }()
}

/// What one machine can run, as its libvirt daemon says (`virConnectGetDomainCapabilities` per
/// virt type, `virNodeGetInfo`) — never this machine's /proc/cpuinfo, unless it is this machine.
public struct MachineCapabilities: Sendable, Hashable, Codable {
    /// Accelerators a domain can use there (`kvm` from domcapabilities `--virttype kvm`,
    /// `tcg` from `--virttype qemu`; `bochs` only on the local machine, from its probe).
    public var accelerators: Set<HostKind>
    /// KVM there offers nested SVM / VMX to its guests.
    public var nestedSVM: Bool
    public var nestedVMX: Bool
    /// KVM guests there can have LA57 (5-level paging).
    public var la57: Bool
    /// TCG there emulates SVM with NPT (the lab's TCG CPU: qemu64 with svm and npt).
    public var tcgSVM: Bool
    /// Logical CPUs and memory of the machine (`virNodeGetInfo`).
    public var cpus: Int
    public var memoryMiB: Int
    /// The CPU model libvirt reports for host-model (`EPYC-Rome`, `qemu64`…), for provenance.
    public var cpuModel: String?

    public init(
        accelerators: Set<HostKind>, nestedSVM: Bool = false, nestedVMX: Bool = false, la57: Bool = false,
        tcgSVM: Bool = false, cpus: Int, memoryMiB: Int, cpuModel: String? = nil
    ) {
        self.accelerators = accelerators
        self.nestedSVM = nestedSVM
        self.nestedVMX = nestedVMX
        self.la57 = la57
        self.tcgSVM = tcgSVM
        self.cpus = cpus
        self.memoryMiB = memoryMiB
        self.cpuModel = cpuModel
    }

    /// Why `cell` cannot run on a machine with these capabilities (nil: it can).
    public func reason(cannotRun cell: MatrixCell, machine: String) -> String? {
        guard accelerators.contains(cell.host) else {
            return "\(machine) has no \(cell.host.displayName)"
        }
        switch (cell.host, cell.backend) {
        case (.kvm, .svm) where !nestedSVM: return "KVM on \(machine) offers no nested SVM"
        case (.kvm, .bitvisor) where !nestedSVM: return "KVM on \(machine) offers no nested SVM (BitVisor needs SVM)"
        case (.tcg, .bitvisor) where !tcgSVM: return "QEMU TCG on \(machine) does not offer SVM with NPT"
        case (.bochs, .bitvisor): return "the lab runs BitVisor with SVM only and Bochs with an Intel CPU model"
        case (.kvm, .vmx) where !nestedVMX: return "KVM on \(machine) offers no nested VMX"
        case (.tcg, .svm) where !tcgSVM: return "QEMU TCG on \(machine) does not offer SVM with NPT"
        case (.tcg, .vmx): return "QEMU TCG does not emulate VMX"
        case (.bochs, .svm): return "the lab runs Bochs with an Intel CPU model (VMX only)"
        default: break
        }
        if cell.paging == .fiveLevel, cell.host == .kvm, !la57 { return "KVM guests on \(machine) cannot have LA57" }
        if cell.memoryMiB + MatrixPlan.perVMOverheadMiB > memoryMiB {
            return
                "\(cell.memoryMiB) MiB (+\(MatrixPlan.perVMOverheadMiB) MiB overhead) exceeds \(machine)'s \(memoryMiB) MiB"
        }
        return nil
    }
}

/// A machine the scheduler may use: its name, what it can run and how many VMs at once.
public struct SchedulableMachine: Sendable, Hashable {
    public var name: String
    public var capabilities: MachineCapabilities
    /// VMs at once: the `jobs` hint, else one per CPU, both capped by memory (the largest VM of
    /// the run assumed for every slot).
    public var slots: Int

    public init(name: String, capabilities: MachineCapabilities, slots: Int) {
        self.name = name
        self.capabilities = capabilities
        self.slots = max(0, slots)
    }

    /// Slots from the hints and the machine's size, for VMs of `largestVMMiB`.
    public static func slots(
        config: MachineConfig, capabilities: MachineCapabilities, largestVMMiB: Int, vcpus: Int
    )
        -> Int
    {
        let memory = min(config.memoryMiB ?? capabilities.memoryMiB, capabilities.memoryMiB)
        let reserve = config.memoryMiB == nil ? MatrixPlan.hostReserveMiB : 0
        let byMemory = max(0, (memory - reserve) / (largestVMMiB + MatrixPlan.perVMOverheadMiB))
        let byCPUs = max(1, capabilities.cpus / max(1, vcpus))
        return min(config.jobs ?? byCPUs, byMemory)
    }
}

/// A machine as results record it (`Provenance.hosts`).
public struct HostRecord: Sendable, Hashable, Codable {
    public var uri: String
    public var cpus: Int?
    public var memoryMiB: Int?
    public var cpuModel: String?
    public var libvirtDaemon: String?
    public var hostname: String?

    public init(
        uri: String, cpus: Int? = nil, memoryMiB: Int? = nil, cpuModel: String? = nil, libvirtDaemon: String? = nil,
        hostname: String? = nil
    ) {
        self.uri = uri
        self.cpus = cpus
        self.memoryMiB = memoryMiB
        self.cpuModel = cpuModel
        self.libvirtDaemon = libvirtDaemon
        self.hostname = hostname
    }
}
