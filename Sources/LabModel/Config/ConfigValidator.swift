import Foundation

/// The lab's one validator of JSON files: walks a parsed document and collects every problem
/// (it never stops at the first), each with its JSON path — and its line, where the file's
/// errors cite lines. The core (issues, objects with known keys, strings) is here with the
/// lab.json checks, which command-line overrides share; cases.json (`CaseCatalog`), the bench
/// section (`BenchSettings`) and user case descriptions (`UserCaseDescriptionReader.swift`) add
/// their checks as extensions.
struct ConfigValidator {
    private(set) var issues: [ConfigIssue] = []
    /// Issues carry the line they are on (user case descriptions, reported `file:line:` as
    /// compilers do); otherwise only their JSON path (lab.json, cases.json).
    let citesLines: Bool

    // Bounds a human would not exceed by intent; beyond them the value is almost surely a typo.
    static let memoryRange = 256...1_048_576
    static let vcpuRange = 1...64

    init(citesLines: Bool = false) { self.citesLines = citesLines }

    mutating func report(_ path: String, _ message: String) {
        issues.append(ConfigIssue(path: path, message: message))
    }

    /// A problem with `node`, at its line where issues cite lines.
    mutating func report(_ node: JSONNode, _ path: String, _ message: String) {
        issues.append(ConfigIssue(line: citesLines ? node.line : nil, path: path, message: message))
    }

    // MARK: Document

    mutating func config(from root: JSONNode) -> LabConfig? {
        guard
            let members = object(
                root, path: "$",
                known: [
                    "schema", "matrix", "timeouts", "guest", "jobs", "caseDirectories", "bench", "hypervisor",
                    "machines",
                    "bitvisor",
                ],
                required: ["schema", "matrix", "timeouts"])
        else { return nil }
        var schemaOK = false
        if let node = members["schema"] {
            if let version = node.integerValue {
                if version == LabConfig.schemaVersion {
                    schemaOK = true
                } else {
                    report(
                        "$.schema", "unsupported schema \(version); this lab reads schema \(LabConfig.schemaVersion)")
                }
            } else {
                report("$.schema", "expected the schema version \(LabConfig.schemaVersion), got \(node.described)")
            }
        }
        var matrix: LabConfig.Matrix?
        if let node = members["matrix"] { matrix = self.matrix(node, path: "$.matrix") }
        var timeouts: LabConfig.Timeouts?
        if let node = members["timeouts"] { timeouts = self.timeouts(node, path: "$.timeouts") }
        var guest: LabConfig.Guest? = LabConfig.Guest(cmdline: LabConfig.defaultCmdline)
        if let node = members["guest"] { guest = self.guest(node, path: "$.guest") }
        var jobs: JobsSetting? = .auto
        if let node = members["jobs"] { jobs = self.jobs(node, path: "$.jobs") }
        var directories: [String]? = []
        if let node = members["caseDirectories"] { directories = caseDirectories(node, path: "$.caseDirectories") }
        var bench: BenchSettings?
        var benchOK = true
        if let node = members["bench"] {
            bench = self.bench(node, path: "$.bench")
            benchOK = bench != nil
        }

        var hypervisor: LabConfig.Hypervisor?
        var hypervisorOK = true
        if let node = members["hypervisor"] {
            hypervisor = self.hypervisor(node, path: "$.hypervisor")
            hypervisorOK = hypervisor != nil
        }

        var machines: [MachineConfig]?
        var machinesOK = true
        if let node = members["machines"] {
            machines = self.machines(node, path: "$.machines")
            machinesOK = machines != nil
        }
        var bitvisor: LabConfig.BitVisor?
        var bitvisorOK = true
        if let node = members["bitvisor"] {
            bitvisor = self.bitvisor(node, path: "$.bitvisor")
            bitvisorOK = bitvisor != nil
        }

        if let matrix, let guest { pagingAgrees(matrix: matrix, guest: guest, path: "$.guest.cmdline") }

        guard schemaOK, let matrix, let timeouts, let guest, let jobs, let directories, benchOK, hypervisorOK,
            machinesOK,
            bitvisorOK
        else {
            return nil
        }
        var config = LabConfig(
            matrix: matrix, timeouts: timeouts, guest: guest, jobs: jobs, caseDirectories: directories, bench: bench,
            hypervisor: hypervisor, bitvisor: bitvisor)
        config.machines = machines
        return config
    }

    /// Checks that `node` is an object with only `known` keys (each once) and all `required`
    /// ones; returns its members by key (the first occurrence of a duplicate wins).
    mutating func object(_ node: JSONNode, path: String, known: [String], required: [String]) -> [String: JSONNode]? {
        guard case .object(let list) = node.kind else {
            report(node, path, "expected an object, got \(node.described)")
            return nil
        }
        var members: [String: JSONNode] = [:]
        var firstLine: [String: Int] = [:]
        for member in list {
            if let line = firstLine[member.key] {
                let key = JSONValue.quoted(member.key)
                issues.append(
                    ConfigIssue(
                        line: citesLines ? member.line : nil, path: path,
                        message: citesLines
                            ? "key \(key) appears twice (also on line \(line))"
                            : "key \(key) appears twice (lines \(line) and \(member.line))"))
                continue
            }
            firstLine[member.key] = member.line
            if known.contains(member.key) {
                members[member.key] = member.value
            } else {
                var message = "unknown key \(JSONValue.quoted(member.key))"
                if let guess = closest(to: member.key, among: known) {
                    message += " (did you mean \(JSONValue.quoted(guess))?)"
                } else {
                    message += "; expected keys: " + known.joined(separator: ", ")
                }
                issues.append(ConfigIssue(line: citesLines ? member.line : nil, path: path, message: message))
            }
        }
        for key in required where firstLine[key] == nil {
            report(node, path, "missing required key \(JSONValue.quoted(key))")
        }
        return members
    }

    /// A non-empty string without NUL characters.
    mutating func string(_ node: JSONNode, _ path: String, what: String = "a non-empty string") -> String? {
        guard case .string(let value) = node.kind, !value.isEmpty else {
            report(node, path, "expected \(what), got \(node.described)")
            return nil
        }
        if value.unicodeScalars.contains(where: { $0.value == 0 }) {
            report(node, path, "contains a NUL character")
            return nil
        }
        return value
    }

    /// A string or an array of strings (each non-empty), as a list with each element's node and path.
    mutating func stringList(_ node: JSONNode, _ path: String, what: String) -> [(String, JSONNode, String)] {
        let elements: [(JSONNode, String)]
        switch node.kind {
        case .string: elements = [(node, path)]
        case .array(let items): elements = items.enumerated().map { ($1, "\(path)[\($0)]") }
        default:
            report(node, path, "expected \(what) or an array of them, got \(node.described)")
            return []
        }
        return elements.compactMap { element, elementPath in
            string(element, elementPath, what: what).map { ($0, element, elementPath) }
        }
    }

    // MARK: Matrix

    mutating func matrix(_ node: JSONNode, path: String) -> LabConfig.Matrix? {
        let keys = ["backends", "hosts", "kernels", "memoryMiB", "vcpus", "paging", "suites"]
        guard let members = object(node, path: path, known: keys, required: keys.filter { $0 != "paging" }) else {
            return nil
        }
        func jsonPath(_ key: String) -> (Int?) -> String {
            { index in index.map { "\(path).\(key)[\($0)]" } ?? "\(path).\(key)" }
        }
        var backends: [Backend]?
        var hosts: [HostRequest]?
        var kernels: [KernelSpec]?
        var memory: [Int]?
        var vcpus: [Int]?
        var suites: [String]?
        var paging: [PagingMode]? = LabConfig.Matrix.defaultPaging
        if let node = members["backends"] {
            backends = axis(node, path: jsonPath("backends"), noun: "backend", element: { $0.backend($1, path: $2) })
        }
        if let node = members["hosts"] {
            hosts = axis(node, path: jsonPath("hosts"), noun: "host", element: { $0.host($1, path: $2) })
        }
        if let node = members["kernels"] {
            kernels = axis(node, path: jsonPath("kernels"), noun: "kernel", element: { $0.kernel($1, path: $2) })
        }
        if let node = members["memoryMiB"] {
            memory = axis(
                node, path: jsonPath("memoryMiB"), noun: "memory size", element: { $0.memoryMiB($1, path: $2) })
        }
        if let node = members["vcpus"] {
            vcpus = axis(node, path: jsonPath("vcpus"), noun: "vCPU count", element: { $0.vcpuCount($1, path: $2) })
        }
        if let node = members["paging"] {
            paging = axis(node, path: jsonPath("paging"), noun: "paging mode", element: { $0.paging($1, path: $2) })
        }
        if let node = members["suites"] {
            suites = axis(node, path: jsonPath("suites"), noun: "suite", element: { $0.suite($1, path: $2) })
        }
        guard let backends, let hosts, let kernels, let memory, let vcpus, let paging, let suites else { return nil }
        return LabConfig.Matrix(
            backends: backends, hosts: hosts, kernels: kernels, memoryMiB: memory, vcpus: vcpus,
            paging: paging, suites: suites)
    }

    /// A non-empty list without duplicates. `path(nil)` names the list, `path(i)` its element i.
    mutating func axis<T: Hashable>(
        _ node: JSONNode, path: (Int?) -> String, noun: String,
        element: (inout ConfigValidator, JSONNode, String) -> T?
    ) -> [T]? {
        guard case .array(let items) = node.kind else {
            report(path(nil), "expected an array of \(noun)s, got \(node.described)")
            return nil
        }
        if items.isEmpty {
            report(path(nil), "empty; list at least one \(noun)")
            return nil
        }
        var values: [T] = []
        var firstIndex: [T: Int] = [:]
        var ok = true
        for (index, item) in items.enumerated() {
            guard let value = element(&self, item, path(index)) else {
                ok = false
                continue
            }
            if let first = firstIndex[value] {
                let firstPath = path(first)
                let suffix =
                    firstPath == path(index) ? "" : " (also at \(firstPath.hasPrefix("$") ? "[\(first)]" : firstPath))"
                report(path(index), "\(item.described) is listed twice\(suffix)")
                ok = false
                continue
            }
            firstIndex[value] = index
            values.append(value)
        }
        return ok ? values : nil
    }

    mutating func backend(_ node: JSONNode, path: String) -> Backend? {
        oneOf(node, path: path, noun: "backend", names: Backend.allCases.map(\.rawValue)).flatMap(
            Backend.init(rawValue:))
    }

    mutating func host(_ node: JSONNode, path: String) -> HostRequest? {
        oneOf(node, path: path, noun: "host", names: HostRequest.allNames).flatMap(HostRequest.init(name:))
    }

    mutating func policy(_ node: JSONNode, path: String) -> HypervisorPolicy? {
        oneOf(node, path: path, noun: "hypervisor policy", names: HypervisorPolicy.allCases.map(\.rawValue)).flatMap(
            HypervisorPolicy.init(rawValue:))
    }

    mutating func paging(_ node: JSONNode, path: String) -> PagingMode? {
        oneOf(node, path: path, noun: "paging mode", names: PagingMode.allCases.map(\.rawValue)).flatMap(
            PagingMode.init(rawValue:))
    }

    private mutating func oneOf(_ node: JSONNode, path: String, noun: String, names: [String]) -> String? {
        let list = names.joined(separator: ", ")
        guard case .string(let name) = node.kind else {
            report(path, "expected a \(noun) name (one of \(list)), got \(node.described)")
            return nil
        }
        guard names.contains(name) else {
            var message = "\(node.described) is not a \(noun); expected one of \(list)"
            // Names here are short (svm/kvm/tcg): only suggest on a case slip or a typo in a longer word.
            if let guess = closest(to: name, among: names),
                guess.lowercased() == name.lowercased() || (name.count >= 5 && editDistance(name, guess) <= 1)
            {
                message += " (did you mean \(JSONValue.quoted(guess))?)"
            }
            report(path, message)
            return nil
        }
        return name
    }

    mutating func kernel(_ node: JSONNode, path: String) -> KernelSpec? {
        let expected =
            "expected \"debian\" (the current linux-image-amd64) or a Debian kernel version such as \"6.1.0-56-amd64\""
        guard case .string(let name) = node.kind else {
            report(path, "\(expected), got \(node.described)")
            return nil
        }
        guard let spec = KernelSpec(name: name) else {
            report(path, "\(node.described) is not a kernel; \(expected)")
            return nil
        }
        return spec
    }

    mutating func memoryMiB(_ node: JSONNode, path: String) -> Int? {
        wholeNumber(node, path: path, range: Self.memoryRange, unit: "MiB")
    }

    mutating func vcpuCount(_ node: JSONNode, path: String) -> Int? {
        wholeNumber(node, path: path, range: Self.vcpuRange, unit: "vCPUs")
    }

    private mutating func wholeNumber(_ node: JSONNode, path: String, range: ClosedRange<Int>, unit: String) -> Int? {
        guard let value = node.integerValue, range.contains(value) else {
            report(
                path,
                "expected a whole number of \(unit) from \(range.lowerBound) to \(range.upperBound), got \(node.described)"
            )
            return nil
        }
        return value
    }

    mutating func suite(_ node: JSONNode, path: String) -> String? {
        guard case .string(let name) = node.kind else {
            report(path, "expected a suite name, got \(node.described)")
            return nil
        }
        guard Self.isSimpleName(name) else {
            report(
                path,
                "\(node.described) is not a suite name; expected lowercase letters, digits, \"-\" and \"_\", starting with a letter or digit"
            )
            return nil
        }
        return name
    }

    /// Suite names and the first segment of case ids: `[a-z0-9][a-z0-9_-]*`.
    static func isSimpleName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, ("a"..."z").contains(first) || ("0"..."9").contains(first) else {
            return false
        }
        return name.unicodeScalars.allSatisfy {
            ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" || $0 == "_"
        }
    }

    /// `no5lvl` in the configured command line would silently turn 5-level cells into 4-level
    /// ones; the lab adds it to 4-level cells itself (LabKit's Launcher.guestCmdline).
    mutating func pagingAgrees(matrix: LabConfig.Matrix, guest: LabConfig.Guest, path: String) {
        if matrix.paging.contains(.fiveLevel), guest.cmdline.split(separator: " ").contains("no5lvl") {
            report(
                path,
                "\"no5lvl\" would make the 5-level cells of matrix.paging run 4-level; leave it out "
                    + "(the lab adds no5lvl to 4-level cells itself)")
        }
    }

    // MARK: Other sections

    mutating func timeouts(_ node: JSONNode, path: String) -> LabConfig.Timeouts? {
        guard
            let members = object(
                node, path: path, known: ["bootSeconds", "caseSeconds", "perCase"],
                required: ["bootSeconds", "caseSeconds"])
        else { return nil }
        var boot: Double?
        var perCaseDefault: Double?
        if let node = members["bootSeconds"] { boot = seconds(node, path: "\(path).bootSeconds") }
        if let node = members["caseSeconds"] { perCaseDefault = seconds(node, path: "\(path).caseSeconds") }
        var perCase: [String: Double]? = [:]
        if let node = members["perCase"] {
            perCase = nil
            if case .object(let list) = node.kind {
                var table: [String: Double] = [:]
                var ok = true
                for member in list {
                    let memberPath = "\(path).perCase[\(JSONValue.quoted(member.key))]"
                    if member.key.isEmpty || member.key.contains(where: \.isWhitespace) {
                        report(memberPath, "expected a case id (no spaces), e.g. \"selftest/hang\"")
                        ok = false
                    } else if table[member.key] != nil {
                        report("\(path).perCase", "key \(JSONValue.quoted(member.key)) appears twice")
                        ok = false
                    } else if let value = seconds(member.value, path: memberPath) {
                        table[member.key] = value
                    } else {
                        ok = false
                    }
                }
                if ok { perCase = table }
            } else {
                report("\(path).perCase", "expected an object mapping case ids to seconds, got \(node.described)")
            }
        }
        guard let boot, let perCaseDefault, let perCase else { return nil }
        return LabConfig.Timeouts(bootSeconds: boot, caseSeconds: perCaseDefault, perCase: perCase)
    }

    mutating func seconds(_ node: JSONNode, path: String) -> Double? {
        guard case .number(let value, _) = node.kind, value > 0 else {
            report(path, "expected a positive number, got \(node.described)")
            return nil
        }
        return value
    }

    mutating func guest(_ node: JSONNode, path: String) -> LabConfig.Guest? {
        guard let members = object(node, path: path, known: ["cmdline"], required: ["cmdline"]) else { return nil }
        guard let node = members["cmdline"] else { return nil }
        guard case .string(let cmdline) = node.kind else {
            report("\(path).cmdline", "expected the guest kernel command line as a string, got \(node.described)")
            return nil
        }
        if cmdline.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
            report("\(path).cmdline", "must be a single line without control characters")
            return nil
        }
        return LabConfig.Guest(cmdline: cmdline)
    }

    mutating func hypervisor(_ node: JSONNode, path: String) -> LabConfig.Hypervisor? {
        guard let members = object(node, path: path, known: ["policy"], required: ["policy"]),
            let node = members["policy"], let policy = policy(node, path: "\(path).policy")
        else { return nil }
        return LabConfig.Hypervisor(policy: policy)
    }

    /// `bitvisor`: `{"source": "DIR"}` (a BitVisor checkout; `null` or no source: none).
    mutating func bitvisor(_ node: JSONNode, path: String) -> LabConfig.BitVisor? {
        guard let members = object(node, path: path, known: ["source"], required: []) else { return nil }
        guard let source = members["source"] else { return LabConfig.BitVisor(source: nil) }
        switch source.kind {
        case .null: return LabConfig.BitVisor(source: nil)
        case .string(let dir) where !dir.isEmpty: return LabConfig.BitVisor(source: dir)
        default:
            report(source, "\(path).source", "expected the path of a BitVisor checkout, got \(source.described)")
            return nil
        }
    }

    mutating func jobs(_ node: JSONNode, path: String) -> JobsSetting? {
        if case .string("auto") = node.kind { return .auto }
        if let count = node.integerValue, count > 0 { return .fixed(count) }
        report(path, "expected \"auto\" or a positive integer, got \(node.described)")
        return nil
    }

    mutating func caseDirectories(_ node: JSONNode, path: String) -> [String]? {
        guard case .array(let items) = node.kind else {
            report(path, "expected an array of directory paths, got \(node.described)")
            return nil
        }
        var seen: [String: Int] = [:]
        var result: [String] = []
        var ok = true
        for (index, item) in items.enumerated() {
            guard case .string(let directory) = item.kind, !directory.isEmpty else {
                report("\(path)[\(index)]", "expected a directory path (a non-empty string), got \(item.described)")
                ok = false
                continue
            }
            if let first = seen[directory] {
                report("\(path)[\(index)]", "\(item.described) is listed twice (also at [\(first)])")
                ok = false
                continue
            }
            seen[directory] = index
            result.append(directory)
        }
        return ok ? result : nil
    }
}

// MARK: Suggestions

/// The candidate closest to `word` if it is plausibly a typo of it (case, plural, or a small edit).
func closest(to word: String, among candidates: [String]) -> String? {
    let lowered = word.lowercased()
    var best: (String, Int)?
    for candidate in candidates {
        let distance = editDistance(lowered, candidate.lowercased())
        let limit = max(1, min(3, candidate.count / 3))
        if distance <= limit, best.map({ distance < $0.1 }) ?? true { best = (candidate, distance) }
    }
    return best?.0
}

/// Levenshtein distance over characters.
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a)
    let b = Array(b)
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var previous = Array(0...b.count)
    var current = [Int](repeating: 0, count: b.count + 1)
    for i in 1...a.count {
        current[0] = i
        for j in 1...b.count {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        swap(&previous, &current)
    }
    return previous[b.count]
}
