import Foundation
import LabModel
import LabVirt

/// The machines of a run (lab.json `machines`), opened: each with its launchers, what it can run
/// and how many VMs at once. The local daemon (`qemu:///system`) keeps the lab's own launchers
/// (libvirt with stream files, Bochs) and this machine's measured capabilities; every other
/// machine gets a `RemoteLibvirtLauncher` and the capabilities its daemon reports.
final class MachineRoster: @unchecked Sendable {
    struct Entry {
        var config: MachineConfig
        var launchers: [any Launcher]
        var capabilities: MachineCapabilities
        var slots: Int
        /// The remote launcher's connection, to tell a lost machine from a failing cell.
        var remote: RemoteLibvirtLauncher?
    }

    private(set) var entries: [Entry] = []
    /// Machines that could not be opened, with why.
    private(set) var unreachable: [(name: String, reason: String)] = []

    /// The local machine's capabilities in the machines' terms (what `HostSurvey` measured).
    static func localCapabilities(_ host: HostCapabilities) -> MachineCapabilities {
        var accelerators: Set<HostKind> = [.tcg]
        if host.kvmBootsGuest { accelerators.insert(.kvm) }
        if host.bochsEmulatesVMX { accelerators.insert(.bochs) }
        return MachineCapabilities(
            accelerators: accelerators, nestedSVM: host.nestedSVM, nestedVMX: host.nestedVMX,
            la57: host.hostCPUHasLA57, tcgSVM: host.tcgEmulatesSVM, cpus: host.cores,
            memoryMiB: host.availableMemoryMiB)
    }

    static func restricted(_ capabilities: MachineCapabilities, to config: MachineConfig) -> MachineCapabilities {
        var result = capabilities
        if let only = config.accelerators { result.accelerators.formIntersection(only) }
        return result
    }

    /// Opens every machine that has cells to run; a machine that cannot be reached is reported
    /// (`unreachable`) and left out.
    static func open(
        _ configs: [MachineConfig], plan: RunPlan, cells: [MatrixCell], say: @escaping @Sendable (String) -> Void
    ) async -> MachineRoster {
        let roster = MachineRoster()
        let largest = cells.map(\.memoryMiB).max() ?? 1024
        let vcpus = cells.map(\.vcpus).max() ?? 1
        for config in configs {
            if config.uri.isLocal && config.uri.instance == .system && config.uri.parameters.isEmpty {
                var launchers = Launchers.make()
                launchers = launchers.map { $0 is LibvirtLauncher ? LibvirtLauncher(uri: config.uri.text) : $0 }
                let capabilities = restricted(localCapabilities(plan.capabilities), to: config)
                let used = launchers.filter { launcher in
                    cells.contains {
                        launcher.runs($0) && capabilities.accelerators.contains($0.host)
                    }
                }
                do {
                    for launcher in used { try await launcher.open(say: say) }
                } catch {
                    roster.unreachable.append((config.name, "\(error)"))
                    continue
                }
                let slots = min(
                    config.jobs ?? plan.jobs.jobs,
                    SchedulableMachine.slots(
                        config: config, capabilities: capabilities, largestVMMiB: largest, vcpus: vcpus))
                roster.entries.append(
                    Entry(config: config, launchers: used, capabilities: capabilities, slots: slots, remote: nil))
                continue
            }
            let launcher = RemoteLibvirtLauncher(machine: config)
            do {
                try await launcher.open(say: say)
                guard let connection = launcher.connectionForProbes else {
                    throw LabError.launcher("no connection to \(config.name)")
                }
                let answer = try MachineProbe.probe(connection)
                let capabilities = restricted(answer.capabilities, to: config)
                let slots = SchedulableMachine.slots(
                    config: config, capabilities: capabilities, largestVMMiB: largest, vcpus: vcpus)
                say(
                    "machine \(config.name) (\(config.uri)): "
                        + capabilities.accelerators.map(\.rawValue).sorted().joined(separator: ", ")
                        + ", \(capabilities.cpus) CPUs, \(capabilities.memoryMiB) MiB, \(slots) VM\(slots == 1 ? "" : "s") at once"
                        + String(format: " (asked in %.1f s)", answer.seconds))
                roster.entries.append(
                    Entry(
                        config: config, launchers: [launcher], capabilities: capabilities, slots: slots,
                        remote: launcher))
            } catch {
                launcher.close()
                roster.unreachable.append((config.name, MachinePlanning.describe(error)))
            }
        }
        return roster
    }

    var schedulable: [SchedulableMachine] {
        entries.map { SchedulableMachine(name: $0.config.name, capabilities: $0.capabilities, slots: $0.slots) }
    }

    func launcher(machine: String, for cell: MatrixCell) -> (any Launcher)? {
        entries.first { $0.config.name == machine }?.launchers.first { $0.runs(cell) }
    }

    /// Nil when `machine` answers; else why it is lost. A local machine is lost when its
    /// libvirtd connection broke (the daemon was killed): its launchers say so.
    func lossReason(_ machine: String) async -> String? {
        guard let entry = entries.first(where: { $0.config.name == machine }) else { return nil }
        guard let remote = entry.remote else { return entry.launchers.lazy.compactMap(\.connectionLoss).first }
        return await remote.lossReason()
    }

    /// A lost KVM box booted again (`KVMBoxMachines.restart`) and its launcher reconnected:
    /// what happened, for the notes; nil for any other machine, or a box out of restarts.
    func revive(_ machine: String, say: @escaping @Sendable (String) -> Void) async -> String? {
        guard let entry = entries.first(where: { $0.config.name == machine }), entry.config.box,
            let remote = entry.remote, KVMBoxMachines.shared.isBox(machine)
        else { return nil }
        guard let text = await KVMBoxMachines.shared.restart(machine, say: say) else { return nil }
        do {
            try await remote.open(say: say)
        } catch {
            say("machine \(machine): the box came back but its libvirtd did not take the connection: \(error)")
            return nil
        }
        return text
    }

    /// True for the local daemon's entry (its VMs take slots of the host's shared budget).
    func isLocal(_ machine: String) -> Bool {
        entries.contains { $0.config.name == machine && $0.remote == nil }
    }

    var allLaunchers: [any Launcher] { entries.flatMap(\.launchers) }

    func close() { for launcher in allLaunchers { launcher.close() } }
}

extension RemoteLibvirtLauncher {
    var connectionForProbes: LibvirtConnection? { currentConnection }

    /// Nil when the machine's daemon still answers (the connection is alive and a node-info call
    /// succeeds); else why not.
    func lossReason() async -> String? {
        guard let connection = currentConnection else { return "not connected" }
        if !connection.isAlive { return "the connection to \(machine.uri) is closed" }
        let answered: Result<Void, any Error> = await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(returning: Result { _ = try connection.nodeInfo() })
            }
        }
        if case .failure(let error) = answered { return "\(machine.uri) does not answer: \(error)" }
        return nil
    }
}
