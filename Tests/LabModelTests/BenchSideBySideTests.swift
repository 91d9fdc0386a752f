import Foundation
import Testing

@testable import LabModel

/// `lab bench --backend svm,bitvisor`: both hypervisors' figures side by side.
@Suite struct BenchSideBySideTests {
    /// The fixture's run with a bitvisor cell added: BitVisor's null call 3× ours, its page-wise
    /// read 2× slower.
    static func document() -> BenchDocument {
        var results = BenchFixture.results()
        var cell = BenchFixture.svmCell
        cell.backend = .bitvisor
        let sizes = [8, 65536]
        results.records += [
            CaseRecord(
                caseId: "bench/null-hypercall", cellId: cell.id, status: .pass,
                values: BenchFixture.scalar("null-hypercall", ["cpl3": 33_000, "cpl0": 30_000])),
            CaseRecord(
                caseId: "bench/linear-page/read", cellId: cell.id, status: .pass,
                values: BenchFixture.sized("linear-page", "read", sizes: sizes, ns: { (Double($0) + 20) / 0.4 })),
        ]
        results.cells.append(CellOutcome(cell: cell, status: .ran, plannedCases: []))
        var settings = BenchSettings()
        settings.maxSize = 2 << 20
        return BenchDocument.from(results: results, settings: settings, wallSeconds: 1)
    }

    @Test func pairsTheCellsAndComparesMedians() throws {
        let doc = Self.document()
        let sides = BenchSideBySide.of(doc)
        #expect(sides.count == 1)
        let side = try #require(sides.first)
        #expect(side.oursCell == BenchFixture.svmCell.id && side.bitvisorCell.hasPrefix("bitvisor-tcg-"))
        let cpl0 = try #require(side.scalars.first { $0.method == "null-hypercall" && $0.series == "cpl0" })
        #expect(abs((cpl0.ratio ?? 0) - 3) < 0.05, "\(cpl0)")
        let page = try #require(
            side.rows.first { $0.method == "linear-page" && $0.direction == "read" && $0.size == 65536 })
        #expect(abs((page.ratio ?? 0) - 2) < 0.05, "\(page)")
        // Points only one side measured are listed with a dash for the other.
        let phys = try #require(side.rows.first { $0.method == "phys-kernel" })
        #expect(phys.bitvisor == nil && phys.ratio == nil && phys.ours != nil)
        #expect(!side.rows.contains { $0.method == "memcpy" })
    }

    @Test func bitvisorsNullCallIsNotOursInTheTarget() throws {
        let targets = BenchTarget.evaluate(Self.document())
        let floor = try #require(targets.first { $0.id == "null-hypercall-vs-floor" })
        #expect(!floor.detail.contains("bitvisor-"), "\(floor.detail)")
        // ours (cpl3 11 µs) against BitVisor's (cpl3 33 µs) in the cells that differ only in the backend
        let vsBitVisor = try #require(targets.first { $0.id == "null-hypercall-vs-bitvisor" })
        #expect(abs((vsBitVisor.value ?? 0) - 1.0 / 3) < 0.01, "\(vsBitVisor)")
        #expect(vsBitVisor.met == true)
        #expect(vsBitVisor.detail.hasPrefix(BenchFixture.svmCell.id))
    }

    @Test func reportsShowTheSection() {
        let doc = Self.document()
        let md = BenchReport.markdown(doc)
        #expect(md.contains("## Ours vs BitVisor: svm-tcg-"), "\(md)")
        #expect(md.contains("| null-hypercall | cpl0 |"))
        let html = BenchHTML.render(doc)
        #expect(html.contains("<h2>Ours vs BitVisor</h2>"))
        // A bench without BitVisor has no such section.
        #expect(!BenchReport.markdown(BenchFixture.document()).contains("Ours vs BitVisor"))
    }
}
