import Foundation
import LabModel
import LabVirt
import Testing

@testable import LabKit

/// What a cell of the paging axis boots: its CPU, its guest command line, its kernel file.
@Suite struct PagingCellTests {
    func cell(_ backend: Backend, _ host: HostKind, _ paging: PagingMode) -> MatrixCell {
        MatrixCell(backend: backend, host: host, kernel: .debianCurrent, memoryMiB: 1024, vcpus: 1, paging: paging)
    }

    static let tcgFeatures = ["svm", "npt", "la57", "pdpe1gb", "smap", "smep"]

    @Test(
        "TCG cells: qemu64 with SVM, NPT, LA57, 1 GiB pages, SMAP and SMEP, whatever the paging",
        arguments: [Backend.none, .svm], PagingMode.allCases)
    func tcgCPU(backend: Backend, paging: PagingMode) {
        #expect(
            LibvirtLauncher.cpu(for: cell(backend, .tcg, paging))
                == .custom(model: "qemu64", requiredFeatures: Self.tcgFeatures))
    }

    @Test("KVM cells: host passthrough; la57 required only where the guest is to use it")
    func kvmCPU() {
        #expect(
            LibvirtLauncher.cpu(for: cell(.svm, .kvm, .fiveLevel))
                == .hostPassthrough(requiredFeatures: ["svm", "la57"]))
        #expect(LibvirtLauncher.cpu(for: cell(.svm, .kvm, .fourLevel)) == .hostPassthrough(requiredFeatures: ["svm"]))
        #expect(LibvirtLauncher.cpu(for: cell(.vmx, .kvm, .fourLevel)) == .hostPassthrough(requiredFeatures: ["vmx"]))
        #expect(LibvirtLauncher.cpu(for: cell(.none, .kvm, .fiveLevel)) == .hostPassthrough(requiredFeatures: ["la57"]))
        #expect(LibvirtLauncher.cpu(for: cell(.none, .kvm, .fourLevel)) == .hostPassthrough(requiredFeatures: []))
    }

    @Test("the TCG domain XML requires every feature, so libvirt refuses rather than dropping one")
    func tcgDomainXML() throws {
        let spec = DomainSpec(
            name: "gmlab-42-run1-1", memoryMiB: 1024, vcpus: 1, accelerator: .tcg,
            cpu: LibvirtLauncher.cpu(for: cell(.svm, .tcg, .fiveLevel)),
            kernel: "/cache/hv/hv.elf", initrd: "/r/bundle.img", cmdline: "",
            serial: .init(console: "/r/console.log", results: "/r/results.log", hypervisorLog: "/r/hypervisor.log"),
            metadata: .init(runID: "run1", ownerPID: 42, labVersion: "test"))
        let xml = try spec.xml()
        for feature in Self.tcgFeatures {
            #expect(
                xml.contains(#"<feature name="\#(feature)" policy="require"></feature>"#)
                    || xml.contains(#"<feature name="\#(feature)" policy="require"/>"#), "\(feature) in\n\(xml)")
        }
    }

    @Test("4-level cells add no5lvl to the configured command line; 5-level cells keep it as is")
    func guestCmdline() throws {
        let configured = "console=ttyS0 nokaslr panic=-1 quiet"
        for backend in Backend.allCases {
            for host in HostKind.allCases {
                let launcher = try launcher(host)
                #expect(
                    launcher.guestCmdline(for: cell(backend, host, .fourLevel), configured: configured) == configured
                        + " no5lvl")
                #expect(
                    launcher.guestCmdline(for: cell(backend, host, .fiveLevel), configured: configured) == configured)
            }
        }
        // Already there (allowed with 4-level cells only): not doubled.
        #expect(
            try launcher(.tcg).guestCmdline(for: cell(.svm, .tcg, .fourLevel), configured: "quiet no5lvl")
                == "quiet no5lvl")
    }

    @Test("the host's la57 flag is read from /proc/cpuinfo's flags line")
    func hostFlags() {
        let cpuinfo = "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu pdpe1gb la57 svm\nprocessor\t: 1\n"
        #expect(HostProbes.hostCPU(cpuinfo: cpuinfo).value?.flags == ["fpu", "pdpe1gb", "la57", "svm"])
        #expect(
            HostProbes.hostCPU(cpuinfo: "processor\t: 0\nflags\t\t: fpu pdpe1gb\n").value?.flags.contains("la57")
                == false)
    }

    @Test("QEMU cells boot the bzImage (the 5-level switch is in its decompressor); Bochs hypervisor cells the vmlinux")
    func kernelFile() throws {
        let images = ImageSet(
            kernelVersion: "6.1.0-56-amd64", kernelPackageVersion: "6.1.192-2", kernel: "/cache/vmlinuz",
            vmlinux: "/cache/vmlinux", initramfs: "/cache/initramfs.cpio.gz", casesCatalog: "/cache/cases.json",
            hypervisor: "/cache/hv.elf", mkbundle: "/cache/mkbundle", hypervisorBuildError: nil, digests: [:])
        for paging in PagingMode.allCases {
            for backend in [Backend.none, .svm] {
                #expect(try guestKernel(for: cell(backend, .tcg, paging), images: images) == "/cache/vmlinuz")
                #expect(try guestKernel(for: cell(backend, .kvm, paging), images: images) == "/cache/vmlinuz")
            }
        }
        #expect(try guestKernel(for: cell(.vmx, .bochs, .fourLevel), images: images) == "/cache/vmlinux")
        #expect(try guestKernel(for: cell(.none, .bochs, .fourLevel), images: images) == "/cache/vmlinuz")
    }
}
