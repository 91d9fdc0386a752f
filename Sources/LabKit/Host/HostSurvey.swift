import Foundation
import LabModel
import LabVirt

/// What this host can run, measured by LabVirt's probes (tried, never guessed), and remembered
/// for the current boot of the host (keyed by the kernel's boot id and QEMU's version), so that
/// `lab run` does not spend seconds re-probing each time. `lab doctor` always probes afresh.
/// Every command that plans (run, list, repro, bench, doctor) asks here. Only host facts: what
/// the lab implements is `Implemented` (Launch/Launchers.swift).
public struct HostSurvey: Sendable {
    public let paths: LabPaths
    public init(paths: LabPaths) { self.paths = paths }

    public func capabilities(fresh: Bool = false) async throws -> HostCapabilities {
        let bootID =
            (try? String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? "unknown"
        let qemu = await HostProbes.qemuVersion().value ?? "none"
        // "-facts": the memo holds host facts only (older labs also stored what they implemented,
        // and share this cache).
        let memo = paths.cache + "/host/\(bootID)-qemu\(qemu)-facts.json"
        var caps: HostCapabilities
        if !fresh, let data = FileManager.default.contents(atPath: memo),
            let cached = try? JSONDecoder().decode(HostCapabilities.self, from: data)
        {
            caps = cached
        } else {
            caps = await Self.measure()
            try? FileManager.default.createDirectory(atPath: paths.cache + "/host", withIntermediateDirectories: true)
            if let data = try? JSONEncoder().encode(caps) {
                _ = FileManager.default.createFile(atPath: memo, contents: data)
            }
        }
        // Cores and memory change from run to run; measure them every time.
        caps.cores = ProcessInfo.processInfo.activeProcessorCount
        caps.availableMemoryMiB = Int((HostProbes.availableMemory().value ?? 0) >> 20)
        // A host fact, but one line of /proc/cpuinfo: read each time rather than memoised.
        caps.hostCPUHasLA57 = HostProbes.hostCPU().value?.flags.contains("la57") ?? false
        return caps
    }

    static func measure() async -> HostCapabilities {
        let kvm = await HostProbes.kvmBootsGuest().value ?? false
        let nested = HostProbes.nestedVirtualization().value
        let tcg = await HostProbes.tcgSVM().value == .svmWithNPT
        // Tried, not guessed: a guest booted under Bochs saw VMX with EPT.
        let bochsModel = await HostProbes.bochs().value?.hasVMXModel == true
        let bochs = bochsModel ? (await HostProbes.bochsBootsGuest().value?.runsVMXBackend ?? false) : false
        return HostCapabilities(
            kvmBootsGuest: kvm, nestedSVM: kvm && (nested?.nestedSVM ?? false),
            nestedVMX: kvm && (nested?.nestedVMX ?? false),
            tcgEmulatesSVM: tcg, bochsEmulatesVMX: bochs, hypervisorMaxVCPUs: 1,
            cores: ProcessInfo.processInfo.activeProcessorCount,
            availableMemoryMiB: Int((HostProbes.availableMemory().value ?? 0) >> 20))
    }

    public static func hostCPUModel() -> String? {
        HostProbes.hostCPU().value.map { "\($0.model) (\($0.vendor))" }
    }
}
