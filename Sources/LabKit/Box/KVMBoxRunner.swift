import Foundation
import LabModel
import LabVirt

/// What to run in the box: the lab's hypervisor and guest with one cell's plan.
public struct KVMBoxRequest: Sendable {
    public var box: KVMBoxImage
    /// L3's kernel and base initramfs, and `mkbundle` (from `ImageBuilder.build`).
    public var images: ImageSet
    /// The hypervisor image L2 boots: `images.hypervisor`, or another build (e.g. an old commit's).
    public var hypervisor: String
    /// The cell (`KVMBox.cell`) and its cases: the agent's plan and the per-case deadlines.
    public var selection: CellSelection
    /// L3's kernel command line (lab.json's guest.cmdline; `no5lvl` added for a 4-level cell).
    public var guestCmdline: String
    /// The hypervisor's access policy (lab.json `hypervisor.policy`): on its command line and in
    /// the agent's plan, as `lab run` passes it.
    public var policy: HypervisorPolicy = .bitvisor
    /// L2 start to the agent's `start` event.
    public var bootSeconds: Double
    /// Where each attempt's files go (`attempt-N/`).
    public var directory: String
    /// Attempts after a stall (the box's known TCG stall), at most.
    public var retries = 2
    public var l1MemoryMiB = 3072
    /// Outer QEMU start to L1's init.
    public var l1BootSeconds: Double = 120
    /// L1 prints a heartbeat every 2 s while L2 runs; a longer silence is the known stall.
    public var heartbeatGapSeconds: Double = 30
    public var progress: @Sendable (String) -> Void

    public init(
        box: KVMBoxImage, images: ImageSet, hypervisor: String, selection: CellSelection, guestCmdline: String,
        bootSeconds: Double, directory: String, progress: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.box = box
        self.images = images
        self.hypervisor = hypervisor
        self.selection = selection
        self.guestCmdline = guestCmdline
        self.bootSeconds = bootSeconds
        self.directory = directory
        self.progress = progress
    }
}

/// When things happened in one attempt, in seconds since the outer QEMU started (as the lab saw
/// the lines arrive; polled every 100 ms).
public struct KVMBoxTimings: Sendable, Equatable, Codable {
    /// Building L2's bundle and L1's initrd for this run.
    public var preparation: Double = 0
    /// L1's init printed its first line.
    public var l1Userspace: Double?
    /// L1 started L2's QEMU.
    public var l2Started: Double?
    /// L3 (the guest under our hypervisor) printed `GMLAB-GUEST: userspace up`.
    public var l2Userspace: Double?
    /// The agent's `done`.
    public var agentDone: Double?
    /// L2's QEMU ended.
    public var l2Ended: Double?
    /// The outer QEMU ended (L1 powered off, or was killed).
    public var total: Double = 0
}

/// One boot of the box.
public struct KVMBoxAttempt: Sendable {
    public enum Outcome: Sendable, Equatable, CustomStringConvertible {
        /// L2 ran and ended, and L1 powered off: judge the cases and logs.
        case completed
        /// The box's known TCG stall (L1 stops ticking, "soft lockup", L3's "IO-APIC + timer
        /// doesn't work!"), or L1 not booting: an infrastructure flake, retried.
        case stalled(String)
        /// L1 could not run L2 (no /dev/kvm, a missing file, …): an infrastructure error.
        case boxFailed(String)
        /// L2 stopped making progress while L1 kept ticking (a case or the boot overran its
        /// deadline): a real failure of what runs in L2.
        case hung(String)

        public var description: String {
            switch self {
            case .completed: return "completed"
            case .stalled(let why): return "stalled (infrastructure flake): \(why)"
            case .boxFailed(let why): return "box failed: \(why)"
            case .hung(let why): return "hung: \(why)"
            }
        }
    }

    public var number: Int
    public var directory: String
    public var outcome: Outcome
    public var timings: KVMBoxTimings
    /// Every `GMLAB-RESULT`, in order.
    public var results: [AgentResult]
    public var agentStarted: Bool
    public var agentDone: Bool
    /// The agent's `error` events and lines of the results stream that broke the protocol.
    public var agentProblems: [String]
    /// The first `GMLAB-HV-FATAL` line of the hypervisor log, with the line after it.
    public var hypervisorFatal: String?
    /// The hypervisor's `outer hypervisor:` line (the CPUID 0x40000000 signature it saw).
    public var outerHypervisor: String?
    /// L1's `kvm_amd loaded: nested=… npt=…` line.
    public var kvmModule: String?
    public var l2ExitStatus: Int?
    /// Streams whose bytes differ from what L1 says it sent (size or SHA-256), or that L1
    /// never summarized.
    public var streamProblems: [String]
    /// name → path: l1-console, console, results, hypervisor, qemu (the outer QEMU's output).
    public var logs: [String: String]

    public var isFlake: Bool {
        if case .stalled = outcome { return true }
        return false
    }
}

/// Every attempt of one box run; the last one is the verdict.
public struct KVMBoxRun: Sendable {
    public var attempts: [KVMBoxAttempt]
    public var final: KVMBoxAttempt { attempts[attempts.count - 1] }
    public var flakes: [KVMBoxAttempt] { attempts.filter(\.isFlake) }
}

/// Runs the lab's hypervisor under a real KVM inside the box (docs/kvm-box.md).
public enum KVMBox {
    /// L1's CPU: SVM with nested paging for kvm_amd, and what the lab's TCG cells offer.
    public static let l1CPU = "qemu64,+svm,+npt,+la57,+pdpe1gb,+smap,+smep"
    public static let l1Cmdline = "console=ttyS0 panic=-1 quiet"
    /// L2 runs with the KVM host's CPU passed through: KVM's signature leaves are visible.
    public static let l2CPU = "host"
    public static let l2MemoryMiB = 1024
    static let streams = ["console", "results", "hypervisor"]

    /// What L1 is as a host: KVM with nested SVM, one vCPU, 4-level paging (booted from vmlinux,
    /// L1 never switches to 5 levels, so KVM offers L2 no LA57).
    public static var capabilities: HostCapabilities {
        HostCapabilities(
            kvmBootsGuest: true, nestedSVM: true, nestedVMX: false, tcgEmulatesSVM: false, bochsEmulatesVMX: false,
            hostCPUHasLA57: false, cores: 1, availableMemoryMiB: 3072)
    }

    /// The box as a machine, as built: KVM with nested SVM, one vCPU, L1's memory (`lab list`
    /// plans with this; `lab run` asks the box's libvirtd).
    public static var machineCapabilities: MachineCapabilities {
        MachineCapabilities(
            accelerators: [.kvm], nestedSVM: true, cpus: 1, memoryMiB: KVMBoxMachines.Settings().l1MemoryMiB,
            cpuModel: "qemu64")
    }

    /// The box's one cell (`svm-kvm-<kernel>-1024m-1cpu-4lvl`) with the given suites, filtered as
    /// `lab run` filters (`--only`, `--skip`, each case's `needs`).
    public static func cell(
        config: LabConfig, catalog: CaseCatalog, suites: [String], only: [String] = [], skip: [String] = []
    ) throws -> CellSelection {
        var matrix = config.matrix
        matrix.backends = [.svm]
        matrix.hosts = [.host(.kvm)]
        matrix.kernels = [config.matrix.kernels.first ?? .debianCurrent]
        matrix.memoryMiB = [l2MemoryMiB]
        matrix.vcpus = [1]
        matrix.paging = [.fourLevel]
        let plan = MatrixPlan(
            matrix: matrix, capabilities: capabilities, implemented: Implemented(backends: [.svm], hostKinds: [.kvm]))
        let selection = try selectCases(
            plan: plan, catalog: catalog, suites: suites, timeouts: config.timeouts, only: only, skip: skip)
        guard let cell = selection.cells.first else {
            throw KVMBoxError.invalid("--only/--skip left the box's cell out")
        }
        if let reason = cell.cell.status.skipReason {
            throw KVMBoxError.invalid("the box's cell \(cell.cell.id) cannot run: \(reason)")
        }
        return cell
    }

    /// What the box needs on this machine beyond the lab's own tools, or nil when all is there.
    public static func missingTools() -> String? {
        let fm = FileManager.default
        if !fm.isExecutableFile(atPath: "/usr/bin/qemu-system-x86_64") {
            return "/usr/bin/qemu-system-x86_64 (Debian package qemu-system-x86)"
        }
        if setpriv == nil { return "setpriv (Debian package util-linux)" }
        if !fm.isExecutableFile(atPath: "/bin/busybox") { return "/bin/busybox (Debian package busybox-static)" }
        if !fm.isExecutableFile(atPath: "/usr/bin/cpio") && !fm.isExecutableFile(atPath: "/bin/cpio") {
            return "cpio (Debian package cpio)"
        }
        return nil
    }

    static var setpriv: String? {
        ["/usr/bin/setpriv", "/bin/setpriv"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Boots the box until an attempt is not a stall, at most `1 + retries` times.
    public static func run(_ request: KVMBoxRequest) async throws -> KVMBoxRun {
        if let missing = missingTools() { throw KVMBoxError.missingTool(missing) }
        for path in [request.directory, request.box.archive, request.box.kernel, request.hypervisor]
        where path.contains(",") {
            throw KVMBoxError.invalid("\(path): QEMU's option syntax cannot take a path with a comma")
        }
        try FileManager.default.createDirectory(atPath: request.directory, withIntermediateDirectories: true)
        var attempts: [KVMBoxAttempt] = []
        for number in 1...(1 + max(0, request.retries)) {
            let attempt = try await runOnce(request, number: number)
            attempts.append(attempt)
            guard attempt.isFlake else { break }
            if number <= request.retries {
                request.progress(
                    "box: retrying after the stall (logs of attempt \(number) kept in \(attempt.directory))")
            }
        }
        return KVMBoxRun(attempts: attempts)
    }

    // MARK: - One attempt

    static func runOnce(_ request: KVMBoxRequest, number: Int) async throws -> KVMBoxAttempt {
        let fm = FileManager.default
        let dir = request.directory + "/attempt-\(number)"
        try? fm.removeItem(atPath: dir)
        try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let say: @Sendable (String) -> Void = { request.progress("box attempt \(number): " + $0) }

        // L2's bundle (the lab's own: plan appended to the initramfs, mkbundle), then L1's initrd:
        // box.cpio + a second archive holding box/hv.elf, box/bundle.img and box/run.conf.
        let prepared = ContinuousClock.now
        let cases = request.selection.cases
        let l2Limit = Int(
            (request.bootSeconds + cases.reduce(0) { $0 + $1.timeoutSeconds + 20 } + 60).rounded(.up))
        var images = request.images
        images.hypervisor = request.hypervisor
        let media = try await BootMediaBuilder.prepare(
            vmDir: dir + "/l2", images: images, backend: Backend.svm.rawValue, guestCmdline: request.guestCmdline,
            plan: request.selection.agentPlan(policy: request.policy),
            hypervisorCmdline: request.policy.hypervisorOption)
        let payload = dir + "/payload"
        try fm.createDirectory(atPath: payload + "/box", withIntermediateDirectories: true)
        try fm.copyItem(atPath: media.kernel, toPath: payload + "/box/hv.elf")
        try fm.moveItem(atPath: media.initrd, toPath: payload + "/box/bundle.img")
        guard !media.cmdline.contains("'") else {
            throw KVMBoxError.invalid("the hypervisor command line cannot hold a single quote: \(media.cmdline)")
        }
        try "L2_MEMORY_MIB=\(l2MemoryMiB)\nL2_CPU=\(l2CPU)\nL2_TIMEOUT=\(l2Limit)\nL2_HV_CMDLINE='\(media.cmdline)'\n"
            .write(
                toFile: payload + "/box/run.conf", atomically: true, encoding: .utf8)
        try? fm.copyItem(atPath: payload + "/box/run.conf", toPath: dir + "/run.conf")
        let initrd = try await l1Initrd(
            box: request.box, payload: payload, files: ["box/hv.elf", "box/bundle.img", "box/run.conf"], directory: dir)
        // What is left of L2's media is the plan, the initrd and the plan's archive: keep the plan.
        try? fm.removeItem(atPath: dir + "/l2/initrd.img")
        try? fm.removeItem(atPath: dir + "/l2/plan.cpio")
        try? fm.removeItem(atPath: dir + "/l2")
        try request.selection.agentPlan(policy: request.policy).write(
            toFile: dir + "/plan", atomically: true, encoding: .utf8)
        let preparation = (ContinuousClock.now - prepared).seconds

        let log = { (name: String) in dir + "/\(name).log" }
        var logs = ["l1-console": log("l1-console"), "qemu": log("qemu")]
        for stream in streams { logs[stream] = log(stream) }
        var arguments =
            l1Arguments(
                box: request.box, initrd: initrd, memoryMiB: request.l1MemoryMiB, console: log("l1-console"))
            + ["-device", "virtio-serial-pci,id=vs"]
        for stream in streams {
            arguments += [
                "-chardev", "file,id=\(stream),path=\(log(stream))",
                "-device", "virtserialport,bus=vs.0,chardev=\(stream),name=gmlab.l2.\(stream)",
            ]
        }
        try (shellQuoted(arguments) + "\n").write(
            toFile: dir + "/command.txt", atomically: true, encoding: .utf8)

        say("starting L1 (QEMU TCG, \(l1CPU)); logs in \(dir)")
        guard let setpriv else { throw KVMBoxError.missingTool("setpriv (Debian package util-linux)") }
        let process: ChildProcess
        do {
            process = try await ChildProcess.spawn(arguments, setpriv: setpriv, unshare: nil, output: log("qemu"))
        } catch {
            throw KVMBoxError.spawn("\(error)")
        }
        let started = ContinuousClock.now
        let outerDeadline = request.l1BootSeconds + Double(l2Limit) + 60
        var watch = Watch(request: request, say: say)
        var ending: ChildProcess.Termination?
        var verdict: KVMBoxAttempt.Outcome?
        while true {
            ending = process.poll()
            let now = (ContinuousClock.now - started).seconds
            for stream in ["l1-console"] + streams {
                watch.consume(
                    stream: stream, lines: watch.tails[stream, default: Tail(path: log(stream))].read(), at: now)
            }
            if ending != nil { break }
            if let stop = watch.check(at: now)
                ?? (now > outerDeadline ? .hung("the box ran past its \(Int(outerDeadline)) s deadline") : nil)
                ?? (Task.isCancelled ? .boxFailed("cancelled") : nil)
            {
                verdict = stop
                say("stopping the box: \(stop)")
                process.killGroup()
                ending = await process.waitForEnd(timeout: .seconds(10))
                break
            }
            try? await Task.sleep(for: .milliseconds(100))
        }
        let total = (ContinuousClock.now - started).seconds
        for stream in ["l1-console"] + streams {
            var tail = watch.tails[stream, default: Tail(path: log(stream))]
            watch.consume(stream: stream, lines: tail.read(final: true), at: total)
        }
        try? fm.removeItem(atPath: initrd)

        var timings = watch.timings
        timings.preparation = preparation
        timings.total = total
        let outcome =
            verdict ?? watch.stallSignature.map { .stalled($0) } ?? watch.boxFailure.map { .boxFailed($0) }
            ?? (watch.l2ExitStatus == nil
                ? (watch.timings.l1Userspace == nil
                    ? .stalled("L1 ended (\(ending?.description ?? "?")) before its init ran")
                    : .boxFailed("L1 ended (\(ending?.description ?? "?")) before L2 did"))
                : .completed)
        let (results, agentStarted, agentDone, problems) = parseResults(log("results"))
        var attempt = KVMBoxAttempt(
            number: number, directory: dir, outcome: outcome, timings: timings, results: results,
            agentStarted: agentStarted, agentDone: agentDone, agentProblems: problems,
            hypervisorFatal: watch.hypervisorFatal,
            outerHypervisor: watch.outerHypervisor, kvmModule: watch.kvmModule, l2ExitStatus: watch.l2ExitStatus,
            streamProblems: [], logs: logs)
        if outcome == .completed {
            attempt.streamProblems = await verifyStreams(logs: logs, summaries: watch.streamSummaries)
        }
        try? summary(attempt).write(toFile: dir + "/attempt.txt", atomically: true, encoding: .utf8)
        say("\(outcome) after \(String(format: "%.1f", total)) s")
        return attempt
    }

    /// L1's initrd in `directory`: the box image with a second archive of `files` (paths under
    /// `payload`) appended, as the kernel reads concatenated newc archives; `payload` is removed.
    static func l1Initrd(
        box: KVMBoxImage, payload: String, files: [String], directory: String
    ) async throws
        -> String
    {
        let fm = FileManager.default
        let archive = directory + "/payload.cpio"
        try await Command.output(
            "sh",
            [
                "-c", "cd \"$1\" && shift 2 && printf '%s\\n' box \"$@\" | cpio -o -H newc -R 0:0 --quiet > \"$0\"",
                archive, payload, "-",
            ] + files)
        let initrd = directory + "/l1-initrd.img"
        try fm.copyItem(atPath: box.archive, toPath: initrd)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: initrd))
        try handle.seekToEnd()
        try handle.write(contentsOf: try Data(contentsOf: URL(fileURLWithPath: archive)))
        try handle.close()
        try? fm.removeItem(atPath: payload)
        try? fm.removeItem(atPath: archive)
        return initrd
    }

    /// The outer QEMU of L1, both modes: TCG with SVM, L1's kernel and initrd, L1's console to
    /// `console`; each mode adds its devices.
    static func l1Arguments(box: KVMBoxImage, initrd: String, memoryMiB: Int, console: String) -> [String] {
        [
            "/usr/bin/qemu-system-x86_64", "-accel", "tcg", "-cpu", l1CPU, "-m", "\(memoryMiB)", "-smp", "1",
            "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
            "-kernel", box.kernel, "-initrd", initrd, "-append", l1Cmdline, "-serial", "file:" + console,
        ]
    }

    /// Reads the results stream as the lab does (LabModel's agent stream parser).
    static func parseResults(_ path: String) -> ([AgentResult], Bool, Bool, [String]) {
        var parser = AgentStreamParser()
        let data = (try? Data(contentsOf: URL(fileURLWithPath: path))) ?? Data()
        var results: [AgentResult] = []
        var started = false
        var done = false
        var problems: [String] = []
        for event in parser.feed(data) + parser.finish() {
            switch event {
            case .started: started = true
            case .done: done = true
            case .result(let r): results.append(r)
            case .agent(let name, let fields):
                problems.append("agent event \(name): \(fields["message"].map { "\($0)" } ?? "\(fields)")")
            case .protocolError(let line, let text, let problem): problems.append("line \(line): \(problem): \(text)")
            case .begin, .noise: break
            }
        }
        return (results, started, done, problems)
    }

    /// Compares each stream as received with L1's summary of what it sent.
    static func verifyStreams(
        logs: [String: String], summaries: [String: (bytes: Int, sha256: String)]
    ) async
        -> [String]
    {
        var problems: [String] = []
        for stream in streams {
            guard let sent = summaries[stream] else {
                problems.append("\(stream): L1 printed no summary of what it sent")
                continue
            }
            let path = logs[stream] ?? ""
            let size = ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int) ?? -1
            let digest = (try? await Digest.file(path)) ?? "unreadable"
            if size != sent.bytes || digest != "sha256:" + sent.sha256 {
                problems.append(
                    "\(stream): received \(size) bytes (\(digest)), L1 sent \(sent.bytes) (sha256:\(sent.sha256))")
            }
        }
        return problems
    }

    static func summary(_ a: KVMBoxAttempt) -> String {
        func t(_ v: Double?) -> String { v.map { String(format: "%.1f s", $0) } ?? "never" }
        var lines = [
            "outcome: \(a.outcome)",
            "preparation: \(t(a.timings.preparation))",
            "L1 userspace: \(t(a.timings.l1Userspace))",
            "L2 started: \(t(a.timings.l2Started))",
            "L3 userspace: \(t(a.timings.l2Userspace))",
            "agent done: \(t(a.timings.agentDone))",
            "L2 ended: \(t(a.timings.l2Ended)) (status \(a.l2ExitStatus.map(String.init) ?? "unknown"))",
            "total: \(t(a.timings.total))",
            "kvm: \(a.kvmModule ?? "no kvm_amd line")",
            "outer hypervisor: \(a.outerHypervisor ?? "no line in the hypervisor log")",
            "hypervisor fatal: \(a.hypervisorFatal ?? "none")",
            "results: \(a.results.count), agent started \(a.agentStarted), done \(a.agentDone)",
        ]
        lines += a.results.map { "  \($0.status.rawValue) \($0.id): \($0.message)" }
        lines += a.agentProblems.map { "  agent problem: \($0)" }
        lines += a.streamProblems.map { "  stream problem: \($0)" }
        return lines.joined(separator: "\n") + "\n"
    }
}

/// Reads what a log file gained since the last call, as complete lines.
struct Tail {
    let path: String
    var offset: UInt64 = 0
    var partial = Data()

    init(path: String) { self.path = path }

    mutating func read(final: Bool = false) -> [String] {
        if let handle = FileHandle(forReadingAtPath: path) {
            defer { try? handle.close() }
            if (try? handle.seek(toOffset: offset)) != nil, let data = try? handle.readToEnd() {
                offset += UInt64(data.count)
                partial.append(data)
            }
        }
        var lines: [String] = []
        while let newline = partial.firstIndex(of: 0x0A) {
            lines.append(String(decoding: partial[partial.startIndex..<newline], as: UTF8.self))
            partial.removeSubrange(partial.startIndex...newline)
        }
        if final, !partial.isEmpty {
            lines.append(String(decoding: partial, as: UTF8.self))
            partial.removeAll()
        }
        return lines.map { $0.replacingOccurrences(of: "\r", with: "") }
    }
}

/// Follows the four streams of one attempt and decides when to stop it.
struct Watch {
    let request: KVMBoxRequest
    let say: @Sendable (String) -> Void
    var tails: [String: Tail] = [:]
    var timings = KVMBoxTimings()
    var lastTick: Double?
    var stallSignature: String?
    var boxFailure: String?
    var hypervisorFatal: String?
    var fatalAt: Double?
    var outerHypervisor: String?
    var kvmModule: String?
    var l2ExitStatus: Int?
    var streamSummaries: [String: (bytes: Int, sha256: String)] = [:]
    var agent = AgentStreamParser()
    var agentStarted = false
    var currentCase: (id: String, deadline: Double)?
    var timeouts: [String: Double]

    init(request: KVMBoxRequest, say: @escaping @Sendable (String) -> Void) {
        self.request = request
        self.say = say
        self.timeouts = Dictionary(
            request.selection.cases.map { ($0.id, $0.timeoutSeconds) }, uniquingKeysWith: { a, _ in a })
    }

    static let box = "GMLAB-BOX: "
    /// Lines that mean the box's own stall, by stream: L1's watchdogs (nothing L2 does can
    /// starve its KVM host's CPU on real hardware), L3's failed timer check (kvm-box-notes).
    /// The same words from L3 otherwise (a soft lockup in the guest) may be the hypervisor's
    /// fault: those are not flakes.
    static let stallSignatures = [
        "l1-console": ["soft lockup", "rcu_sched self-detected stall", "rcu: INFO: rcu_sched detected stalls"],
        "console": ["IO-APIC + timer doesn't work"],
    ]

    mutating func consume(stream: String, lines: [String], at now: Double) {
        for line in lines {
            if stallSignature == nil,
                let signature = Self.stallSignatures[stream]?.first(where: { line.contains($0) })
            {
                stallSignature = "\(stream == "l1-console" ? "L1" : "L3") logged \"\(signature)\": \(line)"
            }
            switch stream {
            case "l1-console": consumeL1(line, at: now)
            case "console":
                if timings.l2Userspace == nil, line.contains("GMLAB-GUEST: userspace up") {
                    timings.l2Userspace = now
                    say("L3 userspace after \(Self.format(now))")
                }
            case "hypervisor":
                if hypervisorFatal == nil, line.contains("GMLAB-HV-FATAL") {
                    let fatal = line.trimmingCharacters(in: .whitespaces)
                    hypervisorFatal = fatal
                    fatalAt = now
                    say("hypervisor: \(fatal)")
                } else if outerHypervisor == nil, line.contains("GMLAB-HV: outer hypervisor:") {
                    outerHypervisor = line.trimmingCharacters(in: .whitespaces)
                }
            default: consumeResults(line, at: now)
            }
        }
    }

    private mutating func consumeL1(_ line: String, at now: Double) {
        guard let range = line.range(of: Self.box) else { return }
        let text = String(line[range.upperBound...])
        if text.hasPrefix("tick ") {
            lastTick = now
        } else if text.hasPrefix("L1 userspace up") {
            timings.l1Userspace = now
            say("L1 userspace after \(Self.format(now))")
        } else if text.hasPrefix("kvm_amd loaded:") || text.hasPrefix("kvm_intel loaded:") {
            kvmModule = text
            say(text)
        } else if text.hasPrefix("starting L2") {
            timings.l2Started = now
            lastTick = now
        } else if text.hasPrefix("L2 ended: qemu exit status ") {
            timings.l2Ended = now
            let rest = text.dropFirst("L2 ended: qemu exit status ".count)
            let status = Int(rest.prefix { $0.isNumber }) ?? -1
            l2ExitStatus = status
            say("L2 ended after \(Self.format(now)) (QEMU exit status \(status))")
        } else if text.hasPrefix("stream ") {
            // stream NAME bytes N sha256 HEX
            let f = text.split(separator: " ")
            if f.count == 6, let bytes = Int(f[3]) { streamSummaries[String(f[1])] = (bytes, String(f[5])) }
        } else if text.hasPrefix("FAILED: ") {
            boxFailure = String(text.dropFirst("FAILED: ".count))
            say(text)
        }
    }

    private mutating func consumeResults(_ line: String, at now: Double) {
        for event in agent.feed(line + "\n") {
            switch event {
            case .started:
                agentStarted = true
            case .begin(let id):
                currentCase = (id, now + (timeouts[id] ?? 60) + 30)
            case .result(let r):
                currentCase = nil
                say("\(r.status.rawValue) \(r.id)" + (r.status == .pass ? "" : ": \(r.message)"))
            case .done:
                currentCase = nil
                timings.agentDone = now
            default: break
            }
        }
    }

    /// Why to stop the box now, if at all.
    func check(at now: Double) -> KVMBoxAttempt.Outcome? {
        if let stallSignature { return .stalled(stallSignature) }
        if timings.l1Userspace == nil {
            return now > request.l1BootSeconds
                ? .stalled("L1 printed nothing from its init within \(Int(request.l1BootSeconds)) s") : nil
        }
        if timings.l2Started != nil, timings.l2Ended == nil, let lastTick,
            now - lastTick > request.heartbeatGapSeconds
        {
            return .stalled(
                "L1's heartbeat stopped for \(Int(now - lastTick)) s while L2 ran (the box's known TCG stall: L1 "
                    + "loses timer interrupts while a nested guest runs)")
        }
        if let fatalAt, timings.l2Ended == nil, now - fatalAt > 60 {
            return .hung("L2 did not end within 60 s of the hypervisor's fatal error")
        }
        if let started = timings.l2Started, !agentStarted, timings.l2Ended == nil, fatalAt == nil,
            now - started > request.bootSeconds
        {
            return .hung("the agent in L3 did not start within \(Int(request.bootSeconds)) s of L2's start")
        }
        if let (id, deadline) = currentCase, now > deadline {
            return .hung("case \(id) gave no RESULT within its timeout + 30 s")
        }
        if let ended = timings.l2Ended, now - ended > 60 {
            return .boxFailed("L1 did not power off within 60 s of L2's end")
        }
        return nil
    }

    static func format(_ seconds: Double) -> String { String(format: "%.1f s", seconds) }
}
