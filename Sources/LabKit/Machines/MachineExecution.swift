import Foundation
import LabModel
import LabVirt

extension Executor {
    /// Runs `work` over the roster's machines: `MachineScheduler` places each cell on a machine
    /// that can run it, as slots free up; each record names its machine. When a cell ends and its
    /// machine no longer answers, the machine is lost: the cell's records are dropped and the
    /// cell runs again elsewhere (or, when no other machine can run it, its cases are errors
    /// naming the loss); every loss is said and noted.
    func runOnMachines(
        _ work: [CellSelection], roster: MachineRoster, plan: RunPlan, labVersion: String, ledger: RunLedger,
        progress: RunProgress, budget: VMBudget?, notes: inout [String]
    ) async -> [CaseRecord] {
        for (name, reason) in roster.unreachable {
            progress.say("machine \(name) is unreachable and runs nothing: \(reason)")
            notes.append("machine \(name) was unreachable: \(reason)")
        }
        var selections: [String: CellSelection] = [:]
        for selection in work { selections[selection.cell.id] = selection }
        var scheduler = MachineScheduler(
            jobs: work.map { .init(id: $0.cell.id, cell: $0.cell.cell, cost: $0.cases.count) },
            machines: roster.schedulable)
        let directory = plan.resultsDirectory
        var records: [CaseRecord] = []
        var lossNotes: [String] = []
        var unrecovered: [String] = []
        await withTaskGroup(of: (cell: String, machine: String, records: [CaseRecord]).self) { group in
            func launch() {
                for (job, machine) in scheduler.assignments() {
                    guard let selection = selections[job.id] else { continue }
                    guard let images = plan.images[job.cell.kernel],
                        let launcher = roster.launcher(machine: machine, for: job.cell)
                    else {
                        // A cell the machine's launchers do not run (the scheduler placed it by
                        // capabilities alone): its cases are errors saying so; the slot is freed
                        // at once.
                        let message =
                            "not run: machine \(machine) has no launcher for \(job.cell.backend.rawValue) cells"
                        group.addTask {
                            (
                                job.id, machine,
                                selection.cases.map {
                                    CaseRecord(caseId: $0.id, cellId: job.id, status: .error, message: message)
                                }
                            )
                        }
                        continue
                    }
                    progress.say("cell \(job.id) → machine \(machine)")
                    var context = CellRunner.Context(
                        runID: plan.runID, resultsDirectory: directory, images: images, config: plan.config,
                        launcher: launcher, labVersion: labVersion, progress: progress,
                        reproCommand: plan.reproCommand, gdbPort: plan.gdbPort, ledger: ledger,
                        keepImages: plan.keepImages)
                    context.machine = machine
                    let runner = CellRunner(context: context)
                    // The local machine's VMs count against the host's budget shared with other runs.
                    let local = roster.isLocal(machine)
                    let owner = "pid \(getpid()), run \(plan.runID), cell \(job.id)"
                    group.addTask {
                        let slot =
                            local ? await Self.takeSlot(budget, owner: owner, cell: job.id, progress: progress) : nil
                        defer { slot?.release() }
                        return (job.id, machine, await runner.run(selection))
                    }
                }
            }
            launch()
            while let done = await group.next() {
                scheduler.finished(done.cell, on: done.machine)
                let reason: String?
                if let lost = scheduler.lost.first(where: { $0.machine == done.machine }) {
                    reason = lost.reason
                } else {
                    reason = await roster.lossReason(done.machine)
                }
                if let reason, let flake = await roster.revive(done.machine, say: progress.say) {
                    // The KVM box stalled (or its daemon died) and booted again: an
                    // infrastructure flake; the cell it cut short runs again there or elsewhere.
                    progress.say(flake)
                    lossNotes.append(flake + " (lost: \(reason))")
                    ledger.retract(cell: done.cell)
                    progress.cellRetracted(done.cell, reason: "machine \(done.machine) stopped serving")
                    scheduler.requeue(done.cell)
                } else if let reason {
                    let stillRunning = scheduler.machineLost(done.machine, reason: reason)
                    if !stillRunning.isEmpty
                        || !lossNotes.contains(where: { $0.hasPrefix("machine \(done.machine) was lost") })
                    {
                        let text =
                            "machine \(done.machine) was lost (\(reason)); its cells run again on the other machines"
                        progress.say(text)
                        lossNotes.append(text)
                    }
                    // What the cell recorded was cut short by the loss: it runs again elsewhere.
                    ledger.retract(cell: done.cell)
                    progress.cellRetracted(done.cell, reason: "machine \(done.machine) was lost")
                    scheduler.requeue(done.cell)
                    lossNotes.append("cell \(done.cell) was cut short on \(done.machine)")
                } else {
                    records += done.records
                }
                launch()
            }
        }
        for (job, reason) in scheduler.unrunnable {
            guard let selection = selections[job.id] else { continue }
            let lost = selection.cases.map {
                var record = CaseRecord(
                    caseId: $0.id, cellId: job.id, status: .error, message: "not run: \(reason)")
                record.machine = nil
                return record
            }
            ledger.add(lost)
            for record in lost { progress.caseFinished(record) }
            records += lost
            if reason.contains(" was lost (") {
                unrecovered.append("cell \(job.id) could not run: \(reason)")
            }
        }
        notes += lossNotes
        // A loss the lab could not recover from (no other machine ran the cell): the run itself
        // failed, exit status 2 (`Executor.lostDaemonRecord`).
        if !unrecovered.isEmpty { records.append(Self.lostDaemonRecord(unrecovered)) }
        return records
    }
}
