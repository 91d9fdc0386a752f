import Foundation
import LabModel
import LabVirt

/// Runs the selected cases of one matrix cell. Many cases share one boot; when a VM dies or hangs
/// mid-run, the case it was running is reported with the VM's logs and the cases after it run
/// again in a fresh VM, so one crashing case never hides the results of the others.
public struct CellRunner: Sendable {
    public struct Context: Sendable {
        public var runID: String
        public var resultsDirectory: String
        public var images: ImageSet
        public var config: LabConfig
        public var connection: LibvirtConnection
        public var labVersion: String
        public var progress: RunProgress
        /// How a user reproduces a case: these arguments, then the case id and the cell.
        public var reproCommand: [String]
        /// Debugging (`lab repro --gdb`): the VM starts paused with QEMU's gdb stub on this port,
        /// and no deadline applies (a person is at the controls).
        public var gdbPort: UInt16? = nil
    }

    public let context: Context
    public init(context: Context) { self.context = context }

    public func run(_ selection: CellSelection) async -> [CaseRecord] {
        let cell = selection.cell.cell
        var remaining = selection.cases
        var records: [CaseRecord] = []
        var attempt = 0
        while !remaining.isEmpty {
            attempt += 1
            let vm = await runOneVM(selection: selection, cases: remaining, attempt: attempt)
            records += vm.records
            for record in vm.records { context.progress.caseFinished(record) }
            let progressed = !vm.records.isEmpty
            remaining = vm.notRun
            if vm.bootFailed || !progressed {
                // The same VM would fail the same way again: report the rest with this VM's logs.
                records += remaining.map {
                    record(
                        cell: cell, caseId: $0.id, status: .error,
                        message: "not run: \(vm.problem ?? "the VM made no progress")", attempt: attempt, vm: vm)
                }
                for finished in records.suffix(remaining.count) { context.progress.caseFinished(finished) }
                break
            }
        }
        return records
    }

    // MARK: - One VM

    struct VMResult {
        var name: String
        var logs: [String: String]
        var records: [CaseRecord]
        var notRun: [SelectedCase]
        var bootFailed: Bool
        var problem: String?
    }

    private func runOneVM(selection: CellSelection, cases: [SelectedCase], attempt: Int) async -> VMResult {
        let cell = selection.cell.cell
        let name = DomainName.next(runID: context.runID)
        let relativeDir = "vms/" + name
        let vmDir = context.resultsDirectory + "/" + relativeDir
        // The emulator's own log: QEMU's (copied from libvirt's log directory) or Bochs'.
        let emulator = cell.host == .bochs ? "bochs" : "qemu"
        let logs = [
            "console": relativeDir + "/console.log", "results": relativeDir + "/results.log",
            "hypervisor": relativeDir + "/hypervisor.log", emulator: relativeDir + "/\(emulator).log",
        ]
        var result = VMResult(name: name, logs: logs, records: [], notRun: [], bootFailed: true, problem: nil)
        func failAll(_ message: String) -> VMResult {
            result.records = cases.map {
                record(cell: cell, caseId: $0.id, status: .error, message: message, attempt: attempt, vm: result)
            }
            result.problem = message
            return result
        }

        // How to start the VM: a libvirt domain (QEMU TCG or KVM) or a Bochs process.
        let startVM: () async throws -> any VirtualMachine
        do {
            try FileManager.default.createDirectory(atPath: vmDir, withIntermediateDirectories: true)
            var images = context.images
            images.kernel = Self.guestKernel(for: cell, images: images)
            let media = try await BootMediaBuilder.prepare(
                vmDir: vmDir, images: images, backend: cell.backend.rawValue,
                guestCmdline: Self.guestCmdline(for: cell, configured: context.config.guest.cmdline),
                plan: selection.agentPlan(cases: cases, policy: context.config.policy),
                hypervisorCmdline: Self.hypervisorCmdline(for: cell, policy: context.config.policy) ?? "")
            let startPaused = context.gdbPort != nil
            if cell.host == .bochs {
                let machine = BochsMachine(
                    name: name, memoryMiB: cell.memoryMiB,
                    boot: cell.backend == .none
                        ? .linux(kernel: media.kernel, initrd: media.initrd, commandLine: media.cmdline)
                        : .multiboot(kernel: media.kernel, modules: [media.initrd], commandLine: media.cmdline),
                    serial: .init(directory: URL(fileURLWithPath: vmDir)), directory: vmDir)
                try machine.validate()
                startVM = { try await BochsSession.start(machine: machine, startPaused: startPaused) }
            } else {
                let spec = DomainSpec(
                    name: name, memoryMiB: cell.memoryMiB, vcpus: cell.vcpus,
                    accelerator: cell.host == .kvm ? .kvm : .tcg,
                    cpu: Self.cpu(for: cell),
                    kernel: media.kernel, initrd: media.initrd, cmdline: media.cmdline,
                    serial: .init(directory: URL(fileURLWithPath: vmDir)),
                    gdbPort: context.gdbPort,
                    metadata: .init(runID: context.runID, labVersion: context.labVersion))
                try spec.xml().write(toFile: vmDir + "/domain.xml", atomically: true, encoding: .utf8)
                startVM = { [connection = context.connection] in
                    try await VMSession.start(spec: spec, connection: connection, startPaused: startPaused)
                }
            }
        } catch {
            return failAll("could not prepare the VM: \(error)")
        }

        context.progress.vmStarting(name: name, cell: cell.id, cases: cases.count, attempt: attempt)
        let session: any VirtualMachine
        do {
            session = try await startVM()
        } catch {
            return failAll("\(cell.host == .bochs ? "Bochs" : "libvirt") could not start the VM: \(error)")
        }

        let bootAllowance = Duration.seconds(context.config.timeouts.bootSeconds) * Self.bootFactor(for: cell.host)
        var deadlines = CaseTracker.Deadlines(boot: bootAllowance)
        var backstop =
            bootAllowance
            + cases.reduce(Duration.zero) { $0 + .seconds($1.timeoutSeconds) + .seconds(20) } + .seconds(60)
        if let port = context.gdbPort {
            let forever = Duration.seconds(365 * 24 * 3600)
            deadlines = .init(boot: forever, grace: forever, powerOff: forever)
            backstop = forever
            context.progress.say(
                GDBInstructions.text(
                    port: port, vmName: name, images: context.images,
                    backend: cell.backend, logs: vmDir))
        }
        let tracker = TrackerBox(CaseTracker(planned: cases, deadlines: deadlines))
        let exit = await session.waitUntilExit(timeout: backstop) { tick in
            tracker.update { t in
                for stream in SerialStream.allCases {
                    let lines = tick.newLines.filter { $0.stream == stream }.map(\.text)
                    guard !lines.isEmpty else { continue }
                    switch stream {
                    case .results: t.consume(results: lines, at: tick.elapsed)
                    case .console: t.consume(console: lines, at: tick.elapsed)
                    case .hypervisorLog: t.consume(hypervisorLog: lines, at: tick.elapsed)
                    }
                }
                guard !tick.isFinal, let reason = t.check(at: tick.elapsed) else { return .continue }
                return .stop(reason: reason)
            }
        }
        // Keep QEMU's own log with the others (libvirt writes it outside the results directory;
        // Bochs writes its log in vmDir already).
        let emulatorLog = session.emulatorLog
        if emulatorLog.path != vmDir + "/" + emulatorLog.keptAs {
            try? FileManager.default.copyItem(atPath: emulatorLog.path, toPath: vmDir + "/" + emulatorLog.keptAs)
        }

        let final = tracker.value
        let outcome = final.outcome(exit: "\(exit.reason)")
        result.bootFailed = outcome.bootFailed
        result.problem =
            outcome.vmProblem ?? (outcome.bootFailed ? "the VM ended (\(exit.reason)) before the agent started" : nil)
        // Where the time went, for boot-time comparisons between backends.
        let userspace: String = final.userspaceAt.map { CaseTracker.seconds($0) } ?? "never seen"
        let timing =
            "first userspace line after \(userspace)\n"
            + "ended (\(exit.reason)) after \(CaseTracker.seconds(exit.elapsed))\n"
        try? timing.write(toFile: vmDir + "/timing.txt", atomically: true, encoding: .utf8)
        result.records = outcome.finished.map {
            var r = record(
                cell: cell, caseId: $0.id, status: $0.status, message: $0.message, attempt: attempt, vm: result)
            r.values = $0.values
            r.durationSeconds = $0.seconds
            return r
        }
        result.notRun = outcome.notRun
        return result
    }

    private func record(
        cell: MatrixCell, caseId: String, status: CaseStatus, message: String, attempt: Int, vm: VMResult
    ) -> CaseRecord {
        CaseRecord(
            caseId: caseId, cellId: cell.id, status: status, message: message, attempt: attempt, vmName: vm.name,
            logs: vm.logs,
            repro: shellQuoted(context.reproCommand + [caseId, "--cell", cell.id, "--from", context.resultsDirectory]))
    }

    /// How many times `timeouts.bootSeconds` a host gets to reach the agent. Bochs runs ~80 M
    /// instructions/s, an order of magnitude below TCG: its BIOS, GRUB reading the CD and the
    /// kernel take ~1 min where TCG takes seconds (shared/docs/host-notes.md).
    static func bootFactor(for host: HostKind) -> Int {
        host == .bochs ? 3 : 1
    }

    /// The CPU a cell's guest sees. Under TCG: qemu64 with SVM and nested paging (the SVM backend
    /// needs them; backend `none` gets the same CPU so that the two are comparable), plus what
    /// the linear walk must handle: LA57 (5-level paging; also in 4-level cells, where the guest
    /// declines it with `no5lvl`), 1 GiB pages, SMAP and SMEP. Under KVM: the host CPU with nested
    /// virtualization, LA57 required in 5-level cells (MatrixPlan skips them without it).
    static func cpu(for cell: MatrixCell) -> DomainSpec.CPU {
        switch cell.host {
        case .kvm:
            var features = cell.backend == .vmx ? ["vmx"] : cell.backend == .svm ? ["svm"] : []
            if cell.paging == .fiveLevel { features.append("la57") }
            return .hostPassthrough(requiredFeatures: features)
        default:
            return .custom(model: "qemu64", requiredFeatures: ["svm", "npt", "la57", "pdpe1gb", "smap", "smep"])
        }
    }

    /// The guest kernel file a cell boots. The bzImage everywhere but in Bochs hypervisor cells:
    /// the switch to 5-level paging happens in the bzImage's decompressor (a vmlinux entered
    /// directly stays at 4 levels). Bochs runs ~80 M instructions/s, so there the uncompressed
    /// kernel in the bundle saves the guest a minute of decompressing itself (Bochs cells are
    /// 4-level; backend none boots through GRUB's `linux`, which needs the bzImage).
    static func guestKernel(for cell: MatrixCell, images: ImageSet) -> String {
        if cell.host == .bochs, cell.backend != .none, cell.paging == .fourLevel, let vmlinux = images.vmlinux {
            return vmlinux
        }
        return images.kernel
    }

    /// The hypervisor's own command line in a cell (its multiboot command line: libvirt's
    /// `<cmdline>`, the `multiboot` line of the Bochs CD's grub.cfg): the access policy, always
    /// explicit so the hypervisor log and the domain show what ran. nil for backend none.
    static func hypervisorCmdline(for cell: MatrixCell, policy: HypervisorPolicy) -> String? {
        cell.backend.usesHypervisor ? policy.hypervisorOption : nil
    }

    /// The guest kernel command line of a cell: lab.json's `guest.cmdline`, plus `no5lvl` in a
    /// 4-level cell (the CPU may offer LA57; the kernel then stays at 4 levels by choice).
    static func guestCmdline(for cell: MatrixCell, configured: String) -> String {
        switch cell.paging {
        case .fourLevel:
            return configured.split(separator: " ").contains("no5lvl") ? configured : configured + " no5lvl"
        case .fiveLevel: return configured
        }
    }
}

/// The tracker shared between the polling closure and the runner.
final class TrackerBox: @unchecked Sendable {
    private let lock = NSLock()
    private var tracker: CaseTracker
    init(_ tracker: CaseTracker) { self.tracker = tracker }
    func update<T>(_ body: (inout CaseTracker) -> T) -> T { lock.withLock { body(&tracker) } }
    var value: CaseTracker { lock.withLock { tracker } }
}
