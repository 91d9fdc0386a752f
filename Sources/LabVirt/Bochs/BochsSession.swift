import Foundation

/// One Bochs VM: a GRUB boot CD, a generated bochsrc, and Bochs as a child process of the lab
/// writing the same three stream files as a libvirt VM. The counterpart of `VMSession` for the
/// host kind `bochs` (the VMX backend's host on machines without nested VMX).
///
/// Lifetime: Bochs runs in its own process group with a parent-death SIGKILL (`ChildProcess`),
/// and is registered with the `DomainReaper` (killed on SIGINT/SIGTERM/SIGHUP). Everything it
/// leaves — bochsrc, bochs.log, bochs.out, grub.cfg, the streams — stays in the VM's directory;
/// only the CD image (tens of MiB) is removed once the VM has ended.
public final class BochsSession: VirtualMachine, @unchecked Sendable {
    public let name: String
    public let machine: BochsMachine
    public let installation: BochsInstallation
    /// When Bochs was started (after the CD was built).
    public let startedAt: ContinuousClock.Instant
    /// How long grub-mkrescue took.
    public let bootCDTime: Duration
    /// How long `start` took: the boot CD, the files, the spawn.
    public let creationTime: Duration
    /// Bochs' pid (also its process group id).
    public var pid: Int32 { process.pid }
    /// The command line Bochs was started with (wrappers included).
    public var commandLine: [String] { process.commandLine }

    /// The emulator: its log is kept as `bochs.log`.
    public static let emulator = "bochs"
    public var streamPaths: SerialFiles { machine.serial }
    public var elapsed: Duration { ContinuousClock.now - startedAt }
    public var emulatorLog: EmulatorLog { EmulatorLog(emulator: Self.emulator, path: machine.logPath) }

    private let process: ChildProcess
    /// COM1..COM3, live into the stream files.
    private let pumps: [SerialPump]
    private let reaper: DomainReaper
    private let keepBootCD: Bool
    private let lock = NSLock()
    private var stopReason: ExitReason?
    private var tailers: StreamTailers
    /// How Bochs ended, once a poll has seen it.
    private var termination: ChildProcess.Termination?

    private init(
        machine: BochsMachine, installation: BochsInstallation, process: ChildProcess, pumps: [SerialPump],
        reaper: DomainReaper, startedAt: ContinuousClock.Instant, bootCDTime: Duration, creationTime: Duration,
        keepBootCD: Bool
    ) {
        self.name = machine.name
        self.machine = machine
        self.installation = installation
        self.process = process
        self.pumps = pumps
        self.reaper = reaper
        self.startedAt = startedAt
        self.bootCDTime = bootCDTime
        self.creationTime = creationTime
        self.keepBootCD = keepBootCD
        tailers = StreamTailers(machine.serial)
    }

    /// Builds the CD, writes the bochsrc and starts Bochs. The machine's name must come from
    /// `DomainName.next(runID:)` (our pid in it), like a libvirt domain's. Stream files and an
    /// old bochs.log are removed first. `startPaused` (a debugger session) is not supported.
    public static func start(
        machine: BochsMachine, installation: BochsInstallation? = nil, reaper: DomainReaper = .shared,
        startPaused: Bool = false, keepBootCD: Bool = false
    ) async throws(BochsError) -> BochsSession {
        guard !startPaused else {
            throw .unsupported(
                "a VM cannot start paused under Bochs (Debian's bochs has no gdb stub, only its "
                    + "internal debugger): run without --gdb and read hypervisor.log and bochs.log; to debug, rebuild "
                    + "the VM's boot.iso from its grub.cfg and run `bochs -f <vm dir>/bochsrc` without `-rc` for Bochs' debugger prompt"
            )
        }
        guard DomainName.ownerPID(of: machine.name) == getpid() else {
            throw .invalid(
                field: "name", value: machine.name,
                reason: "must be made by DomainName.next(runID:) (\(DomainName.prefix)\(getpid())-<runid>-<n>)")
        }
        let before = ContinuousClock.now
        let tools: BochsInstallation
        if let installation { tools = installation } else { tools = try BochsInstallation.find() }
        let fm = FileManager.default
        let pumps: [SerialPump]
        let bochsrc: String
        do {
            try fm.createDirectory(atPath: machine.directory, withIntermediateDirectories: true)
            for path in machine.serial.all {
                try fm.createDirectory(
                    atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                try? fm.removeItem(atPath: path)
            }
            // The streams reach the files as the guest writes them (SerialPump says why).
            pumps = try machine.serial.all.map { file throws(BochsError) in try SerialPump(file: file) }
            bochsrc = try machine.bochsrc(
                share: tools.share,
                terminals: SerialFiles(
                    console: pumps[0].terminal, results: pumps[1].terminal, hypervisorLog: pumps[2].terminal))
            try? fm.removeItem(atPath: machine.logPath)
            try bochsrc.write(toFile: machine.bochsrcPath, atomically: true, encoding: .utf8)
            try BochsMachine.debuggerCommands.write(
                toFile: machine.debuggerCommandsPath, atomically: true, encoding: .utf8)
        } catch let error as BochsError {
            throw error
        } catch {
            throw .spawn(detail: "writing the VM's files in \(machine.directory): \(error)")
        }
        let cdTime = try await GrubBootCD.build(
            entry: machine.boot, iso: machine.isoPath, staging: machine.directory + "/cd-root",
            keepConfigAt: machine.grubConfigPath, grubMkrescue: tools.grubMkrescue)
        let process = try await ChildProcess.spawn(
            [tools.bochs, "-q", "-f", machine.bochsrcPath, "-rc", machine.debuggerCommandsPath],
            setpriv: tools.setpriv, unshare: tools.unshare, output: machine.outputPath)
        let now = ContinuousClock.now
        let session = BochsSession(
            machine: machine, installation: tools, process: process, pumps: pumps, reaper: reaper,
            startedAt: now, bootCDTime: cdTime, creationTime: now - before, keepBootCD: keepBootCD)
        reaper.register(machine.name) { [process] in process.killGroup() }
        return session
    }

    public func resume() async throws {
        throw BochsError.unsupported("resume: a Bochs VM never starts paused")
    }

    /// SIGKILLs Bochs' process group and reaps it. Idempotent; false when it had already ended.
    @discardableResult
    public func destroy() async -> Bool {
        await end(because: .destroyedByUs)
    }

    func stop(because reason: ExitReason) async {
        await end(because: reason)
    }

    /// Remembers why (the first reason wins), then kills Bochs and waits (a while) for its end.
    @discardableResult
    private func end(because reason: ExitReason) async -> Bool {
        lock.withLock { if stopReason == nil { stopReason = reason } }
        let killed = process.killGroup()
        _ = await process.waitForEnd(timeout: .seconds(10))
        return killed
    }

    public func readNewLines(final: Bool = false) -> [StreamLine] {
        lock.withLock { tailers.readNewLines(final: final) }
    }

    /// Polls Bochs every `pollInterval` until it exits or `deadline` passes (then it is killed:
    /// `.timedOut`); the loop is the one every VM shares (`PolledMachine`). How it ended comes
    /// from our own kill, else Bochs' last PANIC (`BochsLog`).
    public func waitUntilExit(
        deadline: ContinuousClock.Instant, pollInterval: Duration = .milliseconds(100),
        onTick: @Sendable (VMTick) async -> VMTickDecision = { _ in .continue }
    ) async -> VMExit {
        let (endElapsed, gaveUp) = await pollUntilExit(deadline: deadline, pollInterval: pollInterval, onTick: onTick)
        let (ours, termination) = lock.withLock { (stopReason, self.termination) }
        var reason: ExitReason
        if let ours {
            reason = ours
        } else if let termination {
            reason = BochsLog.exitReason(termination: termination, log: BochsLog.tail(of: machine.logPath))
        } else {
            reason = .unknown("bochs (pid \(pid)) never seen to end")
        }
        if let gaveUp { reason = .unknown("\(reason); \(gaveUp)") }
        for pump in pumps { pump.stop() }
        reaper.unregister(name)
        if !keepBootCD { try? FileManager.default.removeItem(atPath: machine.isoPath) }
        return VMExit(reason: reason, elapsed: endElapsed)
    }

    func pollEnded() async -> Bool {
        guard let ended = process.poll() else { return false }
        lock.withLock { termination = ended }
        // Bochs is gone: what its ports still hold goes to the files before the final read.
        for pump in pumps { pump.stop() }
        return true
    }

    var pollProblem: String? { "bochs (pid \(pid)) survived SIGKILL to its process group" }
}

extension BochsSession: PolledMachine {}
