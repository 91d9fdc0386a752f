import Foundation

/// One test case as listed by the guest test programs (`PROG --list`) and collected by the
/// image build into `cases.json`.
public struct CaseInfo: Sendable, Hashable, Codable {
    /// Unique id, `<suite>/<name>` by convention, e.g. `linear/cross-page-read`.
    public var id: String
    public var suite: String
    public var description: String
    /// Conditions a cell must meet for the case to run there (see `CaseNeed`); otherwise the
    /// case is reported as skipped in that cell with the reason.
    public var needs: [CaseNeed]
    /// What the case declares it expects of the real BitVisor (cases.json `bitvisor`, the test
    /// table's `bitvisor` field): nil = the same as of the lab's hypervisor; see
    /// `bitvisorExpectation`.
    public var bitvisor: String?

    public init(id: String, suite: String, description: String, needs: [CaseNeed] = [], bitvisor: String? = nil) {
        self.id = id
        self.suite = suite
        self.description = description
        self.needs = needs
        self.bitvisor = bitvisor
    }

    /// `bitvisor` read: "FINDING…" is a declared difference (the case asserts BitVisor's
    /// behaviour; a pass is reported as that finding; `FINDING (machine stops: "TEXT"): …`
    /// one where BitVisor stops the machine, see `BackendExpectation.machineStop`), "skip: why"
    /// a case that cannot run on BitVisor, anything else (or nothing) the same expectation as on
    /// the lab's hypervisor.
    public var bitvisorExpectation: BackendExpectation { BackendExpectation(declared: bitvisor) }

    /// What the case expects in `cell`: its BitVisor declaration in a bitvisor cell, else `.same`.
    public func expectation(in cell: MatrixCell) -> BackendExpectation {
        cell.backend == .bitvisor ? bitvisorExpectation : .same
    }
}

/// What a case declares it expects of one backend, relative to the lab's hypervisor.
public enum BackendExpectation: Sendable, Hashable {
    /// The same behaviour; a difference is a failure.
    case same
    /// A named difference by the backend's design: the case asserts that behaviour there, and
    /// a pass is listed as this finding (text starts with "FINDING").
    case finding(String)
    /// The case cannot run there (it tests what only the lab's hypervisor has): the reason.
    case skip(String)

    /// The prefix of a finding whose difference is that the backend stops the whole machine
    /// (BitVisor panics): `FINDING (machine stops: "TEXT"): why`. The case's last act provokes
    /// it; the lab counts the VM's end during that case, with TEXT on the hypervisor's log, as a
    /// pass (`CaseTracker`).
    public static let machineStopPrefix = "FINDING (machine stops: \""

    /// For `FINDING (machine stops: "TEXT"): …`, TEXT: what the backend's log must say when it
    /// stops the machine during the case. nil for every other expectation.
    public var machineStop: String? {
        guard case .finding(let text) = self, text.hasPrefix(Self.machineStopPrefix) else { return nil }
        let rest = text.dropFirst(Self.machineStopPrefix.count)
        guard let close = rest.range(of: "\")") else { return nil }
        let marker = String(rest[..<close.lowerBound])
        return marker.isEmpty ? nil : marker
    }

    public init(declared: String?) {
        guard let text = declared?.trimmingCharacters(in: .whitespaces), !text.isEmpty else {
            self = .same
            return
        }
        if text.hasPrefix("FINDING") {
            self = .finding(text)
        } else if text.lowercased().hasPrefix("skip:") {
            self = .skip(String(text.dropFirst("skip:".count)).trimmingCharacters(in: .whitespaces))
        } else {
            self = .same
        }
    }
}

/// A requirement a case declares in cases.json `needs` (a string or an array of strings).
public enum CaseNeed: String, Sendable, Hashable, Codable, CaseIterable {
    /// Runs under the lab's hypervisor (backend svm or vmx).
    case hypervisor
    /// Exactly this backend.
    case none, svm, vmx, bitvisor
    /// Exactly this host.
    case kvm, tcg, bochs
    /// Two or more vCPUs.
    case smp
    /// The lab's guest kernel module (always in the lab's initramfs; named so that a user case
    /// directory without one can say so).
    case kmod
    /// A host that runs guest code at QEMU TCG speed or better (kvm, tcg): the case's work does
    /// not fit its deadline under Bochs, which interprets every instruction about ten times
    /// slower. Only the lab can tell (the guest cannot see its emulator).
    case fastHost = "fast-host"

    /// Why `cell` does not meet this need, or nil when it does.
    public func unmetReason(in cell: MatrixCell) -> String? {
        switch self {
        case .hypervisor: return cell.backend.usesHypervisor ? nil : "needs the hypervisor (cell has backend none)"
        case .none, .svm, .vmx, .bitvisor:
            return cell.backend.rawValue == rawValue
                ? nil : "needs backend \(rawValue) (cell has backend \(cell.backend.rawValue))"
        case .kvm, .tcg, .bochs:
            return cell.host.rawValue == rawValue ? nil : "needs host \(rawValue) (cell has host \(cell.host.rawValue))"
        case .smp: return cell.vcpus >= 2 ? nil : "needs 2 or more vCPUs (cell has \(cell.vcpus))"
        case .kmod: return nil
        case .fastHost:
            return cell.host == .bochs
                ? "needs a host faster than Bochs (cell has host bochs, about ten times slower than TCG: "
                    + "the case's work does not fit its deadline there)" : nil
        }
    }
}

/// Problems in cases.json, each with its JSON path (same shape as `ConfigError`).
public struct CatalogError: Error, Sendable, Hashable, CustomStringConvertible {
    public var file: String
    public var issues: [ConfigIssue]

    public var description: String { issues.map { "\(file): \($0)" }.joined(separator: "\n") }
}

extension CatalogError: LocalizedError {
    public var errorDescription: String? { description }
}

/// The cases an image provides, in the order of cases.json.
public struct CaseCatalog: Sendable, Hashable, Codable {
    public var cases: [CaseInfo]

    public init(cases: [CaseInfo]) {
        self.cases = cases
    }

    /// The suites in catalog order, each once.
    public var suites: [String] {
        var seen: Set<String> = []
        return cases.map(\.suite).filter { seen.insert($0).inserted }
    }

    public subscript(id: String) -> CaseInfo? { cases.first { $0.id == id } }

    /// Every case of `catalogs`, each id once: in the order of the first catalog, then the
    /// cases only later ones list (several guest kernels: each image lists its own cases).
    public static func merging(_ catalogs: [CaseCatalog]) -> CaseCatalog {
        var seen: Set<String> = []
        return CaseCatalog(cases: catalogs.flatMap(\.cases).filter { seen.insert($0.id).inserted })
    }

    public static func load(from url: URL) throws(CatalogError) -> CaseCatalog {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw CatalogError(
                file: url.lastPathComponent,
                issues: [ConfigIssue(path: "", message: "cannot read \(url.path): \(error.localizedDescription)")])
        }
        return try parse(data, fileName: url.lastPathComponent)
    }

    /// Reads cases.json: an array of `{"id", "suite", "description", "needs"?, "bitvisor"?}`. Ids must be
    /// unique and free of whitespace (the guest plan file is space-separated).
    public static func parse(_ data: Data, fileName: String = "cases.json") throws(CatalogError) -> CaseCatalog {
        let root: JSONNode
        do {
            root = try JSONDocumentParser.parse(data)
        } catch {
            throw CatalogError(
                file: fileName,
                issues: [ConfigIssue(path: "line \(error.line), column \(error.column)", message: error.message)])
        }
        var validator = ConfigValidator()
        guard case .array(let items) = root.kind else {
            throw CatalogError(
                file: fileName,
                issues: [ConfigIssue(path: "$", message: "expected an array of cases, got \(root.described)")])
        }
        var cases: [CaseInfo] = []
        var firstIndex: [String: Int] = [:]
        for (index, item) in items.enumerated() {
            let path = "$[\(index)]"
            guard
                let members = validator.object(
                    item, path: path, known: ["id", "suite", "description", "needs", "program", "bitvisor"],
                    required: ["id", "suite", "description"])
            else { continue }
            func string(_ key: String) -> String? {
                members[key].flatMap { validator.string($0, "\(path).\(key)") }
            }
            let id = string("id")
            let suite = string("suite")
            let description = string("description")
            if let id {
                if id.contains(where: { $0.isWhitespace || $0.isNewline })
                    || id.unicodeScalars.contains(where: { $0.value < 0x20 })
                {
                    validator.report(
                        "\(path).id", "\(JSONValue.quoted(id)) contains whitespace; case ids are single words")
                } else if let first = firstIndex[id] {
                    validator.report("\(path).id", "\(JSONValue.quoted(id)) is listed twice (also at $[\(first)])")
                } else {
                    firstIndex[id] = index
                }
            }
            if let suiteNode = members["suite"], suite != nil {
                _ = validator.suite(suiteNode, path: "\(path).suite")
            }
            var needs: [CaseNeed] = []
            if let node = members["needs"] {
                let list: [(JSONNode, String)]
                switch node.kind {
                case .string: list = [(node, "\(path).needs")]
                case .array(let elements): list = elements.enumerated().map { ($1, "\(path).needs[\($0)]") }
                default:
                    validator.report("\(path).needs", "expected a need or an array of needs, got \(node.described)")
                    list = []
                }
                let names = CaseNeed.allCases.map(\.rawValue).joined(separator: ", ")
                for (element, elementPath) in list {
                    if case .string(let name) = element.kind, let need = CaseNeed(rawValue: name) {
                        if !needs.contains(need) { needs.append(need) }
                    } else {
                        validator.report(elementPath, "\(element.described) is not a need; expected one of \(names)")
                    }
                }
            }
            let bitvisor = string("bitvisor")
            if let text = bitvisor, BackendExpectation(declared: text) == .same {
                validator.report(
                    "\(path).bitvisor",
                    "\(JSONValue.quoted(text)) declares nothing: start it with \"FINDING\" (BitVisor differs by design) or \"skip:\" (cannot run there), or leave it out"
                )
            }
            if let id, let suite, let description {
                cases.append(
                    CaseInfo(id: id, suite: suite, description: description, needs: needs, bitvisor: bitvisor))
            }
        }
        if !validator.issues.isEmpty { throw CatalogError(file: fileName, issues: validator.issues) }
        return CaseCatalog(cases: cases)
    }
}
