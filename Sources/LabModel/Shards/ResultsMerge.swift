import Foundation

/// One results directory a merged result was made from.
public struct MergedSource: Sendable, Hashable, Codable {
    public var directory: String
    public var shard: ShardInfo?
    public var hostname: String?
    public var labCommit: String?
    public var startTime: Date
    public var endTime: Date?
    public var commandLine: [String]
    public var records: Int

    public init(directory: String, results: RunResults) {
        self.directory = directory
        self.shard = results.shard
        self.hostname = results.provenance.hostname
        self.labCommit = results.provenance.labCommit
        self.startTime = results.provenance.startTime
        self.endTime = results.provenance.endTime
        self.commandLine = results.provenance.commandLine
        self.records = results.records.count
    }
}

/// `lab merge`: many results (the shards of one split, or runs of disjoint selections) as one.
/// Pure: the directories' VM logs are copied by the caller (LabKit's `ResultsMerger`).
public enum ResultsMerge {
    public struct Input: Sendable {
        public var directory: String
        public var results: RunResults
        public init(directory: String, results: RunResults) {
            self.directory = directory
            self.results = results
        }
    }

    /// Checks the inputs belong together and combines them:
    /// - shards must come from one split (same count and plan digest), each index once, none
    ///   missing — unless an input is a run that could not start (its error record is kept and
    ///   stands for a missing shard; the merged exit status is then 2);
    /// - no case of a cell may be recorded twice;
    /// - a cell present in several inputs gets the union of its planned cases; where the inputs
    ///   disagree on its state (one ran it, one skipped or could not run it) every planned case
    ///   becomes an explicit record first, so nothing changes meaning;
    /// - provenance: earliest start, latest end, union of images, kernels and machines; values
    ///   that differ between inputs are kept joined and named in a note.
    public static func merge(_ inputs: [Input], commandLine: [String] = []) throws(ShardError) -> RunResults {
        guard !inputs.isEmpty else { throw ShardError("nothing to merge: name at least one results directory") }
        var notes: [String] = []
        let failures = inputs.filter { $0.results.cells.isEmpty && isLabFailure($0.results) }
        try checkShards(inputs, failures: failures.count, notes: &notes)

        // Cases (catalog) and notes: union in input order.
        var cases: [CaseInfo] = []
        var caseIndex: [String: Int] = [:]
        for input in inputs {
            for info in input.results.cases where caseIndex[info.id] == nil {
                caseIndex[info.id] = cases.count
                cases.append(info)
            }
        }

        // Records: no (cell, case) twice; a run that could not start keeps its one error record.
        var records: [CaseRecord] = []
        var sourceOf: [String] = []  // input directory of each record
        var seen: [String: String] = [:]
        // Cells: grouped by id, in matrix order where the shards tell it.
        var order: [String] = []
        for input in inputs {
            for id in input.results.shard?.cellOrder ?? [] where !order.contains(id) { order.append(id) }
        }
        var byCell: [String: [(input: Input, outcome: CellOutcome)]] = [:]
        for input in inputs {
            for outcome in input.results.cells {
                if !order.contains(outcome.id) { order.append(outcome.id) }
                byCell[outcome.id, default: []].append((input, outcome))
            }
        }
        var cells: [CellOutcome] = []
        var materialized: Set<String> = []  // "directory|cell" whose rows became records
        for id in order {
            guard let parts = byCell[id], let first = parts.first else { continue }
            var planned: [String] = []
            for part in parts {
                for caseId in part.outcome.plannedCases where !planned.contains(caseId) { planned.append(caseId) }
            }
            // The whole plan's order when a shard recorded it, else the catalog's.
            let reference = parts.lazy.compactMap { $0.input.results.shard?.plannedCases[id] }.first
            let rank =
                reference.map { Dictionary($0.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a }) }
                ?? caseIndex
            planned = planned.enumerated().sorted {
                (rank[$0.element] ?? Int.max, $0.offset) < (rank[$1.element] ?? Int.max, $1.offset)
            }.map(\.element)
            var status = first.outcome.status
            if Set(parts.map(\.outcome.status)).count > 1 {
                for part in parts { materialized.insert(part.input.directory + "|" + id) }
                status = combined(parts.map(\.outcome.status))
                notes.append(
                    "cell \(id) ran differently in the inputs ("
                        + parts.map { "\($0.input.directory): \(describe($0.outcome.status))" }.joined(separator: "; ")
                        + "); each planned case has its own record")
            }
            cells.append(CellOutcome(cell: first.outcome.cell, status: status, plannedCases: planned))
        }
        for input in inputs {
            var own = input.results.records
            for outcome in input.results.cells where materialized.contains(input.directory + "|" + outcome.id) {
                let recorded = Set(own.filter { $0.cellId == outcome.id }.map(\.caseId))
                own += input.results.rows(for: outcome).filter { !recorded.contains($0.caseId) }
            }
            for record in own {
                let key = record.cellId + "|" + record.caseId
                if record.caseId == RunResults.labErrorCaseId && record.cellId == RunResults.labErrorCaseId {
                    records.append(record)
                    sourceOf.append(input.directory)
                    sourceOf.append(input.directory)
                    continue
                }
                if let other = seen[key] {
                    throw ShardError(
                        "case \(record.caseId) in cell \(record.cellId) is recorded in both \(other) and \(input.directory): "
                            + "the inputs overlap (shards of different splits, or the same run twice)")
                }
                seen[key] = input.directory
                records.append(record)
                sourceOf.append(input.directory)
            }
        }

        for input in inputs {
            for note in input.results.notes where !notes.contains(note) { notes.append(note) }
        }
        var renamed: [String: [String: String]] = [:]  // directory → machine name → merged name
        let provenance = mergeProvenance(inputs, commandLine: commandLine, notes: &notes, renamed: &renamed)
        for index in records.indices {
            if let machine = records[index].machine, let name = renamed[sourceOf[index]]?[machine] {
                records[index].machine = name
            }
        }
        var results = RunResults(provenance: provenance, cells: cells, records: records, cases: cases, notes: notes)
        results.mergedFrom = inputs.map { MergedSource(directory: $0.directory, results: $0.results) }
        return results
    }

    static func isLabFailure(_ results: RunResults) -> Bool {
        results.records.contains { $0.caseId == RunResults.labErrorCaseId && $0.cellId == RunResults.labErrorCaseId }
    }

    private static func checkShards(_ inputs: [Input], failures: Int, notes: inout [String]) throws(ShardError) {
        let shards = inputs.compactMap { input in input.results.shard.map { (input.directory, $0) } }
        guard !shards.isEmpty else { return }
        let plain = inputs.filter { $0.results.shard == nil && !($0.results.cells.isEmpty && isLabFailure($0.results)) }
        if let stray = plain.first {
            throw ShardError(
                "\(stray.directory) is not a shard (no --shard in its run) but \(shards[0].0) is: merge the shards of one split"
            )
        }
        let (firstDirectory, first) = shards[0]
        var byIndex: [Int: String] = [:]
        for (directory, shard) in shards {
            guard shard.count == first.count, shard.planDigest == first.planDigest else {
                throw ShardError(
                    "\(directory) is shard \(shard.index)/\(shard.count) of plan \(shard.planDigest), but \(firstDirectory) "
                        + "is shard \(first.index)/\(first.count) of plan \(first.planDigest): the shards were planned from "
                        + "different configurations, selections or shard counts")
            }
            if let other = byIndex[shard.index] {
                throw ShardError("shard \(shard.index)/\(shard.count) appears twice: \(other) and \(directory)")
            }
            byIndex[shard.index] = directory
        }
        let missing = (1...first.count).filter { byIndex[$0] == nil }
        if missing.isEmpty { return }
        let names = missing.map { "\($0)/\(first.count)" }.joined(separator: ", ")
        if failures >= missing.count {
            notes.append(
                "shard\(missing.count == 1 ? "" : "s") \(names) could not run; their error is recorded and their cases are absent"
            )
            return
        }
        throw ShardError(
            "shard\(missing.count == 1 ? "" : "s") \(names) missing: have "
                + byIndex.keys.sorted().map { "\($0)/\(first.count)" }.joined(separator: ", "))
    }

    private static func combined(_ statuses: [CellRunStatus]) -> CellRunStatus {
        var reasons: [String] = []
        for status in statuses {
            if case .error(let message) = status { return .error(message: message) }
        }
        if statuses.contains(.ran) { return .ran }
        for status in statuses {
            if case .skipped(let reason) = status, !reasons.contains(reason) { reasons.append(reason) }
        }
        return .skipped(reason: reasons.joined(separator: "; "))
    }

    private static func describe(_ status: CellRunStatus) -> String {
        switch status {
        case .ran: return "ran"
        case .skipped(let reason): return "skipped: \(reason)"
        case .error(let message): return "error: \(message)"
        }
    }

    private static func mergeProvenance(
        _ inputs: [Input], commandLine: [String], notes: inout [String], renamed: inout [String: [String: String]]
    ) -> Provenance {
        let all = inputs.map(\.results.provenance)
        func pick(_ name: String, _ values: [String?]) -> String? {
            var unique: [String] = []
            for value in values.compactMap({ $0 }) where !unique.contains(value) { unique.append(value) }
            if unique.count > 1 { notes.append("merged inputs differ in \(name): " + unique.joined(separator: " | ")) }
            return unique.isEmpty ? nil : unique.joined(separator: " | ")
        }
        var provenance = Provenance(
            labCommit: pick("lab commit", all.map(\.labCommit)),
            qemuVersion: pick("QEMU version", all.map(\.qemuVersion)),
            bochsVersion: pick("Bochs version", all.map(\.bochsVersion)),
            libvirtLibraryVersion: pick("libvirt library", all.map(\.libvirtLibraryVersion)),
            libvirtDaemonVersion: pick("libvirt daemon", all.map(\.libvirtDaemonVersion)),
            hostCPU: pick("host CPU", all.map(\.hostCPU)), hostname: pick("host name", all.map(\.hostname)),
            startTime: all.map(\.startTime).min() ?? Date(), endTime: all.compactMap(\.endTime).max(),
            commandLine: commandLine)
        for (input, source) in zip(inputs, all) {
            for (name, digest) in source.imageDigests {
                if let existing = provenance.imageDigests[name], existing != digest {
                    notes.append(
                        "image \(name) differs between inputs: \(existing) and \(digest) (\(input.directory)); the first is kept"
                    )
                } else {
                    provenance.imageDigests[name] = digest
                }
            }
            for (spec, kernel) in source.guestKernels where provenance.guestKernels[spec] == nil {
                provenance.guestKernels[spec] = kernel
            }
            for (cell, machine) in source.machines where provenance.machines[cell] == nil {
                provenance.machines[cell] = machine
            }
            if provenance.hypervisorPolicy == nil { provenance.hypervisorPolicy = source.hypervisorPolicy }
            // Each shard's `local` is a different machine when shards ran on different runners:
            // name it by its host name then, so records stay traceable.
            for (name, host) in source.hosts ?? [:] {
                var hosts = provenance.hosts ?? [:]
                // The same machine when its URI and host name agree (free memory changes between runs).
                if let existing = hosts[name], existing.uri != host.uri || existing.hostname != host.hostname {
                    let alias = "\(name)@\(host.hostname ?? input.directory)"
                    hosts[alias] = host
                    renamed[input.directory, default: [:]][name] = alias
                    notes.append("machine \(name) of \(input.directory) is another host; recorded as \(alias)")
                } else {
                    hosts[name] = host
                }
                provenance.hosts = hosts
            }
        }
        let policies = Set(all.compactMap(\.hypervisorPolicy))
        if policies.count > 1 {
            notes.append(
                "merged inputs ran different hypervisor policies: "
                    + policies.map(\.rawValue).sorted().joined(separator: ", "))
        }
        return provenance
    }
}
