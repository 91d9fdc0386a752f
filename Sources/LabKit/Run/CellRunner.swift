import Foundation
import LabModel
import LabVirt

/// Runs the selected cases of one matrix cell. Many cases share one boot; when a VM dies or hangs
/// mid-run, the case it was running is reported with the VM's logs and the cases after it run
/// again in a fresh VM, so one crashing case never hides the results of the others. How a VM is
/// prepared and started is the cell's launcher's business (Launch/); this follows its streams.
public struct CellRunner: Sendable {
    public struct Context: Sendable {
        public var runID: String
        public var resultsDirectory: String
        public var images: ImageSet
        public var config: LabConfig
        /// Starts the cell's VMs (the launcher of its host kind, opened).
        public var launcher: any Launcher
        public var labVersion: String
        public var progress: RunProgress
        /// How a user reproduces a case: these arguments, then the case id and the cell.
        public var reproCommand: [String]
        /// Debugging (`lab repro --gdb`): the VM starts paused with QEMU's gdb stub on this port,
        /// and no deadline applies (a person is at the controls).
        public var gdbPort: UInt16? = nil
        /// Where finished records go as they finish (results of an interrupted run).
        public var ledger: RunLedger? = nil
        /// Keep each VM's full boot images (`--keep-images`); by default only its plan stays
        /// and the images are referenced by digest (boot-images.txt).
        public var keepImages = false
        /// The machine the launcher starts VMs on (`CaseRecord.machine`).
        public var machine = MachineConfig.local.name
    }

    public let context: Context
    public init(context: Context) { self.context = context }

    public func run(_ selection: CellSelection) async -> [CaseRecord] {
        let cell = selection.cell.cell
        var remaining = selection.cases
        var records: [CaseRecord] = []
        var attempt = 0
        while !remaining.isEmpty {
            attempt += 1
            let vm = await runOneVM(selection: selection, cases: remaining, attempt: attempt)
            records += vm.records
            context.ledger?.add(vm.records)
            // Cases whose RESULT was announced as it arrived are not announced twice.
            for record in vm.records where !vm.announced.contains(record.caseId) {
                context.progress.caseFinished(record)
            }
            let progressed = !vm.records.isEmpty
            remaining = vm.notRun
            if vm.bootFailed, let why = vm.retryBoot, attempt == 1, !remaining.isEmpty {
                // An intermittent boot hang (CaseTracker.Outcome.retryBoot): one fresh VM.
                context.progress.say("\(cell.id): \(why); trying once more in a fresh VM")
                continue
            }
            if vm.bootFailed || !progressed {
                // The same VM would fail the same way again: report the rest with this VM's logs.
                records += remaining.map {
                    record(
                        cell: cell, caseId: $0.id, status: .error,
                        message: "not run: \(vm.problem ?? "the VM made no progress")", attempt: attempt, vm: vm)
                }
                context.ledger?.add(Array(records.suffix(remaining.count)))
                for finished in records.suffix(remaining.count) { context.progress.caseFinished(finished) }
                break
            }
        }
        return records
    }

    // MARK: - One VM

    struct VMResult {
        var name: String
        var logs: [String: String]
        /// Streams virtlogd rolled over (`LogRollover`).
        var truncatedLogs: [String: String] = [:]
        var records: [CaseRecord]
        var notRun: [SelectedCase]
        var bootFailed: Bool
        var problem: String?
        /// The boot failed in a way worth one more VM (CaseTracker.Outcome.retryBoot).
        var retryBoot: String? = nil
        /// Cases whose end was printed live (their RESULT line arrived while the VM ran).
        var announced: Set<String> = []
    }

    private func runOneVM(selection: CellSelection, cases: [SelectedCase], attempt: Int) async -> VMResult {
        let cell = selection.cell.cell
        let launcher = context.launcher
        let name = DomainName.next(runID: context.runID)
        let relativeDir = "vms/" + name
        let vmDir = context.resultsDirectory + "/" + relativeDir
        var result = VMResult(
            name: name, logs: launcher.logFiles(relativeDirectory: relativeDir), records: [], notRun: [],
            bootFailed: true, problem: nil)
        func failAll(_ message: String) -> VMResult {
            result.records = cases.map {
                record(cell: cell, caseId: $0.id, status: .error, message: message, attempt: attempt, vm: result)
            }
            result.problem = message
            return result
        }

        let prepared: PreparedVM
        do {
            try FileManager.default.createDirectory(atPath: vmDir, withIntermediateDirectories: true)
            prepared = try await launcher.prepare(
                VMRequest(
                    name: name, cell: cell, directory: vmDir, images: context.images,
                    configuredCmdline: context.config.guest.cmdline,
                    agentPlan: selection.agentPlan(cases: cases, policy: context.config.policy),
                    policy: context.config.policy,
                    gdbPort: context.gdbPort, runID: context.runID, labVersion: context.labVersion))
        } catch {
            return failAll("could not prepare the VM: \(error)")
        }

        context.progress.vmStarting(name: name, cell: cell.id, cases: cases.count, attempt: attempt)
        let session: any VirtualMachine
        do {
            session = try await prepared.start()
        } catch {
            context.progress.vmEnded()
            return failAll("\(launcher.name) could not start the VM: \(error)")
        }

        let bootAllowance = Duration.seconds(context.config.timeouts.bootSeconds) * launcher.bootFactor(for: cell)
        var deadlines = CaseTracker.Deadlines(boot: bootAllowance)
        var backstop =
            bootAllowance
            + cases.reduce(Duration.zero) { $0 + .seconds($1.timeoutSeconds) + .seconds(20) } + .seconds(60)
        if let port = context.gdbPort {
            let forever = Duration.seconds(365 * 24 * 3600)
            deadlines = .init(boot: forever, grace: forever, powerOff: forever)
            backstop = forever
            context.progress.say(
                GDBInstructions.text(
                    port: port, vmName: name, images: context.images,
                    backend: cell.backend, logs: vmDir))
        }
        let tracker = TrackerBox(CaseTracker(planned: cases, deadlines: deadlines, cell: cell))
        let progress = context.progress
        let ledger = context.ledger
        let vmLogs = result.logs
        let announced = AnnouncedCases()
        let exit = await session.waitUntilExit(timeout: backstop) { tick in
            tracker.update { t in
                for stream in SerialStream.allCases {
                    let lines = tick.newLines.filter { $0.stream == stream }.map(\.text)
                    guard !lines.isEmpty else { continue }
                    switch stream {
                    case .results:
                        // One line at a time, so every case that begins is announced.
                        for line in lines {
                            let before = t.transcript.running
                            let resultsBefore = t.transcript.results.count
                            t.consume(results: [line], at: tick.elapsed)
                            if let now = t.transcript.running, now != before {
                                progress.caseStarted(now, cell: cell.id)
                            }
                            for result in t.transcript.results.dropFirst(resultsBefore) {
                                announced.insert(result.id)
                                var live = CaseRecord(
                                    caseId: result.id, cellId: cell.id, status: CaseStatus(result.status),
                                    message: result.message, values: result.values,
                                    durationSeconds: result.durationMs.map { $0 / 1000 }, attempt: attempt,
                                    vmName: name, logs: vmLogs)
                                live.wallSeconds = t.wallTimes[result.id]?.seconds
                                live.repro = reproCommand(caseId: result.id, cell: cell)
                                live.machine = context.machine
                                ledger?.add([live])
                                progress.caseFinished(live)
                            }
                        }
                    case .console: t.consume(console: lines, at: tick.elapsed)
                    case .hypervisorLog: t.consume(hypervisorLog: lines, at: tick.elapsed)
                    }
                }
                guard !tick.isFinal, let reason = t.check(at: tick.elapsed) else { return .continue }
                return .stop(reason: reason)
            }
        }
        context.progress.vmEnded()
        launcher.keepEmulatorLog(of: session, in: vmDir)
        let rollover = LogRollover.inspect(
            logs: result.logs, resultsDirectory: context.resultsDirectory, limits: VirtlogdLimits.current())
        result.logs = rollover.logs
        result.truncatedLogs = rollover.truncated
        for (role, text) in rollover.truncated.sorted(by: { $0.key < $1.key }) {
            context.progress.say("\(name): the \(role) stream \(text)")
        }
        if !context.keepImages { BootImages.replaceWithReferences(in: vmDir, images: context.images) }

        let final = tracker.value
        let outcome = final.outcome(exit: "\(exit.reason)")
        result.bootFailed = outcome.bootFailed
        result.problem =
            outcome.vmProblem ?? (outcome.bootFailed ? "the VM ended (\(exit.reason)) before the agent started" : nil)
        // Where the time went, for boot-time comparisons between backends.
        let userspace: String = final.userspaceAt.map { CaseTracker.seconds($0) } ?? "never seen"
        let timing =
            "first userspace line after \(userspace)\n"
            + "ended (\(exit.reason)) after \(CaseTracker.seconds(exit.elapsed))\n"
        try? timing.write(toFile: vmDir + "/timing.txt", atomically: true, encoding: .utf8)
        result.records = outcome.finished.map {
            var r = record(
                cell: cell, caseId: $0.id, status: $0.status, message: $0.message, attempt: attempt, vm: result)
            r.values = $0.values
            r.durationSeconds = $0.seconds
            r.wallSeconds = $0.wallSeconds
            return r
        }
        result.notRun = outcome.notRun
        result.retryBoot = outcome.retryBoot
        result.announced = announced.ids
        return result
    }

    private func record(
        cell: MatrixCell, caseId: String, status: CaseStatus, message: String, attempt: Int, vm: VMResult
    ) -> CaseRecord {
        var record = CaseRecord(
            caseId: caseId, cellId: cell.id, status: status, message: message, attempt: attempt, vmName: vm.name,
            logs: vm.logs, repro: reproCommand(caseId: caseId, cell: cell))
        record.machine = context.machine
        if !vm.truncatedLogs.isEmpty { record.truncatedLogs = vm.truncatedLogs }
        return record
    }

    /// The command that reruns `caseId` in `cell`, `--from` relative to the working directory
    /// when the results are under it.
    private func reproCommand(caseId: String, cell: MatrixCell) -> String {
        shellQuoted(
            context.reproCommand + [caseId, "--cell", cell.id, "--from", pathRelative(context.resultsDirectory)])
    }
}

/// The cases whose end was printed while their VM ran.
final class AnnouncedCases: @unchecked Sendable {
    private let lock = NSLock()
    private var set: Set<String> = []
    func insert(_ id: String) { lock.withLock { _ = set.insert(id) } }
    var ids: Set<String> { lock.withLock { set } }
}

/// The tracker shared between the polling closure and the runner.
final class TrackerBox: @unchecked Sendable {
    private let lock = NSLock()
    private var tracker: CaseTracker
    init(_ tracker: CaseTracker) { self.tracker = tracker }
    func update<T>(_ body: (inout CaseTracker) -> T) -> T { lock.withLock { body(&tracker) } }
    var value: CaseTracker { lock.withLock { tracker } }
}
