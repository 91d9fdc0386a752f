import Foundation
import LabModel
import LabVirt

/// Follows one VM's streams and decides when the VM has to be stopped: the guest did not reach
/// the agent in time, a case ran past its deadline, the hypervisor reported a fatal error, or the
/// agent finished but the guest did not power off. After the VM ends it turns what was seen into
/// case records and says which planned cases never ran (to run again in a fresh VM).
///
/// Pure logic, fed with lines and elapsed times, so the deadline rules are unit-tested without VMs.
public struct CaseTracker: Sendable {
    public struct Deadlines: Sendable {
        /// From VM start to the agent's start line.
        public var boot: Duration
        /// Added to a case's own timeout (the agent enforces that one in the guest; the host's
        /// deadline is the backstop for a guest that hangs as a whole).
        public var grace: Duration
        /// From the agent's done line to the VM's end.
        public var powerOff: Duration

        public init(boot: Duration, grace: Duration = .seconds(15), powerOff: Duration = .seconds(20)) {
            self.boot = boot
            self.grace = grace
            self.powerOff = powerOff
        }
    }

    public let planned: [SelectedCase]
    public let deadlines: Deadlines
    public private(set) var transcript = AgentTranscript()
    public private(set) var hypervisorFatal: String?
    /// When the guest printed its first userspace line (the lab's boot-time measure).
    public private(set) var userspaceAt: Duration?
    /// Why we stopped the VM, when we did.
    public private(set) var stopReason: String?
    /// The case that was running when we stopped it for its deadline.
    public private(set) var timedOutCase: String?

    /// Host wall-clock time of each finished case: from its BEGIN line to its RESULT line, as
    /// the lab saw them (to the poll interval; live under Bochs too since `SerialPump`). The
    /// guest's own duration follows its clock, which under Bochs runs by instructions.
    public private(set) var wallTimes: [String: Duration] = [:]

    private var parser = AgentStreamParser()
    private var runningSince: Duration?
    private var doneAt: Duration?
    /// The real BitVisor's boot milestones (its log is the hypervisor log of a bitvisor VM), for
    /// saying where a boot stopped (`BitVisorBootMedia.BootProgress`).
    private var bitvisorStarted = false
    private var bitvisorLoadedMBR = false
    private var consoleWritten = false

    public static let userspaceMarker = "GMLAB-GUEST: userspace up"
    public static let hypervisorFatalMarker = "GMLAB-HV-FATAL"
    /// How the real BitVisor reports a fatal error ("panic(CPU0): int_fatal 0x0E …"); it then
    /// halts without powering off, so the VM is stopped at once instead of at a deadline.
    public static let bitvisorPanicMarker = "panic(CPU"

    /// Cases that declare, for this cell, that the hypervisor stops the machine during them
    /// (`BackendExpectation.machineStop`): case id → the text its log must show.
    private let declaredStops: [String: String]

    /// `cell`: where the VM runs, for the cases' declared expectations there (nil: none).
    public init(planned: [SelectedCase], deadlines: Deadlines, cell: MatrixCell? = nil) {
        self.planned = planned
        self.deadlines = deadlines
        var stops: [String: String] = [:]
        if let cell {
            for c in planned { if let marker = c.info.expectation(in: cell).machineStop { stops[c.id] = marker } }
        }
        self.declaredStops = stops
    }

    /// Feeds new lines of one stream seen at `elapsed` since the VM started.
    public mutating func consume(results lines: [String], at elapsed: Duration) {
        for line in lines {
            let wasRunning = transcript.running
            let resultsBefore = transcript.results.count
            let began = runningSince
            transcript.apply(parser.feed(line + "\n"))
            if let began {
                for result in transcript.results.dropFirst(resultsBefore) where result.id == wasRunning {
                    wallTimes[result.id] = elapsed - began
                }
            }
            if transcript.running != wasRunning { runningSince = transcript.running == nil ? nil : elapsed }
            if transcript.done && doneAt == nil { doneAt = elapsed }
        }
    }

    public mutating func consume(console lines: [String], at elapsed: Duration) {
        if !lines.isEmpty { consoleWritten = true }
        if userspaceAt == nil, lines.contains(where: { $0.contains(Self.userspaceMarker) }) { userspaceAt = elapsed }
    }

    public mutating func consume(hypervisorLog lines: [String], at elapsed: Duration) {
        if hypervisorFatal == nil,
            let fatal = lines.first(where: {
                $0.contains(Self.hypervisorFatalMarker) || $0.hasPrefix(Self.bitvisorPanicMarker)
            })
        {
            hypervisorFatal = fatal.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        if lines.contains(where: { $0.contains("Starting BitVisor") }) { bitvisorStarted = true }
        if lines.contains(where: { $0.contains("Loading MBR.") }) { bitvisorLoadedMBR = true }
    }

    /// nil: let the VM run; otherwise the reason to destroy it now.
    public mutating func check(at elapsed: Duration) -> String? {
        if stopReason != nil { return stopReason }
        var reason: String?
        if let fatal = hypervisorFatal {
            // The hypervisor powers the machine off itself; this only cuts the wait short.
            reason = "hypervisor reported a fatal error: \(fatal)"
        } else if !transcript.started, elapsed > deadlines.boot {
            reason =
                "the guest did not start the test agent within \(Self.seconds(deadlines.boot))"
                + (userspaceAt.map { " (userspace came up at \(Self.seconds($0)))" } ?? " (it never reached userspace)")
                + (bitvisorStarted ? ": " + bitvisorBootProgress.explanation : "")
        } else if let running = transcript.running, let since = runningSince {
            let limit = timeout(of: running) + deadlines.grace
            if elapsed - since > limit {
                reason =
                    "case \(running) ran past its deadline of \(Self.seconds(limit)) (its timeout plus \(Self.seconds(deadlines.grace)) grace); the guest stopped answering"
                timedOutCase = running
            }
        } else if let doneAt, elapsed - doneAt > deadlines.powerOff {
            reason = "the agent finished but the guest did not power off within \(Self.seconds(deadlines.powerOff))"
        }
        stopReason = reason
        return reason
    }

    /// How far a BitVisor VM's boot got (after "Starting BitVisor" on its log).
    var bitvisorBootProgress: BitVisorBootMedia.BootProgress {
        BitVisorBootMedia.BootProgress(
            hypervisorLog: (bitvisorStarted ? "Starting BitVisor\n" : "") + (bitvisorLoadedMBR ? "Loading MBR.\n" : ""),
            console: userspaceAt != nil ? Self.userspaceMarker : consoleWritten ? "…" : "")
    }

    /// The host-side deadline of a case (for progress display and tests).
    public func timeout(of caseId: String) -> Duration {
        .seconds(planned.first { $0.id == caseId }?.timeoutSeconds ?? 60)
    }

    /// What happened to each planned case once the VM has ended.
    public struct Outcome: Sendable {
        /// Cases with a final status from this VM (results, and the case that killed the VM).
        public var finished: [FinishedCase]
        /// Cases that never started: to run in a fresh VM.
        public var notRun: [SelectedCase]
        /// The VM did not get as far as the agent: rerunning would fail the same way.
        public var bootFailed: Bool
        public var vmProblem: String?
        /// Set when the boot failed in a way known to be intermittent, so one fresh VM is worth
        /// trying: BitVisor loaded the guest disk's MBR and nothing followed (about one boot in
        /// ten hangs there under TCG, shared/docs/bitvisor-notes.md; cause unknown).
        public var retryBoot: String? = nil
    }

    public func outcome(exit: String) -> Outcome {
        var finished: [FinishedCase] = []
        for result in transcript.results where planned.contains(where: { $0.id == result.id }) {
            finished.append(
                FinishedCase(
                    id: result.id, status: CaseStatus(result.status), message: result.message,
                    values: result.values, seconds: result.durationMs.map { $0 / 1000 },
                    wallSeconds: wallTimes[result.id]?.seconds))
        }
        let vmProblem =
            stopReason
            ?? (transcript.done ? nil : "the VM ended before the agent finished (\(exit))")
            .map { p in hypervisorFatal.map { "\(p); hypervisor log: \($0)" } ?? p }
        if let running = transcript.running, !finished.contains(where: { $0.id == running }) {
            if timedOutCase == running {
                finished.append(FinishedCase(id: running, status: .timeout, message: vmProblem ?? "timed out"))
            } else if let marker = declaredStops[running], let fatal = hypervisorFatal, fatal.contains(marker) {
                // The case's declared finding: the hypervisor stopped the machine, with its words.
                finished.append(
                    FinishedCase(
                        id: running, status: .pass,
                        message: "the hypervisor stopped the machine during this case, as declared: \(fatal)"))
            } else {
                finished.append(
                    FinishedCase(
                        id: running, status: .error, message: "the VM died during this case: " + (vmProblem ?? exit)))
            }
        }
        let seen = Set(finished.map(\.id))
        var notRun = planned.filter { !seen.contains($0.id) }
        let bootFailed = !transcript.started
        if transcript.done {
            // The agent says it finished: whatever it did not report, it never will.
            for missing in notRun {
                finished.append(
                    FinishedCase(
                        id: missing.id, status: .error, message: "the agent finished without reporting this case"))
            }
            notRun = []
        }
        var outcome = Outcome(finished: finished, notRun: notRun, bootFailed: bootFailed, vmProblem: vmProblem)
        if bootFailed, bitvisorStarted, hypervisorFatal == nil, bitvisorBootProgress == .afterLoadingMBR {
            outcome.retryBoot = bitvisorBootProgress.explanation
        }
        return outcome
    }

    static func seconds(_ d: Duration) -> String {
        let s = d.seconds
        return s == s.rounded() ? "\(Int(s)) s" : String(format: "%.2f s", s)
    }
}

/// A planned case with its final status from one VM.
public struct FinishedCase: Sendable, Equatable {
    public var id: String
    public var status: CaseStatus
    public var message: String
    public var values: [String: JSONValue] = [:]
    /// The guest's clock.
    public var seconds: Double?
    /// The host's (`CaseTracker.wallTimes`).
    public var wallSeconds: Double?
}
