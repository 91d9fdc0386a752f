// The hypervisor's access policy on the lab side: lab.json `hypervisor.policy`, `lab run
// --policy`, the agent's plan line, and what the results record.
import Foundation
import Testing

@testable import LabModel

@Suite struct PolicyConfigTests {
    func withHypervisor(_ json: String) -> String {
        variant(#""caseDirectories": []"#, #""caseDirectories": [], "hypervisor": \#(json)"#)
    }

    @Test func absentMeansBitvisor() throws {
        let config = try LabConfig.parse(Data(validConfigText.utf8))
        #expect(config.hypervisor == nil)
        #expect(config.policy == .bitvisor)
    }

    @Test func labJSONSetsThePolicy() throws {
        let strict = try LabConfig.parse(Data(withHypervisor(#"{"policy": "strict"}"#).utf8))
        #expect(strict.policy == .strict)
        let bitvisor = try LabConfig.parse(Data(withHypervisor(#"{"policy": "bitvisor"}"#).utf8))
        #expect(bitvisor.policy == .bitvisor)
        #expect(try LabConfig.parse(Data(strict.jsonText().utf8)) == strict, "jsonText round trip keeps it")
        #expect(HypervisorPolicy.strict.hypervisorOption == "gmlab.policy=strict")
        #expect(HypervisorPolicy.bitvisor.hypervisorOption == "gmlab.policy=bitvisor")
    }

    @Test func badPoliciesNameTheirJSONPath() {
        #expect(
            configIssues(withHypervisor(#"{"policy": "strikt"}"#)) == [
                #"$.hypervisor.policy: "strikt" is not a hypervisor policy; expected one of bitvisor, strict (did you mean "strict"?)"#
            ])
        #expect(
            configIssues(withHypervisor(#"{"policy": 1}"#)) == [
                "$.hypervisor.policy: expected a hypervisor policy name (one of bitvisor, strict), got 1"
            ])
        #expect(
            configIssues(withHypervisor(#"{"polcy": "strict"}"#)) == [
                #"$.hypervisor: unknown key "polcy" (did you mean "policy"?)"#,
                #"$.hypervisor: missing required key "policy""#,
            ])
        #expect(configIssues(withHypervisor(#""strict""#)) == [#"$.hypervisor: expected an object, got "strict""#])
    }

    @Test func commandLineOverridesLabJSON() throws {
        let strict = try LabConfig.parse(Data(withHypervisor(#"{"policy": "strict"}"#).utf8))
        #expect(try strict.applying(ConfigOverrides(policy: "bitvisor")).policy == .bitvisor)
        let base = try LabConfig.parse(Data(validConfigText.utf8))
        #expect(try base.applying(ConfigOverrides(policy: " strict ")).policy == .strict)
        #expect(!ConfigOverrides(policy: "strict").isEmpty)
        do {
            _ = try base.applying(ConfigOverrides(policy: "lax"))
            Issue.record("expected an error")
        } catch {
            #expect(error.file == "command line")
            #expect(
                error.issues.map(\.description) == [
                    #"--policy: "lax" is not a hypervisor policy; expected one of bitvisor, strict"#
                ])
        }
    }

    @Test func agentPlanCarriesThePolicyOnlyWhereTheHypervisorRuns() throws {
        let catalog = try CaseCatalog.parse(Data(catalogText.utf8))
        let plan = MatrixPlan(matrix: matrix([.none, .svm]), capabilities: thisMachine, implemented: svmWithoutBochs)
        let selection = try selectCases(
            plan: plan, catalog: catalog, suites: ["smoke"],
            timeouts: .init(bootSeconds: 120, caseSeconds: 60))
        let none = selection.cells[0]
        let svm = selection.cells[1]
        #expect(svm.agentPlan(policy: .strict).hasPrefix("backend svm\npolicy strict\nsmoke/"))
        #expect(svm.agentPlan(policy: .bitvisor).hasPrefix("backend svm\npolicy bitvisor\nsmoke/"))
        #expect(svm.agentPlan().hasPrefix("backend svm\nsmoke/"), "no policy given, no line")
        #expect(!none.agentPlan(policy: .strict).contains("policy"), "backend none has no hypervisor")
        // Under a KVM host the plan says so (GMLAB_HOST=kvm): KVM's nested SVM takes some
        // guest events before the hypervisor sees them, and cases declare what it does.
        var kvm = svm
        kvm.cell.cell.host = .kvm
        #expect(kvm.agentPlan(policy: .strict).hasPrefix("backend svm\npolicy strict\nhost kvm\nsmoke/"))
        #expect(kvm.agentPlan().hasPrefix("backend svm\nhost kvm\nsmoke/"))
        var kvmNone = none
        kvmNone.cell.cell.host = .kvm
        #expect(!kvmNone.agentPlan().contains("host"), "backend none: no hypervisor, no line")
        #expect(!svm.agentPlan().contains("host"), "TCG: no line")
    }

    @Test func resultsRecordThePolicy() throws {
        var results = sampleResults()
        #expect(results.provenance.hypervisorPolicy == nil)
        #expect(!TextReport.render(results).contains("hypervisor policy"))
        results.provenance.hypervisorPolicy = .strict
        results.provenance.machines["svm-tcg-debian-1024m-1cpu-5lvl"]?.hypervisorCmdline = "gmlab.policy=strict"
        let again = try RunResults.decode(results.jsonData())
        #expect(again.provenance.hypervisorPolicy == .strict)
        #expect(again.provenance.machines["svm-tcg-debian-1024m-1cpu-5lvl"]?.hypervisorCmdline == "gmlab.policy=strict")
        #expect(results.provenance.properties.contains { $0.name == "hypervisor.policy" && $0.value == "strict" })
        #expect(TextReport.render(results).contains("hypervisor policy strict"))
        let junit = JUnitReport.xml(for: results)
        #expect(junit.contains(#"name="hypervisor.policy" value="strict""#))
        #expect(junit.contains(#"name="cell.hypervisor.cmdline" value="gmlab.policy=strict""#))
    }
}
