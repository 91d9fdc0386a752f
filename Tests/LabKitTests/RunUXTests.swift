import Foundation
import LabModel
import Testing

@testable import LabKit

func scratchDirectory(_ name: String) throws -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gmlab-unit-\(name)-\(UUID().uuidString)")
        .path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

/// `lab clean`: which runs and cache entries go.
@Suite struct CleanerTests {
    /// A results directory with runs started `daysAgo` days ago, each recording `digest`.
    func makeRuns(_ runs: [(name: String, daysAgo: Double, digest: String)], in dir: String) throws {
        for run in runs {
            let results = RunResults(
                provenance: Provenance(
                    imageDigests: ["initramfs": run.digest], startTime: Date() - run.daysAgo * 86400),
                cells: [], records: [])
            try results.write(to: URL(fileURLWithPath: dir + "/" + run.name))
        }
    }

    @Test func keepNewestAndOlderThan() throws {
        let dir = try scratchDirectory("clean")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try makeRuns([("r1", 30, "sha256:1"), ("r2", 10, "sha256:2"), ("r3", 1, "sha256:3")], in: dir)
        try FileManager.default.createDirectory(atPath: dir + "/not-a-run", withIntermediateDirectories: true)
        let cleaner = Cleaner(resultsDirectory: dir)
        #expect(cleaner.plan(.init(keepNewest: 2)).remove.map(\.path) == [dir + "/r1"])
        #expect(
            cleaner.plan(.init(olderThan: Date() - 5 * 86400)).remove.map(\.path).sorted() == [
                dir + "/r1", dir + "/r2",
            ])
        // Both rules: a run goes only when both say so.
        #expect(cleaner.plan(.init(keepNewest: 1, olderThan: Date() - 20 * 86400)).remove.map(\.path) == [dir + "/r1"])
        #expect(cleaner.plan(.init()).remove.isEmpty)

        try FileManager.default.createSymbolicLink(atPath: dir + "/latest", withDestinationPath: "r1")
        try cleaner.apply(cleaner.plan(.init(keepNewest: 1)))
        #expect(!FileManager.default.fileExists(atPath: dir + "/r1"))
        #expect(!FileManager.default.fileExists(atPath: dir + "/r2"))
        #expect(FileManager.default.fileExists(atPath: dir + "/r3/results.json"))
        #expect(FileManager.default.fileExists(atPath: dir + "/not-a-run"))
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: dir + "/latest") == "r3")
    }

    @Test func cacheEntriesNoKeptRunUsedGo() throws {
        let dir = try scratchDirectory("clean-cache")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let results = dir + "/results"
        let cache = dir + "/cache"
        try makeRuns([("old", 30, "sha256:old"), ("new", 1, "sha256:new")], in: results)
        let fm = FileManager.default
        for (entry, digest, age) in [
            ("a", "sha256:old", 300.0), ("b", "sha256:new", 200.0), ("c", "sha256:none", 100.0),
        ] {
            try fm.createDirectory(atPath: "\(cache)/guest/\(entry)", withIntermediateDirectories: true)
            try digest.write(
                toFile: "\(cache)/guest/\(entry)/initramfs.cpio.gz.sha256", atomically: true, encoding: .utf8)
            try fm.setAttributes([.modificationDate: Date() - age], ofItemAtPath: "\(cache)/guest/\(entry)")
        }
        try fm.createDirectory(atPath: "\(cache)/guest/unknown", withIntermediateDirectories: true)
        try fm.setAttributes([.modificationDate: Date() - 1000], ofItemAtPath: "\(cache)/guest/unknown")
        let plan = Cleaner(resultsDirectory: results, cache: cache).plan(.init(keepNewest: 1))
        // "a" belongs to the removed run; "b" to the kept one; "c" is the newest entry (the
        // current build) and stays; "unknown" has no digest memo and is left alone.
        #expect(plan.cacheEntries == ["\(cache)/guest/a"])
    }
}

/// A VM directory keeps its plan and logs; the boot images are referenced by digest.
@Suite struct BootImagesTests {
    @Test func imagesAreReplacedByAReference() throws {
        let dir = try scratchDirectory("vm")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for name in ["initrd.img", "bundle.img", "plan.cpio", "console.log"] {
            try Data(repeating: 7, count: 1000).write(to: URL(fileURLWithPath: dir + "/" + name))
        }
        let images = ImageSet(
            kernelVersion: "6.1.0-56-amd64", kernelPackageVersion: "6.1.192-2", kernel: "/c/vmlinuz", vmlinux: nil,
            initramfs: "/c/initramfs.cpio.gz", casesCatalog: "/c/cases.json", hypervisor: "/c/hv.elf",
            mkbundle: "/c/mkbundle", hypervisorBuildError: nil,
            digests: ["kernel": "sha256:k", "initramfs": "sha256:i", "hypervisor": "sha256:h"])
        #expect(BootImages.replaceWithReferences(in: dir, images: images) == 2000)
        let left = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
        #expect(left == ["boot-images.txt", "console.log", "plan.cpio"])
        let text = try String(contentsOfFile: dir + "/boot-images.txt", encoding: .utf8)
        for digest in ["sha256:k", "sha256:i", "sha256:h"] { #expect(text.contains(digest)) }
    }
}

/// Live progress: start and end lines, the heartbeat's content, plain lines when not live.
@Suite struct ProgressTests {
    final class Lines: @unchecked Sendable {
        let lock = NSLock()
        var text = ""
        func add(_ s: String) { lock.withLock { text += s } }
    }

    @Test func startAndEndLinesAndHeartbeat() {
        let lines = Lines()
        let progress = RunProgress(live: false, write: lines.add)
        progress.planned(cell: "svm-tcg-x", cases: 2)
        progress.planned(cell: "none-tcg-x", cases: 1)
        progress.vmStarting(name: "gmlab-1-1", cell: "svm-tcg-x", cases: 2, attempt: 1)
        progress.caseStarted("smoke/a", cell: "svm-tcg-x")
        progress.caseFinished(CaseRecord(caseId: "smoke/a", cellId: "svm-tcg-x", status: .pass, durationSeconds: 1))
        #expect(lines.text.contains("START smoke/a (svm-tcg-x)"))
        #expect(lines.text.contains("[1/3] PASS smoke/a (svm-tcg-x) 1.00s"))
        // Not a terminal: no carriage returns or escape sequences.
        #expect(!lines.text.contains("\r") && !lines.text.contains("\u{1b}"))
        let status = progress.statusLine()
        #expect(status.contains("svm-tcg-x: 1/2"))
        #expect(status.contains("none-tcg-x: 0/1"))
        #expect(status.contains("1 VM running"))
        progress.vmEnded()
        #expect(progress.statusLine().contains("0 VMs running"))
    }

    @Test func aCellCutShortByALostMachineLeavesTheCounter() {
        let lines = Lines()
        let progress = RunProgress(live: false, write: lines.add)
        progress.planned(cell: "c", cases: 2)
        progress.caseFinished(CaseRecord(caseId: "s/a", cellId: "c", status: .error, message: "socket closed"))
        progress.cellRetracted("c", reason: "machine box was lost")
        #expect(
            lines.text.contains("↺ c: the 1 result above was cut short (machine box was lost); the cell runs again"))
        progress.caseFinished(CaseRecord(caseId: "s/a", cellId: "c", status: .pass))
        progress.caseFinished(CaseRecord(caseId: "s/b", cellId: "c", status: .pass))
        #expect(lines.text.contains("[1/2] PASS s/a") && lines.text.contains("[2/2] PASS s/b"))
        #expect(!lines.text.contains("[3/2]"))
        // Nothing shown yet: nothing to retract, no line.
        progress.cellRetracted("other", reason: "x")
        #expect(!lines.text.contains("↺ other"))
    }

    @Test func heartbeatRedrawsOnATerminalAndSayClearsIt() async throws {
        let lines = Lines()
        let progress = RunProgress(live: true, write: lines.add)
        progress.planned(cell: "c", cases: 1)
        progress.startHeartbeat()
        try await Task.sleep(for: .milliseconds(1500))
        progress.say("a line")
        progress.finish()
        #expect(lines.text.contains("\r\u{1b}[K⏱ 0m 0"))
        #expect(lines.text.contains("  c: 0/1  0 VMs running"))
        #expect(lines.text.contains("\r\u{1b}[Ka line\n"))
    }

    @Test func colourHonoursNoColorAndDumbTerminals() {
        #expect(RunProgress.colourAllowed(["TERM": "xterm"]))
        #expect(!RunProgress.colourAllowed(["TERM": "xterm", "NO_COLOR": "1"]))
        #expect(!RunProgress.colourAllowed(["TERM": "dumb"]))
    }
}

/// An interrupted run's results: what finished, the rest marked interrupted.
@Suite struct RunLedgerTests {
    @Test func unfinishedCasesAreMarkedInterrupted() {
        let cell = MatrixCell(backend: .none, host: .tcg, kernel: .debianCurrent, memoryMiB: 1024, vcpus: 1)
        let ledger = RunLedger(
            cells: [CellOutcome(cell: cell, status: .ran, plannedCases: ["t/a", "t/b", "t/c"])],
            planned: [(cell.id, ["t/a", "t/b", "t/c"])], provenance: Provenance(startTime: Date()), catalog: [],
            notes: [])
        ledger.add([CaseRecord(caseId: "t/a", cellId: cell.id, status: .pass)])
        // After the signal: a VM start that failed because its domain was destroyed is not
        // the case's error.
        ledger.add([CaseRecord(caseId: "t/b", cellId: cell.id, status: .error)], interrupting: true)
        let results = ledger.interruptedResults(signalName: "SIGINT")
        #expect(results.records.map(\.status) == [.pass, .interrupted, .interrupted])
        #expect(results.records[1].message == "interrupted (SIGINT) before the case finished")
        #expect(results.exitStatus == .interrupted)
        #expect(results.provenance.endTime != nil)
        #expect(JUnitReport.xml(for: results).contains("type=\"interrupted\""))
    }
}

/// Results of a run that could not start, and `results/latest`.
@Suite struct LabFailureResultsTests {
    struct BuildFailed: Error, CustomStringConvertible {
        var description: String { "guest build failed: make: *** [agent] Error 1" }
    }

    @Test func aBuildFailureLeavesOneErrorRecordAndLatestPointsAtIt() throws {
        let repository = try scratchDirectory("repo")
        defer { try? FileManager.default.removeItem(atPath: repository) }
        let paths = LabPaths(repository: repository, cache: repository + "/cache")
        let directory = repository + "/results/20261206T000000abcd"
        LabRunner.writeLabFailure(BuildFailed(), directory: directory, paths: paths)
        let results = try RunResults.load(from: URL(fileURLWithPath: directory))
        #expect(results.records.map(\.status) == [.error])
        #expect(results.records.first?.message == "guest build failed: make: *** [agent] Error 1")
        #expect(results.exitStatus == .labError)
        for file in [RunResults.FileName.junit, RunResults.FileName.text, RunResults.FileName.tap] {
            #expect(FileManager.default.fileExists(atPath: directory + "/" + file))
        }
        #expect(
            try FileManager.default.destinationOfSymbolicLink(atPath: repository + "/results/latest")
                == "20261206T000000abcd")
        // A run elsewhere (--results /tmp/…) does not move results/latest.
        LabRunner.writeLabFailure(BuildFailed(), directory: repository + "/elsewhere/run", paths: paths)
        #expect(
            try FileManager.default.destinationOfSymbolicLink(atPath: repository + "/results/latest")
                == "20261206T000000abcd")
    }
}
