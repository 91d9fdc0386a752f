import Foundation
import Testing

@testable import LabModel

/// This machine as measured (host notes): KVM unusable, TCG emulates SVM, Bochs emulates VMX.
let thisMachine = HostCapabilities(
    kvmBootsGuest: false, nestedSVM: false, nestedVMX: false, tcgEmulatesSVM: true,
    bochsEmulatesVMX: true, cores: 2, availableMemoryMiB: 24_000)
/// A bare-metal Intel workstation with nested VMX.
let intelWithKVM = HostCapabilities(
    kvmBootsGuest: true, nestedSVM: false, nestedVMX: true, tcgEmulatesSVM: true,
    bochsEmulatesVMX: true, cores: 16, availableMemoryMiB: 64_000)
/// An AMD host with nested SVM.
let amdWithKVM = HostCapabilities(
    kvmBootsGuest: true, nestedSVM: true, nestedVMX: false, tcgEmulatesSVM: true,
    bochsEmulatesVMX: false, cores: 8, availableMemoryMiB: 8_000)

/// What the lab implemented, given beside the host (it is no host fact): the svm backend
/// without the Bochs driver, as when these fixtures were written, or everything.
let svmWithoutBochs = Implemented(backends: [.svm], hostKinds: [.kvm, .tcg])
let svmVMXAndBochs = Implemented(backends: [.svm, .vmx], hostKinds: [.kvm, .tcg, .bochs])

func matrix(
    _ backends: [Backend], hosts: [HostRequest] = [.auto], kernels: [KernelSpec] = [.debianCurrent],
    memory: [Int] = [1024], vcpus: [Int] = [1], paging: [PagingMode] = [.fourLevel]
) -> LabConfig.Matrix {
    LabConfig.Matrix(
        backends: backends, hosts: hosts, kernels: kernels, memoryMiB: memory, vcpus: vcpus, paging: paging,
        suites: ["smoke"])
}

func status(_ plan: MatrixPlan, _ id: String) -> CellStatus? {
    plan.cells.first { $0.id == id }?.status
}

@Suite struct MatrixTests {
    @Test func cellIdFormat() {
        #expect(
            MatrixCell(backend: .svm, host: .tcg, kernel: .debianCurrent, memoryMiB: 1024, vcpus: 1).id
                == "svm-tcg-debian-1024m-1cpu-4lvl")
        #expect(
            MatrixCell(backend: .none, host: .kvm, kernel: .exact("6.1.0-56-amd64"), memoryMiB: 2048, vcpus: 2).id
                == "none-kvm-6.1.0-56-amd64-2048m-2cpu-4lvl")
        #expect(
            MatrixCell(backend: .svm, host: .tcg, kernel: .debianCurrent, memoryMiB: 1024, vcpus: 1, paging: .fiveLevel)
                .id
                == "svm-tcg-debian-1024m-1cpu-5lvl")
    }

    @Test func idsFromBeforeThePagingAxisMeanFourLevel() throws {
        #expect(MatrixCell.canonicalId("svm-tcg-debian-1024m-1cpu") == "svm-tcg-debian-1024m-1cpu-4lvl")
        #expect(MatrixCell.canonicalId("svm-tcg-debian-1024m-1cpu-5lvl") == "svm-tcg-debian-1024m-1cpu-5lvl")
        #expect(
            MatrixCell.canonicalId("none-kvm-6.1.0-56-amd64-2048m-12cpu-4lvl")
                == "none-kvm-6.1.0-56-amd64-2048m-12cpu-4lvl")
        let old = #"{"backend":"svm","host":"tcg","kernel":"debian","memoryMiB":1024,"vcpus":1}"#
        let cell = try JSONDecoder().decode(MatrixCell.self, from: Data(old.utf8))
        #expect(cell.paging == .fourLevel && cell.id == "svm-tcg-debian-1024m-1cpu-4lvl")
        let new = MatrixCell(
            backend: .none, host: .tcg, kernel: .debianCurrent, memoryMiB: 512, vcpus: 1, paging: .fiveLevel)
        #expect(try JSONDecoder().decode(MatrixCell.self, from: JSONEncoder().encode(new)) == new)
        let oldMatrix =
            #"{"backends":["svm"],"hosts":["auto"],"kernels":["debian"],"memoryMiB":[1024],"vcpus":[1],"suites":["smoke"]}"#
        #expect(try JSONDecoder().decode(LabConfig.Matrix.self, from: Data(oldMatrix.utf8)).paging == [.fourLevel])
    }

    @Test func pagingIsTheInnermostAxisInConfiguredOrder() {
        let plan = MatrixPlan(
            matrix: matrix(
                [.none, .svm], hosts: [.host(.tcg)], memory: [512, 1024], paging: [.fiveLevel, .fourLevel]),
            capabilities: thisMachine, implemented: svmWithoutBochs)
        #expect(
            plan.cells.map(\.id) == [
                "none-tcg-debian-512m-1cpu-5lvl", "none-tcg-debian-512m-1cpu-4lvl", "none-tcg-debian-1024m-1cpu-5lvl",
                "none-tcg-debian-1024m-1cpu-4lvl",
                "svm-tcg-debian-512m-1cpu-5lvl", "svm-tcg-debian-512m-1cpu-4lvl", "svm-tcg-debian-1024m-1cpu-5lvl",
                "svm-tcg-debian-1024m-1cpu-4lvl",
            ])
        #expect(plan.cells.allSatisfy { $0.status == .runnable }, "QEMU TCG emulates LA57")
        #expect(
            plan.cells.map(\.cell).sorted().map(\.id).prefix(2) == [
                "none-tcg-debian-512m-1cpu-4lvl", "none-tcg-debian-512m-1cpu-5lvl",
            ],
            "sorting puts 4-level before 5-level")
    }

    @Test func fiveLevelNeedsLA57() {
        let kvm = MatrixPlan(
            matrix: matrix([.none, .svm], hosts: [.host(.kvm)], paging: [.fourLevel, .fiveLevel]),
            capabilities: amdWithKVM, implemented: svmWithoutBochs)
        #expect(status(kvm, "none-kvm-debian-1024m-1cpu-4lvl") == .runnable)
        #expect(status(kvm, "svm-kvm-debian-1024m-1cpu-4lvl") == .runnable)
        let reason =
            "5-level paging needs LA57: the host CPU has no la57 flag (/proc/cpuinfo), so a KVM guest cannot have it; "
            + "use host tcg (QEMU TCG emulates LA57)"
        #expect(status(kvm, "none-kvm-debian-1024m-1cpu-5lvl") == .skipped(reason: reason))
        #expect(status(kvm, "svm-kvm-debian-1024m-1cpu-5lvl") == .skipped(reason: reason))
        var la57 = amdWithKVM
        la57.hostCPUHasLA57 = true
        let kvmLA57 = MatrixPlan(
            matrix: matrix([.svm], hosts: [.host(.kvm)], paging: [.fiveLevel]), capabilities: la57,
            implemented: svmWithoutBochs)
        #expect(kvmLA57.cells.map(\.status) == [.runnable])

        let bochs = MatrixPlan(
            matrix: matrix([.vmx], paging: [.fourLevel, .fiveLevel]), capabilities: intelWithKVM.with(nestedVMX: false),
            implemented: svmVMXAndBochs)
        #expect(status(bochs, "vmx-bochs-debian-1024m-1cpu-4lvl") == .runnable)
        #expect(
            status(bochs, "vmx-bochs-debian-1024m-1cpu-5lvl")
                == .skipped(
                    reason: "5-level paging needs LA57: Bochs 2.7's corei7_skylake_x has no LA57; "
                        + "5-level VMX cells need a KVM host with nested VMX and la57"))
    }

    @Test func autoResolvesOnThisMachine() {
        let plan = MatrixPlan(
            matrix: matrix([.none, .svm, .vmx]), capabilities: thisMachine, implemented: svmWithoutBochs)
        #expect(
            plan.cells.map(\.id) == [
                "none-tcg-debian-1024m-1cpu-4lvl", "svm-tcg-debian-1024m-1cpu-4lvl", "vmx-bochs-debian-1024m-1cpu-4lvl",
            ])
        #expect(status(plan, "none-tcg-debian-1024m-1cpu-4lvl") == .runnable)
        #expect(status(plan, "svm-tcg-debian-1024m-1cpu-4lvl") == .runnable)
        #expect(
            status(plan, "vmx-bochs-debian-1024m-1cpu-4lvl")
                == .skipped(
                    reason:
                        "hypervisor backend vmx is not implemented yet; host bochs: the lab's Bochs driver is not implemented yet"
                ))
        #expect(
            plan.notes.contains(
                "host auto for backend svm resolved to tcg: KVM cannot boot a guest on this machine; QEMU TCG emulates SVM with NPT"
            ))
        #expect(plan.runnableCells.count == 2)
    }

    @Test func autoKeepsToTheEmulatorsWhenTheOnlyKVMIsTheBox() {
        var withBox = thisMachine
        withBox.kvmBootsGuest = true
        withBox.nestedSVM = true
        withBox.kvmOnlyInBox = true
        let plan = MatrixPlan(
            matrix: matrix([.none, .svm], hosts: [.auto, .host(.kvm)]), capabilities: withBox,
            implemented: svmWithoutBochs)
        #expect(
            plan.cells.map(\.id) == [
                "none-tcg-debian-1024m-1cpu-4lvl", "none-kvm-debian-1024m-1cpu-4lvl",
                "svm-tcg-debian-1024m-1cpu-4lvl", "svm-kvm-debian-1024m-1cpu-4lvl",
            ])
        #expect(plan.runnableCells.count == 4)
        #expect(
            plan.notes.contains(
                "host auto for backend svm resolved to tcg: the only KVM is the KVM box's, slower than the emulators "
                    + "(ask for it: --host box or kvm)"))
        withBox.kvmOnlyInBox = false
        #expect(withBox.autoHost(for: .svm) == .kvm)
    }

    @Test func autoResolvesWithNestedVMX() {
        let plan = MatrixPlan(
            matrix: matrix([.none, .svm, .vmx]), capabilities: intelWithKVM, implemented: svmVMXAndBochs)
        #expect(
            plan.cells.map(\.id) == [
                "none-kvm-debian-1024m-1cpu-4lvl", "svm-tcg-debian-1024m-1cpu-4lvl", "vmx-kvm-debian-1024m-1cpu-4lvl",
            ])
        #expect(plan.cells.allSatisfy { $0.status == .runnable })
    }

    @Test func autoResolvesWithNestedSVM() {
        let plan = MatrixPlan(matrix: matrix([.svm, .vmx]), capabilities: amdWithKVM, implemented: svmWithoutBochs)
        #expect(plan.cells.map(\.id) == ["svm-kvm-debian-1024m-1cpu-4lvl", "vmx-bochs-debian-1024m-1cpu-4lvl"])
        #expect(status(plan, "svm-kvm-debian-1024m-1cpu-4lvl") == .runnable)
        #expect(
            status(plan, "vmx-bochs-debian-1024m-1cpu-4lvl")?.skipReason
                == "hypervisor backend vmx is not implemented yet; host bochs: the lab's Bochs driver is not implemented yet; vmx needs VMX: Bochs here does not emulate VMX with EPT (doctor tried)"
        )
    }

    @Test func explicitHostsGetPreciseReasons() {
        let plan = MatrixPlan(
            matrix: matrix([.none, .svm, .vmx], hosts: [.host(.kvm), .host(.tcg)]), capabilities: thisMachine,
            implemented: svmWithoutBochs)
        #expect(plan.cells.count == 6)
        #expect(
            status(plan, "none-kvm-debian-1024m-1cpu-4lvl")
                == .skipped(reason: "host kvm: KVM cannot boot a guest on this machine (tried)"))
        #expect(
            status(plan, "vmx-tcg-debian-1024m-1cpu-4lvl")
                == .skipped(
                    reason:
                        "hypervisor backend vmx is not implemented yet; vmx needs VMX: QEMU TCG does not emulate VMX; use host bochs or a host with nested VMX"
                ))
        let vmxOnIntel = MatrixPlan(
            matrix: matrix([.vmx], hosts: [.host(.tcg)]), capabilities: intelWithKVM, implemented: svmVMXAndBochs)
        #expect(
            vmxOnIntel.cells[0].status
                == .skipped(
                    reason: "vmx needs VMX: QEMU TCG does not emulate VMX; use host bochs or a host with nested VMX"))
        let svmOnIntelKVM = MatrixPlan(
            matrix: matrix([.svm], hosts: [.host(.kvm)]), capabilities: intelWithKVM, implemented: svmVMXAndBochs)
        #expect(
            svmOnIntelKVM.cells[0].status.skipReason?.hasPrefix(
                "svm needs SVM: KVM on this machine does not expose nested SVM") == true)
    }

    @Test func hypervisorSupportsOneVCPU() {
        let plan = MatrixPlan(
            matrix: matrix([.none, .svm], vcpus: [1, 2]), capabilities: thisMachine, implemented: svmWithoutBochs)
        #expect(status(plan, "none-tcg-debian-1024m-2cpu-4lvl") == .runnable)
        #expect(
            status(plan, "svm-tcg-debian-1024m-2cpu-4lvl")
                == .skipped(reason: "the hypervisor supports one vCPU; vcpus=2 runs only with backend none"))
        #expect(status(plan, "svm-tcg-debian-1024m-1cpu-4lvl") == .runnable)
    }

    @Test func memoryThatDoesNotFitIsSkipped() {
        let plan = MatrixPlan(
            matrix: matrix([.none], memory: [1024, 8192]), capabilities: amdWithKVM, implemented: svmWithoutBochs)
        #expect(status(plan, "none-kvm-debian-1024m-1cpu-4lvl") == .runnable)
        #expect(
            status(plan, "none-kvm-debian-8192m-1cpu-4lvl")
                == .skipped(
                    reason:
                        "memory 8192 MiB (+300 MiB VM overhead) does not fit: 8000 MiB available, 1024 MiB kept for the host"
                ))
    }

    @Test func duplicatesAfterAutoAreMergedWithNote() {
        let plan = MatrixPlan(
            matrix: matrix([.svm], hosts: [.auto, .host(.tcg)]), capabilities: thisMachine, implemented: svmWithoutBochs
        )
        #expect(plan.cells.map(\.id) == ["svm-tcg-debian-1024m-1cpu-4lvl"])
        #expect(plan.cells[0].requestedHosts == [.auto, .host(.tcg)])
        #expect(
            plan.notes.contains("cell svm-tcg-debian-1024m-1cpu-4lvl comes from host auto and host tcg; it runs once"))
    }

    @Test func cartesianProductOrderAndSize() {
        let plan = MatrixPlan(
            matrix: matrix(
                [.none, .svm], hosts: [.host(.tcg)], kernels: [.debianCurrent, .exact("6.1.0-56-amd64")],
                memory: [512, 1024], vcpus: [1]), capabilities: thisMachine, implemented: svmWithoutBochs)
        #expect(plan.cells.count == 8)
        #expect(plan.cells.first?.id == "none-tcg-debian-512m-1cpu-4lvl")
        #expect(plan.cells[1].id == "none-tcg-debian-1024m-1cpu-4lvl")
        #expect(plan.cells[2].id == "none-tcg-6.1.0-56-amd64-512m-1cpu-4lvl")
        #expect(plan.cells.last?.id == "svm-tcg-6.1.0-56-amd64-1024m-1cpu-4lvl")
        #expect(Set(plan.cells.map(\.id)).count == 8)
    }

    @Test func jobsLimitedByCores() {
        let cells = MatrixPlan(
            matrix: matrix([.none, .svm], memory: [1024]), capabilities: thisMachine, implemented: svmWithoutBochs
        ).runnableCells
        let plan = plannedJobs(requested: .auto, cells: cells, capabilities: thisMachine)
        #expect(plan.jobs == 2)
        #expect(plan.limitedBy == "2 cores, 1 vCPU per VM")
        let requested = plannedJobs(requested: .fixed(8), cells: cells, capabilities: thisMachine)
        #expect(requested.jobs == 2)
        #expect(requested.note == "jobs 8 lowered to 2: limited by 2 cores, 1 vCPU per VM")
        #expect(plannedJobs(requested: .fixed(1), cells: cells, capabilities: thisMachine).jobs == 1)
    }

    @Test func jobsLimitedByVCPUs() {
        let cells = [MatrixCell(backend: .none, host: .kvm, kernel: .debianCurrent, memoryMiB: 1024, vcpus: 4)]
        #expect(plannedJobs(requested: .auto, cells: cells, capabilities: intelWithKVM).jobs == 4)
    }

    @Test func jobsLimitedByMemory() {
        // (8000 - 1024) / (2048 + 300) = 2.97 → 2, below 8 cores.
        let cells = [MatrixCell(backend: .none, host: .kvm, kernel: .debianCurrent, memoryMiB: 2048, vcpus: 1)]
        let plan = plannedJobs(requested: .auto, cells: cells, capabilities: amdWithKVM)
        #expect(plan.jobs == 2)
        #expect(plan.limitedBy.hasPrefix("8000 MiB available memory"))
        var tight = amdWithKVM
        tight.availableMemoryMiB = 1500
        #expect(plannedJobs(requested: .auto, cells: cells, capabilities: tight).jobs == 1)
    }
}

extension HostCapabilities {
    func with(nestedVMX: Bool) -> HostCapabilities {
        var copy = self
        copy.nestedVMX = nestedVMX
        return copy
    }
}
