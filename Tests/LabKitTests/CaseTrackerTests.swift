import Foundation
import LabModel
import Testing

@testable import LabKit

/// The deadline and rerun rules of one VM, fed with stream lines and times (no VM needed).
@Suite struct CaseTrackerTests {
    /// SelectedCase is made by LabModel's selection; here through its Codable form.
    static func cases(_ ids: [(String, Double)]) -> [SelectedCase] {
        ids.map { id, timeout in
            let json =
                #"{"info":{"id":"\#(id)","suite":"t","description":"d","needs":[]},"timeoutSeconds":\#(timeout)}"#
            return try! JSONDecoder().decode(SelectedCase.self, from: Data(json.utf8))
        }
    }

    func tracker(_ ids: [(String, Double)] = [("t/a", 10), ("t/b", 10), ("t/c", 10)], boot: Int = 30) -> CaseTracker {
        CaseTracker(
            planned: Self.cases(ids), deadlines: .init(boot: .seconds(boot), grace: .seconds(5), powerOff: .seconds(7)))
    }

    static let start = #"GMLAB-AGENT {"event":"start","kernel":"6.1","vendor":"AuthenticAMD","cases":3}"#
    static func result(_ id: String, _ status: String) -> String {
        #"GMLAB-RESULT {"id":"\#(id)","status":"\#(status)","message":"m","values":{"k":1},"duration_ms":250}"#
    }

    @Test func runsToCompletionWithoutStopping() {
        var t = tracker()
        t.consume(console: ["[ 1.0] boot", "GMLAB-GUEST: userspace up"], at: .seconds(3))
        t.consume(
            results: [
                Self.start, "GMLAB-BEGIN t/a", Self.result("t/a", "pass"),
                "GMLAB-BEGIN t/b", Self.result("t/b", "fail"),
                "GMLAB-BEGIN t/c", Self.result("t/c", "skip"), #"GMLAB-AGENT {"event":"done"}"#,
            ], at: .seconds(4))
        #expect(t.check(at: .seconds(5)) == nil)
        #expect(t.userspaceAt == .seconds(3))
        let o = t.outcome(exit: "powered off")
        #expect(o.finished.map(\.status) == [.pass, .fail, .skip])
        #expect(o.finished[0].values["k"] == .number(1))
        #expect(o.finished[0].seconds == 0.25)
        #expect(o.notRun.isEmpty)
        #expect(!o.bootFailed)
        #expect(o.vmProblem == nil)
    }

    /// The host's clock from BEGIN to RESULT, beside the guest's (which under Bochs says 0.26 s
    /// for half a minute of wall time).
    @Test func wallTimeIsMeasuredFromTheLinesArrival() {
        var t = tracker()
        t.consume(results: [Self.start, "GMLAB-BEGIN t/a"], at: .seconds(4))
        t.consume(results: [Self.result("t/a", "pass"), "GMLAB-BEGIN t/b"], at: .milliseconds(34_500))
        #expect(t.wallTimes["t/a"] == .milliseconds(30_500))
        t.consume(results: [Self.result("t/b", "pass")], at: .seconds(40))
        t.consume(results: [Self.result("t/c", "pass")], at: .seconds(41))  // no BEGIN seen: no wall time
        let o = t.outcome(exit: "powered off")
        #expect(o.finished.map(\.wallSeconds) == [30.5, 5.5, nil])
        #expect(o.finished.map(\.seconds) == [0.25, 0.25, 0.25])
    }

    @Test func guestThatNeverStartsTheAgentIsStoppedAtTheBootDeadline() {
        var t = tracker(boot: 30)
        #expect(t.check(at: .seconds(29)) == nil)
        let reason = t.check(at: .seconds(31))
        #expect(reason?.contains("did not start the test agent within 30 s") == true)
        #expect(reason?.contains("never reached userspace") == true)
        let o = t.outcome(exit: "stopped")
        #expect(o.bootFailed)
        #expect(o.finished.isEmpty)
        #expect(o.notRun.count == 3)
    }

    @Test func hungCaseIsTimedOutAndTheRestRunAgain() {
        var t = tracker([("t/a", 10), ("t/hang", 4), ("t/c", 10)])
        t.consume(results: [Self.start, "GMLAB-BEGIN t/a", Self.result("t/a", "pass")], at: .seconds(5))
        t.consume(results: ["GMLAB-BEGIN t/hang"], at: .seconds(6))
        #expect(t.check(at: .seconds(14)) == nil)  // 6 + 4 + 5 grace = 15
        let reason = t.check(at: .seconds(16))
        #expect(reason?.contains("t/hang ran past its deadline of 9 s") == true)
        let o = t.outcome(exit: "stopped")
        #expect(o.finished.map(\.id) == ["t/a", "t/hang"])
        #expect(o.finished[1].status == .timeout)
        #expect(o.notRun.map(\.id) == ["t/c"])
        #expect(!o.bootFailed)
    }

    @Test func vmThatDiesMidCaseBlamesThatCaseOnly() {
        var t = tracker()
        t.consume(
            results: [Self.start, "GMLAB-BEGIN t/a", Self.result("t/a", "pass"), "GMLAB-BEGIN t/b"], at: .seconds(5))
        t.consume(hypervisorLog: ["GMLAB-HV: entering guest", "GMLAB-HV-FATAL: guest triple fault"], at: .seconds(6))
        #expect(
            t.check(at: .seconds(6))?.contains("hypervisor reported a fatal error: GMLAB-HV-FATAL: guest triple fault")
                == true)
        let o = t.outcome(exit: "powered off")
        #expect(o.finished.map(\.status) == [.pass, .error])
        #expect(o.finished[1].message.contains("the VM died during this case"))
        #expect(o.finished[1].message.contains("triple fault"))
        #expect(o.notRun.map(\.id) == ["t/c"])
    }

    /// A case whose BitVisor expectation is that BitVisor stops the machine (hv/own-memory-write):
    /// the VM's end during that case, with the declared text on BitVisor's log, is its pass; the
    /// cases after it run in a fresh VM. Elsewhere, or with other words, it is the usual error.
    static func stopCase() -> [SelectedCase] {
        let declared = #"FINDING (machine stops: \"NP: Writing to VMM memory.\"): BitVisor panics"#
        let json =
            #"{"info":{"id":"t/stop","suite":"t","description":"d","needs":[],"bitvisor":"\#(declared)"},"timeoutSeconds":10}"#
        return cases([("t/a", 10)]) + [try! JSONDecoder().decode(SelectedCase.self, from: Data(json.utf8))]
            + cases([("t/c", 10)])
    }

    static func cell(_ backend: Backend) -> MatrixCell {
        MatrixCell(backend: backend, host: .tcg, kernel: .debianCurrent, memoryMiB: 1024, vcpus: 1)
    }

    func stoppedDuringTheCase(in cell: MatrixCell, panic: String) -> CaseTracker.Outcome {
        var t = CaseTracker(planned: Self.stopCase(), deadlines: .init(boot: .seconds(30)), cell: cell)
        t.consume(
            results: [Self.start, "GMLAB-BEGIN t/a", Self.result("t/a", "pass"), "GMLAB-BEGIN t/stop"], at: .seconds(5))
        t.consume(hypervisorLog: ["Loading MBR.", panic, "Unrecoverable error."], at: .seconds(6))
        #expect(t.check(at: .seconds(6))?.contains(panic) == true)
        return t.outcome(exit: "stopped")
    }

    @Test func declaredMachineStopIsTheCasesPass() {
        let o = stoppedDuringTheCase(in: Self.cell(.bitvisor), panic: "panic(CPU0): NP: Writing to VMM memory.")
        #expect(o.finished.map(\.id) == ["t/a", "t/stop"])
        #expect(o.finished[1].status == .pass)
        #expect(o.finished[1].message.contains("as declared: panic(CPU0): NP: Writing to VMM memory."))
        #expect(o.notRun.map(\.id) == ["t/c"])
    }

    @Test func undeclaredOrOtherStopsStayErrors() {
        // another panic during the same case
        let other = stoppedDuringTheCase(in: Self.cell(.bitvisor), panic: "panic(CPU0): int_fatal 0x0E")
        #expect(other.finished[1].status == .error)
        #expect(other.finished[1].message.contains("the VM died during this case"))
        // the declaration is BitVisor's: in an svm cell the same words are no pass
        let svm = stoppedDuringTheCase(in: Self.cell(.svm), panic: "panic(CPU0): NP: Writing to VMM memory.")
        #expect(svm.finished[1].status == .error)
        // no cell given (the default): no declared stops
        var t = CaseTracker(planned: Self.stopCase(), deadlines: .init(boot: .seconds(30)))
        t.consume(results: [Self.start, "GMLAB-BEGIN t/stop"], at: .seconds(5))
        t.consume(hypervisorLog: ["panic(CPU0): NP: Writing to VMM memory."], at: .seconds(6))
        _ = t.check(at: .seconds(6))
        #expect(t.outcome(exit: "stopped").finished.map(\.status) == [.error])
    }

    /// A stop declared for the case, but the case ended on its own (it reported): its status.
    @Test func caseThatReportsItselfKeepsItsStatus() {
        var t = CaseTracker(planned: Self.stopCase(), deadlines: .init(boot: .seconds(30)), cell: Self.cell(.bitvisor))
        t.consume(
            results: [Self.start, "GMLAB-BEGIN t/stop", Self.result("t/stop", "fail"), "GMLAB-BEGIN t/c"],
            at: .seconds(5))
        t.consume(hypervisorLog: ["panic(CPU0): NP: Writing to VMM memory."], at: .seconds(6))
        _ = t.check(at: .seconds(6))
        let o = t.outcome(exit: "stopped")
        #expect(o.finished.map(\.status) == [.fail, .error])
    }

    @Test func guestThatDoesNotPowerOffAfterDoneIsStopped() {
        var t = tracker([("t/a", 10)])
        t.consume(
            results: [Self.start, "GMLAB-BEGIN t/a", Self.result("t/a", "pass"), #"GMLAB-AGENT {"event":"done"}"#],
            at: .seconds(5))
        #expect(t.check(at: .seconds(11)) == nil)
        #expect(t.check(at: .seconds(13))?.contains("did not power off") == true)
        let o = t.outcome(exit: "stopped")
        #expect(o.finished.map(\.status) == [.pass])
        #expect(o.notRun.isEmpty)
    }

    @Test func casesTheAgentSkippedOverAreErrorsNotReruns() {
        var t = tracker()
        t.consume(
            results: [Self.start, "GMLAB-BEGIN t/a", Self.result("t/a", "pass"), #"GMLAB-AGENT {"event":"done"}"#],
            at: .seconds(5))
        let o = t.outcome(exit: "powered off")
        #expect(o.notRun.isEmpty)
        #expect(o.finished.filter { $0.status == .error }.map(\.id) == ["t/b", "t/c"])
    }

    @Test func resultsForCasesNotPlannedAreIgnored() {
        var t = tracker([("t/a", 10)])
        t.consume(
            results: [Self.start, Self.result("t/zzz", "pass"), "GMLAB-BEGIN t/a", Self.result("t/a", "pass")],
            at: .seconds(5))
        #expect(t.outcome(exit: "x").finished.map(\.id) == ["t/a"])
    }
}
