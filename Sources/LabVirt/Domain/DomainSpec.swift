import Foundation

/// Everything the lab decides about one VM. `xml()` turns it into libvirt domain XML
/// (see DomainXML.swift); `validate()` rejects what libvirt would reject later, or worse,
/// silently misread.
public struct DomainSpec: Sendable, Equatable {
    public enum Accelerator: String, Sendable, CaseIterable {
        /// QEMU's emulator (libvirt domain type `qemu`). Emulates SVM with NPT, not VMX.
        case tcg
        /// Hardware virtualization (libvirt domain type `kvm`).
        case kvm
    }

    public enum CPU: Sendable, Equatable {
        /// A named QEMU model plus CPUID features the guest must see, e.g.
        /// `.custom(model: "qemu64", requiredFeatures: ["svm", "npt"])` under TCG.
        case custom(model: String, requiredFeatures: [String])
        /// The host CPU as is (KVM only), plus features that must be present, e.g. "vmx" or
        /// "svm" to give the guest nested virtualization on a host that supports it.
        case hostPassthrough(requiredFeatures: [String])

        /// TCG's AMD SVM with nested paging: what the SVM backend needs on this host.
        public static let tcgSVM = CPU.custom(model: "qemu64", requiredFeatures: ["svm", "npt"])

        /// Host passthrough with nested VMX (Intel) or SVM (AMD) required.
        public static func nestedHostPassthrough(vendor: CPUVendor) -> CPU {
            .hostPassthrough(requiredFeatures: [vendor == .intel ? "vmx" : "svm"])
        }
    }

    public enum CPUVendor: String, Sendable { case intel, amd }

    /// Stored in the domain's `<metadata>` so `virsh dumpxml` tells whose VM it is.
    public struct Metadata: Sendable, Equatable {
        public var runID: String
        public var ownerPID: Int32
        public var labVersion: String

        public init(runID: String, ownerPID: Int32 = getpid(), labVersion: String) {
            self.runID = runID
            self.ownerPID = ownerPID
            self.labVersion = labVersion
        }
    }

    /// BIOS boot from disks instead of QEMU's direct loader (the real BitVisor's boot chain): the
    /// domain boots `cdrom` (an IDE CD-ROM, read-only) and has `disk` as its first IDE hard disk
    /// (raw, BIOS drive 0x80). `kernel`, `initrd` and `cmdline` are then not used.
    public struct BIOSBoot: Sendable, Equatable {
        public var cdrom: String
        public var disk: String

        public init(cdrom: String, disk: String) {
            self.cdrom = cdrom
            self.disk = disk
        }
    }

    public var name: String
    public var uuid: UUID
    public var memoryMiB: Int
    public var vcpus: Int
    public var accelerator: Accelerator
    public var cpu: CPU
    /// Loaded by QEMU's direct loader: a Linux bzImage or a multiboot image.
    public var kernel: String
    /// Linux initrd, or for a multiboot kernel its first module.
    public var initrd: String?
    public var cmdline: String
    public var serial: SerialFiles
    /// When set, QEMU's gdb stub listens on 127.0.0.1:port.
    public var gdbPort: UInt16?
    public var metadata: Metadata
    /// Set: boot from these disks through the BIOS (no `<kernel>`).
    public var biosBoot: BIOSBoot? = nil
    /// Which stream each serial port (0 = COM1, 1, 2) carries. The lab's own cells use
    /// console, results, hypervisor log; a BitVisor VM puts BitVisor's log on COM1.
    public var serialOrder: [SerialStream] = [.console, .results, .hypervisorLog]
    /// How the three serial streams leave the machine: files libvirtd writes (`files`: the lab
    /// and the VM share a filesystem), or pty serials whose bytes come through the libvirt
    /// connection (`consoleStreams`: any machine; `serial` are then the lab's local copies).
    public var serialTransport: SerialTransport = .files

    /// The stream file of each serial port (0 = COM1, 1, 2), in `serialOrder`: where the file
    /// serials write, and where the console of `serial<port>` is copied to.
    public var serialPathsByPort: [String] {
        serialOrder.map {
            switch $0 {
            case .console: return serial.console
            case .results: return serial.results
            case .hypervisorLog: return serial.hypervisorLog
            }
        }
    }

    public enum SerialTransport: String, Sendable, Equatable {
        case files, consoleStreams
    }

    public init(
        name: String, uuid: UUID = UUID(), memoryMiB: Int = 1024, vcpus: Int = 1,
        accelerator: Accelerator = .tcg, cpu: CPU = .tcgSVM, kernel: String, initrd: String? = nil,
        cmdline: String = "", serial: SerialFiles, gdbPort: UInt16? = nil, metadata: Metadata
    ) {
        self.name = name
        self.uuid = uuid
        self.memoryMiB = memoryMiB
        self.vcpus = vcpus
        self.accelerator = accelerator
        self.cpu = cpu
        self.kernel = kernel
        self.initrd = initrd
        self.cmdline = cmdline
        self.serial = serial
        self.gdbPort = gdbPort
        self.metadata = metadata
    }

    /// Throws the first problem found, naming the field and the bad value.
    public func validate() throws(DomainSpecError) {
        let nameAllowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-_."))
        guard !name.isEmpty, name.unicodeScalars.allSatisfy({ $0.isASCII && nameAllowed.contains($0) }) else {
            throw .invalid(
                field: "name", value: name, reason: "must be non-empty ASCII letters, digits, '-', '_' or '.'")
        }
        guard (16...1_048_576).contains(memoryMiB) else {
            throw .invalid(field: "memoryMiB", value: String(memoryMiB), reason: "must be between 16 and 1048576")
        }
        guard (1...256).contains(vcpus) else {
            throw .invalid(field: "vcpus", value: String(vcpus), reason: "must be between 1 and 256")
        }
        switch cpu {
        case let .custom(model, features):
            try Self.checkToken(model, field: "cpu.model")
            for feature in features { try Self.checkToken(feature, field: "cpu.requiredFeatures") }
        case let .hostPassthrough(features):
            guard accelerator == .kvm else {
                throw .invalid(
                    field: "cpu", value: "host-passthrough",
                    reason: "needs accelerator kvm (TCG has no host CPU to pass through); use .custom under tcg")
            }
            for feature in features { try Self.checkToken(feature, field: "cpu.requiredFeatures") }
        }
        if let biosBoot {
            try Self.checkPath(biosBoot.cdrom, field: "biosBoot.cdrom")
            try Self.checkPath(biosBoot.disk, field: "biosBoot.disk")
        } else {
            try Self.checkPath(kernel, field: "kernel")
            if let initrd { try Self.checkPath(initrd, field: "initrd") }
        }
        guard Set(serialOrder).count == 3, serialOrder.count == 3 else {
            throw .invalid(
                field: "serialOrder", value: serialOrder.map(\.rawValue).joined(separator: ", "),
                reason: "must name each of the three streams once")
        }
        for (field, path) in [
            ("serial.console", serial.console), ("serial.results", serial.results),
            ("serial.hypervisorLog", serial.hypervisorLog),
        ] {
            try Self.checkPath(path, field: field)
        }
        guard Set(serial.all).count == 3 else {
            throw .invalid(
                field: "serial", value: serial.all.joined(separator: ", "),
                reason: "the three streams need three different files")
        }
        try Self.checkText(cmdline, field: "cmdline")
        try Self.checkText(metadata.runID, field: "metadata.runID")
        try Self.checkText(metadata.labVersion, field: "metadata.labVersion")
        if let gdbPort, gdbPort == 0 {
            throw .invalid(field: "gdbPort", value: "0", reason: "must be 1-65535")
        }
    }

    private static func checkToken(_ value: String, field: String) throws(DomainSpecError) {
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-_."))
        guard !value.isEmpty, value.unicodeScalars.allSatisfy({ $0.isASCII && allowed.contains($0) }) else {
            throw .invalid(
                field: field, value: value,
                reason: "must be a CPU model/feature name (ASCII letters, digits, '-', '_', '.')")
        }
    }

    private static func checkPath(_ value: String, field: String) throws(DomainSpecError) {
        guard value.hasPrefix("/") else {
            throw .invalid(
                field: field, value: value,
                reason: "must be an absolute path (libvirtd resolves paths itself, not from our working directory)")
        }
        try checkText(value, field: field)
    }

    /// XML 1.0 cannot carry most control characters at all, escaped or not.
    private static func checkText(_ value: String, field: String) throws(DomainSpecError) {
        if let bad = value.unicodeScalars.first(where: { $0.value < 0x20 && $0 != "\t" }) {
            throw .invalid(
                field: field, value: value,
                reason: "contains control character U+\(String(format: "%04X", bad.value)), which XML cannot carry")
        }
    }
}

public enum DomainSpecError: Error, Sendable, Equatable, CustomStringConvertible {
    case invalid(field: String, value: String, reason: String)

    public var description: String {
        switch self {
        case let .invalid(field, value, reason):
            return "domain spec: \(field) = \"\(value)\": \(reason)"
        }
    }
}
