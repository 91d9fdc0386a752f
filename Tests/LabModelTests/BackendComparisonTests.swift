import Foundation
import Testing

@testable import LabModel

/// The side-by-side of ours (svm) and BitVisor: cells paired by machine, verdicts per case,
/// grouping by method, and the three renderings.
@Suite struct BackendComparisonTests {
    static let ours = MatrixCell(backend: .svm, host: .tcg, kernel: .debianCurrent, memoryMiB: 1024, vcpus: 1)
    static var bitvisor: MatrixCell {
        var cell = ours
        cell.backend = .bitvisor
        return cell
    }
    static let cases = [
        CaseInfo(id: "regs/echo", suite: "regs", description: "echo"),
        CaseInfo(
            id: "linear/bytewise/kernel-address", suite: "linear", description: "U/S",
            bitvisor: "FINDING: BitVisor's walker never checks U/S"),
        CaseInfo(id: "linear/pagewise/cross-page", suite: "linear", description: "cross"),
        CaseInfo(id: "linear/bytewise/thp", suite: "linear", description: "thp", bitvisor: "skip: needs the probe"),
        CaseInfo(id: "phys/refused", suite: "phys", description: "refused"),
    ]

    static func results(_ pairs: [(String, CaseStatus, CaseStatus)], bitvisorCell: Bool = true) -> RunResults {
        var records: [CaseRecord] = []
        for (id, mine, theirs) in pairs {
            records.append(CaseRecord(caseId: id, cellId: ours.id, status: mine, message: "ours \(mine)"))
            if bitvisorCell {
                records.append(CaseRecord(caseId: id, cellId: bitvisor.id, status: theirs, message: "bv \(theirs)"))
            }
        }
        var cells = [CellOutcome(cell: ours, status: .ran, plannedCases: [])]
        if bitvisorCell { cells.append(CellOutcome(cell: bitvisor, status: .ran, plannedCases: [])) }
        return RunResults(
            provenance: Provenance(startTime: Date(timeIntervalSince1970: 0)), cells: cells, records: records,
            cases: cases)
    }

    static let run = results([
        ("regs/echo", .pass, .pass),
        ("linear/bytewise/kernel-address", .pass, .pass),
        ("linear/pagewise/cross-page", .pass, .fail),
        ("linear/bytewise/thp", .pass, .skip),
        ("phys/refused", .pass, .timeout),
    ])

    @Test func pairsTheSvmAndBitVisorCellsOfOneMachine() {
        let comparisons = BackendComparison.of(Self.run)
        #expect(comparisons.count == 1)
        #expect(comparisons.first?.oursCell == Self.ours.id)
        #expect(comparisons.first?.bitvisorCell == Self.bitvisor.id)
        // Without a BitVisor cell (or without its svm twin) there is nothing to compare.
        #expect(BackendComparison.of(Self.results([("regs/echo", .pass, .pass)], bitvisorCell: false)).isEmpty)
    }

    @Test func verdictsPerCaseGroupedByMethod() throws {
        let comparison = try #require(BackendComparison.of(Self.run).first)
        #expect(
            comparison.groups.map(\.method) == [
                "registers (regs)", "linear byte-wise", "linear page-wise", "physical (phys)",
            ])
        let entries = Dictionary(uniqueKeysWithValues: comparison.groups.flatMap(\.entries).map { ($0.caseId, $0) })
        #expect(entries["regs/echo"]?.verdict == .same)
        #expect(entries["linear/bytewise/kernel-address"]?.verdict == .differsAsDeclared)
        #expect(entries["linear/bytewise/kernel-address"]?.note == "FINDING: BitVisor's walker never checks U/S")
        #expect(entries["linear/pagewise/cross-page"]?.verdict == .differs)
        #expect(entries["linear/pagewise/cross-page"]?.bitvisor?.message == "bv fail")
        #expect(entries["linear/bytewise/thp"]?.verdict == .notCompared)
        #expect(entries["linear/bytewise/thp"]?.note == "skipped on BitVisor: bv skip")
        #expect(entries["phys/refused"]?.verdict == .differs)
        #expect(comparison.counts == [.same: 1, .differsAsDeclared: 1, .differs: 2, .notCompared: 1])
    }

    @Test func failingAlikeIsTheSameAndADeclaredFindingThatFailsIsADifference() {
        #expect(
            BackendComparison.entry(
                caseId: "a/b", ours: CaseRecord(caseId: "a/b", cellId: "x", status: .fail),
                bitvisor: CaseRecord(caseId: "a/b", cellId: "y", status: .fail), expectation: .same
            ).verdict == .same)
        let declared = BackendComparison.entry(
            caseId: "a/b", ours: CaseRecord(caseId: "a/b", cellId: "x", status: .pass),
            bitvisor: CaseRecord(caseId: "a/b", cellId: "y", status: .fail), expectation: .finding("FINDING: z"))
        #expect(declared.verdict == .differs && declared.note == "declared for BitVisor: FINDING: z")
        #expect(
            BackendComparison.entry(
                caseId: "a/b", ours: nil, bitvisor: CaseRecord(caseId: "a/b", cellId: "y", status: .pass),
                expectation: .same
            ).verdict == .notCompared)
    }

    @Test func methodsFromCaseIds() {
        #expect(BackendComparison.method(of: "linear/pagewise/large") == "linear page-wise")
        #expect(BackendComparison.method(of: "linear/raw-write-no-leak") == "linear (both walks)")
        #expect(BackendComparison.method(of: "pagemap/page-list") == "physical via pagemap (pagemap)")
        #expect(BackendComparison.method(of: "user/example/sum") == "user")
    }

    @Test func terminalHTMLAndJSONCarryTheComparison() throws {
        let text = TextReport.render(Self.run, color: false)
        #expect(text.contains("Comparison: \(Self.ours.id) (ours) vs \(Self.bitvisor.id) (BitVisor)"), "\(text)")
        #expect(text.contains("DIFFERS  linear/bytewise/kernel-address: ours pass, BitVisor pass"), "\(text)")
        #expect(text.contains("DIFFERS! linear/pagewise/cross-page: ours pass, BitVisor fail"), "\(text)")
        #expect(text.contains("BitVisor: bv fail"), "\(text)")
        let html = HTMLReport.render(Self.run)
        #expect(html.contains("<h2>Ours vs BitVisor</h2>"))
        #expect(
            html.contains("differs-as-declared") && html.contains("FINDING: BitVisor&#39;s walker never checks U/S"))
        let decoded = try RunResults.decode(try Self.run.jsonData())
        #expect(decoded.comparison == BackendComparison.of(Self.run))
        // results.json with the comparison validates against docs/schemas/results.schema.json.
        let schema = try JSONSchema(
            contentsOf: ResultsSchemaTests.schemas.appendingPathComponent("results.schema.json"))
        let problems = try schema.problems(in: Self.run.jsonData())
        #expect(problems == [], "\(problems)")
        // A run without BitVisor writes no comparison.
        let plain = try RunResults.decode(
            try Self.results([("regs/echo", .pass, .pass)], bitvisorCell: false).jsonData())
        #expect(plain.comparison == nil)
        #expect(!TextReport.render(plain, color: false).contains("Comparison:"))
    }
}
