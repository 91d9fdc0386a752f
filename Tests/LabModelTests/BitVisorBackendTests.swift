import Foundation
import Testing

@testable import LabModel

/// Backend `bitvisor` in the model: where its checkout comes from, which of its cells run, and
/// what each case declares it expects of BitVisor (skips, named findings).
@Suite struct BitVisorBackendTests {
    static let withBitVisor = Implemented(backends: [.svm, .bitvisor], hostKinds: [.kvm, .tcg, .bochs])

    @Test func cellsWithoutACheckoutSaySoAndHowToGiveOne() {
        let plan = MatrixPlan(
            matrix: matrix([.bitvisor], hosts: [.host(.tcg)]), capabilities: thisMachine,
            implemented: svmVMXAndBochs)
        let reason = status(plan, "bitvisor-tcg-debian-1024m-1cpu-4lvl")?.skipReason ?? ""
        #expect(reason.contains("no BitVisor checkout given"), "\(reason)")
        for way in [#""bitvisor": {"source""#, "--bitvisor DIR", "BITVISOR_SRC"] {
            #expect(reason.contains(way), "\(way)")
        }
    }

    @Test func runsUnderTCGAtFourLevelsWithOneCPU() {
        let plan = MatrixPlan(
            matrix: matrix(
                [.bitvisor], hosts: [.auto, .host(.bochs)], vcpus: [1, 2], paging: [.fourLevel, .fiveLevel]),
            capabilities: thisMachine, implemented: Self.withBitVisor)
        #expect(plan.runnableCells.map(\.id) == ["bitvisor-tcg-debian-1024m-1cpu-4lvl"])
        #expect(plan.notes.contains { $0.contains("host auto for backend bitvisor resolved to tcg") })
        #expect(
            status(plan, "bitvisor-tcg-debian-1024m-1cpu-5lvl")?.skipReason?.contains("BitVisor has no 5-level paging")
                == true)
        #expect(status(plan, "bitvisor-tcg-debian-1024m-2cpu-4lvl")?.skipReason?.contains("one vCPU") == true)
        #expect(
            status(plan, "bitvisor-bochs-debian-1024m-1cpu-4lvl")?.skipReason?.contains("with SVM only") == true)
        // TCG without SVM: said as for svm cells.
        var noSVM = thisMachine
        noSVM.tcgEmulatesSVM = false
        let plain = MatrixPlan(
            matrix: matrix([.bitvisor], hosts: [.host(.tcg)]), capabilities: noSVM, implemented: Self.withBitVisor)
        #expect(plain.runnableCells.isEmpty)
    }

    @Test func runsUnderKVMWhereKVMExposesNestedSVM() {
        // An AMD host with nested SVM: auto picks KVM, and asking for kvm runs there.
        var amd = thisMachine
        amd.kvmBootsGuest = true
        amd.nestedSVM = true
        let plan = MatrixPlan(
            matrix: matrix([.bitvisor], hosts: [.auto, .host(.tcg)]), capabilities: amd,
            implemented: Self.withBitVisor)
        #expect(
            plan.runnableCells.map(\.id) == [
                "bitvisor-kvm-debian-1024m-1cpu-4lvl", "bitvisor-tcg-debian-1024m-1cpu-4lvl",
            ])
        #expect(
            plan.notes.contains {
                $0.contains("host auto for backend bitvisor resolved to kvm") && $0.contains("nested SVM")
            })
        // The only KVM is the box's: auto keeps to TCG, an explicit kvm runs in the box.
        var box = amd
        box.kvmOnlyInBox = true
        let boxed = MatrixPlan(
            matrix: matrix([.bitvisor], hosts: [.auto, .host(.kvm)]), capabilities: box,
            implemented: Self.withBitVisor)
        #expect(
            boxed.runnableCells.map(\.id) == [
                "bitvisor-tcg-debian-1024m-1cpu-4lvl", "bitvisor-kvm-debian-1024m-1cpu-4lvl",
            ])
        #expect(boxed.notes.contains { $0.contains("resolved to tcg") && $0.contains("KVM box") })
        // KVM without nested SVM (an Intel host): the kvm cell is skipped saying why.
        let intel = MatrixPlan(
            matrix: matrix([.bitvisor], hosts: [.auto, .host(.kvm)]), capabilities: intelWithKVM,
            implemented: Self.withBitVisor)
        #expect(intel.runnableCells.map(\.id) == ["bitvisor-tcg-debian-1024m-1cpu-4lvl"])
        let reason = status(intel, "bitvisor-kvm-debian-1024m-1cpu-4lvl")?.skipReason ?? ""
        #expect(reason.contains("bitvisor needs SVM: KVM on this machine does not expose nested SVM"), "\(reason)")
        // No KVM at all: the general reason, once.
        let none = MatrixPlan(
            matrix: matrix([.bitvisor], hosts: [.host(.kvm)]), capabilities: thisMachine,
            implemented: Self.withBitVisor)
        let noKVM = status(none, "bitvisor-kvm-debian-1024m-1cpu-4lvl")?.skipReason ?? ""
        #expect(noKVM.contains("KVM cannot boot a guest") && !noKVM.contains("nested SVM"), "\(noKVM)")
    }

    @Test func machinesSayWhyTheyCannotRunABitVisorCell() {
        let cell = MatrixCell(backend: .bitvisor, host: .kvm, kernel: .debianCurrent, memoryMiB: 1024, vcpus: 1)
        var machine = MachineCapabilities(
            accelerators: [.kvm, .tcg], nestedSVM: true, nestedVMX: false, la57: false, tcgSVM: true, cpus: 2,
            memoryMiB: 4096)
        #expect(machine.reason(cannotRun: cell, machine: "box") == nil)
        machine.nestedSVM = false
        #expect(machine.reason(cannotRun: cell, machine: "box")?.contains("no nested SVM") == true)
        var tcg = cell
        tcg.host = .tcg
        #expect(machine.reason(cannotRun: tcg, machine: "box") == nil)
        machine.tcgSVM = false
        #expect(machine.reason(cannotRun: tcg, machine: "box")?.contains("SVM with NPT") == true)
    }

    @Test func theCheckoutComesFromTheFlagThenTheEnvironmentThenLabJSON() throws {
        var config = LabConfig(
            matrix: matrix([.none, .svm]),
            timeouts: LabConfig.Timeouts(bootSeconds: 120, caseSeconds: 60, perCase: [:]),
            bitvisor: LabConfig.BitVisor(source: "../bv"))
        let fromFile = config.resolvingBitVisorSource(
            flag: nil, environment: nil, currentDirectory: "/work/here", configDirectory: "/repo/conf")
        #expect(fromFile.bitvisorSource == "/repo/bv")
        #expect(fromFile.matrix.backends == [.none, .svm, .bitvisor])
        let fromEnv = config.resolvingBitVisorSource(
            flag: nil, environment: "src", currentDirectory: "/work/here", configDirectory: "/repo/conf")
        #expect(fromEnv.bitvisorSource == "/work/here/src")
        let fromFlag = config.resolvingBitVisorSource(
            flag: "/abs/bv", environment: "src", currentDirectory: "/work/here", configDirectory: "/repo/conf")
        #expect(fromFlag.bitvisorSource == "/abs/bv")
        // No checkout anywhere: the configuration (and the default matrix) stays as written.
        config.bitvisor = nil
        let none = config.resolvingBitVisorSource(
            flag: nil, environment: "", currentDirectory: "/w", configDirectory: "/r")
        #expect(none == config)
        #expect(none.matrix.backends == [.none, .svm])
    }

    @Test func labJSONTakesABitVisorSource() throws {
        func load(_ bitvisor: String) throws -> LabConfig {
            let text = """
                {"schema": 1, "matrix": {"backends": ["svm", "bitvisor"], "hosts": ["auto"], "kernels": ["debian"],
                 "memoryMiB": [1024], "vcpus": [1], "suites": ["smoke"]},
                 "timeouts": {"bootSeconds": 120, "caseSeconds": 60}, "bitvisor": \(bitvisor)}
                """
            return try LabConfig.parse(Data(text.utf8))
        }
        let config = try load(#"{"source": "/tmp/bitvisor"}"#)
        #expect(config.bitvisorSource == "/tmp/bitvisor")
        #expect(config.matrix.backends == [.svm, .bitvisor])
        #expect(try load(#"{"source": null}"#).bitvisorSource == nil)
        #expect(throws: ConfigError.self) { try load(#"{"source": 3}"#) }
        #expect(throws: ConfigError.self) { try load(#"{"src": "/tmp"}"#) }
    }

    static let catalogText = """
        [
          {"id": "regs/echo", "suite": "regs", "description": "echo", "needs": ["hypervisor"]},
          {"id": "linear/us", "suite": "linear", "description": "U/S checked", "needs": ["hypervisor"],
           "bitvisor": "FINDING: BitVisor's walker never checks U/S"},
          {"id": "hostile/fix", "suite": "linear", "description": "a fix", "needs": ["hypervisor"],
           "bitvisor": "skip: tests the lab hypervisor's hostile-input fix"},
          {"id": "linear/svm-only", "suite": "linear", "description": "svm code", "needs": ["svm"]}
        ]
        """

    @Test func expectationsAreReadFromTheCatalog() throws {
        let catalog = try CaseCatalog.parse(Data(Self.catalogText.utf8))
        #expect(catalog["regs/echo"]?.bitvisorExpectation == .same)
        #expect(catalog["linear/us"]?.bitvisorExpectation == .finding("FINDING: BitVisor's walker never checks U/S"))
        #expect(catalog["hostile/fix"]?.bitvisorExpectation == .skip("tests the lab hypervisor's hostile-input fix"))
        let svm = MatrixCell(backend: .svm, host: .tcg, kernel: .debianCurrent, memoryMiB: 1024, vcpus: 1)
        #expect(catalog["linear/us"]?.expectation(in: svm) == .same)
        // A declaration that declares nothing is an error naming the field.
        let bad = #"[{"id": "a/b", "suite": "a", "description": "d", "bitvisor": "differs"}]"#
        #expect(throws: CatalogError.self) { try CaseCatalog.parse(Data(bad.utf8)) }
    }

    /// `FINDING (machine stops: "TEXT"): …`: a finding whose difference is that BitVisor stops
    /// the machine; TEXT is what its log must say (hv/own-memory-write).
    @Test func machineStopIsReadFromTheDeclaration() {
        let stop = BackendExpectation(
            declared: #"FINDING (machine stops: "NP: Writing to VMM memory."): BitVisor panics"#)
        #expect(stop.machineStop == "NP: Writing to VMM memory.")
        if case .finding(let text) = stop {
            #expect(text.hasSuffix("BitVisor panics"))
        } else {
            Issue.record("a machine stop is a finding: \(stop)")
        }
        #expect(BackendExpectation(declared: "FINDING: BitVisor's walker never checks U/S").machineStop == nil)
        #expect(BackendExpectation(declared: "skip: machine stops").machineStop == nil)
        #expect(BackendExpectation(declared: nil).machineStop == nil)
        // no closing quote, or nothing quoted: no marker (so no VM death can count as a pass)
        #expect(BackendExpectation(declared: #"FINDING (machine stops: "NP: Writing"#).machineStop == nil)
        #expect(BackendExpectation(declared: #"FINDING (machine stops: ""): why"#).machineStop == nil)
    }

    @Test func bitvisorCellsSkipWhatOnlyTheLabsHypervisorHas() throws {
        let catalog = try CaseCatalog.parse(Data(Self.catalogText.utf8))
        let plan = MatrixPlan(
            matrix: matrix([.svm, .bitvisor], hosts: [.host(.tcg)]), capabilities: thisMachine,
            implemented: Self.withBitVisor)
        let selection = try selectCases(
            plan: plan, catalog: catalog, suites: ["regs", "linear"],
            timeouts: LabConfig.Timeouts(bootSeconds: 120, caseSeconds: 60, perCase: [:]))
        let bv = try #require(selection.cells.first { $0.cell.cell.backend == .bitvisor })
        #expect(bv.cases.map(\.id) == ["regs/echo", "linear/us"])
        #expect(
            bv.skippedCases.map(\.reason) == [
                "not on BitVisor: tests the lab hypervisor's hostile-input fix",
                "needs backend svm (cell has backend bitvisor)",
            ])
        let svm = try #require(selection.cells.first { $0.cell.cell.backend == .svm })
        #expect(svm.cases.map(\.id) == ["regs/echo", "linear/us", "hostile/fix", "linear/svm-only"])
        // The agent's plan names the backend and BitVisor's (the loose) policy, whatever was asked.
        #expect(bv.agentPlan(policy: .strict).hasPrefix("backend bitvisor\npolicy bitvisor\n"))
    }

    @Test func aPassingDeclaredDifferenceIsANamedFindingOnlyOnBitVisor() throws {
        let catalog = try CaseCatalog.parse(Data(Self.catalogText.utf8))
        let bv = "bitvisor-tcg-debian-1024m-1cpu-4lvl"
        let svm = "svm-tcg-debian-1024m-1cpu-4lvl"
        let results = RunResults(
            provenance: Provenance(startTime: Date(timeIntervalSince1970: 0)), cells: [],
            records: [
                CaseRecord(caseId: "linear/us", cellId: bv, status: .pass),
                CaseRecord(caseId: "linear/us", cellId: svm, status: .pass),
                CaseRecord(caseId: "regs/echo", cellId: bv, status: .pass),
            ], cases: catalog.cases)
        #expect(results.findings.map(\.cellId) == [bv])
        #expect(results.findingText(of: results.records[0]) == "FINDING: BitVisor's walker never checks U/S")
        let text = TextReport.render(results, color: false)
        #expect(text.contains("FINDING: BitVisor's walker never checks U/S"), "\(text)")
    }
}
