import Foundation

/// A transfer method `lab bench` measures (the guest program's case ids are
/// `bench/<method>/<direction>`; Sources/Guest/bench/bench.c).
public enum BenchMethod: String, Sendable, Hashable, Codable, CaseIterable {
    case regs
    case physKernel = "phys-kernel"
    case physKernelList = "phys-kernel-list"
    case physUser = "phys-user"
    case linearByte = "linear-byte"
    case linearPage = "linear-page"
    /// The answers to non-present pages (issue 14), page-wise on a cold buffer.
    case linearPageRefuse = "linear-page-refuse"
    case linearPageFaultin = "linear-page-faultin"
    case linearPageMlock = "linear-page-mlock"

    /// What a reader of the report needs to know about the method, in one line.
    public var summary: String {
        switch self {
        case .regs: return "data in the hypercall's registers, 24 bytes per exit"
        case .physKernel: return "guest-physical, contiguous kmalloc buffer (kernel)"
        case .physKernelList: return "guest-physical page list of a vmalloc buffer (kernel)"
        case .physUser: return "guest-physical from user space via /proc/self/pagemap (translation included)"
        case .linearByte: return "guest-linear, a full page walk per byte (BitVisor's read_linearaddr_b)"
        case .linearPage: return "guest-linear, one page walk per page"
        case .linearPageRefuse:
            return "page-wise on a cold buffer, refuse mode: touch the page at the offset, call again"
        case .linearPageFaultin: return "page-wise on a cold buffer, fault-in mode: one call, a #PF per page"
        case .linearPageMlock: return "page-wise on a cold buffer pinned by mlock first"
        }
    }
}

/// Direction seen from the hypervisor: `read` = guest → hypervisor, `write` = hypervisor → guest.
public enum BenchDirection: String, Sendable, Hashable, Codable, CaseIterable {
    case read, write
}

/// The guest program's baseline cases, always measured with the methods.
public enum BenchBaseline {
    public static let memcpy = "bench/memcpy"
    public static let nullHypercall = "bench/null-hypercall"
    public static let kvmHypercall = "bench/kvm-vmmcall"
    public static let all = [memcpy, nullHypercall, kvmHypercall]
}

/// lab.json's optional `bench` section (every key optional; defaults below), overridable on
/// the `lab bench` command line. Sizes are bytes, powers of two.
public struct BenchSettings: Sendable, Hashable, Codable {
    public var minSize = 8
    public var maxSize = 16 << 20
    /// Samples per point, after `warmup` unrecorded ones.
    public var repetitions = 15
    public var warmup = 3
    /// A sample repeats small transfers until it lasts at least this long.
    public var sampleMilliseconds = 2
    public var methods: [BenchMethod] = BenchMethod.allCases
    public var directions: [BenchDirection] = BenchDirection.allCases
    /// Byte-wise linear copies stop here (a page walk per byte: seconds per MiB under TCG).
    public var byteWiseMaxSize = 256 << 10
    /// The register method stops here (24 bytes per exit).
    public var registersMaxSize = 1 << 20
    /// vmmcalls per KVM_RUN in the peer-KVM baseline.
    public var kvmCalls = 20
    /// Cells to run: `none` (memcpy, peer KVM) and `svm` (the methods, our null hypercall).
    public var backends: [Backend] = [.none, .svm]
    /// Timeout of one bench case in the guest.
    public var caseSeconds: Double = 900

    public init() {}

    public static let sizeLimit = 16 << 20

    /// Every size measured (the guest stops each method at its own limit).
    public var sizes: [Int] {
        var out: [Int] = []
        var size = minSize
        while size <= maxSize {
            out.append(size)
            size *= 2
        }
        return out
    }

    /// The guest case ids these settings run: baselines, then method × direction.
    public var caseIds: [String] {
        BenchBaseline.all + methods.flatMap { method in directions.map { "bench/\(method.rawValue)/\($0.rawValue)" } }
    }

    /// Words for the guest kernel command line, read by the guest program (bench.c).
    public var guestParameters: [String] {
        [
            "min=\(minSize)", "max=\(maxSize)", "reps=\(repetitions)", "warmup=\(warmup)",
            "sample_ms=\(sampleMilliseconds)", "byte_max=\(byteWiseMaxSize)", "reg_max=\(registersMaxSize)",
            "kvm_calls=\(kvmCalls)",
        ].map { "gmlab.bench." + $0 }
    }

    /// Problems a combination of valid values has (each value alone was checked already).
    public var consistencyIssues: [ConfigIssue] {
        minSize > maxSize
            ? [ConfigIssue(path: "sizes", message: "minSize \(minSize) is larger than maxSize \(maxSize)")] : []
    }

    /// `8`, `4K`, `16M`, `1KiB`, `2MiB` → bytes (binary units).
    public static func parseSize(_ text: String) -> Int? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let units: [(String, Int)] = [("KiB", 1 << 10), ("MiB", 1 << 20), ("K", 1 << 10), ("M", 1 << 20), ("B", 1)]
        for (suffix, factor) in units where trimmed.hasSuffix(suffix) {
            guard let value = Int(trimmed.dropLast(suffix.count)), value > 0 else { return nil }
            let (product, overflow) = value.multipliedReportingOverflow(by: factor)
            return overflow ? nil : product
        }
        return Int(trimmed).flatMap { $0 > 0 ? $0 : nil }
    }

    /// 8 → "8 B", 65536 → "64 KiB", 16777216 → "16 MiB".
    public static func sizeLabel(_ bytes: Int) -> String {
        if bytes >= 1 << 20, bytes % (1 << 20) == 0 { return "\(bytes >> 20) MiB" }
        if bytes >= 1 << 10, bytes % (1 << 10) == 0 { return "\(bytes >> 10) KiB" }
        return "\(bytes) B"
    }
}

// MARK: - lab.json validation

extension ConfigValidator {
    static let benchKeys = [
        "minSize", "maxSize", "repetitions", "warmup", "sampleMilliseconds", "methods", "directions",
        "byteWiseMaxSize", "registersMaxSize", "kvmCalls", "backends", "caseSeconds",
    ]

    /// `$.bench`: every key optional; each bad value reported with its path.
    mutating func bench(_ node: JSONNode, path: String) -> BenchSettings? {
        guard let members = object(node, path: path, known: Self.benchKeys, required: []) else { return nil }
        var settings = BenchSettings()
        var ok = true
        func size(_ key: String, into keyPath: WritableKeyPath<BenchSettings, Int>, validator: inout ConfigValidator) {
            guard let node = members[key] else { return }
            if let value = validator.benchSize(node, path: "\(path).\(key)") {
                settings[keyPath: keyPath] = value
            } else {
                ok = false
            }
        }
        func count(
            _ key: String, _ range: ClosedRange<Int>, into keyPath: WritableKeyPath<BenchSettings, Int>,
            validator: inout ConfigValidator
        ) {
            guard let node = members[key] else { return }
            guard let value = node.integerValue, range.contains(value) else {
                validator.report(
                    "\(path).\(key)",
                    "expected a whole number from \(range.lowerBound) to \(range.upperBound), got \(node.described)")
                ok = false
                return
            }
            settings[keyPath: keyPath] = value
        }
        size("minSize", into: \.minSize, validator: &self)
        size("maxSize", into: \.maxSize, validator: &self)
        size("byteWiseMaxSize", into: \.byteWiseMaxSize, validator: &self)
        size("registersMaxSize", into: \.registersMaxSize, validator: &self)
        count("repetitions", 3...1000, into: \.repetitions, validator: &self)
        count("warmup", 0...100, into: \.warmup, validator: &self)
        count("sampleMilliseconds", 1...1000, into: \.sampleMilliseconds, validator: &self)
        count("kvmCalls", 2...100_000, into: \.kvmCalls, validator: &self)
        if let node = members["methods"] {
            let names = BenchMethod.allCases.map(\.rawValue)
            if let value = axis(
                node, path: { $0.map { "\(path).methods[\($0)]" } ?? "\(path).methods" }, noun: "method",
                element: {
                    $0.benchName($1, path: $2, noun: "bench method", names: names).flatMap(BenchMethod.init(rawValue:))
                })
            {
                settings.methods = value
            } else {
                ok = false
            }
        }
        if let node = members["directions"] {
            let names = BenchDirection.allCases.map(\.rawValue)
            if let value = axis(
                node, path: { $0.map { "\(path).directions[\($0)]" } ?? "\(path).directions" }, noun: "direction",
                element: {
                    $0.benchName($1, path: $2, noun: "direction", names: names).flatMap(BenchDirection.init(rawValue:))
                })
            {
                settings.directions = value
            } else {
                ok = false
            }
        }
        if let node = members["backends"] {
            if let value = axis(
                node, path: { $0.map { "\(path).backends[\($0)]" } ?? "\(path).backends" }, noun: "backend",
                element: { $0.backend($1, path: $2) })
            {
                settings.backends = value
            } else {
                ok = false
            }
        }
        if let node = members["caseSeconds"] {
            if let value = seconds(node, path: "\(path).caseSeconds") {
                settings.caseSeconds = value
            } else {
                ok = false
            }
        }
        for issue in settings.consistencyIssues where ok {
            report("\(path).\(issue.path == "sizes" ? "minSize" : issue.path)", issue.message)
            ok = false
        }
        return ok ? settings : nil
    }

    /// A transfer size: a power of two from 1 byte to 16 MiB, as a number or "64K"/"16MiB".
    mutating func benchSize(_ node: JSONNode, path: String) -> Int? {
        let expected =
            "expected a power of two from 1 to 16777216 bytes (a number, or a string such as \"64K\" or \"16MiB\")"
        var value: Int?
        switch node.kind {
        case .number: value = node.integerValue
        case .string(let text): value = BenchSettings.parseSize(text)
        default: value = nil
        }
        guard let bytes = value, bytes > 0, bytes <= BenchSettings.sizeLimit, bytes & (bytes - 1) == 0 else {
            report(path, "\(expected), got \(node.described)")
            return nil
        }
        return bytes
    }

    mutating func benchName(_ node: JSONNode, path: String, noun: String, names: [String]) -> String? {
        guard case .string(let name) = node.kind, names.contains(name) else {
            var message = "\(node.described) is not a \(noun); expected one of \(names.joined(separator: ", "))"
            if case .string(let name) = node.kind, let guess = closest(to: name, among: names) {
                message += " (did you mean \(JSONValue.quoted(guess))?)"
            }
            report(path, message)
            return nil
        }
        return name
    }
}

// MARK: - Command-line overrides

/// `lab bench` options that replace parts of the `bench` section; every value is checked by
/// the lab.json rules and errors name the option.
public struct BenchOverrides: Sendable, Hashable {
    public var minSize: String?
    public var maxSize: String?
    public var repetitions: String?
    public var warmup: String?
    public var methods: [String]?
    public var directions: [String]?
    public var byteWiseMaxSize: String?
    public var registersMaxSize: String?

    public init(
        minSize: String? = nil, maxSize: String? = nil, repetitions: String? = nil, warmup: String? = nil,
        methods: [String]? = nil, directions: [String]? = nil, byteWiseMaxSize: String? = nil,
        registersMaxSize: String? = nil
    ) {
        self.minSize = minSize
        self.maxSize = maxSize
        self.repetitions = repetitions
        self.warmup = warmup
        self.methods = methods
        self.directions = directions
        self.byteWiseMaxSize = byteWiseMaxSize
        self.registersMaxSize = registersMaxSize
    }
}

extension BenchSettings {
    /// These settings with `overrides` applied (option names in errors: `--max-size` …).
    public func applying(_ overrides: BenchOverrides) throws(ConfigError) -> BenchSettings {
        var validator = ConfigValidator()
        var result = self
        func word(_ text: String) -> JSONNode { LabConfig.commandLineNode(text.trimmingCharacters(in: .whitespaces)) }
        if let text = overrides.minSize, let value = validator.benchSize(word(text), path: "--min-size") {
            result.minSize = value
        }
        if let text = overrides.maxSize, let value = validator.benchSize(word(text), path: "--max-size") {
            result.maxSize = value
        }
        if let text = overrides.byteWiseMaxSize, let value = validator.benchSize(word(text), path: "--byte-wise-max") {
            result.byteWiseMaxSize = value
        }
        if let text = overrides.registersMaxSize, let value = validator.benchSize(word(text), path: "--registers-max") {
            result.registersMaxSize = value
        }
        for (text, option, range, keyPath) in [
            (overrides.repetitions, "--repetitions", 3...1000, \BenchSettings.repetitions),
            (overrides.warmup, "--warmup", 0...100, \BenchSettings.warmup),
        ] {
            guard let text else { continue }
            if let value = Int(text.trimmingCharacters(in: .whitespaces)), range.contains(value) {
                result[keyPath: keyPath] = value
            } else {
                validator.report(
                    option,
                    "expected a whole number from \(range.lowerBound) to \(range.upperBound), got \(JSONValue.quoted(text))"
                )
            }
        }
        func list(_ raw: [String]?) -> JSONNode? {
            guard let raw else { return nil }
            let words = raw.flatMap { $0.split(separator: ",", omittingEmptySubsequences: false) }.map { String($0) }
            return JSONNode(kind: .array(words.map(word)), line: 0, column: 0)
        }
        if let node = list(overrides.methods) {
            let names = BenchMethod.allCases.map(\.rawValue)
            if let value = validator.axis(
                node, path: { _ in "--method" }, noun: "method",
                element: {
                    $0.benchName($1, path: $2, noun: "bench method", names: names).flatMap(BenchMethod.init(rawValue:))
                })
            {
                result.methods = value
            }
        }
        if let node = list(overrides.directions) {
            let names = BenchDirection.allCases.map(\.rawValue)
            if let value = validator.axis(
                node, path: { _ in "--direction" }, noun: "direction",
                element: {
                    $0.benchName($1, path: $2, noun: "direction", names: names).flatMap(BenchDirection.init(rawValue:))
                })
            {
                result.directions = value
            }
        }
        if validator.issues.isEmpty {
            for issue in result.consistencyIssues { validator.report("--min-size/--max-size", issue.message) }
        }
        if !validator.issues.isEmpty { throw ConfigError(file: "command line", issues: validator.issues) }
        return result
    }
}
