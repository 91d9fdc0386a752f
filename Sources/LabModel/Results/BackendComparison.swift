import Foundation

/// The side-by-side of a run with both the lab's hypervisor (`svm`) and the real BitVisor
/// (`bitvisor`): per case, ours vs BitVisor's result, grouped by transfer method. Cells are paired
/// when they differ only in their backend (same host, kernel, memory, vCPUs, paging). Written to
/// results.json (`comparison`), report.txt and report.html.
public struct BackendComparison: Sendable, Hashable, Codable {
    /// One backend's outcome of a case.
    public struct Side: Sendable, Hashable, Codable {
        public var cell: String
        public var status: CaseStatus
        public var message: String

        public init(cell: String, status: CaseStatus, message: String) {
            self.cell = cell
            self.status = status
            self.message = message
        }
    }

    /// How the two compare.
    public enum Verdict: String, Sendable, Hashable, Codable {
        /// Both passed the same assertions (or failed alike).
        case same
        /// Both passed, each asserting its own behaviour: a difference the case declares for
        /// BitVisor, by design (the `finding` says what and why).
        case differsAsDeclared = "differs-as-declared"
        /// The outcomes differ and the case declared no difference: a failure somewhere.
        case differs
        /// Not compared: one side did not run the case (skipped, absent); `note` says why.
        case notCompared = "not-compared"
    }

    public struct Entry: Sendable, Hashable, Codable {
        public var caseId: String
        public var ours: Side?
        public var bitvisor: Side?
        public var verdict: Verdict
        /// The declared BitVisor finding (differs-as-declared), or why it was not compared.
        public var note: String?
    }

    /// The cases of one transfer method (`regs`, `linear byte-wise`, …), in catalog order.
    public struct Group: Sendable, Hashable, Codable {
        public var method: String
        public var entries: [Entry]
    }

    /// The paired cells: ours (svm) and BitVisor's.
    public var oursCell: String
    public var bitvisorCell: String
    public var groups: [Group]

    /// Entries per verdict.
    public var counts: [Verdict: Int] {
        groups.flatMap(\.entries).reduce(into: [:]) { $0[$1.verdict, default: 0] += 1 }
    }

    /// The comparisons a run's results hold: one per pair of an svm and a bitvisor cell that are
    /// otherwise the same machine. Empty when the run had not both.
    public static func of(_ results: RunResults) -> [BackendComparison] {
        let cells = results.cells.map(\.cell)
        var comparisons: [BackendComparison] = []
        for bitvisor in cells where bitvisor.backend == .bitvisor {
            var twin = bitvisor
            twin.backend = .svm
            guard cells.contains(twin) else { continue }
            comparisons.append(compare(ours: twin.id, bitvisor: bitvisor.id, in: results))
        }
        return comparisons
    }

    /// The comparison of two cells of `results`.
    public static func compare(ours: String, bitvisor: String, in results: RunResults) -> BackendComparison {
        var byCell: [String: [String: CaseRecord]] = [:]
        for record in results.records where record.cellId == ours || record.cellId == bitvisor {
            // the last attempt of a case counts
            byCell[record.cellId, default: [:]][record.caseId] = record
        }
        let mine = byCell[ours] ?? [:]
        let theirs = byCell[bitvisor] ?? [:]
        var order = results.cases.map(\.id).filter { mine[$0] != nil || theirs[$0] != nil }
        for id in (Set(mine.keys).union(theirs.keys)).sorted() where !order.contains(id) { order.append(id) }
        var groups: [Group] = []
        for id in order {
            let entry = Self.entry(
                caseId: id, ours: mine[id], bitvisor: theirs[id],
                expectation: results.caseInfo(id)?.bitvisorExpectation ?? .same)
            let method = Self.method(of: id)
            if let index = groups.firstIndex(where: { $0.method == method }) {
                groups[index].entries.append(entry)
            } else {
                groups.append(Group(method: method, entries: [entry]))
            }
        }
        return BackendComparison(oursCell: ours, bitvisorCell: bitvisor, groups: groups)
    }

    /// One case: both results and their verdict.
    static func entry(
        caseId: String, ours: CaseRecord?, bitvisor: CaseRecord?, expectation: BackendExpectation
    ) -> Entry {
        let a = ours.map { Side(cell: $0.cellId, status: $0.status, message: $0.message) }
        let b = bitvisor.map { Side(cell: $0.cellId, status: $0.status, message: $0.message) }
        func entry(_ verdict: Verdict, _ note: String? = nil) -> Entry {
            Entry(caseId: caseId, ours: a, bitvisor: b, verdict: verdict, note: note)
        }
        guard let a, let b else {
            return entry(.notCompared, a == nil ? "not run on the lab's hypervisor" : "not run on BitVisor")
        }
        if a.status == .skip || b.status == .skip {
            let why =
                b.status == .skip
                ? (b.message.hasPrefix("not on BitVisor") ? b.message : "skipped on BitVisor: \(b.message)")
                : "skipped on ours: \(a.message)"
            return entry(.notCompared, a.status == .skip && b.status == .skip ? "skipped on both" : why)
        }
        switch (a.status, b.status, expectation) {
        case (.pass, .pass, .finding(let text)): return entry(.differsAsDeclared, text)
        case (.pass, .pass, _): return entry(.same)
        case let (x, y, .finding(text)) where x != y:
            return entry(.differs, "declared for BitVisor: \(text)")
        case let (x, y, _) where x == y: return entry(.same)
        default: return entry(.differs)
        }
    }

    /// The transfer method a case exercises, from its id: the suite, and for the linear suite
    /// the walk (`linear/bytewise/…` → "linear byte-wise").
    public static func method(of caseId: String) -> String {
        let parts = caseId.split(separator: "/").map(String.init)
        guard let suite = parts.first else { return caseId }
        switch suite {
        case "regs": return "registers (regs)"
        case "phys": return "physical (phys)"
        case "pagemap": return "physical via pagemap (pagemap)"
        case "seed": return "seed examples (seed)"
        case "linear" where parts.count >= 3 && parts[1] == "bytewise": return "linear byte-wise"
        case "linear" where parts.count >= 3 && parts[1] == "pagewise": return "linear page-wise"
        case "linear": return "linear (both walks)"
        default: return suite
        }
    }

    /// The terminal section: per method, per case, the verdict and both results.
    public func text(safe: (String) -> String = { $0 }) -> [String] {
        var lines = ["Comparison: \(oursCell) (ours) vs \(bitvisorCell) (BitVisor)"]
        let c = counts
        lines.append(
            "  \(c[.same, default: 0]) same, \(c[.differsAsDeclared, default: 0]) differ as declared (findings), "
                + "\(c[.differs, default: 0]) differ undeclared, \(c[.notCompared, default: 0]) not compared")
        for group in groups {
            lines.append("  \(group.method)")
            for entry in group.entries {
                let label: String
                switch entry.verdict {
                case .same: label = "same     "
                case .differsAsDeclared: label = "DIFFERS  "
                case .differs: label = "DIFFERS! "
                case .notCompared: label = "--       "
                }
                let ours = entry.ours.map(\.status.rawValue) ?? "-"
                let theirs = entry.bitvisor.map(\.status.rawValue) ?? "-"
                lines.append("    \(label)\(entry.caseId): ours \(ours), BitVisor \(theirs)")
                if entry.verdict == .differs {
                    if let message = entry.ours?.message, !message.isEmpty {
                        lines.append("        ours: \(safe(message))")
                    }
                    if let message = entry.bitvisor?.message, !message.isEmpty {
                        lines.append("        BitVisor: \(safe(message))")
                    }
                }
                if let note = entry.note, entry.verdict != .notCompared || entry.bitvisor?.status == .skip {
                    lines.append("        \(safe(note))")
                }
            }
        }
        return lines
    }
}
