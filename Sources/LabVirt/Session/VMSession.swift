import Dispatch
import Foundation

/// One VM: a transient, auto-destroying libvirt domain plus its three stream files.
/// (A `VirtualMachine`; Bochs VMs are `BochsSession`s.)
///
/// The session does not decide deadlines; the caller does, through `waitUntilExit`, and may
/// stop the VM early from `onTick` (e.g. a per-case deadline seen in the results stream).
public final class VMSession: VirtualMachine, @unchecked Sendable {
    public let name: String
    public let spec: DomainSpec
    public let connection: LibvirtConnection
    /// When the domain was created (after virDomainCreateXML returned).
    public let startedAt: ContinuousClock.Instant
    /// How long virDomainCreateXML took.
    public let creationTime: Duration

    /// The emulator libvirt runs: its log is kept as `qemu.log`.
    public static let emulator = "qemu"
    /// QEMU's own log (command line, QEMU errors), written by libvirt.
    public var qemuLogPath: String { "/var/log/libvirt/qemu/\(name).log" }
    public var emulatorLog: EmulatorLog { EmulatorLog(emulator: Self.emulator, path: qemuLogPath) }
    public var streamPaths: SerialFiles { spec.serial }
    public var elapsed: Duration { ContinuousClock.now - startedAt }

    private let reaper: DomainReaper
    private let lock = NSLock()
    private var stopReason: ExitReason?  // set when we destroy, before the destroy call
    private var tailers: StreamTailers
    // What polling saw: the last state while the domain existed, the last libvirt error.
    private var lastStatus: DomainStatus?
    private var lastPollError: LibvirtError?
    /// `consoleStreams` sessions: the console pumps (one per serial) and their end.
    private var consoles: [LibvirtStream] = []
    private let pumps = DispatchGroup()
    /// The QEMU process of the domain when its daemon runs on this host (`EmulatorProcess`),
    /// found right after creation; empty when it runs elsewhere.
    public private(set) var emulatorPIDs: [Int32] = []

    private init(
        spec: DomainSpec, connection: LibvirtConnection, reaper: DomainReaper,
        startedAt: ContinuousClock.Instant, creationTime: Duration
    ) {
        self.name = spec.name
        self.spec = spec
        self.connection = connection
        self.reaper = reaper
        self.startedAt = startedAt
        self.creationTime = creationTime
        tailers = StreamTailers(spec.serial)
    }

    /// Creates the domain (transient, AUTODESTROY) and registers it with the reaper.
    /// The spec's name must come from `DomainName.next(runID:)` (our pid in it), so the
    /// orphan sweep and other lab runs recognise it. Stream files are removed first and
    /// their directories created.
    public static func start(
        spec: DomainSpec, connection: LibvirtConnection, reaper: DomainReaper = .shared,
        startPaused: Bool = false
    ) async throws -> VMSession {
        guard DomainName.ownerPID(of: spec.name) == getpid() else {
            throw DomainSpecError.invalid(
                field: "name", value: spec.name,
                reason: "must be made by DomainName.next(runID:) (\(DomainName.prefix)\(getpid())-<runid>-<n>)")
        }
        let xml = try spec.xml()
        for path in spec.serial.all {
            let url = URL(fileURLWithPath: path)
            try FileManager.default.createDirectory(
                at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try? FileManager.default.removeItem(at: url)
        }
        reaper.register(spec.name, on: connection)
        let before = ContinuousClock.now
        let streams = spec.serialTransport == .consoleStreams
        do {
            // Console streams open on a paused domain, so not a byte is written before them.
            try await blocking { try connection.createTransientDomain(xml: xml, startPaused: startPaused || streams) }
        } catch {
            reaper.unregister(spec.name)
            throw error
        }
        let now = ContinuousClock.now
        let session = VMSession(
            spec: spec, connection: connection, reaper: reaper, startedAt: now, creationTime: now - before)
        // Its QEMU, so that a lost daemon does not leave it running (killed by pid then).
        session.emulatorPIDs = EmulatorProcess.pids(ofDomain: spec.name)
        reaper.register(spec.name, emulatorPIDs: session.emulatorPIDs)
        if streams {
            do {
                try await session.openConsoles()
                if !startPaused { try await session.resume() }
            } catch {
                await session.destroy()
                reaper.unregister(spec.name)
                throw error
            }
        }
        return session
    }

    /// Opens the console of each pty serial (`serial0`…`serial2`) and copies it, on a thread of
    /// its own, into the stream file the tailers follow (the port's stream in `serialOrder`: a
    /// BitVisor VM has its hypervisor log on serial0).
    private func openConsoles() async throws {
        let opened = try await blocking { [connection, name] in
            try (0..<3).map { try connection.openConsole(domain: name, device: "serial\($0)") }
        }
        lock.withLock { consoles = opened }
        for (stream, path) in zip(opened, spec.serialPathsByPort) {
            pumps.enter()
            Thread.detachNewThread { [pumps] in
                stream.pump(to: path)
                pumps.leave()
            }
        }
    }

    /// Waits (at most `timeout`) for the console pumps to reach the end of their streams, so
    /// the last lines are in the files before the final read; then ends any still open.
    func drainConsoles(timeout: Duration = .seconds(3)) async {
        let streams = lock.withLock { consoles }
        guard !streams.isEmpty else { return }
        let group = pumps
        let seconds = Double(timeout.components.seconds)
        let finished = await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(returning: group.wait(timeout: .now() + seconds) == .success)
            }
        }
        if !finished { for stream in streams { stream.abort() } }
    }

    /// Starts the vCPUs of a session started paused.
    public func resume() async throws {
        try await blocking { [connection, name] in try connection.resume(domain: name) }
    }

    /// The current state, nil once the domain is gone.
    public func status() async throws -> DomainStatus? {
        try await blocking { [connection, name] in try connection.state(ofDomain: name) }
    }

    /// Destroys the domain now. Idempotent; returns false when it had already ended.
    @discardableResult
    public func destroy() async -> Bool {
        await end(because: .destroyedByUs)
    }

    func stop(because reason: ExitReason) async {
        await end(because: reason)
    }

    /// Remembers why (the first reason wins), then destroys the domain.
    @discardableResult
    private func end(because reason: ExitReason) async -> Bool {
        lock.withLock { if stopReason == nil { stopReason = reason } }
        return (try? await blocking { [connection, name] in try connection.destroy(domain: name) }) ?? false
    }

    /// Complete lines written to the streams since the last call (any caller; the tailers
    /// are shared, so each line is returned once).
    public func readNewLines(final: Bool = false) -> [StreamLine] {
        lock.withLock { tailers.readNewLines(final: final) }
    }

    /// What `onTick` sees every poll (shared with the other `VirtualMachine`s).
    public typealias Tick = VMTick
    public typealias TickDecision = VMTickDecision

    /// Polls the domain every `pollInterval` until it ends or `deadline` passes (then it is
    /// destroyed: `.timedOut`); the loop is the one every VM shares (`PolledMachine`). The
    /// stream files are kept. Call it once per session. Never hangs: if libvirtd stops
    /// answering, it destroys at the deadline and gives up a while later with an `.unknown`
    /// reason naming the libvirt error.
    public func waitUntilExit(
        deadline: ContinuousClock.Instant,
        pollInterval: Duration = .milliseconds(100),
        onTick: @Sendable (Tick) async -> TickDecision = { _ in .continue }
    ) async -> VMExit {
        let (endElapsed, gaveUp) = await pollUntilExit(deadline: deadline, pollInterval: pollInterval, onTick: onTick)
        let (lastStatus, lastError) = lock.withLock { (self.lastStatus, self.lastPollError) }
        var reason = await exitReason(lastStatus: lastStatus)
        if let gaveUp { reason = .unknown("\(reason); \(gaveUp)") }
        reaper.unregister(name)
        let events = connection.eventLog.events(forDomain: name)
        connection.eventLog.forget(domain: name)
        return VMExit(
            reason: reason, elapsed: endElapsed, events: events, lastStatus: lastStatus, lastPollError: lastError)
    }

    /// One look at the domain's state: ended when it is gone or in an end state.
    func pollEnded() async -> Bool {
        do {
            let status = try await blocking { [connection, name] in try connection.state(ofDomain: name) }
            guard let status else {
                await drainConsoles()
                return true
            }
            lock.withLock { lastStatus = status }
            if status.hasEnded { await drainConsoles() }
            return status.hasEnded
        } catch let error as LibvirtError {
            lock.withLock { lastPollError = error }
            // The machine is gone (daemon dead, connection broken): so is the VM, for us.
            if !connection.isAlive {
                await connectionLost()
                return true
            }
        } catch {}
        return false
    }

    /// The daemon is gone: libvirt cannot destroy the domain any more, so its QEMU (started with
    /// `-no-shutdown`, and AUTODESTROY needs a live daemon) is killed here by pid; the reason says
    /// what was lost and what became of the QEMU.
    private func connectionLost() async {
        let why = connection.loss.reason.map { " (\($0))" } ?? ""
        let killed = EmulatorProcess.killAll(ofDomain: name, known: emulatorPIDs)
        let left = EmulatorProcess.pids(ofDomain: name)
        let qemu: String
        if !killed.isEmpty {
            qemu = "killed its QEMU (pid \(killed.map(String.init).joined(separator: ", ")))"
        } else if !left.isEmpty {
            qemu = "its QEMU (pid \(left.map(String.init).joined(separator: ", "))) could not be killed"
        } else if emulatorPIDs.isEmpty {
            qemu = "its QEMU runs out of this host's sight"
        } else {
            qemu = "its QEMU had already ended"
        }
        lock.withLock {
            if stopReason == nil {
                stopReason = .unknown(
                    "the connection to \(connection.uri) broke\(why): the machine is lost; \(qemu)")
            }
        }
        await drainConsoles()
    }

    var pollProblem: String? { lock.withLock { lastPollError.map { "last libvirt error: \($0)" } } }

    /// Our own destroy wins; otherwise libvirt's STOPPED event (a transient domain vanishes
    /// when it stops, so its state is rarely seen), then the last polled state.
    private func exitReason(lastStatus: DomainStatus?) async -> ExitReason {
        if let ours = lock.withLock({ stopReason }) { return ours }
        // The event may trail the domain's disappearance by a few milliseconds.
        var stopped: LifecycleEvent?
        for _ in 0..<20 {
            stopped = connection.eventLog.events(forDomain: name).last(where: \.isStopped)
            if stopped != nil { break }
            try? await Task.sleep(for: .milliseconds(25))
        }
        if let stopped {
            switch stopped.detail {
            case 0: return .poweredOff  // VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN
            case 1: return .destroyedExternally  // ..._DESTROYED
            case 2: return .crashed  // ..._CRASHED
            case 5: return .emulatorFailed  // ..._FAILED
            default: return .unknown("libvirt event \(stopped.text)")
            }
        }
        if let lastStatus, lastStatus.hasEnded {
            switch (lastStatus.state, lastStatus.reasonText) {
            case (.shutOff, "shutdown"): return .poweredOff
            case (.shutOff, "destroyed"): return .destroyedExternally
            case (.shutOff, "crashed"), (.crashed, _): return .crashed
            case (.shutOff, "failed"): return .emulatorFailed
            default: return .unknown("state \(lastStatus)")
            }
        }
        return .unknown(
            "domain vanished without a lifecycle event; last state \(lastStatus.map(String.init(describing:)) ?? "never seen")"
        )
    }
}

extension VMSession: PolledMachine {}

/// Runs a blocking libvirt call on a dispatch thread, off Swift's cooperative pool.
@discardableResult
func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global(qos: .userInitiated).async {
            continuation.resume(with: Result { try body() })
        }
    }
}
