import Foundation
import Testing

@testable import LabModel

/// Synthetic bench runs: RESULT values shaped like Sources/Guest/bench/bench.c writes them.
enum BenchFixture {
    static let noneCell = MatrixCell(backend: .none, host: .tcg, kernel: .debianCurrent, memoryMiB: 1024, vcpus: 1)
    static let svmCell = MatrixCell(backend: .svm, host: .tcg, kernel: .debianCurrent, memoryMiB: 1024, vcpus: 1)

    /// `ns(size)` gives the centre of the samples; `jitter` spreads them ±jitter (relative).
    static func sized(
        _ method: String, _ direction: String, sizes: [Int], jitter: Double = 0.01,
        limit: Double = 0x1p64, reason: String? = nil,
        ns: (Int) -> Double
    ) -> [String: JSONValue] {
        var values: [String: JSONValue] = [
            "kind": .string("sized"), "method": .string(method), "direction": .string(direction),
            "sizes": .array(sizes.map { .number(Double($0)) }),
            "samples": .array(
                sizes.map { size in
                    .array((0..<9).map { i in .number(ns(size) * (1 + jitter * (Double(i % 3) - 1))) })
                }),
            "batch": .array(sizes.map { _ in .number(1) }),
            "hypercalls": .array(sizes.map { _ in .number(method == "memcpy" ? 0 : 1) }),
            "exits": .array(sizes.map { _ in .number(method == "memcpy" ? -1 : 1) }),
            "limit": .number(limit),
        ]
        if let reason { values["limit_reason"] = .string(reason) }
        return values
    }

    static func scalar(_ method: String, _ series: [String: Double]) -> [String: JSONValue] {
        [
            "kind": .string("scalar"), "method": .string(method),
            "series": .object(
                series.mapValues { v in .array((0..<9).map { i in .number(v * (1 + 0.01 * Double(i % 3))) }) }),
        ]
    }

    /// A whole run: memcpy at 1 GB/s, linear-page at `pageSpeed` × memcpy, byte-wise 1000× slower
    /// than page-wise, phys-kernel at 0.7 × memcpy, our null call 10 µs, KVM's 40 µs.
    static func results(pageSpeed: Double = 0.8, nullNs: Double = 10_000) -> RunResults {
        let sizes = [8, 65536, 1 << 20, 2 << 20]
        func record(
            _ cell: MatrixCell, _ id: String, _ values: [String: JSONValue], status: CaseStatus = .pass,
            message: String = ""
        ) -> CaseRecord {
            CaseRecord(caseId: id, cellId: cell.id, status: status, message: message, values: values)
        }
        let memcpy: (Int) -> Double = { Double($0) + 20 }  // ~1 byte/ns
        var records = [
            record(noneCell, "bench/memcpy", sized("memcpy", "copy", sizes: sizes, ns: memcpy)),
            record(noneCell, "bench/kvm-vmmcall", scalar("kvm-vmmcall", ["l2-vmmcall-in-kernel": 40_000])),
            record(svmCell, "bench/memcpy", sized("memcpy", "copy", sizes: sizes, ns: memcpy)),
            record(
                svmCell, "bench/null-hypercall",
                scalar("null-hypercall", ["cpl3": nullNs * 1.1, "cpl0": nullNs, "floor-cpl3": 10_000])),
            record(
                svmCell, "bench/linear-byte/read",
                sized(
                    "linear-byte", "read", sizes: [8, 65536], limit: 65536, reason: "a walk per byte",
                    ns: { Double($0) * 1000 / pageSpeed })),
            record(
                svmCell, "bench/phys-kernel/read", sized("phys-kernel", "read", sizes: sizes, ns: { memcpy($0) / 0.7 })),
            record(
                noneCell, "bench/linear-page/read", [:], status: .skip, message: "no hypervisor (GMLAB_BACKEND=none)"),
        ]
        for direction in ["read", "write"] {
            var values = sized("linear-page", direction, sizes: sizes, ns: { memcpy($0) / pageSpeed })
            // the guest's memcpy timed between the samples: here 10 % slower than bench/memcpy
            values["memcpy_samples"] = .array(
                sizes.map { size in .array((0..<9).map { _ in .number(memcpy(size) * 1.1) }) })
            records.append(record(svmCell, "bench/linear-page/\(direction)", values))
        }
        let cells = [noneCell, svmCell].map { cell in
            CellOutcome(cell: cell, status: .ran, plannedCases: records.filter { $0.cellId == cell.id }.map(\.caseId))
        }
        return RunResults(
            provenance: Provenance(
                startTime: Date(timeIntervalSince1970: 1_800_000_000), commandLine: ["lab", "bench"]),
            cells: cells, records: records)
    }

    static func document(
        pageSpeed: Double = 0.8, nullNs: Double = 10_000,
        settings: BenchSettings = {
            var s = BenchSettings()
            s.maxSize = 2 << 20
            return s
        }()
    ) -> BenchDocument {
        BenchDocument.from(results: results(pageSpeed: pageSpeed, nullNs: nullNs), settings: settings, wallSeconds: 300)
    }
}

@Suite struct BenchDocumentTests {
    @Test func resultValuesBecomePointsAndScalars() throws {
        let doc = BenchFixture.document()
        let point = try #require(
            doc.point(cell: BenchFixture.svmCell.id, method: "linear-page", direction: "read", size: 1 << 20))
        #expect(point.samplesNs.count == 9)
        #expect(point.hypercalls == 1 && point.exits == 1)
        #expect(abs(point.summary.median - (Double(1 << 20) + 20) / 0.8) < 1)
        #expect(abs(point.throughputMBps - 800) < 1)
        let memcpy = try #require(
            doc.point(cell: BenchFixture.noneCell.id, method: "memcpy", direction: "copy", size: 8))
        #expect(memcpy.exits == nil)  // -1 from the guest: not measurable
        #expect(doc.scalar(method: "kvm-vmmcall", series: "l2-vmmcall-in-kernel")?.summary.median == 40_000 * 1.01)
        // The byte-wise method stopped below the 2 MiB maximum and said why.
        #expect(
            doc.limits == [
                BenchLimit(
                    cellId: BenchFixture.svmCell.id, method: "linear-byte", direction: "read",
                    limit: 65536, reason: "a walk per byte")
            ])
        // The skip is kept as an outcome but is not a problem.
        #expect(doc.outcomes.map(\.caseId) == ["bench/linear-page/read"])
        #expect(doc.problems.isEmpty)
    }

    /// gmlab.holds figures: one per size, the report names the worst stay and the largest size's.
    @Test func longestHoldsAreReadAndReported() throws {
        var values = BenchFixture.sized("linear-page", "read", sizes: [8, 1 << 20, 16 << 20], ns: { Double($0) })
        values["longest_hold_ns"] = .array([.number(900), .number(250_000), .number(240_000)])
        let results = RunResults(
            provenance: Provenance(
                startTime: Date(timeIntervalSince1970: 1_800_000_000), commandLine: ["lab", "bench"]),
            cells: [CellOutcome(cell: BenchFixture.svmCell, status: .ran, plannedCases: ["bench/linear-page/read"])],
            records: [
                CaseRecord(
                    caseId: "bench/linear-page/read", cellId: BenchFixture.svmCell.id, status: .pass, message: "",
                    values: values)
            ])
        var settings = BenchSettings()
        settings.maxSize = 16 << 20
        let doc = BenchDocument.from(results: results, settings: settings, wallSeconds: 1)
        #expect(doc.problems.isEmpty)
        #expect(doc.points.map(\.longestHoldNs) == [900, 250_000, 240_000])
        let holds = BenchReport.longestHolds(doc)
        #expect(holds.count == 1)
        #expect(holds.first?.ns == 250_000 && holds.first?.size == 1 << 20)
        #expect(holds.first?.largestSize == 16 << 20 && holds.first?.largestNs == 240_000)
        let md = BenchReport.markdown(doc)
        #expect(md.contains("## Longest hold of the vCPU"))
        #expect(md.contains("| linear-page read |"))
        // a count that does not match the sizes is a shape error, not a crash
        values["longest_hold_ns"] = .array([.number(1)])
        var bad = results
        bad.records[0].values = values
        #expect(!BenchDocument.from(results: bad, settings: settings, wallSeconds: 1).problems.isEmpty)
        // without the service (BitVisor, backend none) there is no section
        #expect(!BenchReport.markdown(BenchFixture.document()).contains("Longest hold"))
    }

    @Test func malformedValuesAreReportedNotCrashed() {
        var results = BenchFixture.results()
        results.records.append(
            CaseRecord(
                caseId: "bench/regs/read", cellId: BenchFixture.svmCell.id, status: .pass,
                values: [
                    "kind": .string("sized"), "method": .string("regs"), "direction": .string("read"),
                    "sizes": .array([.number(8), .number(16)]), "samples": .array([.array([.number(1)])]),
                    "batch": .array([]), "hypercalls": .array([]), "exits": .array([]),
                ]))
        results.records.append(
            CaseRecord(
                caseId: "bench/regs/write", cellId: BenchFixture.svmCell.id, status: .pass,
                values: ["kind": .string("histogram"), "method": .string("regs")]))
        results.records.append(
            CaseRecord(
                caseId: "bench/phys-user/read", cellId: BenchFixture.svmCell.id, status: .pass,
                values: [
                    "kind": .string("sized"), "method": .string("phys-user"), "direction": .string("read"),
                    "sizes": .array([.number(1e300)]), "samples": .array([.array([.number(1)])]),
                    "batch": .array([.number(1)]), "hypercalls": .array([.number(1)]), "exits": .array([.number(1)]),
                ]))
        results.cells[1].plannedCases += ["bench/regs/read", "bench/regs/write", "bench/phys-user/read"]
        let doc = BenchDocument.from(results: results, settings: BenchSettings(), wallSeconds: 1)
        let messages = doc.problems.map { "\($0.caseId): \($0.message)" }
        #expect(messages.count == 3)
        #expect(
            messages.contains {
                $0.hasPrefix("bench/regs/read: values not understood") && $0.contains("differ in length")
            })
        #expect(messages.contains { $0.contains("unknown kind \"histogram\"") })
        #expect(messages.contains { $0.contains("not a count") })
        #expect(!doc.points.contains { $0.method == "regs" || $0.method == "phys-user" })
    }

    /// `--min-size 16M` asks the contiguous physical method for more than a kmalloc buffer holds:
    /// the guest measures nothing and says why; that is a skip with its reason, not an error.
    @Test func noSizeWithinTheMethodsLimitIsASkipWithTheGuestsReason() {
        var results = BenchFixture.results()
        let empty: [String: JSONValue] = [
            "kind": .string("sized"), "method": .string("phys-kernel"), "direction": .string("read"),
            "sizes": .array([]), "samples": .array([]), "batch": .array([]), "hypercalls": .array([]),
            "exits": .array([]), "limit": .number(4_194_304),
            "limit_reason": .string("kmalloc's largest physically contiguous buffer is 4 MiB (order-10 pages)"),
        ]
        results.records.append(
            CaseRecord(caseId: "bench/phys-kernel/read", cellId: BenchFixture.svmCell.id, status: .pass, values: empty))
        results.cells[1].plannedCases += ["bench/phys-kernel/read"]
        var settings = BenchSettings()
        settings.minSize = 16 << 20
        settings.maxSize = 16 << 20
        let doc = BenchDocument.from(results: results, settings: settings, wallSeconds: 1)
        let outcome = doc.outcomes.first { $0.caseId == "bench/phys-kernel/read" }
        #expect(outcome?.status == .skip)
        #expect(
            outcome?.message
                == "skip: no size from 16 MiB up fits phys-kernel's limit of 4 MiB: kmalloc's largest physically "
                + "contiguous buffer is 4 MiB (order-10 pages)")
        #expect(!doc.problems.contains { $0.caseId == "bench/phys-kernel/read" })
        // Asked from 1 MiB, the same empty answer is a malformed result.
        settings.minSize = 1 << 20
        let malformed = BenchDocument.from(results: results, settings: settings, wallSeconds: 1)
        #expect(
            malformed.problems.contains {
                $0.caseId == "bench/phys-kernel/read" && $0.message == "values not understood: no sizes were measured"
            })
    }

    @Test func targetsAreEvaluatedOnMediansOfOneRun() throws {
        let doc = BenchFixture.document(pageSpeed: 0.8)
        let byId = Dictionary(uniqueKeysWithValues: doc.targets.map { ($0.id, $0) })
        let null = try #require(byId["null-hypercall-vs-floor"])
        let nullRatio: Double = try #require(null.value)
        #expect(abs(nullRatio - 1.1) < 1e-9)  // cpl3 (11 µs) against the floor (10 µs) of the same cell
        #expect(null.met == true)
        #expect(byId["null-hypercall"] == nil, "the KVM ratio is retired (issue 10): a baseline, not a target")
        #expect(byId["null-hypercall-vs-bitvisor"]?.met == nil)
        let page = try #require(byId["linear-page-vs-memcpy"])
        let pageRatio: Double = try #require(page.value)
        #expect(abs(pageRatio - 0.88) < 1e-6)  // against the interleaved memcpy, not bench/memcpy
        #expect(page.detail.contains("interleaved"))
        #expect(page.met == true)
        let physRatio: Double = try #require(byId["phys-contiguous-vs-memcpy"]?.value)
        #expect(abs(physRatio - 0.7) < 1e-6)
        let walkRatio: Double = try #require(byId["linear-page-vs-byte"]?.value)
        let expectedWalk: Double = 1000 * 65536 / (65536.0 + 20)
        #expect(abs(walkRatio - expectedWalk) < 1)
        #expect(byId["run-time"]?.value == 300 && byId["run-time"]?.met == true)

        let slow = BenchFixture.document(pageSpeed: 0.3, nullNs: 30_000)
        let slowById = Dictionary(uniqueKeysWithValues: slow.targets.map { ($0.id, $0) })
        #expect(slowById["linear-page-vs-memcpy"]?.met == false)
        #expect(slowById["null-hypercall-vs-floor"]?.met == false)  // 33 µs against 10 µs
    }

    @Test func floorTargetTakesTheWorstCellAndBitVisorPairsByTheOtherAxes() throws {
        func scalar(_ cell: String, _ backend: String, _ series: String, _ ns: Double) -> BenchScalar {
            BenchScalar(
                cellId: cell, backend: backend, method: "null-hypercall", series: series, samplesNs: [ns],
                summary: BenchStatistics.summarize([ns], key: cell)!, note: nil)
        }
        let doc = BenchDocument(
            provenance: Provenance(startTime: Date()), settings: BenchSettings(), wallSeconds: 1,
            scalars: [
                scalar("svm-tcg-a-4lvl", "svm", "cpl3", 11), scalar("svm-tcg-a-4lvl", "svm", "floor-cpl3", 10),
                scalar("svm-tcg-a-5lvl", "svm", "cpl3", 15), scalar("svm-tcg-a-5lvl", "svm", "floor-cpl3", 10),
                scalar("bitvisor-tcg-a-4lvl", "bitvisor", "cpl3", 44),
            ])
        let targets = BenchTarget.evaluate(doc)
        let floor = try #require(targets.first { $0.id == "null-hypercall-vs-floor" })
        #expect(floor.value == 1.5 && floor.met == false)  // 5lvl: 15/10 is the worst
        #expect(floor.detail.contains("svm-tcg-a-4lvl") && floor.detail.contains("svm-tcg-a-5lvl"))
        let bv = try #require(targets.first { $0.id == "null-hypercall-vs-bitvisor" })
        #expect(bv.value == 0.25 && bv.met == true)  // only 4lvl has a bitvisor twin: 11/44
        #expect(!bv.detail.contains("5lvl"))
    }

    @Test func missingBaselinesLeaveTargetsUnmeasuredWithTheReason() throws {
        var results = BenchFixture.results()
        results.records.removeAll { $0.caseId == "bench/kvm-vmmcall" || $0.caseId == "bench/memcpy" }
        let doc = BenchDocument.from(results: results, settings: BenchSettings(), wallSeconds: 1)
        results.records.removeAll { $0.caseId == "bench/null-hypercall" }
        let without = BenchDocument.from(results: results, settings: BenchSettings(), wallSeconds: 1)
        let null = try #require(without.targets.first { $0.id == "null-hypercall-vs-floor" })
        #expect(null.met == nil && null.verdict == "not measured")
        #expect(null.detail.contains("bench/null-hypercall"))
        #expect(doc.targets.first { $0.id == "linear-page-vs-memcpy" }?.detail.contains("memcpy") == true)
    }

    @Test func jsonRoundTripsAndReportsRender() throws {
        let doc = BenchFixture.document()
        let data = try doc.jsonData()
        let back = try BenchDocument.decode(data, path: "bench.json")
        #expect(back == doc)

        let csv = BenchReport.csv(doc)
        let lines = csv.split(separator: "\n")
        #expect(lines.first?.hasPrefix("cell,backend,method,direction,size_bytes,median_ns") == true)
        #expect(lines.count == 1 + doc.points.count + doc.scalars.count)
        #expect(lines.allSatisfy { $0.split(separator: ",", omittingEmptySubsequences: false).count == 23 })

        let md = BenchReport.markdown(doc)
        #expect(
            md.contains("| page-wise linear copy at ≥ 1 MiB vs guest memcpy (throughput ratio) | 0.88 | ≥ 0.50 | met |")
        )
        #expect(md.contains("linear-byte read: up to 64 KiB — a walk per byte"))

        let html = BenchHTML.render(doc)
        #expect(html.hasPrefix("<!DOCTYPE html>"))
        #expect(html.contains("<svg") && html.contains("stroke-dasharray"))  // charts with the memcpy line
        #expect(!html.contains("<script") && !html.contains("http://") || html.contains("http://www.w3.org/2000/svg"))
        for bad in ["\"nan", ">nan", "NaN", "\"inf", ">inf"] { #expect(!html.contains(bad), "\(bad) in the HTML") }
    }

    @Test func badBenchJSONIsAClearError() {
        #expect(throws: ResultsError.self) { try BenchDocument.decode(Data("{}".utf8), path: "x/bench.json") }
        do {
            _ = try BenchDocument.load(path: "/nonexistent/bench.json")
            Issue.record("expected an error")
        } catch {
            #expect(error.description.contains("/nonexistent/bench.json"))
        }
    }
}

@Suite struct BenchComparisonTests {
    @Test func significantChangesAreClassifiedBothWays() throws {
        let old = BenchFixture.document(pageSpeed: 0.5, nullNs: 10_000)
        let new = BenchFixture.document(pageSpeed: 0.8, nullNs: 20_000)
        let comparison = BenchComparison(old: old, new: new, oldSource: "old/bench.json")
        func row(_ key: String) throws -> BenchComparison.Row { try #require(comparison.rows.first { $0.key == key }) }
        let cell = BenchFixture.svmCell.id
        let page = try row("\(cell) linear-page/read 1048576")
        #expect(page.verdict == .faster)
        #expect(abs(try #require(page.ratio) - 0.625) < 1e-6)
        #expect(try #require(page.pValue) < BenchComparison.alpha)
        #expect(try row("\(cell) null-hypercall cpl0").verdict == .slower)
        #expect(try row("\(cell) memcpy/copy 8").verdict == .unchanged)
        #expect(comparison.count(.added) == 0 && comparison.count(.removed) == 0)
        #expect(comparison.text().contains("faster"))
    }

    @Test func identicalRunsShowNoChange() {
        let doc = BenchFixture.document()
        let comparison = BenchComparison(old: doc, new: doc, oldSource: "same")
        #expect(comparison.changed.isEmpty)
        #expect(comparison.count(.unchanged) == doc.points.count + doc.scalars.count)
    }

    @Test func aSmallShiftWithinTheNoiseIsNotAChange() {
        // 2 % slower with 1 % jitter: Mann–Whitney may call it significant, but it is below
        // the minimum change, so it is reported unchanged.
        let old = BenchFixture.document(pageSpeed: 0.8)
        let new = BenchFixture.document(pageSpeed: 0.8 / 1.02)
        let comparison = BenchComparison(old: old, new: new, oldSource: "old")
        #expect(!comparison.changed.contains { $0.key.contains("linear-page") })
    }

    @Test func cellsRenamedByANewMatrixAxisStillMatch() {
        let old = BenchFixture.document()
        var new = old
        for i in new.points.indices { new.points[i].cellId += "-4lvl" }
        for i in new.scalars.indices { new.scalars[i].cellId += "-4lvl" }
        let comparison = BenchComparison(old: old, new: new, oldSource: "old")
        #expect(comparison.count(.added) == 0 && comparison.count(.removed) == 0)
        #expect(comparison.count(.unchanged) == old.points.count + old.scalars.count)
    }

    @Test func pointsOnlyInOneRunAreAddedOrRemoved() {
        let old = BenchFixture.document()
        var new = old
        new.points.removeAll { $0.method == "phys-kernel" }
        new.scalars.append(
            BenchScalar(
                cellId: "x", backend: "svm", method: "null-hypercall", series: "cpl9",
                samplesNs: [1, 2, 3], summary: BenchStatistics.summarize([1, 2, 3], key: "x")!, note: nil))
        let comparison = BenchComparison(old: old, new: new, oldSource: "old")
        #expect(comparison.count(.removed) == old.points.filter { $0.method == "phys-kernel" }.count)
        #expect(comparison.count(.added) == 1)
    }
}

@Suite struct BenchSettingsTests {
    func parse(_ bench: String) throws -> LabConfig {
        let text = validConfigText.replacingOccurrences(
            of: "\"caseDirectories\": []", with: "\"caseDirectories\": [],\n  \"bench\": \(bench)")
        return try LabConfig.parse(Data(text.utf8))
    }

    func issues(_ bench: String) -> [String] {
        configIssues(
            validConfigText.replacingOccurrences(
                of: "\"caseDirectories\": []", with: "\"caseDirectories\": [],\n  \"bench\": \(bench)"))
    }

    @Test func defaultsWithoutASection() throws {
        let config = try LabConfig.parse(Data(validConfigText.utf8))
        #expect(config.bench == nil)
        let s = BenchSettings()
        #expect(s.sizes.first == 8 && s.sizes.last == 16 << 20 && s.sizes.count == 22)
        #expect(s.caseIds.count == 3 + 9 * 2)
        #expect(s.caseIds.contains("bench/linear-page/write"))
        #expect(s.caseIds.contains("bench/linear-page-faultin/read"))
    }

    @Test func aSectionIsReadWithSizeSuffixes() throws {
        let config = try parse(
            """
            {"minSize": "1K", "maxSize": "4MiB", "repetitions": 5, "methods": ["linear-page", "regs"],
             "directions": ["read"], "byteWiseMaxSize": 65536, "backends": ["svm"], "caseSeconds": 120}
            """)
        let s = try #require(config.bench)
        #expect(s.minSize == 1024 && s.maxSize == 4 << 20 && s.repetitions == 5)
        #expect(s.methods == [.linearPage, .regs] && s.directions == [.read] && s.backends == [.svm])
        #expect(s.byteWiseMaxSize == 65536 && s.caseSeconds == 120)
        #expect(s.caseIds == BenchBaseline.all + ["bench/linear-page/read", "bench/regs/read"])
        #expect(
            s.guestParameters.contains("gmlab.bench.min=1024")
                && s.guestParameters.contains("gmlab.bench.byte_max=65536"))
    }

    @Test func everyBadValueIsReportedWithItsPath() {
        let found = issues(
            """
            {"minSize": 12, "maxSize": "32M", "repetitions": 1, "methods": ["linear-pages", "regs", "regs"],
             "directions": [], "warmup": -1, "colour": 1, "backends": ["kvm"]}
            """)
        #expect(found.contains { $0.hasPrefix("$.bench.minSize: expected a power of two") && $0.contains("got 12") })
        #expect(found.contains { $0.hasPrefix("$.bench.maxSize: expected a power of two") && $0.contains("\"32M\"") })
        #expect(found.contains { $0.hasPrefix("$.bench.repetitions: expected a whole number from 3 to 1000, got 1") })
        #expect(
            found.contains {
                $0.hasPrefix("$.bench.methods[0]: \"linear-pages\" is not a bench method")
                    && $0.contains("did you mean \"linear-page\"")
            })
        #expect(found.contains { $0.hasPrefix("$.bench.methods[2]: \"regs\" is listed twice") })
        #expect(found.contains { $0.hasPrefix("$.bench.directions: empty") })
        #expect(found.contains { $0.hasPrefix("$.bench.warmup:") })
        #expect(found.contains { $0.hasPrefix("$.bench: unknown key \"colour\"") })
        #expect(found.contains { $0.hasPrefix("$.bench.backends[0]: \"kvm\" is not a backend") })
    }

    @Test func minAboveMaxIsAnError() {
        #expect(
            issues("{\"minSize\": \"1M\", \"maxSize\": \"64K\"}").contains {
                $0.contains("minSize 1048576 is larger than maxSize 65536")
            })
    }

    @Test func commandLineOverridesAreCheckedAndNameTheOption() throws {
        let s = try BenchSettings().applying(
            BenchOverrides(maxSize: "1M", repetitions: "5", methods: ["linear-page,linear-byte"]))
        #expect(s.maxSize == 1 << 20 && s.repetitions == 5 && s.methods == [.linearPage, .linearByte])
        do {
            _ = try BenchSettings().applying(BenchOverrides(minSize: "3", repetitions: "x", methods: ["dma"]))
            Issue.record("expected a ConfigError")
        } catch {
            let text = error.description
            #expect(text.contains("command line: --min-size: expected a power of two"))
            #expect(text.contains("command line: --repetitions: expected a whole number from 3 to 1000, got \"x\""))
            #expect(text.contains("command line: --method: \"dma\" is not a bench method"))
        }
    }

    @Test func sizeWordsAndLabels() {
        #expect(BenchSettings.parseSize("64K") == 65536)
        #expect(BenchSettings.parseSize("16MiB") == 16 << 20)
        #expect(BenchSettings.parseSize("8") == 8 && BenchSettings.parseSize("8B") == 8)
        #expect(
            BenchSettings.parseSize("-1") == nil && BenchSettings.parseSize("1G") == nil
                && BenchSettings.parseSize("") == nil)
        #expect(
            BenchSettings.sizeLabel(8) == "8 B" && BenchSettings.sizeLabel(65536) == "64 KiB"
                && BenchSettings.sizeLabel(16 << 20) == "16 MiB")
    }
}
