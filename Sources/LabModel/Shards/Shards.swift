import Foundation

/// `--shard I/N`: this run is shard `index` (1-based) of `count`.
public struct ShardSpec: Sendable, Hashable, Codable, CustomStringConvertible {
    public var index: Int
    public var count: Int

    public init(index: Int, count: Int) throws(ShardError) {
        guard count >= 1 else { throw ShardError("shard count must be at least 1, got \(count)") }
        guard (1...count).contains(index) else {
            throw ShardError("shard index must be between 1 and \(count), got \(index)")
        }
        self.index = index
        self.count = count
    }

    /// Reads `I/N` (`1/4`, `4/4`).
    public init(parsing text: String) throws(ShardError) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let index = Int(parts[0]), let count = Int(parts[1]) else {
            throw ShardError("--shard \(JSONValue.quoted(text)): expected I/N, e.g. 1/4 (shard 1 of 4)")
        }
        try self.init(index: index, count: count)
    }

    public var description: String { "\(index)/\(count)" }
}

/// A bad `--shard`, or shards that do not merge.
public struct ShardError: Error, Sendable, Hashable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

extension ShardError: LocalizedError {
    public var errorDescription: String? { message }
}

/// The unit of work shards split: one batch of one cell's cases (a suite of its cases — a
/// cell whose selection is empty is one unit by itself, so its outcome lands in exactly one
/// shard). A shard runs all of its units of one cell in one VM, as a run does.
public struct WorkUnit: Sendable, Hashable, Codable {
    public var cellId: String
    /// The suite of the unit's cases ("" for a cell without cases).
    public var batch: String
    /// Cases that run (in plan order).
    public var caseIds: [String]
    /// Cases of the batch the cell cannot run by construction (reported as skips, cost nothing).
    public var skippedCaseIds: [String]
    /// What the cell's host costs to boot, in case-equivalents (see `ShardSplit.bootWeight`).
    public var bootWeight: Int

    /// `cell|suite`: unique in a plan, and what results record.
    public var key: String { cellId + "|" + batch }
    /// The unit's estimated cost without the boot: one per case that runs.
    public var weight: Int { caseIds.count }
}

/// What a shard's results record about the split, so `lab merge` can check the shards belong
/// together and that none is missing.
public struct ShardInfo: Sendable, Hashable, Codable {
    public var index: Int
    public var count: Int
    /// This shard's units (`WorkUnit.key`), in plan order.
    public var units: [String]
    /// How many units the whole plan has, over all shards.
    public var totalUnits: Int
    /// A digest of every unit key of the plan and the shard count: equal in every shard of one
    /// split, different when the shards were planned from different configurations or selections.
    public var planDigest: String
    /// Every cell id of the plan, in matrix order (so a merge lists cells as one run would).
    public var cellOrder: [String]
    /// Every cell's planned cases over the whole plan, in the order one run would list them.
    public var plannedCases: [String: [String]]

    public init(
        index: Int, count: Int, units: [String], totalUnits: Int, planDigest: String, cellOrder: [String] = [],
        plannedCases: [String: [String]] = [:]
    ) {
        self.index = index
        self.count = count
        self.units = units
        self.totalUnits = totalUnits
        self.planDigest = planDigest
        self.cellOrder = cellOrder
        self.plannedCases = plannedCases
    }
}

/// Splits a selection into work units and the units into shards: deterministic (it depends only on
/// the cells' ids and hosts and on the cases selected — not on what this machine can run, so CI
/// runners with different hardware agree), every unit in exactly one shard, balanced by an
/// estimate of cost where a shard pays a cell's boot once for all its units of that cell.
public enum ShardSplit {
    /// A boot in case-equivalents: a TCG/KVM boot costs about as much as ten cases; a Bochs boot
    /// (~110 s, host-notes) three times that.
    public static func bootWeight(_ host: HostKind) -> Int {
        switch host {
        case .bochs: return 30
        case .tcg, .kvm: return 10
        }
    }

    /// The selection's units, in plan order (cells in matrix order, suites in case order).
    public static func units(of selection: CaseSelection) -> [WorkUnit] {
        var units: [WorkUnit] = []
        for cell in selection.cells {
            var order: [String] = []
            var running: [String: [String]] = [:]
            var skipped: [String: [String]] = [:]
            for selected in cell.cases {
                if running[selected.info.suite] == nil, skipped[selected.info.suite] == nil {
                    order.append(selected.info.suite)
                }
                running[selected.info.suite, default: []].append(selected.id)
            }
            for skip in cell.skippedCases {
                if running[skip.info.suite] == nil, skipped[skip.info.suite] == nil { order.append(skip.info.suite) }
                skipped[skip.info.suite, default: []].append(skip.info.id)
            }
            let boot = bootWeight(cell.cell.cell.host)
            if order.isEmpty {
                units.append(
                    WorkUnit(cellId: cell.cell.id, batch: "", caseIds: [], skippedCaseIds: [], bootWeight: boot))
            }
            for suite in order {
                units.append(
                    WorkUnit(
                        cellId: cell.cell.id, batch: suite, caseIds: running[suite] ?? [],
                        skippedCaseIds: skipped[suite] ?? [], bootWeight: boot))
            }
        }
        return units
    }

    /// The shard (1-based) of each unit, in the order of `units`. Greedy longest-first: units by
    /// descending weight (ties: key), each to the shard whose load after taking it is least —
    /// a shard already holding a unit of the same cell pays no second boot — ties to the lowest
    /// shard. Zero-cost units (cells whose cases all skip) go the same way, so they spread too.
    public static func assign(_ units: [WorkUnit], count: Int) -> [Int] {
        precondition(count >= 1)
        let order = units.indices.sorted { a, b in
            let (ua, ub) = (units[a], units[b])
            if ua.weight != ub.weight { return ua.weight > ub.weight }
            return ua.key < ub.key
        }
        var loads = [Int](repeating: 0, count: count)
        var cellsOf = [Set<String>](repeating: [], count: count)
        var result = [Int](repeating: 0, count: units.count)
        for index in order {
            let unit = units[index]
            var best = 0
            var bestLoad = Int.max
            for shard in 0..<count {
                let boot = cellsOf[shard].contains(unit.cellId) ? 0 : unit.bootWeight
                let load = loads[shard] + unit.weight + boot
                if load < bestLoad {
                    best = shard
                    bestLoad = load
                }
            }
            loads[best] = bestLoad
            cellsOf[best].insert(unit.cellId)
            result[index] = best + 1
        }
        return result
    }

    /// A digest of the split (unit keys in plan order, their cases, the shard count).
    public static func planDigest(_ units: [WorkUnit], count: Int) -> String {
        // FNV-1a 64: stable across processes and platforms, unlike Hasher.
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ text: String) {
            for byte in text.utf8 {
                hash ^= UInt64(byte)
                hash = hash &* 0x0000_0100_0000_01b3
            }
            hash ^= 0x0a
            hash = hash &* 0x0000_0100_0000_01b3
        }
        mix("shards \(count)")
        for unit in units {
            mix(unit.key)
            for id in unit.caseIds + unit.skippedCaseIds { mix(id) }
        }
        return String(format: "%016llx", hash)
    }

    /// `selection` cut down to `shard`'s units: cells without a unit in the shard are left out;
    /// a cell keeps only the cases of its units here. Returns the shard's selection and what the
    /// results record about it.
    public static func select(_ shard: ShardSpec, from selection: CaseSelection) -> (CaseSelection, ShardInfo) {
        let units = units(of: selection)
        let shards = assign(units, count: shard.count)
        let mine = units.indices.filter { shards[$0] == shard.index }.map { units[$0] }
        var keep: [String: Set<String>] = [:]  // cell id → batches
        for unit in mine { keep[unit.cellId, default: []].insert(unit.batch) }
        var cells: [CellSelection] = []
        for var cell in selection.cells {
            guard let batches = keep[cell.cell.id] else { continue }
            cell.cases = cell.cases.filter { batches.contains($0.info.suite) }
            cell.skippedCases = cell.skippedCases.filter { batches.contains($0.info.suite) }
            cells.append(cell)
        }
        let runs = mine.reduce(0) { $0 + $1.caseIds.count }
        var notes = selection.notes
        notes.append(
            "shard \(shard): \(mine.count) of \(units.count) work units (cell × suite), "
                + "\(cells.count) of \(selection.cells.count) cells, \(runs) case runs")
        let info = ShardInfo(
            index: shard.index, count: shard.count, units: mine.map(\.key), totalUnits: units.count,
            planDigest: planDigest(units, count: shard.count), cellOrder: selection.cells.map(\.cell.id),
            plannedCases: Dictionary(
                selection.cells.map { ($0.cell.id, $0.cases.map(\.id) + $0.skippedCases.map(\.info.id)) },
                uniquingKeysWith: { first, _ in first }))
        return (CaseSelection(cells: cells, notes: notes), info)
    }
}
