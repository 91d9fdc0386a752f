import Foundation
import LabModel
import Testing

@testable import LabKit

/// `lab bench` end to end, reduced (sizes 8 B – 4 KiB, 3 samples, two methods, one direction):
/// real images, one backend-none VM (memcpy, peer KVM) and one SVM VM (our hypervisor), then
/// the four output files, read back. Needs root and libvirtd like the other integration tests.
@Suite(.serialized) struct BenchIntegrationTests {
    @Test func reducedBenchWritesEveryOutput() async throws {
        guard getuid() == 0 else {
            Issue.record("integration tests drive libvirtd on qemu:///system and must run as root (sudo make test)")
            return
        }
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().path
        let paths = LabPaths(repository: repository, cache: LabPaths.defaultCache())
        var config = try LabConfig.load(from: URL(fileURLWithPath: paths.labJSON))
        config.timeouts.bootSeconds = 150
        let session = LabSession(paths: paths, config: config, configFile: paths.labJSON)
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("gmlab-it-bench-\(UUID().uuidString.prefix(8))").path

        var request = BenchRequest()
        request.bench = BenchOverrides(
            minSize: "8", maxSize: "4K", repetitions: "3", warmup: "1",
            methods: ["linear-page,linear-byte"], directions: ["read"])
        request.resultsDirectory = directory
        request.commandLine = ["lab", "bench", "(integration test)"]
        let outcome = try await BenchRunner(session: session).run(request)

        // The files exist and parse.
        for name in [
            BenchDocument.FileName.json, BenchDocument.FileName.csv, BenchDocument.FileName.markdown,
            BenchDocument.FileName.html, RunResults.FileName.json,
        ] {
            #expect(FileManager.default.fileExists(atPath: directory + "/" + name), "\(name) missing")
        }
        let doc = try BenchDocument.load(path: directory)
        #expect(doc.points == outcome.document.points && doc.scalars == outcome.document.scalars)
        #expect(doc.problems.isEmpty, "bench cases without figures: \(doc.problems)")

        // What the reduced bench must have measured, in the right cells.
        let svm = try #require(doc.points.first { $0.backend == "svm" && $0.method == "linear-page" }?.cellId)
        let none = try #require(doc.points.first { $0.backend == "none" && $0.method == "memcpy" }?.cellId)
        for size in [8, 64, 512, 4096] {
            let page = try #require(doc.point(cell: svm, method: "linear-page", direction: "read", size: size))
            #expect(page.samplesNs.count == 3 && page.summary.median > 0)
            #expect(
                page.hypercalls == 1 && page.exits == 1,
                "one hypercall, one exit per page-wise transfer; got \(page.hypercalls), \(page.exits.map(String.init) ?? "nil") in \(page.cellId) at \(size) B"
            )
            #expect(doc.point(cell: svm, method: "linear-byte", direction: "read", size: size) != nil)
            #expect(doc.point(cell: none, method: "memcpy", direction: "copy", size: size) != nil)
        }
        #expect(!doc.points.contains { $0.direction == "write" || $0.method == "regs" })
        #expect(doc.scalar(method: "null-hypercall", series: "cpl3") != nil)
        #expect(doc.scalar(method: "kvm-vmmcall", series: "l2-vmmcall-in-kernel") != nil)
        // Methods are skipped (not failed) in the none cell, KVM in the svm cell.
        #expect(
            doc.outcomes.contains { $0.cellId == none && $0.caseId == "bench/linear-page/read" && $0.status == .skip })
        #expect(doc.outcomes.contains { $0.cellId == svm && $0.caseId == "bench/kvm-vmmcall" && $0.status == .skip })
        #expect(doc.targets.first { $0.id == "linear-page-vs-byte" }?.met == nil, "64 KiB is beyond this run's sizes")
        #expect(doc.targets.first { $0.id == "null-hypercall-vs-floor" }?.value != nil)
        #expect(doc.scalar(method: "null-hypercall", series: "floor-cpl3") != nil)

        let csv = try String(contentsOfFile: directory + "/bench.csv", encoding: .utf8)
        #expect(csv.split(separator: "\n").count == 1 + doc.points.count + doc.scalars.count)
        let html = try String(contentsOfFile: directory + "/bench.html", encoding: .utf8)
        #expect(html.contains("<svg") && html.contains("linear-page"))
        let md = try String(contentsOfFile: directory + "/bench.md", encoding: .utf8)
        #expect(md.contains("## Targets"))

        // Comparing the run with itself: nothing changed.
        let comparison = BenchComparison(old: doc, new: doc, oldSource: directory)
        #expect(comparison.changed.isEmpty)
        try? FileManager.default.removeItem(atPath: directory)
    }
}
