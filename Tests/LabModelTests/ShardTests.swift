import Foundation
import Testing

@testable import LabModel

/// A selection like lab.json's: cells of three hosts, some skipped, suites of different sizes,
/// some cases skipped by construction.
func shardSelection(suites: [String: Int] = ["smoke": 4, "hv": 6, "linear": 9, "fuzz": 2]) -> CaseSelection {
    let cells: [(Backend, HostKind, PagingMode, CellStatus)] = [
        (.none, .tcg, .fiveLevel, .runnable), (.none, .tcg, .fourLevel, .runnable),
        (.svm, .tcg, .fiveLevel, .runnable), (.svm, .tcg, .fourLevel, .runnable),
        (.vmx, .bochs, .fourLevel, .runnable), (.vmx, .bochs, .fiveLevel, .skipped(reason: "no LA57")),
        (.svm, .kvm, .fourLevel, .skipped(reason: "KVM cannot boot a guest on this machine")),
    ]
    return CaseSelection(
        cells: cells.map { backend, host, paging, status in
            let cell = MatrixCell(
                backend: backend, host: host, kernel: .debianCurrent, memoryMiB: 1024, vcpus: 1, paging: paging)
            var selected: [SelectedCase] = []
            var skipped: [SkippedCase] = []
            for suite in suites.keys.sorted() {
                for n in 0..<(suites[suite] ?? 0) {
                    let info = CaseInfo(id: "\(suite)/case-\(n)", suite: suite, description: "")
                    if backend == .none, suite != "smoke" {
                        skipped.append(SkippedCase(info: info, reason: "needs the hypervisor"))
                    } else {
                        selected.append(SelectedCase(info: info, timeoutSeconds: 60))
                    }
                }
            }
            return CellSelection(
                cell: PlannedCell(cell: cell, requestedHosts: [.auto], status: status), cases: selected,
                skippedCases: skipped)
        }, notes: [])
}

@Suite struct ShardSplitTests {
    @Test func parsesShardSpecsAndRejectsBadOnes() throws {
        let spec = try ShardSpec(parsing: "2/4")
        #expect(spec.index == 2 && spec.count == 4 && spec.description == "2/4")
        for bad in ["", "2", "0/4", "5/4", "1/0", "a/b", "1/2/3", "-1/2", "1/-2"] {
            #expect(throws: ShardError.self, "\(bad)") { try ShardSpec(parsing: bad) }
        }
        #expect(throws: ShardError("shard index must be between 1 and 4, got 5")) { try ShardSpec(parsing: "5/4") }
    }

    @Test func unitsAreCellTimesSuiteInPlanOrder() {
        let units = ShardSplit.units(of: shardSelection())
        // 7 cells × 4 suites.
        #expect(units.count == 28)
        // Cells in matrix order; in a cell, the suites of the cases that run come first.
        #expect(units.first?.key == "none-tcg-debian-1024m-1cpu-5lvl|smoke")
        #expect(units[1].key == "none-tcg-debian-1024m-1cpu-5lvl|fuzz")
        #expect(Set(units.map(\.key)).count == units.count)
        let noneHV = units.first { $0.key == "none-tcg-debian-1024m-1cpu-5lvl|hv" }
        #expect(noneHV?.caseIds == [] && noneHV?.skippedCaseIds.count == 6 && noneHV?.weight == 0)
        #expect(units.first { $0.cellId.hasPrefix("vmx-") }?.bootWeight == 30)
        // A cell without cases is one unit by itself, so its outcome still lands in one shard.
        var empty = shardSelection()
        empty.cells[0].cases = []
        empty.cells[0].skippedCases = []
        #expect(ShardSplit.units(of: empty).filter { $0.cellId == empty.cells[0].cell.id }.map(\.batch) == [""])
    }

    @Test(arguments: [1, 2, 3, 4, 5, 8, 28, 40])
    func everyUnitLandsInExactlyOneShard(count: Int) throws {
        let selection = shardSelection()
        let units = ShardSplit.units(of: selection)
        var seenUnits: [String: Int] = [:]
        var seenCases: [String: Int] = [:]
        var cellsSeen: Set<String> = []
        for index in 1...count {
            let (mine, info) = ShardSplit.select(try ShardSpec(index: index, count: count), from: selection)
            #expect(info.index == index && info.count == count && info.totalUnits == units.count)
            for key in info.units { seenUnits[key, default: 0] += 1 }
            for cell in mine.cells {
                cellsSeen.insert(cell.cell.id)
                for c in cell.cases { seenCases[cell.cell.id + " " + c.id, default: 0] += 1 }
                for c in cell.skippedCases { seenCases[cell.cell.id + " " + c.info.id, default: 0] += 1 }
            }
        }
        #expect(seenUnits.count == units.count)
        #expect(seenUnits.values.allSatisfy { $0 == 1 })
        let allCases = selection.cells.reduce(0) { $0 + $1.cases.count + $1.skippedCases.count }
        #expect(seenCases.count == allCases)
        #expect(seenCases.values.allSatisfy { $0 == 1 })
        #expect(cellsSeen == Set(selection.cells.map(\.cell.id)))
    }

    @Test func theSplitIsStableAndIndependentOfWhatTheMachineCanRun() throws {
        let selection = shardSelection()
        let first = ShardSplit.assign(ShardSplit.units(of: selection), count: 3)
        for _ in 0..<20 { #expect(ShardSplit.assign(ShardSplit.units(of: shardSelection()), count: 3) == first) }
        // A CI runner where the vmx cell is skipped (no Bochs) splits the same way.
        var elsewhere = shardSelection()
        elsewhere.cells[4].cell.status = .skipped(reason: "no bochs")
        elsewhere.cells[6].cell.status = .runnable
        #expect(ShardSplit.assign(ShardSplit.units(of: elsewhere), count: 3) == first)
        let a = ShardSplit.select(try ShardSpec(index: 2, count: 3), from: selection).1
        let b = ShardSplit.select(try ShardSpec(index: 2, count: 3), from: elsewhere).1
        #expect(a.planDigest == b.planDigest && a.units == b.units)
        // A different selection is a different plan.
        let other = ShardSplit.select(try ShardSpec(index: 2, count: 3), from: shardSelection(suites: ["smoke": 4])).1
        #expect(other.planDigest != a.planDigest)
        #expect(ShardSplit.planDigest(ShardSplit.units(of: selection), count: 2) != a.planDigest)
    }

    @Test func shardsAreBalancedAndKeepACellsUnitsTogetherWhenThatIsCheap() throws {
        let selection = shardSelection()
        let units = ShardSplit.units(of: selection)
        let shards = ShardSplit.assign(units, count: 2)
        func cost(_ shard: Int) -> Int {
            let mine = units.indices.filter { shards[$0] == shard }.map { units[$0] }
            let boots = Dictionary(grouping: mine, by: \.cellId).values.map { $0[0].bootWeight }.reduce(0, +)
            return mine.reduce(0) { $0 + $1.weight } + boots
        }
        let (one, two) = (cost(1), cost(2))
        // Total: 3 runnable-size tcg cells × 21 + 2 smoke-only none cells × 4 + 2 bochs × 21 … the
        // greedy split stays within one unit's size plus a boot of even.
        let largest = (units.map(\.weight).max() ?? 0) + 30
        #expect(abs(one - two) <= largest, "costs \(one) and \(two)")
        // With one shard everything is in it.
        #expect(ShardSplit.assign(units, count: 1).allSatisfy { $0 == 1 })
    }
}

/// Results of a shard: each case of `selection`'s runnable cells passes; skipped cells stay skipped.
func shardResults(_ selection: CaseSelection, shard: ShardInfo?, directory: String, host: String = "ci") -> RunResults {
    var cells: [CellOutcome] = []
    var records: [CaseRecord] = []
    for cell in selection.cells {
        let ids = cell.cases.map(\.id) + cell.skippedCases.map(\.info.id)
        if let reason = cell.cell.status.skipReason {
            cells.append(CellOutcome(cell: cell.cell.cell, status: .skipped(reason: reason), plannedCases: ids))
            continue
        }
        cells.append(CellOutcome(cell: cell.cell.cell, status: .ran, plannedCases: ids))
        for c in cell.cases {
            var record = CaseRecord(
                caseId: c.id, cellId: cell.cell.id, status: .pass, vmName: "gml-\(directory)-1",
                logs: ["console": "vms/gml-\(directory)-1/console.log"])
            record.machine = "local"
            records.append(record)
        }
        for s in cell.skippedCases {
            var record = CaseRecord(caseId: s.info.id, cellId: cell.cell.id, status: .skip, message: s.reason)
            record.byConstruction = true
            records.append(record)
        }
    }
    let cases = selection.cells.flatMap { $0.cases.map(\.info) + $0.skippedCases.map(\.info) }
    var unique: [CaseInfo] = []
    for info in cases where !unique.contains(info) { unique.append(info) }
    var results = RunResults(
        provenance: Provenance(
            labCommit: "abc", imageDigests: ["hv.elf": "sha256:11"], hostname: host,
            startTime: Date(timeIntervalSince1970: 1_000), endTime: Date(timeIntervalSince1970: 2_000)),
        cells: cells, records: records, cases: unique, notes: selection.notes)
    results.shard = shard
    results.provenance.hosts = ["local": HostRecord(uri: "qemu:///system", cpus: 2, hostname: host)]
    return results
}

@Suite struct ResultsMergeTests {
    func shards(_ count: Int, selection: CaseSelection = shardSelection()) throws -> [ResultsMerge.Input] {
        try (1...count).map { index in
            let (mine, info) = ShardSplit.select(try ShardSpec(index: index, count: count), from: selection)
            return .init(directory: "s\(index)", results: shardResults(mine, shard: info, directory: "s\(index)"))
        }
    }

    func recordSet(_ results: RunResults) -> Set<String> {
        Set(results.records.map { "\($0.cellId) \($0.caseId) \($0.status)" })
    }

    @Test(arguments: [1, 2, 3, 7])
    func mergedShardsEqualOneRun(count: Int) throws {
        let selection = shardSelection()
        let whole = shardResults(selection, shard: nil, directory: "all")
        let merged = try ResultsMerge.merge(try shards(count), commandLine: ["lab", "merge"])
        #expect(recordSet(merged) == recordSet(whole))
        #expect(merged.records.count == whole.records.count)
        // Cells in matrix order, each once, with the same planned cases in the same order and state.
        #expect(merged.cells == whole.cells)
        #expect(merged.totals == whole.totals)
        #expect(merged.exitStatus == whole.exitStatus)
        #expect(merged.mergedFrom?.map(\.directory) == (1...count).map { "s\($0)" })
        #expect(merged.provenance.commandLine == ["lab", "merge"])
        // The reports render from the merged results as from a run.
        #expect(JUnitReport.xml(for: merged).contains("testsuites"))
        #expect(TAPReport.render(merged).hasPrefix("TAP version 13"))
    }

    @Test func refusesMissingDuplicateAndForeignShards() throws {
        let three = try shards(3)
        #expect(throws: ShardError("shard 2/3 missing: have 1/3, 3/3")) {
            try ResultsMerge.merge([three[0], three[2]])
        }
        #expect(throws: ShardError("shard 1/3 appears twice: s1 and s1")) {
            try ResultsMerge.merge([three[0], three[0], three[1], three[2]])
        }
        let other = try shards(2)
        do {
            _ = try ResultsMerge.merge([three[0], other[1], three[1], three[2]])
            Issue.record("shards of two splits merged")
        } catch {
            #expect(error.message.contains("planned from different configurations"))
        }
        let plain = ResultsMerge.Input(
            directory: "run", results: shardResults(shardSelection(), shard: nil, directory: "run"))
        do {
            _ = try ResultsMerge.merge([three[0], plain])
            Issue.record("a non-shard merged with shards")
        } catch {
            #expect(error.message.contains("run is not a shard"))
        }
        #expect(throws: ShardError.self) { try ResultsMerge.merge([]) }
    }

    @Test func refusesTheSameCaseTwiceFromPlainRuns() throws {
        let a = ResultsMerge.Input(directory: "a", results: shardResults(shardSelection(), shard: nil, directory: "a"))
        let b = ResultsMerge.Input(directory: "b", results: shardResults(shardSelection(), shard: nil, directory: "b"))
        do {
            _ = try ResultsMerge.merge([a, b])
            Issue.record("overlapping runs merged")
        } catch {
            #expect(error.message.contains("is recorded in both a and b"))
        }
        // Disjoint plain runs (say, --backend none and --backend svm) merge.
        let none = shardSelection()
        var onlyNone = none
        onlyNone.cells = none.cells.filter { $0.cell.cell.backend == .none }
        var rest = none
        rest.cells = none.cells.filter { $0.cell.cell.backend != .none }
        let merged = try ResultsMerge.merge([
            .init(directory: "n", results: shardResults(onlyNone, shard: nil, directory: "n")),
            .init(directory: "r", results: shardResults(rest, shard: nil, directory: "r")),
        ])
        #expect(recordSet(merged) == recordSet(shardResults(none, shard: nil, directory: "x")))
    }

    @Test func aShardThatCouldNotStartKeepsItsErrorAndTheStatusSaysSo() throws {
        let two = try shards(2)
        let failed = ResultsMerge.Input(
            directory: "s2", results: RunResults.labFailure(message: "libvirtd is not running", commandLine: ["lab"]))
        let merged = try ResultsMerge.merge([two[0], failed])
        #expect(merged.exitStatus == .labError)
        #expect(merged.records.contains { $0.caseId == "lab" && $0.message == "libvirtd is not running" })
        #expect(merged.notes.contains { $0.contains("shard 2/2 could not run") })
    }

    @Test func cellsSplitAcrossShardsThatDisagreeGetExplicitRecords() throws {
        var inputs = try shards(2)
        // Find a cell both shards have, and make shard 2 report it as an error.
        let shared = inputs[0].results.cells.map(\.id).filter { id in inputs[1].results.cells.contains { $0.id == id } }
        let id = try #require(shared.first, "the split keeps no cell in both shards; pick a smaller count")
        let index = try #require(inputs[1].results.cells.firstIndex { $0.id == id })
        inputs[1].results.cells[index].status = .error(message: "libvirt refused the domain")
        inputs[1].results.records.removeAll { $0.cellId == id }
        let merged = try ResultsMerge.merge(inputs)
        let cell = try #require(merged.cells.first { $0.id == id })
        #expect(cell.status == .error(message: "libvirt refused the domain"))
        // Shard 1's records of the cell are kept as they are; shard 2's cases are explicit errors.
        let planned2 = inputs[1].results.cells[index].plannedCases
        for caseId in planned2 {
            #expect(merged.records.contains { $0.cellId == id && $0.caseId == caseId && $0.status == .error })
        }
        let planned1 = try #require(inputs[0].results.cells.first { $0.id == id }).plannedCases
        for caseId in planned1 {
            #expect(merged.records.contains { $0.cellId == id && $0.caseId == caseId && $0.status != .error })
        }
        #expect(merged.notes.contains { $0.contains("cell \(id) ran differently") })
    }

    @Test func provenanceTakesTheSpanAndNotesWhatDiffers() throws {
        var inputs = try shards(2)
        inputs[1].results.provenance.startTime = Date(timeIntervalSince1970: 500)
        inputs[1].results.provenance.endTime = Date(timeIntervalSince1970: 3_000)
        inputs[1].results.provenance.hostname = "runner-2"
        inputs[1].results.provenance.hosts?["local"]?.hostname = "runner-2"
        inputs[1].results.provenance.imageDigests["hv.elf"] = "sha256:22"
        inputs[1].results.provenance.imageDigests["initramfs"] = "sha256:33"
        let merged = try ResultsMerge.merge(inputs)
        #expect(merged.provenance.startTime == Date(timeIntervalSince1970: 500))
        #expect(merged.provenance.endTime == Date(timeIntervalSince1970: 3_000))
        #expect(merged.provenance.hostname == "ci | runner-2")
        #expect(merged.provenance.imageDigests == ["hv.elf": "sha256:11", "initramfs": "sha256:33"])
        #expect(merged.notes.contains { $0.hasPrefix("merged inputs differ in host name") })
        #expect(merged.notes.contains { $0.hasPrefix("image hv.elf differs between inputs") })
        // Each runner's `local` is its own machine: the second is renamed, with its records.
        #expect(merged.provenance.hosts?.keys.sorted() == ["local", "local@runner-2"])
        let secondRecords = merged.records.filter { r in
            inputs[1].results.records.contains { $0.caseId == r.caseId && $0.cellId == r.cellId }
        }
        #expect(!secondRecords.isEmpty)
        #expect(secondRecords.allSatisfy { $0.machine == "local@runner-2" || $0.machine == nil })
        #expect(merged.records.contains { $0.machine == "local" })
        // The same runner twice (only its free memory differs) stays one machine.
        var same = try shards(2)
        same[1].results.provenance.hosts?["local"]?.memoryMiB = 12_345
        let once = try ResultsMerge.merge(same)
        #expect(once.provenance.hosts?.keys.sorted() == ["local"])
        #expect(once.records.allSatisfy { $0.machine == nil || $0.machine == "local" })
        // Round trip through results.json keeps the shard sources.
        let back = try RunResults.decode(try merged.jsonData())
        #expect(back.mergedFrom?.count == 2 && back.mergedFrom?[1].shard?.index == 2)
    }
}
