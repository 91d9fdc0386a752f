import Foundation

extension CaseIterable where Self: Equatable {
    /// The position of the case in its declaration: the order the matrix axes sort by.
    var caseOrder: Int { Array(Self.allCases).firstIndex(of: self) ?? Int.max }
}

/// How the guest runs: directly on the emulated machine (`none`), or under the lab's hypervisor
/// using AMD SVM or Intel VMX.
public enum Backend: String, Sendable, Codable, CaseIterable, Comparable {
    /// `bitvisor`: the real BitVisor, built from a checkout the user names (issue 10).
    case none, svm, vmx, bitvisor

    public static func < (lhs: Backend, rhs: Backend) -> Bool { lhs.caseOrder < rhs.caseOrder }

    /// True for svm, vmx and bitvisor: the guest runs under a hypervisor.
    public var usesHypervisor: Bool { self != .none }

    /// True for svm and vmx: the guest runs under the lab's own hypervisor (its policy option,
    /// its self-test services, its hostile-input fixes).
    public var isLabHypervisor: Bool { self == .svm || self == .vmx }
}

/// The machine that runs a cell: QEMU with KVM, QEMU with TCG (emulation), or Bochs.
public enum HostKind: String, Sendable, Codable, CaseIterable, Comparable {
    case kvm, tcg, bochs

    /// What runs the VM, for messages: "KVM", "QEMU TCG", "Bochs".
    public var displayName: String {
        switch self {
        case .kvm: return "KVM"
        case .tcg: return "QEMU TCG"
        case .bochs: return "Bochs"
        }
    }

    public static func < (lhs: HostKind, rhs: HostKind) -> Bool { lhs.caseOrder < rhs.caseOrder }
}

/// A host as written in lab.json: a concrete one, or `auto` (resolved per backend from the
/// doctor's `HostCapabilities`, see `MatrixPlan`).
public enum HostRequest: Sendable, Hashable, Codable, CustomStringConvertible {
    case auto
    case host(HostKind)

    public static let allNames = ["auto"] + HostKind.allCases.map(\.rawValue)

    public init?(name: String) {
        if name == "auto" {
            self = .auto
        } else if let host = HostKind(rawValue: name) {
            self = .host(host)
        } else {
            return nil
        }
    }

    public var description: String {
        switch self {
        case .auto: return "auto"
        case .host(let host): return host.rawValue
        }
    }

    public init(from decoder: any Decoder) throws {
        let name = try decoder.singleValueContainer().decode(String.self)
        guard let request = HostRequest(name: name) else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "unknown host \(name)"))
        }
        self = request
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// The guest kernel: the one Debian's `linux-image-amd64` currently depends on, or an exact
/// ABI version such as `6.1.0-56-amd64`.
public enum KernelSpec: Sendable, Hashable, Codable, CustomStringConvertible {
    case debianCurrent
    case exact(String)

    /// `debian`, or `<digits>...-amd64` made of letters, digits, `.`, `+`, `-` (Debian ABI names,
    /// including backports such as `6.12.12+bpo-amd64`). Restricting the alphabet keeps cell
    /// ids and file names safe.
    public init?(name: String) {
        if name == "debian" {
            self = .debianCurrent
            return
        }
        guard let first = name.unicodeScalars.first, ("0"..."9").contains(first), name.hasSuffix("-amd64"),
            name.unicodeScalars.allSatisfy({
                CharacterSet.alphanumerics.contains($0) && $0.isASCII || "+.-".unicodeScalars.contains($0)
            })
        else { return nil }
        self = .exact(name)
    }

    public var description: String {
        switch self {
        case .debianCurrent: return "debian"
        case .exact(let version): return version
        }
    }

    public init(from decoder: any Decoder) throws {
        let name = try decoder.singleValueContainer().decode(String.self)
        guard let spec = KernelSpec(name: name) else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "bad kernel \(name)"))
        }
        self = spec
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// The guest's paging mode: 4-level, or 5-level (LA57: 57-bit linear addresses). The guest
/// CPU offers LA57 in both (where the host can); a 4-level cell boots the kernel with `no5lvl`,
/// so 4 levels are the guest's choice, as on real hardware with LA57.
public enum PagingMode: String, Sendable, Codable, CaseIterable, Comparable {
    case fourLevel = "4-level"
    case fiveLevel = "5-level"

    public static func < (lhs: PagingMode, rhs: PagingMode) -> Bool { lhs.caseOrder < rhs.caseOrder }

    /// Page-table levels the guest kernel uses.
    public var levels: Int { self == .fourLevel ? 4 : 5 }

    /// The cell id part: `4lvl`, `5lvl`.
    public var idPart: String { "\(levels)lvl" }
}

/// The access policy of the lab's hypervisor (its option `gmlab.policy=`, Sources/Hypervisor
/// README "Access policy"): `bitvisor` serves every service at CPL0 and CPL3 as BitVisor does;
/// `strict` refuses the physical-address and paging-inspection services to CPL3 callers.
public enum HypervisorPolicy: String, Sendable, Codable, CaseIterable {
    case bitvisor, strict

    /// The word on the hypervisor's multiboot command line.
    public var hypervisorOption: String { "gmlab.policy=\(rawValue)" }
}

/// How many VMs run at once: as many as the host allows (`auto`), or at most N.
public enum JobsSetting: Sendable, Hashable, Codable, CustomStringConvertible {
    case auto
    case fixed(Int)

    public var description: String {
        switch self {
        case .auto: return "auto"
        case .fixed(let count): return String(count)
        }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let count = try? container.decode(Int.self), count > 0 {
            self = .fixed(count)
        } else if (try? container.decode(String.self)) == "auto" {
            self = .auto
        } else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "jobs: expected \"auto\" or a positive integer")
            )
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .auto: try container.encode("auto")
        case .fixed(let count): try container.encode(count)
        }
    }
}

/// The validated contents of lab.json (schema in Config/README.md). Build one with
/// `LabConfig.load(from:)` or `LabConfig.parse(_:fileName:)`; both report every problem at once.
public struct LabConfig: Sendable, Hashable, Codable {
    /// The only schema version this code reads.
    public static let schemaVersion = 1

    public struct Matrix: Sendable, Hashable, Codable {
        public var backends: [Backend]
        public var hosts: [HostRequest]
        public var kernels: [KernelSpec]
        public var memoryMiB: [Int]
        public var vcpus: [Int]
        /// Guest paging modes (optional in lab.json; absent means `["4-level"]`).
        public var paging: [PagingMode]
        /// Case suites to run (a suite is a group of cases in cases.json, e.g. `smoke`).
        public var suites: [String]

        public static let defaultPaging: [PagingMode] = [.fourLevel]

        public init(
            backends: [Backend], hosts: [HostRequest], kernels: [KernelSpec], memoryMiB: [Int], vcpus: [Int],
            paging: [PagingMode] = Matrix.defaultPaging, suites: [String]
        ) {
            self.backends = backends
            self.hosts = hosts
            self.kernels = kernels
            self.memoryMiB = memoryMiB
            self.vcpus = vcpus
            self.paging = paging
            self.suites = suites
        }

        // Decoding by hand only so that a matrix written before the paging axis existed
        // (results of older runs) still reads, as `["4-level"]`.
        private enum CodingKeys: String, CodingKey { case backends, hosts, kernels, memoryMiB, vcpus, paging, suites }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            self.init(
                backends: try c.decode([Backend].self, forKey: .backends),
                hosts: try c.decode([HostRequest].self, forKey: .hosts),
                kernels: try c.decode([KernelSpec].self, forKey: .kernels),
                memoryMiB: try c.decode([Int].self, forKey: .memoryMiB),
                vcpus: try c.decode([Int].self, forKey: .vcpus),
                paging: try c.decodeIfPresent([PagingMode].self, forKey: .paging) ?? Matrix.defaultPaging,
                suites: try c.decode([String].self, forKey: .suites))
        }
    }

    public struct Timeouts: Sendable, Hashable, Codable {
        /// From VM start to the agent's `start` event.
        public var bootSeconds: Double
        /// Default for one case, from its `GMLAB-BEGIN` to its `GMLAB-RESULT`.
        public var caseSeconds: Double
        /// Per case id (exact id, not a pattern): overrides `caseSeconds`.
        public var perCase: [String: Double]

        public init(bootSeconds: Double, caseSeconds: Double, perCase: [String: Double] = [:]) {
            self.bootSeconds = bootSeconds
            self.caseSeconds = caseSeconds
            self.perCase = perCase
        }

        /// The timeout that applies to `caseId`.
        public func seconds(forCase caseId: String) -> Double {
            perCase[caseId] ?? caseSeconds
        }
    }

    public struct Guest: Sendable, Hashable, Codable {
        /// The guest kernel command line placed in the boot bundle.
        public var cmdline: String

        public init(cmdline: String) {
            self.cmdline = cmdline
        }
    }

    public static let defaultCmdline = "console=ttyS0 nokaslr panic=-1 quiet"

    /// lab.json `bitvisor`: where the real BitVisor comes from (backend `bitvisor`).
    public struct BitVisor: Sendable, Hashable, Codable {
        /// A BitVisor checkout (a directory; relative paths are from lab.json's directory).
        public var source: String?

        public init(source: String?) { self.source = source }
    }

    /// lab.json `hypervisor`: settings of the lab's own hypervisor for svm/vmx cells.
    public struct Hypervisor: Sendable, Hashable, Codable {
        public var policy: HypervisorPolicy

        public init(policy: HypervisorPolicy) {
            self.policy = policy
        }
    }

    public var schema: Int
    public var matrix: Matrix
    public var timeouts: Timeouts
    public var guest: Guest
    public var jobs: JobsSetting
    /// Extra case directories supplied by the user (not used yet by the run pipeline).
    public var caseDirectories: [String]
    /// `lab bench` settings (lab.json `bench`, optional); nil = the defaults.
    public var bench: BenchSettings?
    /// lab.json `hypervisor` (optional; nil = the defaults, see `policy`).
    public var hypervisor: Hypervisor?
    /// lab.json `machines` (optional; nil = the local daemon only): where cells run.
    public var machines: [MachineConfig]?

    /// The machines of this configuration (`MachineConfig.local` when lab.json names none).
    public var effectiveMachines: [MachineConfig] { machines ?? [.local] }

    /// lab.json `bitvisor` (optional), with `--bitvisor` and `BITVISOR_SRC` applied
    /// (`withBitVisorSource`).
    public var bitvisor: BitVisor?

    /// The BitVisor checkout this run uses, nil when none was given.
    public var bitvisorSource: String? { bitvisor?.source.flatMap { $0.isEmpty ? nil : $0 } }

    /// This configuration with the BitVisor checkout resolved to an absolute path: `flag`
    /// (`--bitvisor`, relative to `currentDirectory`), else `environment` (`BITVISOR_SRC`,
    /// relative to `currentDirectory`), else lab.json's `bitvisor.source` (relative to
    /// `configDirectory`). With a checkout, `bitvisor` is appended to the backends when
    /// missing, so the default run covers it; without one nothing changes.
    public func resolvingBitVisorSource(
        flag: String?, environment: String?, currentDirectory: String, configDirectory: String
    ) -> LabConfig {
        func absolute(_ path: String, from base: String) -> String {
            URL(fileURLWithPath: path, relativeTo: URL(fileURLWithPath: base, isDirectory: true)).standardizedFileURL
                .path
        }
        let chosen: String?
        if let flag, !flag.isEmpty {
            chosen = absolute(flag, from: currentDirectory)
        } else if let environment, !environment.isEmpty {
            chosen = absolute(environment, from: currentDirectory)
        } else if let source = bitvisorSource {
            chosen = absolute(source, from: configDirectory)
        } else {
            chosen = nil
        }
        guard let chosen else { return self }
        var result = self
        result.bitvisor = BitVisor(source: chosen)
        if !result.matrix.backends.contains(.bitvisor) { result.matrix.backends.append(.bitvisor) }
        return result
    }

    /// The hypervisor's access policy for this run: lab.json `hypervisor.policy` or
    /// `lab run --policy`, else `bitvisor`.
    public var policy: HypervisorPolicy { hypervisor?.policy ?? .bitvisor }

    public init(
        matrix: Matrix, timeouts: Timeouts, guest: Guest = Guest(cmdline: LabConfig.defaultCmdline),
        jobs: JobsSetting = .auto, caseDirectories: [String] = [], bench: BenchSettings? = nil,
        hypervisor: Hypervisor? = nil, bitvisor: BitVisor? = nil
    ) {
        self.schema = LabConfig.schemaVersion
        self.matrix = matrix
        self.timeouts = timeouts
        self.guest = guest
        self.jobs = jobs
        self.caseDirectories = caseDirectories
        self.bench = bench
        self.hypervisor = hypervisor
        self.bitvisor = bitvisor
    }

    /// Reads and validates a lab.json file. The error names the file (its last path component).
    public static func load(from url: URL) throws(ConfigError) -> LabConfig {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw ConfigError(
                file: url.lastPathComponent,
                issues: [ConfigIssue(path: "", message: "cannot read \(url.path): \(error.localizedDescription)")])
        }
        return try parse(data, fileName: url.lastPathComponent)
    }

    /// Validates lab.json contents; `fileName` is only used in messages.
    public static func parse(_ data: Data, fileName: String = "lab.json") throws(ConfigError) -> LabConfig {
        let root: JSONNode
        do {
            root = try JSONDocumentParser.parse(data)
        } catch {
            throw ConfigError(
                file: fileName,
                issues: [ConfigIssue(path: "line \(error.line), column \(error.column)", message: error.message)])
        }
        var validator = ConfigValidator()
        let config = validator.config(from: root)
        guard validator.issues.isEmpty, let config else {
            throw ConfigError(file: fileName, issues: validator.issues)
        }
        return config
    }

    /// lab.json text for this configuration (pretty, keys sorted), which `parse` reads back.
    public func jsonText() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        // Encoding plain value types cannot fail.
        return String(decoding: try! encoder.encode(self), as: UTF8.self) + "\n"
    }
}
