import Foundation
import LabModel
import Testing

@testable import LabKit
@testable import LabVirt

@Suite("Hypervisor backends from the build")
struct HypervisorBackendsTests {
    @Test("the backends file: names separated by white space; anything else is an error naming it")
    func parse() throws {
        #expect(try HypervisorBackends.parse("svm\n", source: "f") == [.svm])
        #expect(try HypervisorBackends.parse(" svm  vmx \n", source: "f") == [.svm, .vmx])
        #expect(try HypervisorBackends.parse("", source: "f") == [])
        #expect(throws: LabError.self) { try HypervisorBackends.parse("svm none", source: "f") }
        do {
            _ = try HypervisorBackends.parse("svm vmx2", source: "/x/backends")
            Issue.record("\"vmx2\" was accepted")
        } catch {
            #expect("\(error)".contains("/x/backends names \"vmx2\""))
        }
    }

    @Test("an image's backends come from `backends` beside hv.elf; a run keeps what every image has")
    func fromImages() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gmlab-backends-\(getpid())")
        defer { try? FileManager.default.removeItem(at: directory) }
        for (name, text) in [("a", "svm vmx\n"), ("b", "svm\n")] {
            try FileManager.default.createDirectory(
                at: directory.appendingPathComponent(name), withIntermediateDirectories: true)
            try text.write(to: directory.appendingPathComponent(name + "/backends"), atomically: true, encoding: .utf8)
        }
        func image(_ dir: String?) -> ImageSet {
            ImageSet(
                kernelVersion: "6.1", kernelPackageVersion: "1", kernel: "/k", vmlinux: nil, initramfs: "/i",
                casesCatalog: "/c", hypervisor: dir.map { directory.path + "/\($0)/hv.elf" }, mkbundle: nil,
                hypervisorBuildError: nil, digests: [:])
        }
        #expect(image("a").hypervisorBackends == [.svm, .vmx])
        #expect(image(nil).hypervisorBackends == [], "no hypervisor image: no backend")
        #expect(image("missing").hypervisorBackends == [], "an image built without the file announces nothing")
        #expect(HypervisorBackends.implemented(by: [image("a"), image("b")]) == [.svm])
        #expect(HypervisorBackends.implemented(by: []) == [])
    }

    @Test("the hypervisor sources declare svm (make -s print-backends)")
    func declared() async throws {
        let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Sources/Hypervisor").path
        #expect(await HypervisorBackends.declared(hypervisorSources: sources).contains(.svm))
    }
}

@Suite("Nested KVM advice (lab doctor)")
struct NestedKVMAdviceTests {
    typealias Nested = HostProbes.NestedVirtualization

    @Test("this build machine: paravirtual /dev/kvm, no vmx/svm flag — says why and what a host needs")
    func buildMachine() {
        let lines = NestedKVMAdvice.lines(
            .init(
                devKVMExists: true, kvmBootsGuest: false,
                nested: Nested(cpuHasSVM: false, cpuHasVMX: false, kvmAMDNested: nil, kvmIntelNested: nil)))
        let text = lines.joined(separator: "\n")
        #expect(lines.first?.hasPrefix("Nested KVM: unavailable here") == true)
        #expect(text.contains("/dev/kvm exists but KVM does not boot a guest"))
        #expect(text.contains("show neither vmx nor svm"))
        for needed in [
            "grep -wc vmx /proc/cpuinfo", "/sys/module/kvm_intel/parameters/nested",
            "modprobe kvm_intel nested=1", "/etc/modprobe.d/", "host-passthrough", "name='vmx'",
        ] {
            #expect(text.contains(needed), "names \(needed)")
        }
    }

    @Test("Intel host with nested off, AMD host without kvm_amd, no /dev/kvm: the specific reason")
    func specificReasons() {
        let intelOff = NestedKVMAdvice.lines(
            .init(
                devKVMExists: true, kvmBootsGuest: true,
                nested: Nested(cpuHasSVM: false, cpuHasVMX: true, kvmAMDNested: nil, kvmIntelNested: false)))
        #expect(intelOff.contains("  why: the CPU has vmx but kvm_intel has nested=0"))
        let amdUnloaded = NestedKVMAdvice.lines(
            .init(
                devKVMExists: true, kvmBootsGuest: true,
                nested: Nested(cpuHasSVM: true, cpuHasVMX: false, kvmAMDNested: nil, kvmIntelNested: nil)))
        #expect(amdUnloaded.contains("  why: the CPU has svm but kvm_amd is not loaded"))
        let noKVM = NestedKVMAdvice.lines(.init(devKVMExists: false, kvmBootsGuest: false, nested: nil))
        #expect(noKVM.contains { $0.contains("there is no /dev/kvm") })
    }

    @Test("a host with working nested VMX: available, one line")
    func available() {
        let lines = NestedKVMAdvice.lines(
            .init(
                devKVMExists: true, kvmBootsGuest: true,
                nested: Nested(cpuHasSVM: false, cpuHasVMX: true, kvmAMDNested: nil, kvmIntelNested: true)))
        #expect(lines.count == 1)
        #expect(lines[0].hasPrefix("Nested KVM: available — VMX (Intel)"))
    }
}

@Suite("Cells on host bochs (the launchers\' choices)")
struct BochsCellChoicesTests {
    let images = ImageSet(
        kernelVersion: "6.1", kernelPackageVersion: "1", kernel: "/k/vmlinuz", vmlinux: "/k/vmlinux",
        initramfs: "/i", casesCatalog: "/c", hypervisor: "/h/hv.elf", mkbundle: "/h/mkbundle",
        hypervisorBuildError: nil, digests: [:])

    func cell(_ backend: Backend, _ host: HostKind) -> MatrixCell {
        MatrixCell(backend: backend, host: host, kernel: .debianCurrent, memoryMiB: 1024, vcpus: 1)
    }

    @Test(
        "the bundle of a vmx-bochs cell carries the uncompressed vmlinux; GRUB's linux (backend none) and TCG get the bzImage"
    )
    func kernel() throws {
        #expect(try guestKernel(for: cell(.vmx, .bochs), images: images) == "/k/vmlinux")
        #expect(try guestKernel(for: cell(.none, .bochs), images: images) == "/k/vmlinuz")
        #expect(try guestKernel(for: cell(.svm, .tcg), images: images) == "/k/vmlinuz")
        var noVmlinux = images
        noVmlinux.vmlinux = nil
        #expect(try guestKernel(for: cell(.vmx, .bochs), images: noVmlinux) == "/k/vmlinuz")
    }

    @Test("Bochs gets three times the boot allowance (its BIOS, GRUB and the kernel run ~10x slower than TCG)")
    func bootAllowance() throws {
        #expect(try launcher(.bochs).bootFactor(for: cell(.vmx, .bochs)) == 3)
        #expect(try launcher(.tcg).bootFactor(for: cell(.svm, .tcg)) == 1)
        #expect(try launcher(.kvm).bootFactor(for: cell(.svm, .kvm)) == 1)
    }

    @Test("provenance records the CPU each launcher gives: Bochs' model under Bochs, QEMU's under libvirt")
    func cpuDescription() throws {
        #expect(try launcher(.bochs).cpuDescription(for: cell(.vmx, .bochs)) == "corei7_skylake_x")
        #expect(
            try launcher(.tcg).cpuDescription(for: cell(.svm, .tcg)) == "qemu64,+svm,+npt,+la57,+pdpe1gb,+smap,+smep")
        #expect(try launcher(.kvm).cpuDescription(for: cell(.vmx, .kvm)) == "host-passthrough,+vmx")
    }

    @Test("every cell a launcher runs has exactly one, and what is implemented says so")
    func registry() {
        for host in HostKind.allCases {
            for backend in Backend.allCases {
                let c = MatrixCell(backend: backend, host: host, kernel: .debianCurrent, memoryMiB: 1024, vcpus: 1)
                // bitvisor runs on tcg and kvm (BitVisorLauncher, SVM only); everything else on every host
                let expected = backend == .bitvisor && host == .bochs ? 0 : 1
                #expect(Launchers.make().filter { $0.runs(c) }.count == expected, "\(c.id)")
            }
        }
        #expect(Launchers.hostKinds == Set(HostKind.allCases))
        #expect(Implemented.of(images: [images]).hostKinds == Set(HostKind.allCases))
        #expect(Implemented.of(images: []).backends == [])
    }
}
