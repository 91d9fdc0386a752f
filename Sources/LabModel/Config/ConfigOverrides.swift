import Foundation

/// Command-line replacements for parts of lab.json (`--backend svm --host tcg --memory 2048`,
/// `--policy strict`).
/// Each non-nil list replaces the whole axis; an element may hold several values separated by
/// commas (`--backend none,svm`). Values are checked by the same rules as lab.json and the
/// errors name the option (`command line: --backend: "kvm" is not a backend; …`).
public struct ConfigOverrides: Sendable, Hashable {
    public var backends: [String]?
    public var hosts: [String]?
    public var kernels: [String]?
    public var memoryMiB: [String]?
    public var vcpus: [String]?
    public var paging: [String]?
    public var suites: [String]?
    public var jobs: String?
    /// Replaces lab.json `hypervisor.policy`.
    public var policy: String?

    /// The option spellings used in error messages; the CLI should declare the same names.
    public enum Option: String, Sendable, CaseIterable {
        case backend = "--backend", host = "--host", kernel = "--kernel", memory = "--memory",
            vcpus = "--vcpus", paging = "--paging", suite = "--suite", jobs = "--jobs", policy = "--policy"
    }

    public init(
        backends: [String]? = nil, hosts: [String]? = nil, kernels: [String]? = nil,
        memoryMiB: [String]? = nil, vcpus: [String]? = nil, paging: [String]? = nil, suites: [String]? = nil,
        jobs: String? = nil, policy: String? = nil
    ) {
        self.backends = backends
        self.hosts = hosts
        self.kernels = kernels
        self.memoryMiB = memoryMiB
        self.vcpus = vcpus
        self.paging = paging
        self.suites = suites
        self.jobs = jobs
        self.policy = policy
    }

    public var isEmpty: Bool {
        backends == nil && hosts == nil && kernels == nil && memoryMiB == nil && vcpus == nil && paging == nil
            && suites == nil && jobs == nil && policy == nil
    }
}

extension LabConfig {
    /// This configuration with `overrides` applied; every bad value is reported at once.
    public func applying(_ overrides: ConfigOverrides) throws(ConfigError) -> LabConfig {
        var validator = ConfigValidator()
        var result = self

        /// Validates one option's values as a lab.json array would be.
        func axis<T: Hashable>(
            _ raw: [String]?, _ option: ConfigOverrides.Option, noun: String,
            element: (inout ConfigValidator, JSONNode, String) -> T?
        ) -> [T]? {
            guard let raw else { return nil }
            let values = raw.flatMap { $0.split(separator: ",", omittingEmptySubsequences: false) }
                .map { $0.trimmingCharacters(in: .whitespaces) }
            let nodes = values.map(Self.commandLineNode)
            let array = JSONNode(kind: .array(nodes), line: 0, column: 0)
            return validator.axis(array, path: { _ in option.rawValue }, noun: noun, element: element)
        }

        if let value = axis(overrides.backends, .backend, noun: "backend", element: { $0.backend($1, path: $2) }) {
            result.matrix.backends = value
        }
        if let value = axis(overrides.hosts, .host, noun: "host", element: { $0.host($1, path: $2) }) {
            result.matrix.hosts = value
        }
        if let value = axis(overrides.kernels, .kernel, noun: "kernel", element: { $0.kernel($1, path: $2) }) {
            result.matrix.kernels = value
        }
        if let value = axis(overrides.memoryMiB, .memory, noun: "memory size", element: { $0.memoryMiB($1, path: $2) })
        {
            result.matrix.memoryMiB = value
        }
        if let value = axis(overrides.vcpus, .vcpus, noun: "vCPU count", element: { $0.vcpuCount($1, path: $2) }) {
            result.matrix.vcpus = value
        }
        if let value = axis(overrides.paging, .paging, noun: "paging mode", element: { $0.paging($1, path: $2) }) {
            result.matrix.paging = value
            validator.pagingAgrees(
                matrix: result.matrix, guest: result.guest, path: ConfigOverrides.Option.paging.rawValue)
        }
        if let value = axis(overrides.suites, .suite, noun: "suite", element: { $0.suite($1, path: $2) }) {
            result.matrix.suites = value
        }
        if let raw = overrides.jobs,
            let value = validator.jobs(
                Self.commandLineNode(raw.trimmingCharacters(in: .whitespaces)),
                path: ConfigOverrides.Option.jobs.rawValue)
        {
            result.jobs = value
        }
        if let raw = overrides.policy,
            let value = validator.policy(
                Self.commandLineNode(raw.trimmingCharacters(in: .whitespaces)),
                path: ConfigOverrides.Option.policy.rawValue)
        {
            result.hypervisor = LabConfig.Hypervisor(policy: value)
        }
        if !validator.issues.isEmpty {
            throw ConfigError(file: "command line", issues: validator.issues)
        }
        return result
    }

    /// A command-line word as the JSON value it stands for: a number when it looks like one
    /// (so `--memory 2048` is checked like `2048`), otherwise a string.
    static func commandLineNode(_ word: String) -> JSONNode {
        if let parsed = try? JSONDocumentParser.parse(word), case .number = parsed.kind {
            return JSONNode(kind: parsed.kind, line: 0, column: 0)
        }
        return JSONNode(kind: .string(word), line: 0, column: 0)
    }
}
