import Foundation
import Testing

@testable import LabVirt

/// The probes run for real on this host (QEMU boots, libvirt is asked).
@Suite("Host probes (real)", .serialized)
struct HostProbeTests {
    private var cpuFlags: Set<String> {
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        return Set(
            cpuinfo.split(separator: "\n").first { $0.hasPrefix("flags") }?
                .split(separator: ":").last?.split(separator: " ").map(String.init) ?? [])
    }

    @Test("QEMU TCG emulates SVM with nested paging (tried: CPUID in a boot sector)")
    func tcgSVM() async {
        let start = ContinuousClock.now
        let result = await HostProbes.tcgSVM()
        print(
            "tcgSVM: \(result.value.map(\.rawValue) ?? "nil") \(result.status) in \(ContinuousClock.now - start): \(result.explanation)"
        )
        #expect(result.value == .svmWithNPT, "\(result.explanation)")
        #expect(result.status == .ok)
    }

    @Test("KVM: tried with a boot sector; without svm/vmx CPU flags it cannot boot a guest")
    func kvm() async {
        let start = ContinuousClock.now
        let result = await HostProbes.kvmBootsGuest()
        print(
            "kvmBootsGuest: \(String(describing: result.value)) \(result.status) in \(ContinuousClock.now - start): \(result.explanation)"
        )
        #expect(result.value != nil)
        if cpuFlags.isDisjoint(with: ["svm", "vmx"]) {
            // This host: a paravirtual /dev/kvm on a CPU without svm/vmx (docs/host-notes.md).
            #expect(result.value == false, "\(result.explanation)")
            #expect(result.status == .warning)
            #expect(result.fix != nil)
        }
        #expect(ContinuousClock.now - start < .seconds(25), "the probe's 20 s timeout holds")
    }

    @Test("QEMU and libvirt versions")
    func versions() async throws {
        let qemu = await HostProbes.qemuVersion()
        print("qemu: \(qemu.explanation)")
        let version = try #require(qemu.value)
        #expect(version.range(of: #"^\d+\.\d+(\.\d+)?$"#, options: .regularExpression) != nil)

        let libvirt = await HostProbes.libvirt()
        print("libvirt: \(libvirt.explanation)")
        let versions = try #require(libvirt.value, "\(libvirt.explanation)")
        #expect(versions.library == LibvirtConnection.libraryVersion())
        #expect(versions.library.major >= 9)
        #expect(versions.daemon.major >= 9)
        #expect(versions.hypervisorType == "QEMU")
        #expect(
            versions.hypervisor.description.hasPrefix(version.split(separator: ".").prefix(2).joined(separator: ".")),
            "libvirt's QEMU version \(versions.hypervisor) agrees with qemu --version \(version)")
    }

    @Test("libvirt boots a TCG guest end to end (three serial lines, power-off)")
    func libvirtBoot() async throws {
        let result = await HostProbes.libvirtBootsGuest()
        print("libvirtBootsGuest: \(result.status): \(result.explanation)")
        let measured = try #require(result.value, "\(result.explanation)")
        #expect(result.status != .problem, "\(result.explanation)")
        #expect(measured.runTime < .seconds(30))
    }

    @Test("libvirt probe on a socket nobody listens on: a problem with the fix, within its timeout")
    func libvirtDown() async {
        let result = await HostProbes.libvirt(
            uri: "qemu+unix:///system?socket=/nonexistent/gmlab.sock", timeout: .seconds(5))
        #expect(result.value == nil)
        #expect(result.status == .problem)
        #expect(result.fix?.contains("scripts/setup-host") == true)
    }

    @Test("Bochs: present with the corei7_skylake_x (VMX) model")
    func bochs() async throws {
        let result = await HostProbes.bochs()
        print("bochs: \(result.explanation)")
        guard Command.findInPath("bochs") != nil else {
            #expect(result.status == .warning)
            return
        }
        let info = try #require(result.value)
        #expect(info.version == "2.7")
        #expect(info.hasVMXModel)
        #expect(info.cpuModels.count > 10)
        #expect(result.explanation.contains("corei7_skylake_x"))
        // Booting a guest under Bochs is bochsBootsGuest() (BochsSessionIntegrationTests).
    }

    @Test("host CPU, memory, nested flags agree with /proc")
    func host() {
        let cpu = HostProbes.hostCPU()
        #expect((cpu.value?.logicalCPUs ?? 0) == ProcessInfo.processInfo.processorCount)
        #expect(cpu.value?.vendor.isEmpty == false)
        let memory = HostProbes.availableMemory()
        #expect((memory.value ?? 0) > 0)
        #expect((memory.value ?? 0) <= ProcessInfo.processInfo.physicalMemory)
        let nested = HostProbes.nestedVirtualization()
        #expect(nested.value?.cpuHasSVM == cpuFlags.contains("svm"))
        #expect(nested.value?.cpuHasVMX == cpuFlags.contains("vmx"))
        print("cpu: \(cpu.explanation); memory: \(memory.explanation); nested: \(nested.explanation)")
    }
}
