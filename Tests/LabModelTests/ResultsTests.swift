import Foundation
import Testing

@testable import LabModel

#if canImport(FoundationXML)
import FoundationXML
#endif

/// A run with every kind of row: pass, fail (with hostile text), timeout, error, skip, a skipped
/// cell, an errored cell, and a planned case the lab lost.
func sampleResults() -> RunResults {
    let svm = MatrixCell(
        backend: .svm, host: .tcg, kernel: .debianCurrent, memoryMiB: 1024, vcpus: 1, paging: .fiveLevel)
    let none = MatrixCell(backend: .none, host: .tcg, kernel: .debianCurrent, memoryMiB: 1024, vcpus: 1)
    let vmx = MatrixCell(backend: .vmx, host: .bochs, kernel: .debianCurrent, memoryMiB: 1024, vcpus: 1)
    let broken = MatrixCell(backend: .none, host: .tcg, kernel: .exact("6.1.0-56-amd64"), memoryMiB: 512, vcpus: 1)
    let logs = [
        "console": "svm-tcg-debian-1024m-1cpu-5lvl/vm1/console.log",
        "agent": "svm-tcg-debian-1024m-1cpu-5lvl/vm1/agent.log",
    ]
    let start = Date(timeIntervalSince1970: 1_790_000_000.25)
    let provenance = Provenance(
        labCommit: "0123abcd-dirty", imageDigests: ["hv.elf": "sha256:aa", "initramfs": "sha256:bb"],
        guestKernels: ["debian": .init(version: "6.1.0-56-amd64", packageVersion: "6.1.192-2")],
        qemuVersion: "7.2.19", libvirtLibraryVersion: "9.0.0", libvirtDaemonVersion: "9.0.0",
        machines: [
            "svm-tcg-debian-1024m-1cpu-5lvl": .init(
                accelerator: "tcg", cpuModel: "qemu64,+svm,+npt",
                guestKernel: .init(version: "6.1.0-56-amd64"), paging: .fiveLevel,
                guestCmdline: "console=ttyS0 quiet")
        ],
        hostCPU: "AMD EPYC 7B13", hostname: "builder", startTime: start, endTime: start + 75,
        commandLine: ["lab", "run", "--only", "svm-*"])
    let records = [
        CaseRecord(
            caseId: "smoke/kernel-version", cellId: svm.id, status: .pass, message: "6.1.0-56-amd64",
            values: ["bytes": .number(4096), "ok": .bool(true)], durationSeconds: 0.012, vmName: "gml-svm-1", logs: logs
        ),
        CaseRecord(
            caseId: "linear/cross-page-read", cellId: svm.id, status: .fail,
            message: "byte 4096: expected <0x5a> & got \"0x00\" \u{1}", values: ["offset": .number(4096)],
            durationSeconds: 1.5, vmName: "gml-svm-1", logs: logs,
            repro: "lab run --only svm-tcg-debian-1024m-1cpu-5lvl --only linear/cross-page-read"),
        CaseRecord(
            caseId: "selftest/hang", cellId: svm.id, status: .timeout, message: "no result within 10 s",
            durationSeconds: 10, attempt: 1, vmName: "gml-svm-1", logs: logs, repro: "lab run --only selftest/hang"),
        CaseRecord(
            caseId: "smoke/after-hang", cellId: svm.id, status: .error, message: "VM died during the case",
            attempt: 2, vmName: "gml-svm-2", logs: logs),
        CaseRecord(caseId: "smoke/kernel-version", cellId: none.id, status: .pass, durationSeconds: 0.01),
        CaseRecord(caseId: "smoke/hypercall-lookup", cellId: none.id, status: .skip, message: "needs the hypervisor"),
    ]
    return RunResults(
        provenance: provenance,
        cells: [
            CellOutcome(
                cell: svm, status: .ran,
                plannedCases: [
                    "smoke/kernel-version", "linear/cross-page-read", "selftest/hang", "smoke/after-hang", "smoke/lost",
                ]),
            CellOutcome(cell: none, status: .ran, plannedCases: ["smoke/kernel-version", "smoke/hypercall-lookup"]),
            CellOutcome(
                cell: vmx, status: .skipped(reason: "hypervisor backend vmx is not implemented yet"),
                plannedCases: ["smoke/kernel-version", "linear/cross-page-read"]),
            CellOutcome(
                cell: broken, status: .error(message: "libvirt: domain <gml> failed to start"),
                plannedCases: ["smoke/kernel-version"]),
        ],
        records: records,
        cases: [CaseInfo(id: "linear/cross-page-read", suite: "linear", description: "read <across> a page boundary")],
        notes: ["host auto for backend svm resolved to tcg"])
}

@Suite struct ResultsModelTests {
    @Test func jsonRoundTrip() throws {
        let results = sampleResults()
        let data = try results.jsonData()
        let decoded = try RunResults.decode(data)
        #expect(decoded == results)
        let text = String(decoding: data, as: UTF8.self)
        #expect(text.contains(#""startTime" : "2026-09-21T"#))
        #expect(text.contains(#""id" : "svm-tcg-debian-1024m-1cpu-5lvl""#))
        #expect(text.contains(#""state" : "skipped""#))
        #expect(text.contains(#""reason" : "hypervisor backend vmx is not implemented yet""#))
    }

    /// A results.json from before the paging axis: no `paging` anywhere, ids without `-4lvl`.
    @Test func resultsWithoutPagingReadAsFourLevel() throws {
        var results = sampleResults()
        results.cells[0].cell.paging = .fourLevel
        for index in results.records.indices {
            results.records[index].cellId = results.records[index].cellId.replacingOccurrences(
                of: "-5lvl", with: "-4lvl")
        }
        results.provenance.machines = [
            "svm-tcg-debian-1024m-1cpu-4lvl": .init(accelerator: "tcg", cpuModel: "qemu64,+svm,+npt")
        ]
        var text = String(decoding: try results.jsonData(), as: UTF8.self)
        text = text.replacingOccurrences(of: "-4lvl", with: "").replacingOccurrences(of: "-5lvl", with: "")
            .split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.contains(#""paging""#) }.joined(
                separator: "\n")
        #expect(!text.contains("lvl") && !text.contains("paging"))
        let old = try RunResults.decode(Data(text.utf8))
        #expect(
            old.cells.map(\.id) == [
                "svm-tcg-debian-1024m-1cpu-4lvl", "none-tcg-debian-1024m-1cpu-4lvl",
                "vmx-bochs-debian-1024m-1cpu-4lvl", "none-tcg-6.1.0-56-amd64-512m-1cpu-4lvl",
            ])
        #expect(old.cells.allSatisfy { $0.cell.paging == .fourLevel })
        #expect(
            Set(old.records.map(\.cellId)) == ["svm-tcg-debian-1024m-1cpu-4lvl", "none-tcg-debian-1024m-1cpu-4lvl"])
        #expect(Array(old.provenance.machines.keys) == ["svm-tcg-debian-1024m-1cpu-4lvl"])
        #expect(old.provenance.machines.values.first?.paging == nil)
        #expect(old.rows(for: old.cells[0]).filter { $0.status == .pass }.count == 1, "records still meet their cell")
        #expect(old.totals == results.totals)
    }

    @Test func writeAndLoadDirectory() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("labmodel-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let written = try sampleResults().write(to: directory)
        #expect(
            written.map(\.lastPathComponent) == [
                "results.json", "junit.xml", "report.txt", "report.html", "results.tap",
            ])
        #expect(try RunResults.load(from: directory) == sampleResults())
    }

    @Test func loadErrorsAreClear() throws {
        do {
            _ = try RunResults.load(from: URL(fileURLWithPath: "/nonexistent-results"))
            Issue.record("expected an error")
        } catch {
            #expect(error.description == "/nonexistent-results/results.json: no such directory")
        }
        do {
            _ = try RunResults.decode(Data(#"{"format": 1, "cells": []}"#.utf8))
            Issue.record("expected an error")
        } catch {
            #expect(error.message.hasPrefix("$: missing key"))
        }
        var future = sampleResults()
        future.format = 99
        let futureData = try future.jsonData()
        do {
            _ = try RunResults.decode(futureData)
            Issue.record("expected an error")
        } catch {
            #expect(error.message == "results format 99; this lab reads format 1")
        }
    }

    @Test func rowsSynthesizeMissingCases() {
        let results = sampleResults()
        let svmRows = results.rows(for: results.cells[0])
        #expect(
            svmRows.map(\.caseId) == [
                "smoke/kernel-version", "linear/cross-page-read", "selftest/hang", "smoke/after-hang", "smoke/lost",
            ])
        #expect(svmRows.last?.status == .error)
        #expect(svmRows.last?.message.hasPrefix("no result was recorded") == true)
        let vmxRows = results.rows(for: results.cells[2])
        #expect(vmxRows.map(\.status) == [.skip, .skip])
        #expect(vmxRows[0].message == "cell skipped: hypervisor backend vmx is not implemented yet")
        #expect(results.totals == [.pass: 2, .fail: 1, .timeout: 1, .error: 3, .skip: 3])
        #expect(!results.succeeded)
    }

    @Test func succeededOnlyWithoutProblems() {
        let cell = MatrixCell(backend: .none, host: .tcg, kernel: .debianCurrent, memoryMiB: 1024, vcpus: 1)
        let ok = RunResults(
            provenance: Provenance(startTime: Date()),
            cells: [CellOutcome(cell: cell, status: .ran, plannedCases: ["a"])],
            records: [CaseRecord(caseId: "a", cellId: cell.id, status: .pass)])
        #expect(ok.succeeded)
        var bad = ok
        bad.records[0].status = .timeout
        #expect(!bad.succeeded)
    }

    @Test func shellQuoting() {
        #expect(shellQuoted(["lab", "run", "--only", "svm-*", "it's", ""]) == #"lab run --only 'svm-*' 'it'\''s' ''"#)
    }
}

@Suite struct JUnitTests {
    func document() throws -> XMLDocument {
        try XMLDocument(xmlString: JUnitReport.xml(for: sampleResults()), options: [])
    }

    func testcase(_ suite: XMLElement, _ name: String) -> XMLElement? {
        suite.elements(forName: "testcase").first { $0.attribute(forName: "name")?.stringValue == name }
    }

    @Test func structureAndCounts() throws {
        let root = try #require(try document().rootElement())
        #expect(root.name == "testsuites")
        #expect(root.attribute(forName: "tests")?.stringValue == "10")
        #expect(root.attribute(forName: "failures")?.stringValue == "2")
        #expect(root.attribute(forName: "errors")?.stringValue == "3")
        // junit-10.xsd has no `skipped` attribute on testsuites (Jenkins drops such a file).
        #expect(root.attribute(forName: "skipped") == nil)
        let suites = root.elements(forName: "testsuite")
        #expect(
            suites.map { $0.attribute(forName: "name")?.stringValue ?? "" }
                == [
                    "svm-tcg-debian-1024m-1cpu-5lvl", "none-tcg-debian-1024m-1cpu-4lvl",
                    "vmx-bochs-debian-1024m-1cpu-4lvl", "none-tcg-6.1.0-56-amd64-512m-1cpu-4lvl",
                ])
        let svm = suites[0]
        #expect(svm.attribute(forName: "tests")?.stringValue == "5")
        #expect(svm.attribute(forName: "failures")?.stringValue == "2")
        #expect(svm.attribute(forName: "errors")?.stringValue == "2")
        #expect(
            svm.elements(forName: "testcase").allSatisfy {
                $0.attribute(forName: "classname")?.stringValue == "svm-tcg-debian-1024m-1cpu-5lvl"
            })
    }

    @Test func failureCarriesEscapedMessageAndRepro() throws {
        let svm = try #require(try document().rootElement()?.elements(forName: "testsuite").first)
        let failing = try #require(testcase(svm, "linear/cross-page-read"))
        let failure = try #require(failing.elements(forName: "failure").first)
        // The control character is replaced; <, & and quotes survive the round trip.
        #expect(
            failure.attribute(forName: "message")?.stringValue == "byte 4096: expected <0x5a> & got \"0x00\" \u{FFFD}")
        #expect(failure.attribute(forName: "type")?.stringValue == "fail")
        #expect(
            failure.stringValue?.contains(
                "reproduce: lab run --only svm-tcg-debian-1024m-1cpu-5lvl --only linear/cross-page-read") == true)
        let out = try #require(failing.elements(forName: "system-out").first?.stringValue)
        #expect(out.contains("console log: svm-tcg-debian-1024m-1cpu-5lvl/vm1/console.log"))
        #expect(out.contains("vm: gml-svm-1 (attempt 1)"))
        let timeout = try #require(testcase(svm, "selftest/hang")?.elements(forName: "failure").first)
        #expect(timeout.attribute(forName: "type")?.stringValue == "timeout")
        #expect(
            testcase(svm, "smoke/after-hang")?.elements(forName: "error").first?.attribute(forName: "message")?
                .stringValue
                == "VM died during the case")
        #expect(
            testcase(svm, "smoke/kernel-version")?.children?.contains {
                $0.name == "failure" || $0.name == "error" || $0.name == "skipped"
            } == false)
    }

    @Test func skippedCellListsEveryCaseAsSkipped() throws {
        let suites = try #require(try document().rootElement()?.elements(forName: "testsuite"))
        let vmx = suites[2]
        let cases = vmx.elements(forName: "testcase")
        #expect(
            cases.map { $0.attribute(forName: "name")?.stringValue ?? "" } == [
                "smoke/kernel-version", "linear/cross-page-read",
            ])
        for element in cases {
            #expect(
                element.elements(forName: "skipped").first?.attribute(forName: "message")?.stringValue
                    == "cell skipped: hypervisor backend vmx is not implemented yet")
            // GitLab shows the element's text.
            #expect(
                element.elements(forName: "skipped").first?.stringValue
                    == "cell skipped: hypervisor backend vmx is not implemented yet")
        }
        let broken = suites[3]
        // A cell id with dots is not split into Jenkins packages: dots become underscores in
        // the classname; the exact id is the suite name and its cell.id property.
        #expect(
            testcase(broken, "smoke/kernel-version")?.attribute(forName: "classname")?.stringValue
                == "none-tcg-6_1_0-56-amd64-512m-1cpu-4lvl")
        #expect(
            broken.elements(forName: "properties").first?.elements(forName: "property").contains {
                $0.attribute(forName: "name")?.stringValue == "cell.id"
                    && $0.attribute(forName: "value")?.stringValue == "none-tcg-6.1.0-56-amd64-512m-1cpu-4lvl"
            } == true)
        #expect(
            testcase(broken, "smoke/kernel-version")?.elements(forName: "error").first?.attribute(forName: "message")?
                .stringValue
                == "cell could not run: libvirt: domain <gml> failed to start")
    }

    @Test func provenanceProperties() throws {
        let svm = try #require(try document().rootElement()?.elements(forName: "testsuite").first)
        let properties = svm.elements(forName: "properties").first?.elements(forName: "property") ?? []
        var table: [String: String] = [:]
        for property in properties {
            table[property.attribute(forName: "name")?.stringValue ?? ""] =
                property.attribute(forName: "value")?.stringValue
        }
        #expect(table["lab.commit"] == "0123abcd-dirty")
        #expect(table["image.hv.elf"] == "sha256:aa")
        #expect(table["guest.kernel.debian"] == "6.1.0-56-amd64 (package 6.1.192-2)")
        #expect(table["qemu.version"] == "7.2.19")
        #expect(table["cell.accelerator"] == "tcg")
        #expect(table["cell.cpu"] == "qemu64,+svm,+npt")
        #expect(table["cell.paging"] == "5-level")
        #expect(table["cell.cmdline"] == "console=ttyS0 quiet")
        #expect(table["cell.status"] == "ran")
        #expect(table["command"] == "lab run --only 'svm-*'")
    }
}

@Suite struct ReportTests {
    @Test func htmlContainsEveryCaseAndEscapes() {
        let html = HTMLReport.render(sampleResults())
        for caseId in [
            "smoke/kernel-version", "linear/cross-page-read", "selftest/hang", "smoke/after-hang", "smoke/lost",
            "smoke/hypercall-lookup",
        ] {
            #expect(html.contains("<code>\(caseId)</code>"), "missing \(caseId)")
        }
        #expect(html.contains("byte 4096: expected &lt;0x5a&gt; &amp; got &quot;0x00&quot;"))
        #expect(!html.contains("<0x5a>"))
        #expect(!html.contains("\u{1}"))
        #expect(html.contains("read &lt;across&gt; a page boundary"))
        #expect(html.contains("libvirt: domain &lt;gml&gt; failed to start"))
        #expect(
            html.contains(
                "reproduce: <code>lab run --only svm-tcg-debian-1024m-1cpu-5lvl --only linear/cross-page-read</code>"))
        #expect(!html.contains("http://") && !html.contains("https://") && !html.contains("<script"))
        #expect(html.contains("<details open"))
    }

    /// The header says what produced the run; problems come first; each problem cell of the
    /// table links to its problem; every VM is listed with links to its logs.
    @Test func htmlHeaderProblemsFirstAndLinks() throws {
        let results = sampleResults()
        let html = HTMLReport.render(results)
        let header = try #require(
            html.components(separatedBy: "<table class=\"header\">").last?.components(
                separatedBy: "</table>"
            ).first)
        for fact in [
            "2026-09-21T", "(took 1m 15s)", "0123abcd-dirty", "lab run --only &#39;svm-*&#39;", "exit status 1",
            "hv.elf <code title=\"sha256:aa\">sha256:aa</code>", "<code>6.1.0-56-amd64</code> (package 6.1.192-2)",
            "QEMU 7.2.19", "library 9.0.0, daemon 9.0.0", "<code>tcg: qemu64,+svm,+npt</code>",
            "AMD EPYC 7B13 on builder",
        ] {
            #expect(header.contains(fact), "header lacks \(fact)")
        }
        // Problems before the cells and the table.
        let problems = try #require(html.range(of: "<h2 id=\"problems\">Problems</h2>"))
        let cellsHeading = try #require(html.range(of: "<h2>Cells</h2>"))
        #expect(problems.lowerBound < cellsHeading.lowerBound)
        // The failing table cell links to the problem's anchor, which exists.
        let failing = try #require(results.records.first { $0.caseId == "linear/cross-page-read" })
        let anchor = HTMLReport.anchor(failing)
        #expect(anchor == "problem-svm-tcg-debian-1024m-1cpu-5lvl--linear_cross-page-read")
        #expect(html.contains("<a href=\"#\(anchor)\">fail</a>"))
        #expect(html.contains("<details open id=\"\(anchor)\">"))
        // Log paths are links relative to the results directory, here and in the VMs table.
        #expect(
            html.contains(
                "<a href=\"svm-tcg-debian-1024m-1cpu-5lvl/vm1/console.log\"><code>svm-tcg-debian-1024m-1cpu-5lvl/vm1/console.log</code></a>"
            ))
        let vms = try #require(
            html.components(separatedBy: "<h2>VMs</h2>").last?.components(separatedBy: "</table>").first)
        #expect(vms.contains("<code>gml-svm-1</code>") && vms.contains("<code>gml-svm-2</code> (attempt 2)"))
        #expect(vms.contains("<a href=\"svm-tcg-debian-1024m-1cpu-5lvl/vm1/agent.log\"><code>agent</code></a>"))
        // Written elsewhere (`lab report DIR --html FILE`), the links lead back into DIR.
        #expect(HTMLReport.render(results, logBase: "runs/r1/").contains("href=\"runs/r1/svm-tcg-debian"))
        #expect(HTMLReport.logBase(resultsDirectory: "/srv/results/r1", page: "/srv/results/r1/report.html") == "")
        #expect(HTMLReport.logBase(resultsDirectory: "/srv/results/r1", page: "/srv/page.html") == "results/r1/")
        #expect(HTMLReport.logBase(resultsDirectory: "/srv/results/r1", page: "/tmp/page.html") == "/srv/results/r1/")
        // A run the lab could not carry out says so in the header.
        let passing = RunResults.labFailure(message: "x")
        #expect(HTMLReport.render(passing).contains("the lab could not run</a> (exit status 2)"))
        // Its record (cell `lab`, in no cell) is listed as a problem with its message.
        #expect(HTMLReport.render(passing).contains("<pre>x</pre>"))
    }

    @Test func htmlEscape() {
        #expect(HTMLReport.escape(#"<a href="x">'&'</a>"#) == "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;")
    }

    @Test func textReportListsProblemsWithLogsAndRepro() {
        let text = TextReport.render(sampleResults(), color: false)
        #expect(!text.contains("\u{1B}["))
        #expect(text.contains("Totals: 2 pass, 1 fail, 3 skip, 3 error, 1 timeout (10 case runs in 4 cells)"))
        #expect(text.contains("  FAIL  svm-tcg-debian-1024m-1cpu-5lvl          1 pass, 1 fail, 2 error, 1 timeout"))
        #expect(
            text.contains(
                "  SKIP  vmx-bochs-debian-1024m-1cpu-4lvl        skipped: hypervisor backend vmx is not implemented yet"
            ))
        #expect(
            text.contains(
                "  ERROR none-tcg-6.1.0-56-amd64-512m-1cpu-4lvl  could not run: libvirt: domain <gml> failed to start"))
        #expect(
            text.contains(
                """
                  FAIL linear/cross-page-read in svm-tcg-debian-1024m-1cpu-5lvl
                      read <across> a page boundary
                      byte 4096: expected <0x5a> & got "0x00" \\x01
                      agent log: svm-tcg-debian-1024m-1cpu-5lvl/vm1/agent.log
                      console log: svm-tcg-debian-1024m-1cpu-5lvl/vm1/console.log
                      reproduce: lab run --only svm-tcg-debian-1024m-1cpu-5lvl --only linear/cross-page-read
                """))
        #expect(text.contains("ERROR smoke/after-hang in svm-tcg-debian-1024m-1cpu-5lvl (attempt 2)"))
        #expect(text.contains("GuestMemLab run 2026-09-21T"))
        #expect(text.contains("(1m 15s)"))
    }

    @Test func colourOnlyWhenAsked() {
        let text = TextReport.render(sampleResults(), color: true)
        #expect(text.contains("\u{1B}[1;31mFAIL\u{1B}[0m"))
    }
}
