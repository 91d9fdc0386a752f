import Foundation

/// A shell-style glob: `*` matches any run of characters (including `/`), `?` one character;
/// everything else matches itself. `linear/*`, `*cross-page*`, `svm-*-1024m-*`.
public struct GlobPattern: Sendable, Hashable, CustomStringConvertible {
    public let text: String
    private let characters: [Character]

    public init(_ text: String) {
        self.text = text
        self.characters = Array(text)
    }

    public var description: String { text }

    /// True when the pattern has no wildcard, i.e. names one thing exactly.
    public var isLiteral: Bool { !characters.contains("*") && !characters.contains("?") }

    public func matches(_ candidate: String) -> Bool {
        let subject = Array(candidate)
        // Iterative matcher with single backtrack point for the last `*` (linear in practice).
        var p = 0
        var s = 0
        var starP = -1
        var starS = 0
        while s < subject.count {
            if p < characters.count, characters[p] == "?" || characters[p] == subject[s] {
                p += 1
                s += 1
            } else if p < characters.count, characters[p] == "*" {
                starP = p
                starS = s
                p += 1
            } else if starP >= 0 {
                p = starP + 1
                starS += 1
                s = starS
            } else {
                return false
            }
        }
        while p < characters.count, characters[p] == "*" { p += 1 }
        return p == characters.count
    }
}

/// A case chosen to run in a cell, with the timeout that applies to it.
public struct SelectedCase: Sendable, Hashable, Codable {
    public var info: CaseInfo
    public var timeoutSeconds: Double

    public var id: String { info.id }
}

/// A case that belongs to a cell's selection but cannot run there (its `needs` are not met).
public struct SkippedCase: Sendable, Hashable, Codable {
    public var info: CaseInfo
    public var reason: String
}

/// What one cell will run. For a cell the matrix skipped, `cases` is what it would have run
/// (reports list them as skipped with the cell's reason).
public struct CellSelection: Sendable, Hashable, Codable {
    public var cell: PlannedCell
    public var cases: [SelectedCase]
    public var skippedCases: [SkippedCase]

    /// The guest agent's plan (`/gmlab/plan`): `backend <name>`, then — in a cell with the
    /// hypervisor, when given — `policy <name>` (the agent passes it to each case as
    /// GMLAB_POLICY), then — in a cell with the hypervisor under a KVM host — `host kvm` (passed
    /// as GMLAB_HOST: cases that depend on what KVM's nested SVM does before the hypervisor sees
    /// an event declare it), then `<case-id> <timeout>` per case (timeout in whole seconds, rounded up).
    public func agentPlan(cases subset: [SelectedCase]? = nil, policy: HypervisorPolicy? = nil) -> String {
        var text = "backend \(cell.cell.backend.rawValue)\n"
        // BitVisor has no access policy of its own: what it does is the lab's `bitvisor` policy.
        if cell.cell.backend == .bitvisor, policy != nil {
            text += "policy \(HypervisorPolicy.bitvisor.rawValue)\n"
        } else if let policy, cell.cell.backend.usesHypervisor {
            text += "policy \(policy.rawValue)\n"
        }
        if cell.cell.host == .kvm, cell.cell.backend.usesHypervisor {
            text += "host kvm\n"
        }
        for selected in subset ?? cases {
            text += "\(selected.id) \(Int(selected.timeoutSeconds.rounded(.up)))\n"
        }
        return text
    }
}

/// The result of applying suites, `--only` and `--skip` to the matrix and the catalog.
public struct CaseSelection: Sendable, Hashable, Codable {
    /// Cells left after `--only`/`--skip`, in matrix order (runnable and skipped ones).
    public var cells: [CellSelection]
    /// Remarks: cells excluded by patterns, unknown ids in `timeouts.perCase`.
    public var notes: [String]
}

/// Selection problems: patterns that match nothing, suites without cases.
public struct SelectionError: Error, Sendable, Hashable, CustomStringConvertible {
    public var issues: [String]

    public var description: String { issues.joined(separator: "\n") }
}

extension SelectionError: LocalizedError {
    public var errorDescription: String? { description }
}

/// Chooses, for each cell of `plan`, the cases to run.
///
/// Rules (documented in Config/README.md):
/// - Candidates are the catalog's cases whose suite is in `suites`.
/// - A pattern (glob) may match cell ids, case ids and suite names. An `--only` pattern that
///   matches a cell id restricts the cells; one that matches a case id or suite restricts the
///   cases; the two restrictions combine with AND, patterns of one kind with OR. So
///   `--only svm-tcg-debian-1024m-1cpu --only linear/cross-page` runs exactly one case in one cell.
/// - An `--only` pattern without wildcards that names a case id exactly selects that case even
///   if its suite is not configured (repro commands always work).
/// - `--skip` removes every cell, case or suite it matches.
/// - A pattern that matches nothing anywhere, an `--only` glob whose cases all lie outside the
///   configured suites, or a configured suite with no cases, is an error.
/// - Cases whose `needs` a cell does not meet are listed in `skippedCases` with the reason.
public func selectCases(
    plan: MatrixPlan, catalog: CaseCatalog, suites: [String], timeouts: LabConfig.Timeouts,
    only: [String] = [], skip: [String] = []
) throws(SelectionError) -> CaseSelection {
    try selectCases(
        plan: plan, catalogs: [:], default: catalog, suites: suites, timeouts: timeouts, only: only, skip: skip)
}

/// `selectCases` where each guest kernel's images list their own cases: a cell's cases come from
/// the catalog of the kernel it names (`catalogs[cell.kernel]`); patterns, suites and
/// `timeouts.perCase` are checked against all of them together (`CaseCatalog.merging`).
public func selectCases(
    plan: MatrixPlan, catalogs: [KernelSpec: CaseCatalog], suites: [String], timeouts: LabConfig.Timeouts,
    only: [String] = [], skip: [String] = []
) throws(SelectionError) -> CaseSelection {
    let merged = CaseCatalog.merging(plan.kernels.compactMap { catalogs[$0] })
    return try selectCases(
        plan: plan, catalogs: catalogs, default: merged, suites: suites, timeouts: timeouts, only: only, skip: skip)
}

/// The rules above; `catalog` is every case known (patterns and suites are checked against it),
/// and a cell's candidates come from `catalogs[cell.kernel]`, else from `catalog`.
private func selectCases(
    plan: MatrixPlan, catalogs: [KernelSpec: CaseCatalog], default catalog: CaseCatalog, suites: [String],
    timeouts: LabConfig.Timeouts, only: [String], skip: [String]
) throws(SelectionError) -> CaseSelection {
    var issues: [String] = []
    let knownSuites = Set(catalog.suites)
    for suite in suites where !knownSuites.contains(suite) {
        let available =
            catalog.suites.isEmpty
            ? "cases.json lists no cases" : "suites there: " + catalog.suites.joined(separator: ", ")
        issues.append("suite \(JSONValue.quoted(suite)) has no cases in cases.json (\(available))")
    }

    struct Classified {
        var pattern: GlobPattern
        var matchesCell: Bool
        var matchesCase: Bool
    }
    func classify(_ raw: [String], option: String) -> [Classified] {
        raw.map { text in
            let pattern = GlobPattern(text)
            let matchesCell = plan.cells.contains { pattern.matches($0.id) }
            let matchesCase = catalog.cases.contains { pattern.matches($0.id) || pattern.matches($0.suite) }
            if !matchesCell && !matchesCase {
                issues.append("\(option) \(JSONValue.quoted(text)) matches no case id, suite or cell id")
            }
            return Classified(pattern: pattern, matchesCell: matchesCell, matchesCase: matchesCase)
        }
    }
    let onlyPatterns = classify(only, option: "--only")
    let skipPatterns = classify(skip, option: "--skip")
    let configuredSuites = Set(suites)
    // A case pattern whose every match lies outside the configured suites would select
    // nothing; say so instead of running an empty plan.
    for classified in onlyPatterns
    where classified.matchesCase && !classified.matchesCell && !classified.pattern.isLiteral {
        let matched = catalog.cases.filter { classified.pattern.matches($0.id) || classified.pattern.matches($0.suite) }
        if !matched.contains(where: { configuredSuites.contains($0.suite) }) {
            var outside: [String] = []
            for info in matched where !outside.contains(info.suite) { outside.append(info.suite) }
            issues.append(
                "--only \(JSONValue.quoted(classified.pattern.text)) matches only cases of suites that are not selected ("
                    + outside.joined(separator: ", ") + "); add --suite " + outside.joined(separator: ",")
                    + " or name a case exactly")
        }
    }
    if !issues.isEmpty { throw SelectionError(issues: issues) }

    let onlyCellPatterns = onlyPatterns.filter(\.matchesCell).map(\.pattern)
    let onlyCasePatterns = onlyPatterns.filter(\.matchesCase).map(\.pattern)
    let skipCellPatterns = skipPatterns.filter(\.matchesCell).map(\.pattern)
    let skipCasePatterns = skipPatterns.filter(\.matchesCase).map(\.pattern)

    func matchesCase(_ pattern: GlobPattern, _ info: CaseInfo) -> Bool {
        pattern.matches(info.id) || pattern.matches(info.suite)
    }
    func isChosen(_ info: CaseInfo) -> Bool {
        let explicitlyNamed = onlyCasePatterns.contains { $0.isLiteral && $0.text == info.id }
        guard configuredSuites.contains(info.suite) || explicitlyNamed else { return false }
        if !onlyCasePatterns.isEmpty, !onlyCasePatterns.contains(where: { matchesCase($0, info) }) { return false }
        return !skipCasePatterns.contains { matchesCase($0, info) }
    }

    var notes: [String] = []
    var cells: [CellSelection] = []
    var excluded: [String] = []
    for planned in plan.cells {
        if !onlyCellPatterns.isEmpty, !onlyCellPatterns.contains(where: { $0.matches(planned.id) }) {
            excluded.append(planned.id)
            continue
        }
        if skipCellPatterns.contains(where: { $0.matches(planned.id) }) {
            excluded.append(planned.id)
            continue
        }
        var selected: [SelectedCase] = []
        var skipped: [SkippedCase] = []
        for info in (catalogs[planned.cell.kernel] ?? catalog).cases where isChosen(info) {
            var unmet = info.needs.compactMap { $0.unmetReason(in: planned.cell) }
            if case .skip(let why) = info.expectation(in: planned.cell) { unmet.append("not on BitVisor: \(why)") }
            if unmet.isEmpty {
                selected.append(SelectedCase(info: info, timeoutSeconds: timeouts.seconds(forCase: info.id)))
            } else {
                skipped.append(SkippedCase(info: info, reason: unmet.joined(separator: "; ")))
            }
        }
        cells.append(CellSelection(cell: planned, cases: selected, skippedCases: skipped))
    }
    if !excluded.isEmpty {
        notes.append(
            "\(excluded.count) cell\(excluded.count == 1 ? "" : "s") excluded by --only/--skip: "
                + excluded.joined(separator: ", "))
    }
    for caseId in timeouts.perCase.keys.sorted() where catalog[caseId] == nil {
        notes.append("timeouts.perCase names \(JSONValue.quoted(caseId)), which is not in cases.json")
    }
    return CaseSelection(cells: cells, notes: notes)
}
