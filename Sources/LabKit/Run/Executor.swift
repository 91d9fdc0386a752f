import Foundation
import LabModel
import LabVirt

/// Runs a plan, whoever made it (`lab run`, `lab repro`, `lab bench`): the results directory,
/// the launchers of the cells that run (opened once, closed at the end), the signal handlers
/// that destroy the run's VMs, as many cells at once as the plan's jobs allow (each through
/// `CellRunner`), provenance, and the results files.
public struct Executor: Sendable {
    public let session: LabSession

    public init(session: LabSession) { self.session = session }

    public func execute(_ plan: RunPlan, progress: RunProgress) async throws -> RunSummary {
        let directory = plan.resultsDirectory
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for note in plan.notes { progress.say("note: \(note)") }

        var cells: [CellOutcome] = []
        var work: [CellSelection] = []
        for selected in plan.selection.cells {
            let ids = selected.cases.map(\.id) + selected.skippedCases.map(\.info.id)
            if let reason = selected.cell.status.skipReason {
                cells.append(CellOutcome(cell: selected.cell.cell, status: .skipped(reason: reason), plannedCases: ids))
                progress.cellSkipped(selected.cell.id, reason: reason, cases: ids.count)
            } else {
                cells.append(CellOutcome(cell: selected.cell.cell, status: .ran, plannedCases: ids))
                work.append(selected)
                progress.planned(cell: selected.cell.id, cases: selected.cases.count)
            }
        }

        // One launcher of each kind; only those with cells to run are opened. With lab.json
        // `machines`, the launchers of each machine (Machines/MachineRoster).
        let roster: MachineRoster? =
            if let machines = plan.config.machines {
                await MachineRoster.open(machines, plan: plan, cells: work.map(\.cell.cell), say: progress.say)
            } else { nil }
        let launchers = roster?.allLaunchers ?? Launchers.make()
        let used =
            roster?.allLaunchers
            ?? launchers.filter { launcher in work.contains { launcher.runs($0.cell.cell) } }
        defer { for launcher in used { launcher.close() } }
        if roster == nil { for launcher in used { try await launcher.open(say: progress.say) } }
        DomainReaper.shared.installSignalHandlers()

        // Interrupted (Ctrl-C, SIGTERM): after the VMs are destroyed, write what finished and
        // mark the rest interrupted, so CI still gets results.json and junit.xml.
        let labVersion = await session.labCommit() ?? "unknown"
        var early = Provenance(
            labCommit: labVersion == "unknown" ? nil : labVersion, hostCPU: HostSurvey.hostCPUModel(),
            hostname: ProcessInfo.processInfo.hostName, startTime: plan.started, commandLine: plan.commandLine)
        let inputs = try? await session.inputs()
        early.inputs = inputs
        for (_, images) in plan.images {
            for (name, digest) in images.digests {
                early.imageDigests[plan.images.count == 1 ? name : "\(name)@\(images.kernelVersion)"] = digest
            }
        }
        let ledger = RunLedger(
            cells: cells, planned: work.map { ($0.cell.id, $0.cases.map(\.id)) }, provenance: early,
            catalog: plan.catalog.cases, notes: plan.notes)
        ledger.shard = plan.shard
        let handlerKey = "executor-" + plan.runID
        DomainReaper.shared.setInterruptionHandler(handlerKey) { signal in
            let results = ledger.interruptedResults(signalName: DomainReaper.signalName(signal))
            do {
                try results.write(to: URL(fileURLWithPath: directory))
                progress.say("lab: results of what finished (the rest marked interrupted) in \(directory)")
            } catch {
                progress.say("lab: could not write the results of the interrupted run to \(directory): \(error)")
            }
        }
        defer { DomainReaper.shared.setInterruptionHandler(handlerKey, nil) }

        let jobs = roster.map { $0.entries.reduce(0) { $0 + $1.slots } } ?? plan.jobs.jobs
        let budget = VMBudget.host(cache: session.paths.cache)
        progress.startHeartbeat()
        defer { progress.finish() }
        progress.say(
            "running \(work.count) cell\(work.count == 1 ? "" : "s") with up to \(jobs) VM\(jobs == 1 ? "" : "s") at once "
                + (roster.map {
                    "on " + $0.entries.map { "\($0.config.name) (\($0.slots))" }.joined(separator: ", ")
                }
                    ?? "(limit: \(plan.jobs.limitedBy)"
                    + (budget.map { "; \($0.slots) VM slots on this host, shared with other lab runs" } ?? "") + ")")
                + "; results in \(directory)")

        var records: [CaseRecord] = []
        // Cases a cell does not support (needs) are reported as skips with their reason.
        for selected in work {
            records += selected.skippedCases.map {
                var record = CaseRecord(
                    caseId: $0.info.id, cellId: selected.cell.id, status: .skip, message: $0.reason)
                record.byConstruction = true
                return record
            }
        }
        ledger.add(records)
        var notes = plan.notes
        if let roster {
            records += await runOnMachines(
                work, roster: roster, plan: plan, labVersion: labVersion, ledger: ledger, progress: progress,
                budget: budget, notes: &notes)
        } else {
            records += await runHere(
                work, plan: plan, used: used, labVersion: labVersion, ledger: ledger, progress: progress,
                budget: budget)
            // This host's libvirtd died under the run (the VMs it had say so, their QEMU killed):
            // there is no other machine to run the cells on, so the run failed (exit status 2).
            let losses = Set(used.compactMap(\.connectionLoss)).sorted()
            for loss in losses {
                let text = "\(loss): the local machine was lost; the cells it ran are cut short and not run again"
                progress.say(text)
                notes.append(text)
            }
            if !losses.isEmpty { records.append(Self.lostDaemonRecord(losses)) }
        }

        var provenance = await makeProvenance(plan: plan, launchers: launchers, ran: used)
        provenance.inputs = inputs
        if roster != nil {
            // Only the machines that ran: `local` is in hosts only when it is one of them.
            let ran = Set(records.compactMap(\.machine))
            provenance.hosts = provenance.hosts?.filter { ran.contains($0.key) }
        }
        var results = RunResults(
            provenance: provenance, cells: cells, records: records, cases: plan.catalog.cases, notes: notes)
        results.shard = plan.shard
        let files = try results.write(to: URL(fileURLWithPath: directory)).map(\.path)
        return RunSummary(directory: directory, results: results, files: files)
    }

    /// The record that makes a run whose libvirt daemon was lost, with no machine to rerun its
    /// cells on, exit with status 2 (`LabExitStatus.labError`): the lab's, not the cases', failure.
    static func lostDaemonRecord(_ reasons: [String]) -> CaseRecord {
        CaseRecord(
            caseId: RunResults.labErrorCaseId, cellId: RunResults.labErrorCaseId, status: .error,
            message: "the lab lost its libvirt daemon and could not run everything elsewhere: "
                + reasons.joined(separator: "; "))
    }

    /// The cells of `work`, as many at once as the plan's jobs allow, on this machine's launchers.
    private func runHere(
        _ work: [CellSelection], plan: RunPlan, used: [any Launcher], labVersion: String, ledger: RunLedger,
        progress: RunProgress, budget: VMBudget?
    ) async -> [CaseRecord] {
        let directory = plan.resultsDirectory
        let jobs = plan.jobs.jobs
        return await withTaskGroup(of: [CaseRecord].self) { group in
            var iterator = work.makeIterator()
            func startNext() -> Bool {
                guard let selection = iterator.next() else { return false }
                let cell = selection.cell.cell
                guard let images = plan.images[cell.kernel],
                    let launcher = used.first(where: { $0.runs(cell) })
                else {
                    // The plan is made from the images and the launchers: a lab bug if it happens.
                    let missing = plan.images[cell.kernel] == nil ? "images of kernel \(cell.kernel)" : "launcher"
                    group.addTask {
                        selection.cases.map {
                            CaseRecord(
                                caseId: $0.id, cellId: cell.id, status: .error,
                                message: "not run: the plan has no \(missing) for this cell (lab bug)")
                        }
                    }
                    return true
                }
                let runner = CellRunner(
                    context: .init(
                        runID: plan.runID, resultsDirectory: directory, images: images, config: plan.config,
                        launcher: launcher, labVersion: labVersion, progress: progress,
                        reproCommand: plan.reproCommand, gdbPort: plan.gdbPort, ledger: ledger,
                        keepImages: plan.keepImages))
                let owner = "pid \(getpid()), run \(plan.runID), cell \(cell.id)"
                group.addTask {
                    let slot = await Self.takeSlot(budget, owner: owner, cell: cell.id, progress: progress)
                    defer { slot?.release() }
                    return await runner.run(selection)
                }
                return true
            }
            for _ in 0..<jobs { guard startNext() else { break } }
            var all: [CaseRecord] = []
            while let batch = await group.next() {
                all += batch
                _ = startNext()
            }
            return all
        }
    }

    // MARK: - The host's VM budget

    /// A slot of the host's VM budget for one cell's VMs: at once when one is free, else after
    /// saying that the cell waits and for whom (nil without a budget, or when cancelled).
    static func takeSlot(
        _ budget: VMBudget?, owner: String, cell: String, progress: RunProgress
    ) async -> VMBudget.Slot? {
        guard let budget else { return nil }
        if let slot = budget.tryAcquire(owner: owner) { return slot }
        let started = ContinuousClock.now
        progress.say(
            "\(cell): waiting for a VM slot — all \(budget.slots) of this host's are held ("
                + budget.holders().joined(separator: "; ") + "); set LAB_VM_SLOTS to change the budget")
        guard let slot = try? await budget.acquire(owner: owner, waiting: { _ in }) else { return nil }
        let waited = Int((ContinuousClock.now - started) / .seconds(1))
        progress.say("\(cell): got VM slot \(slot.index) after \(waited) s")
        return slot
    }

    // MARK: - Provenance

    /// Images, kernels, each runnable cell's machine as its launcher describes it, and what the
    /// launchers that ran VMs record (emulator and daemon versions).
    func makeProvenance(plan: RunPlan, launchers: [any Launcher], ran: [any Launcher]) async -> Provenance {
        var provenance = Provenance(
            labCommit: await session.labCommit(), hostCPU: HostSurvey.hostCPUModel(),
            hostname: ProcessInfo.processInfo.hostName, startTime: plan.started, commandLine: plan.commandLine)
        for (spec, images) in plan.images {
            for (name, digest) in images.digests {
                provenance.imageDigests[plan.images.count == 1 ? name : "\(name)@\(images.kernelVersion)"] = digest
            }
            provenance.guestKernels[spec.description] = .init(
                version: images.kernelVersion, packageVersion: images.kernelPackageVersion)
        }
        for cell in plan.matrix.runnableCells {
            guard let launcher = launchers.first(where: { $0.runs(cell) }) else { continue }
            provenance.machines[cell.id] = .init(
                accelerator: cell.host.rawValue, cpuModel: launcher.cpuDescription(for: cell),
                guestKernel: provenance.guestKernels[cell.kernel.description], paging: cell.paging,
                guestCmdline: launcher.guestCmdline(for: cell, configured: plan.config.guest.cmdline),
                hypervisorCmdline: launcher.hypervisorCmdline(for: cell, policy: plan.config.policy))
        }
        if plan.matrix.runnableCells.contains(where: { $0.backend.isLabHypervisor }) {
            provenance.hypervisorPolicy = plan.config.policy
        }
        if plan.matrix.runnableCells.contains(where: { $0.backend == .bitvisor }),
            let build = plan.images.values.compactMap(\.bitvisor).first
        {
            provenance.bitvisor = BitVisorLauncher.provenance(of: build)
        }
        for launcher in ran { await launcher.record(into: &provenance) }
        // The one machine this executor runs on (lab.json machines beyond it: Machines/).
        var hosts = provenance.hosts ?? [:]
        hosts[MachineConfig.local.name] =
            hosts[MachineConfig.local.name]
            ?? HostRecord(
                uri: MachineConfig.local.uri.text, cpus: plan.capabilities.cores,
                memoryMiB: plan.capabilities.availableMemoryMiB, cpuModel: provenance.hostCPU,
                libvirtDaemon: provenance.libvirtDaemonVersion, hostname: provenance.hostname)
        provenance.hosts = hosts
        provenance.endTime = Date()
        return provenance
    }
}
