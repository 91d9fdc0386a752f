import Foundation
import LabModel
import LabVirt
import Testing

@testable import LabKit

/// The hypervisor's access policy reaches the hypervisor: its multiboot command line is
/// `gmlab.policy=<policy>` in every cell with a hypervisor, carried by libvirt's `<cmdline>`
/// (QEMU's multiboot loader) and by the `multiboot` line of the Bochs CD's grub.cfg.
@Suite struct PolicyBootTests {
    let launcher = LibvirtLauncher()

    func cell(_ backend: Backend, _ host: HostKind) -> MatrixCell {
        MatrixCell(backend: backend, host: host, kernel: .debianCurrent, memoryMiB: 1024, vcpus: 1)
    }

    static let strictConfig = """
        {"schema": 1, "matrix": {"backends": ["svm", "vmx"], "hosts": ["auto"], "kernels": ["debian"],
         "memoryMiB": [1024], "vcpus": [1], "suites": ["smoke"]},
         "timeouts": {"bootSeconds": 120, "caseSeconds": 60}, "hypervisor": {"policy": "strict"}}
        """

    @Test("the hypervisor command line names the policy in hypervisor cells, none in backend none")
    func hypervisorCmdline() throws {
        let config = try LabConfig.parse(Data(Self.strictConfig.utf8))
        #expect(launcher.hypervisorCmdline(for: cell(.svm, .tcg), policy: config.policy) == "gmlab.policy=strict")
        #expect(launcher.hypervisorCmdline(for: cell(.vmx, .bochs), policy: config.policy) == "gmlab.policy=strict")
        #expect(launcher.hypervisorCmdline(for: cell(.svm, .kvm), policy: .bitvisor) == "gmlab.policy=bitvisor")
        #expect(launcher.hypervisorCmdline(for: cell(.none, .tcg), policy: config.policy) == nil)
    }

    @Test("libvirt: the policy is the domain's <cmdline> (QEMU passes it to the multiboot image)")
    func domainXML() throws {
        let config = try LabConfig.parse(Data(Self.strictConfig.utf8))
        let svm = cell(.svm, .tcg)
        let spec = DomainSpec(
            name: "gmlab-42-run1-1", memoryMiB: 1024, vcpus: 1, accelerator: .tcg, cpu: LibvirtLauncher.cpu(for: svm),
            kernel: "/cache/hv/hv.elf", initrd: "/r/bundle.img",
            cmdline: try #require(launcher.hypervisorCmdline(for: svm, policy: config.policy)),
            serial: .init(console: "/r/console.log", results: "/r/results.log", hypervisorLog: "/r/hypervisor.log"),
            metadata: .init(runID: "run1", ownerPID: 42, labVersion: "test"))
        let xml = try spec.xml()
        #expect(xml.contains("<kernel>/cache/hv/hv.elf</kernel>"))
        #expect(xml.contains("<cmdline>gmlab.policy=strict</cmdline>"), "\(xml)")
    }

    @Test("Bochs: the policy follows /hv.elf on grub.cfg's multiboot line")
    func grubLine() throws {
        let config = try LabConfig.parse(Data(Self.strictConfig.utf8))
        let line = try #require(launcher.hypervisorCmdline(for: cell(.vmx, .bochs), policy: config.policy))
        let grub = try GrubBootCD.config(
            for: .multiboot(kernel: "/cache/hv/hv.elf", modules: ["/r/bundle.img"], commandLine: line))
        #expect(grub.contains("  multiboot /hv.elf gmlab.policy=strict\n  module /bundle.img\n"), "\(grub)")
    }
}
