import Foundation
import Testing

@testable import LabModel

let catalogText = """
    [
      {"id": "smoke/kernel-version", "suite": "smoke", "description": "the guest kernel is the one requested"},
      {"id": "smoke/hypercall-lookup", "suite": "smoke", "description": "look up a service by name", "needs": "hypervisor"},
      {"id": "linear/cross-page-read", "suite": "linear", "description": "read across a page boundary", "needs": ["hypervisor"]},
      {"id": "linear/cross-page-write", "suite": "linear", "description": "write across a page boundary", "needs": ["hypervisor"]},
      {"id": "linear/svm-only", "suite": "linear", "description": "an SVM detail", "needs": ["svm", "tcg"]},
      {"id": "selftest/hang", "suite": "selftest", "description": "hangs on purpose"}
    ]
    """

@Suite struct CatalogTests {
    @Test func parsesNeedsStringOrArray() throws {
        let catalog = try CaseCatalog.parse(Data(catalogText.utf8))
        #expect(catalog.cases.count == 6)
        #expect(catalog["smoke/hypercall-lookup"]?.needs == [.hypervisor])
        #expect(catalog["linear/svm-only"]?.needs == [.svm, .tcg])
        #expect(catalog["smoke/kernel-version"]?.needs == [])
        #expect(catalog.suites == ["smoke", "linear", "selftest"])
    }

    @Test func reportsEveryProblemWithPath() {
        let text = """
            [
              {"id": "a/x", "suite": "a", "description": "ok"},
              {"id": "a/x", "suite": "a", "description": "dup"},
              {"id": "a y", "suite": "a", "description": "space"},
              {"suite": "a", "description": "no id", "need": "svm"},
              {"id": "a/z", "suite": "a", "description": "bad need", "needs": ["svm", "gpu"]},
              "nope"
            ]
            """
        do {
            _ = try CaseCatalog.parse(Data(text.utf8))
            Issue.record("expected an error")
        } catch {
            #expect(
                error.issues.map(\.description) == [
                    #"$[1].id: "a/x" is listed twice (also at $[0])"#,
                    #"$[2].id: "a y" contains whitespace; case ids are single words"#,
                    #"$[3]: unknown key "need" (did you mean "needs"?)"#,
                    #"$[3]: missing required key "id""#,
                    #"$[4].needs[1]: "gpu" is not a need; expected one of hypervisor, none, svm, vmx, bitvisor, kvm, tcg, bochs, smp, kmod, fast-host"#,
                    #"$[5]: expected an object, got "nope""#,
                ])
        }
    }

    @Test func notAnArray() {
        do {
            _ = try CaseCatalog.parse(Data(#"{"cases": []}"#.utf8))
            Issue.record("expected an error")
        } catch {
            #expect(error.description == #"cases.json: $: expected an array of cases, got an object"#)
        }
    }
}

@Suite struct GlobTests {
    @Test func globMatching() {
        #expect(GlobPattern("linear/*").matches("linear/cross-page-read"))
        #expect(!GlobPattern("linear/*").matches("smoke/linear"))
        #expect(GlobPattern("*cross-page*").matches("linear/cross-page-read"))
        #expect(GlobPattern("svm-*-1024m-?cpu-*").matches("svm-tcg-debian-1024m-1cpu-4lvl"))
        #expect(!GlobPattern("svm-*-1024m-?cpu-*").matches("svm-tcg-debian-1024m-12cpu-4lvl"))
        #expect(GlobPattern("*-5lvl").matches("svm-tcg-debian-1024m-1cpu-5lvl"))
        #expect(!GlobPattern("*-5lvl").matches("svm-tcg-debian-1024m-1cpu-4lvl"))
        #expect(GlobPattern("*").matches(""))
        #expect(GlobPattern("a*b*c").matches("aXXbYYc"))
        #expect(!GlobPattern("a*b*c").matches("aXXbYY"))
        #expect(GlobPattern("exact").isLiteral)
        #expect(!GlobPattern("ex*").isLiteral)
    }
}

@Suite struct SelectionTests {
    let catalog = try! CaseCatalog.parse(Data(catalogText.utf8))
    let plan = MatrixPlan(matrix: matrix([.none, .svm, .vmx]), capabilities: thisMachine, implemented: svmWithoutBochs)
    let timeouts = LabConfig.Timeouts(
        bootSeconds: 120, caseSeconds: 60, perCase: ["selftest/hang": 10, "gone/case": 5])

    func ids(_ selection: CaseSelection, _ cell: String) -> [String] {
        selection.cells.first { $0.cell.id == cell }?.cases.map(\.id) ?? ["<cell absent>"]
    }

    @Test func suitesAndNeeds() throws {
        let selection = try selectCases(plan: plan, catalog: catalog, suites: ["smoke", "linear"], timeouts: timeouts)
        #expect(
            selection.cells.map(\.cell.id) == [
                "none-tcg-debian-1024m-1cpu-4lvl", "svm-tcg-debian-1024m-1cpu-4lvl", "vmx-bochs-debian-1024m-1cpu-4lvl",
            ])
        #expect(ids(selection, "none-tcg-debian-1024m-1cpu-4lvl") == ["smoke/kernel-version"])
        #expect(
            ids(selection, "svm-tcg-debian-1024m-1cpu-4lvl")
                == [
                    "smoke/kernel-version", "smoke/hypercall-lookup", "linear/cross-page-read",
                    "linear/cross-page-write", "linear/svm-only",
                ])
        let none = selection.cells[0]
        #expect(
            none.skippedCases.map(\.info.id) == [
                "smoke/hypercall-lookup", "linear/cross-page-read", "linear/cross-page-write", "linear/svm-only",
            ])
        #expect(none.skippedCases.first?.reason == "needs the hypervisor (cell has backend none)")
        #expect(none.skippedCases.last?.reason == "needs backend svm (cell has backend none)")
        // The skipped vmx cell still lists what it would run.
        #expect(ids(selection, "vmx-bochs-debian-1024m-1cpu-4lvl").count == 4)
        #expect(selection.notes == [#"timeouts.perCase names "gone/case", which is not in cases.json"#])
    }

    /// A case too slow for Bochs runs on TCG and is skipped, with the reason, in the Bochs cell.
    @Test func fastHostSkipsOnlyUnderBochs() throws {
        let text = #"""
            [{"id": "modes/slow", "suite": "modes", "description": "16 MiB byte-wise", "needs": ["hypervisor", "fast-host"]}]
            """#
        let slow = try CaseCatalog.parse(Data(text.utf8))
        let selection = try selectCases(plan: plan, catalog: slow, suites: ["modes"], timeouts: timeouts)
        #expect(ids(selection, "svm-tcg-debian-1024m-1cpu-4lvl") == ["modes/slow"])
        #expect(ids(selection, "vmx-bochs-debian-1024m-1cpu-4lvl") == [])
        let bochs = try #require(selection.cells.first { $0.cell.id == "vmx-bochs-debian-1024m-1cpu-4lvl" })
        #expect(bochs.skippedCases.map(\.info.id) == ["modes/slow"])
        let reason = bochs.skippedCases.first?.reason ?? ""
        #expect(reason.hasPrefix("needs a host faster than Bochs (cell has host bochs"))
    }

    @Test func perCaseTimeoutsAndAgentPlan() throws {
        let selection = try selectCases(
            plan: plan, catalog: catalog, suites: ["smoke", "selftest"], timeouts: timeouts)
        let svm = selection.cells[1]
        #expect(svm.cases.map(\.timeoutSeconds) == [60, 60, 10])
        #expect(
            svm.agentPlan() == "backend svm\nsmoke/kernel-version 60\nsmoke/hypercall-lookup 60\nselftest/hang 10\n")
    }

    @Test func onlyCellAndCaseCombineWithAnd() throws {
        let selection = try selectCases(
            plan: plan, catalog: catalog, suites: ["smoke", "linear"], timeouts: timeouts,
            only: ["svm-tcg-debian-1024m-1cpu-4lvl", "linear/cross-page-read"])
        #expect(selection.cells.map(\.cell.id) == ["svm-tcg-debian-1024m-1cpu-4lvl"])
        #expect(ids(selection, "svm-tcg-debian-1024m-1cpu-4lvl") == ["linear/cross-page-read"])
        #expect(
            selection.notes.first
                == "2 cells excluded by --only/--skip: none-tcg-debian-1024m-1cpu-4lvl, vmx-bochs-debian-1024m-1cpu-4lvl"
        )
    }

    @Test func globsAndSuitesAsPatterns() throws {
        let selection = try selectCases(
            plan: plan, catalog: catalog, suites: ["smoke", "linear"], timeouts: timeouts,
            only: ["*cross-page*", "smoke"], skip: ["*-write", "vmx-*"])
        #expect(
            selection.cells.map(\.cell.id) == ["none-tcg-debian-1024m-1cpu-4lvl", "svm-tcg-debian-1024m-1cpu-4lvl"])
        #expect(
            ids(selection, "svm-tcg-debian-1024m-1cpu-4lvl") == [
                "smoke/kernel-version", "smoke/hypercall-lookup", "linear/cross-page-read",
            ])
    }

    @Test func eachCellTakesTheCasesOfItsOwnKernel() throws {
        // Two kernels, two images, two catalogs: the current kernel's image lists a case the
        // older one's does not. No cell may get another kernel's cases, whatever the order.
        let older = KernelSpec.exact("6.1.0-56-amd64")
        let current = try CaseCatalog.parse(
            Data(
                #"[{"id":"smoke/a","suite":"smoke","description":"a"},{"id":"smoke/new","suite":"smoke","description":"new"}]"#
                    .utf8))
        let old = try CaseCatalog.parse(Data(#"[{"id":"smoke/a","suite":"smoke","description":"a"}]"#.utf8))
        for kernels in [[KernelSpec.debianCurrent, older], [older, .debianCurrent]] {
            let plan = MatrixPlan(
                matrix: matrix([.none], hosts: [.host(.tcg)], kernels: kernels), capabilities: thisMachine,
                implemented: svmWithoutBochs)
            let selection = try selectCases(
                plan: plan, catalogs: [.debianCurrent: current, older: old], suites: ["smoke"], timeouts: timeouts)
            #expect(ids(selection, "none-tcg-debian-1024m-1cpu-4lvl") == ["smoke/a", "smoke/new"])
            #expect(ids(selection, "none-tcg-6.1.0-56-amd64-1024m-1cpu-4lvl") == ["smoke/a"])
            // A case only one kernel lists is still a known case id.
            let only = try selectCases(
                plan: plan, catalogs: [.debianCurrent: current, older: old], suites: ["smoke"], timeouts: timeouts,
                only: ["smoke/new"])
            #expect(ids(only, "none-tcg-debian-1024m-1cpu-4lvl") == ["smoke/new"])
            #expect(ids(only, "none-tcg-6.1.0-56-amd64-1024m-1cpu-4lvl") == [])
        }
        #expect(CaseCatalog.merging([old, current]).cases.map(\.id) == ["smoke/a", "smoke/new"])
    }

    @Test func pagingCellsByGlob() throws {
        let paged = MatrixPlan(
            matrix: matrix([.none, .svm], paging: [.fiveLevel, .fourLevel]), capabilities: thisMachine,
            implemented: svmWithoutBochs)
        let selection = try selectCases(
            plan: paged, catalog: catalog, suites: ["smoke"], timeouts: timeouts, only: ["*-5lvl"])
        #expect(
            selection.cells.map(\.cell.id) == ["none-tcg-debian-1024m-1cpu-5lvl", "svm-tcg-debian-1024m-1cpu-5lvl"])
        #expect(
            selection.notes.first
                == "2 cells excluded by --only/--skip: none-tcg-debian-1024m-1cpu-4lvl, svm-tcg-debian-1024m-1cpu-4lvl")
    }

    @Test func exactCaseOutsideConfiguredSuitesIsSelected() throws {
        let selection = try selectCases(
            plan: plan, catalog: catalog, suites: ["smoke"], timeouts: timeouts, only: ["selftest/hang"])
        #expect(ids(selection, "none-tcg-debian-1024m-1cpu-4lvl") == ["selftest/hang"])
    }

    @Test func globOutsideConfiguredSuitesIsAnError() {
        do {
            _ = try selectCases(
                plan: plan, catalog: catalog, suites: ["smoke"], timeouts: timeouts,
                only: ["selftest/*", "*cross-page*"])
            Issue.record("expected an error")
        } catch {
            #expect(
                error.issues == [
                    #"--only "selftest/*" matches only cases of suites that are not selected (selftest); add --suite selftest or name a case exactly"#,
                    #"--only "*cross-page*" matches only cases of suites that are not selected (linear); add --suite linear or name a case exactly"#,
                ])
        }
    }

    @Test func unmatchedPatternsAndUnknownSuitesAreErrors() {
        do {
            _ = try selectCases(
                plan: plan, catalog: catalog, suites: ["smoke", "linear", "hv"], timeouts: timeouts,
                only: ["linear/*", "nosuch/*"], skip: ["kvm-*"])
            Issue.record("expected an error")
        } catch {
            #expect(
                error.issues == [
                    #"suite "hv" has no cases in cases.json (suites there: smoke, linear, selftest)"#,
                    #"--only "nosuch/*" matches no case id, suite or cell id"#,
                    #"--skip "kvm-*" matches no case id, suite or cell id"#,
                ])
        }
    }
}
