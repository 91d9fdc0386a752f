import Foundation
import Testing

@testable import LabModel

#if canImport(FoundationXML)
import FoundationXML
#endif

/// Validation against Tests/Schemas/jenkins-junit-10.xsd: the structure the Jenkins xunit
/// plugin accepts, written for these tests from the plugin's
/// junit-10.xsd (jenkinsci/xunit-plugin, src/main/resources/org/jenkinsci/plugins/xunit/types/
/// model/xsd/junit-10.xsd, read at commit 031e285ef3b60dee7aaf36e9096d7dcd95ffae83; it cannot be
/// downloaded here). The same rules, restated: `testsuites` takes only name, time, tests,
/// failures and errors (no `skipped`) and holds testsuites; `testsuite` needs name, tests,
/// failures and errors, may carry skipped/time/timestamp/hostname/id/package/file/log/url/group,
/// and holds properties, testcases, nested testsuites, system-out and system-err; `testcase`
/// needs name and takes only time, classname and group; its children are skipped, error,
/// failure (text plus type and message), the rerun/flaky elements, system-out and system-err;
/// times follow the plugin's SUREFIRE_TIME pattern.
enum JenkinsJUnitSchema {
    /// Tests/Schemas/jenkins-junit-10.xsd.
    static let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Schemas/jenkins-junit-10.xsd").path

    /// Validates `xml` with xmllint; returns nil when valid, else xmllint's complaint. Throws
    /// when xmllint is missing (the caller skips with that message).
    static func validate(_ xml: String) throws -> String? {
        guard
            let xmllint = ["/usr/bin/xmllint", "/usr/local/bin/xmllint"].first(where: {
                FileManager.default.isExecutableFile(atPath: $0)
            })
        else { throw MissingTool() }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gmlab-junit-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let schema = URL(fileURLWithPath: path)
        let file = dir.appendingPathComponent("junit.xml")
        try xml.write(to: file, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: xmllint)
        process.arguments = ["--noout", "--schema", schema.path, file.path]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let output = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return process.terminationStatus == 0 ? nil : output
    }

    struct MissingTool: Error, CustomStringConvertible {
        var description: String { "xmllint (Debian package libxml2-utils) is not installed" }
    }
}

@Suite struct JUnitSchemaTests {
    @Test func sampleRunValidatesAgainstJenkinsSchema() throws {
        let problem = try JenkinsJUnitSchema.validate(JUnitReport.xml(for: sampleResults()))
        #expect(problem == nil, "\(problem ?? "")")
    }

    /// The schema is not a rubber stamp: the attribute the old report wrote is rejected.
    @Test func schemaRejectsSkippedOnTestsuites() throws {
        let xml = JUnitReport.xml(for: sampleResults()).replacingOccurrences(
            of: "<testsuites ", with: "<testsuites skipped=\"3\" ")
        let problem = try JenkinsJUnitSchema.validate(xml)
        #expect(problem?.contains("skipped") == true, "\(problem ?? "accepted")")
    }

    @Test func labFailureAndInterruptedRecordsValidate() throws {
        var results = RunResults.labFailure(message: "lab.json: $.matrix: unknown key \"backend\"")
        let problem = try JenkinsJUnitSchema.validate(JUnitReport.xml(for: results))
        #expect(problem == nil, "\(problem ?? "")")
        let doc = try XMLDocument(xmlString: JUnitReport.xml(for: results), options: [])
        let error = try #require(try doc.nodes(forXPath: "//testsuite[@name='lab']/testcase/error").first)
        #expect(error.stringValue?.contains("unknown key") == true)
        results = sampleResults()
        results.records.append(
            CaseRecord(
                caseId: "smoke/lost", cellId: "svm-tcg-debian-1024m-1cpu-5lvl", status: .interrupted,
                message: "interrupted (SIGINT) before the case finished"))
        #expect(try JenkinsJUnitSchema.validate(JUnitReport.xml(for: results)) == nil)
    }
}

@Suite struct ExitStatusTests {
    @Test func statusesFollowTheResults() {
        var results = sampleResults()
        #expect(results.exitStatus == .casesFailed)
        results.records.append(
            CaseRecord(caseId: "smoke/lost", cellId: "svm-tcg-debian-1024m-1cpu-5lvl", status: .interrupted))
        #expect(results.exitStatus == .interrupted)
        #expect(RunResults.labFailure(message: "bad lab.json").exitStatus == .labError)
        let cell = MatrixCell(backend: .none, host: .tcg, kernel: .debianCurrent, memoryMiB: 1024, vcpus: 1)
        let passing = RunResults(
            provenance: Provenance(startTime: Date()),
            cells: [CellOutcome(cell: cell, status: .ran, plannedCases: ["phys/no-access-control", "smoke/a"])],
            records: [
                CaseRecord(caseId: "phys/no-access-control", cellId: cell.id, status: .pass),
                CaseRecord(caseId: "smoke/a", cellId: cell.id, status: .skip, message: "needs kvm"),
            ],
            cases: [
                CaseInfo(
                    id: "phys/no-access-control", suite: "phys",
                    description: "FINDING (asserted as is under the bitvisor policy): nobody reads kernel memory")
            ])
        #expect(passing.exitStatus == .passed)
        // A declared finding passes and is listed.
        #expect(passing.findings.map(\.caseId) == ["phys/no-access-control"])
        #expect(TextReport.render(passing).contains("Findings"))
        #expect(TextReport.render(passing).contains("phys/no-access-control in \(cell.id)"))
    }

    @Test func helpNamesEveryStatus() {
        for status in LabExitStatus.allCases {
            #expect(LabExitStatus.help.contains("  \(status.rawValue) "))
        }
    }
}

@Suite struct RelativePathTests {
    @Test func underTheWorkingDirectoryIsRelative() {
        #expect(pathRelative("/home/ci/lab/results/2026x", to: "/home/ci/lab") == "results/2026x")
        #expect(pathRelative("/home/ci/lab/results/2026x", to: "/home/ci/lab/") == "results/2026x")
        #expect(pathRelative("/home/ci/lab/../lab/results/r", to: "/home/ci/lab") == "results/r")
    }

    @Test func elsewhereStaysAbsolute() {
        #expect(pathRelative("/tmp/gmlab-it-1/run", to: "/home/ci/lab") == "/tmp/gmlab-it-1/run")
        #expect(pathRelative("/home/ci/lab2/results", to: "/home/ci/lab") == "/home/ci/lab2/results")
        #expect(pathRelative("/home/ci/lab", to: "/home/ci/lab") == "/home/ci/lab")
    }
}

@Suite struct ColourTests {
    @Test func explicitChoiceWinsElseTerminalAndEnvironment() {
        #expect(Colour.enabled(explicit: true, isTerminal: false, environment: ["NO_COLOR": "1"]))
        #expect(!Colour.enabled(explicit: false, isTerminal: true, environment: ["TERM": "xterm"]))
        #expect(Colour.enabled(explicit: nil, isTerminal: true, environment: ["TERM": "xterm"]))
        #expect(!Colour.enabled(explicit: nil, isTerminal: false, environment: ["TERM": "xterm"]))
        #expect(!Colour.enabled(explicit: nil, isTerminal: true, environment: ["TERM": "xterm", "NO_COLOR": "1"]))
        // An empty NO_COLOR does not count (no-color.org).
        #expect(Colour.enabled(explicit: nil, isTerminal: true, environment: ["TERM": "xterm", "NO_COLOR": ""]))
        #expect(!Colour.enabled(explicit: nil, isTerminal: true, environment: ["TERM": "dumb"]))
    }
}

@Suite struct TAPTests {
    @Test func everyRowIsATestPointWithDirectivesAndYAML() {
        let tap = TAPReport.render(sampleResults())
        let lines = tap.split(separator: "\n").map(String.init)
        #expect(lines[0] == "TAP version 13")
        #expect(lines[1] == "1..10")
        #expect(lines.filter { $0.hasPrefix("ok ") || $0.hasPrefix("not ok ") }.count == 10)
        #expect(lines.contains("ok 1 - smoke/kernel-version in svm-tcg-debian-1024m-1cpu-5lvl"))
        #expect(lines.contains("not ok 2 - linear/cross-page-read in svm-tcg-debian-1024m-1cpu-5lvl"))
        #expect(lines.contains("  status: timeout"))
        #expect(
            lines.contains(
                "ok 7 - smoke/hypercall-lookup in none-tcg-debian-1024m-1cpu-4lvl # SKIP needs the hypervisor"))
        #expect(lines.contains { $0.hasPrefix("  repro: \"lab run --only") })
        // Guest text cannot inject a directive or a line.
        #expect(TAPReport.escape("a # TODO\nnot ok 9") == "a \\# TODO not ok 9")
    }
}

@Suite struct SkipNoiseTests {
    func results() -> RunResults {
        let cell = MatrixCell(backend: .none, host: .tcg, kernel: .debianCurrent, memoryMiB: 1024, vcpus: 1)
        func impossible(_ id: String, _ reason: String) -> CaseRecord {
            var record = CaseRecord(caseId: id, cellId: cell.id, status: .skip, message: reason)
            record.byConstruction = true
            return record
        }
        return RunResults(
            provenance: Provenance(startTime: Date()),
            cells: [
                CellOutcome(
                    cell: cell, status: .ran, plannedCases: ["smoke/a", "phys/x", "phys/y", "linear/z", "smp/w"])
            ],
            records: [
                CaseRecord(caseId: "smoke/a", cellId: cell.id, status: .pass),
                impossible("phys/x", "needs the hypervisor"), impossible("phys/y", "needs the hypervisor"),
                impossible("linear/z", "needs the hypervisor"), impossible("smp/w", "needs 2 or more vCPUs"),
            ])
    }

    @Test func impossibleSkipsCountOncePerCellAndReason() throws {
        let results = results()
        let cell = try #require(results.cells.first)
        let rows = results.reportRows(for: cell)
        #expect(rows.map(\.caseId) == ["smoke/a", "n/a (3 cases)", "n/a (1 case)"])
        #expect(
            rows[1].message
                == "cannot run in this cell by construction: needs the hypervisor: phys/x, phys/y, linear/z")
        #expect(results.totals[.skip] == 4)
        #expect(results.reportTotals[.skip] == 2)
        // results.json keeps every record.
        let decoded = try RunResults.decode(try results.jsonData())
        #expect(decoded.records.count == 5)
        #expect(decoded.records.filter { $0.byConstruction == true }.count == 4)
        let junit = JUnitReport.xml(for: results)
        #expect(junit.components(separatedBy: "<testcase ").count - 1 == 3)
        #expect(try JenkinsJUnitSchema.validate(junit) == nil)
        #expect(TAPReport.render(results).contains("1..3"))
        #expect(TextReport.render(results).contains("1 pass, 2 skip"))
    }
}
