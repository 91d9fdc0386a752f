import Foundation
import LabModel
import LabVirt

/// With lab.json `machines`, a cell is runnable when some machine can run it: the matrix is
/// judged against the union of the machines' capabilities (the local machine's as measured, the
/// others' as their daemons report), and the scheduler then places each cell on a machine that
/// can run it (`MachineCapabilities.reason(cannotRun:)`).
enum MachinePlanning {
    /// What planning found about one machine.
    struct Finding: Sendable {
        var machine: MachineConfig
        var reachable: Bool
        /// "machine box (qemu+tcp://…) runs kvm, nested SVM" or why it is unreachable.
        var text: String
    }

    /// `findings(_:local:)` with the findings as plan notes.
    static func capabilities(_ machines: [MachineConfig], local: HostCapabilities) async -> (HostCapabilities, [String])
    {
        let (union, found) = await findings(machines, local: local)
        return (union, found.map { $0.text })
    }

    /// The union, in `HostCapabilities` terms, with a note per machine. Cores and memory stay the
    /// local machine's (they size the local machine's jobs); a machine that cannot be reached
    /// adds nothing and is noted.
    static func findings(_ machines: [MachineConfig], local: HostCapabilities) async -> (HostCapabilities, [Finding]) {
        var union = HostCapabilities(
            kvmBootsGuest: false, nestedSVM: false, nestedVMX: false, tcgEmulatesSVM: false, bochsEmulatesVMX: false,
            hypervisorMaxVCPUs: local.hypervisorMaxVCPUs, hostCPUHasLA57: false, cores: local.cores,
            availableMemoryMiB: local.availableMemoryMiB)
        var notes: [Finding] = []
        var kvmOutsideBoxes = false
        for machine in machines {
            let capabilities: MachineCapabilities
            var trial: String?
            if machine.uri.isLocal && machine.uri.instance == .system && machine.uri.parameters.isEmpty {
                capabilities = MachineRoster.restricted(MachineRoster.localCapabilities(local), to: machine)
            } else if machine.box && machine.uri == MachineConfig.boxPlaceholderURI {
                // A box nobody started (`lab list`): what it is built to be.
                capabilities = MachineRoster.restricted(KVMBox.machineCapabilities, to: machine)
            } else {
                let uri = machine.uri.text
                let answer: Result<MachineProbe.Answer, any Error> = await withCheckedContinuation { continuation in
                    DispatchQueue.global().async {
                        continuation.resume(
                            returning: Result {
                                let connection = try LibvirtConnection(uri: uri)
                                defer { connection.close() }
                                return try MachineProbe.probe(connection)
                            })
                    }
                }
                switch answer {
                case .success(let probe):
                    capabilities = MachineRoster.restricted(probe.capabilities, to: machine)
                    trial = probe.trial
                case .failure(let error):
                    notes.append(
                        Finding(
                            machine: machine, reachable: false,
                            text:
                                "machine \(machine.name) (\(machine.uri)) is unreachable and counts for nothing: \(describe(error))"
                        ))
                    continue
                }
            }
            notes.append(
                Finding(
                    machine: machine, reachable: true,
                    text: "machine \(machine.name) (\(machine.uri)) runs "
                        + (capabilities.accelerators.isEmpty
                            ? "nothing" : capabilities.accelerators.map(\.rawValue).sorted().joined(separator: ", "))
                        + (capabilities.nestedSVM ? ", nested SVM" : "")
                        + (capabilities.nestedVMX ? ", nested VMX" : "")
                        + ", \(capabilities.cpus) CPUs, \(capabilities.memoryMiB) MiB"
                        + (trial.map { "; " + $0 } ?? "")))
            let kvm = capabilities.accelerators.contains(.kvm)
            if kvm && !machine.box { kvmOutsideBoxes = true }
            union.kvmBootsGuest = union.kvmBootsGuest || kvm
            union.nestedSVM = union.nestedSVM || (kvm && capabilities.nestedSVM)
            union.nestedVMX = union.nestedVMX || (kvm && capabilities.nestedVMX)
            union.hostCPUHasLA57 = union.hostCPUHasLA57 || (kvm && capabilities.la57)
            union.tcgEmulatesSVM =
                union.tcgEmulatesSVM || (capabilities.accelerators.contains(.tcg) && capabilities.tcgSVM)
            union.bochsEmulatesVMX = union.bochsEmulatesVMX || capabilities.accelerators.contains(.bochs)
            union.availableMemoryMiB = max(union.availableMemoryMiB, capabilities.memoryMiB)
        }
        union.kvmOnlyInBox = union.kvmBootsGuest && !kvmOutsideBoxes
        return (union, notes)
    }

    /// A connection error without the local-daemon advice (`scripts/setup-host`) that
    /// `LibvirtError` gives for this machine's own daemon.
    static func describe(_ error: any Error) -> String {
        if case .daemonNotAnswering(_, let message) = error as? LibvirtError { return message }
        return "\(error)"
    }
}
