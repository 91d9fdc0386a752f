import Foundation

/// Places cells on machines by capacity, as slots free up. Pure: the executor calls
/// `assignments()` whenever a VM ends (`finished`) or a machine is lost (`machineLost`), and
/// starts what it returns.
///
/// - A cell goes only to a machine that can run it (`MachineCapabilities.reason(cannotRun:)`);
///   a cell no machine can run is `unrunnable` with every machine's reason.
/// - Free slots are filled least-loaded machine first (running / slots, ties in configured
///   order), so cells spread over the machines in proportion to their capacity.
/// - A machine takes the pending cell the fewest live machines can run (so a cell only one
///   machine runs is not starved by cells any machine could take), then the costliest, then the
///   first in plan order.
/// - A lost machine's running cells go back to the front of the queue for the others; those no
///   other machine can run become unrunnable with the loss as their reason.
public struct MachineScheduler: Sendable {
    public struct Job: Sendable, Hashable {
        public var id: String
        public var cell: MatrixCell
        /// Estimated cost (cases); ties go to the costlier job.
        public var cost: Int

        public init(id: String, cell: MatrixCell, cost: Int = 1) {
            self.id = id
            self.cell = cell
            self.cost = cost
        }
    }

    public private(set) var machines: [SchedulableMachine]
    public private(set) var pending: [Job]
    /// Machine name → ids of the jobs running there.
    public private(set) var running: [String: [String]]
    /// Jobs no (live) machine can run, with why.
    public private(set) var unrunnable: [(job: Job, reason: String)] = []
    /// Machines lost, with why, in order.
    public private(set) var lost: [(machine: String, reason: String)] = []
    /// Where each job ran (last placement), by job id.
    public private(set) var placements: [String: String] = [:]
    private var jobsByID: [String: Job] = [:]
    private var order: [String: Int] = [:]

    public init(jobs: [Job], machines: [SchedulableMachine]) {
        self.machines = machines
        self.pending = []
        self.running = Dictionary(uniqueKeysWithValues: machines.map { ($0.name, []) })
        for (index, job) in jobs.enumerated() {
            jobsByID[job.id] = job
            order[job.id] = index
            let reasons = machines.compactMap { machine -> String? in
                if machine.slots == 0 { return "\(machine.name) has no capacity for the run's VMs" }
                return machine.capabilities.reason(cannotRun: job.cell, machine: machine.name)
            }
            if reasons.count == machines.count {
                unrunnable.append(
                    (
                        job,
                        machines.isEmpty
                            ? "no machine is configured" : "no machine can run it: " + reasons.joined(separator: "; ")
                    ))
            } else {
                pending.append(job)
            }
        }
    }

    var liveMachines: [SchedulableMachine] { machines.filter { m in !lost.contains { $0.machine == m.name } } }

    func canRun(_ job: Job, on machine: SchedulableMachine) -> Bool {
        machine.slots > 0 && machine.capabilities.reason(cannotRun: job.cell, machine: machine.name) == nil
    }

    /// True when nothing is pending or running.
    public var isDone: Bool { pending.isEmpty && running.values.allSatisfy(\.isEmpty) }

    /// Jobs to start now, each with its machine, filling free slots (see the type's rules).
    public mutating func assignments() -> [(job: Job, machine: String)] {
        var result: [(Job, String)] = []
        var idle: Set<String> = []  // machines with a free slot but nothing they can run
        while true {
            let candidates = liveMachines.enumerated().filter { _, m in
                !idle.contains(m.name) && (running[m.name]?.count ?? 0) < m.slots
            }
            guard
                let (_, machine) = candidates.min(by: { a, b in
                    let la = Double(running[a.element.name]?.count ?? 0) / Double(a.element.slots)
                    let lb = Double(running[b.element.name]?.count ?? 0) / Double(b.element.slots)
                    return la != lb ? la < lb : a.offset < b.offset
                })
            else { break }
            let live = liveMachines
            let eligible = pending.indices.filter { canRun(pending[$0], on: machine) }
            guard
                let pick = eligible.min(by: { a, b in
                    let (ja, jb) = (pending[a], pending[b])
                    let sa = live.filter { canRun(ja, on: $0) }.count
                    let sb = live.filter { canRun(jb, on: $0) }.count
                    if sa != sb { return sa < sb }
                    if ja.cost != jb.cost { return ja.cost > jb.cost }
                    return (order[ja.id] ?? 0) < (order[jb.id] ?? 0)
                })
            else {
                idle.insert(machine.name)
                continue
            }
            let job = pending.remove(at: pick)
            running[machine.name, default: []].append(job.id)
            placements[job.id] = machine.name
            result.append((job, machine.name))
        }
        return result
    }

    /// `job` ended on `machine` (its records are in, whatever they say).
    public mutating func finished(_ jobID: String, on machine: String) {
        running[machine]?.removeAll { $0 == jobID }
    }

    /// True once `machineLost` was called for `machine`.
    public func isLost(_ machine: String) -> Bool { lost.contains { $0.machine == machine } }

    /// `machine` died or became unreachable: it gets nothing more, and pending jobs only it could
    /// run become unrunnable. Returns the jobs still running there (to report): they stay running
    /// until their runs end (`finished`), and then go back through `requeue`.
    @discardableResult
    public mutating func machineLost(_ machine: String, reason: String) -> [Job] {
        guard !isLost(machine) else { return [] }
        lost.append((machine, reason))
        let live = liveMachines
        var keep: [Job] = []
        for job in pending {
            if live.contains(where: { canRun(job, on: $0) }) {
                keep.append(job)
            } else {
                unrunnable.append((job, lostReason))
            }
        }
        pending = keep
        return (running[machine] ?? []).compactMap { jobsByID[$0] }
    }

    /// A job whose run was cut short by a lost machine runs again: first in the queue, or
    /// unrunnable when no live machine can run it.
    public mutating func requeue(_ jobID: String) {
        guard let job = jobsByID[jobID] else { return }
        if liveMachines.contains(where: { canRun(job, on: $0) }) {
            pending.insert(job, at: 0)
        } else {
            unrunnable.append((job, lostReason))
        }
    }

    private var lostReason: String {
        "machine " + lost.map { "\($0.machine) was lost (\($0.reason))" }.joined(separator: ", machine ")
            + " and no other machine can run this cell"
    }
}
