import Dispatch
import Foundation

/// The three serial streams of a VM.
public enum SerialStream: String, Sendable, CaseIterable {
    case console, results, hypervisorLog = "hypervisor-log"
}

/// One line a VM wrote on one of its streams.
public struct StreamLine: Sendable, Equatable {
    public let stream: SerialStream
    public let text: String
}

/// How a VM ended.
public enum ExitReason: Sendable, Equatable, CustomStringConvertible {
    /// The guest powered itself off (ACPI S5, `poweroff`).
    case poweredOff
    /// The guest crashed (libvirt reported a crash, e.g. a panic device).
    case crashed
    /// QEMU itself failed or died.
    case emulatorFailed
    /// We destroyed it: `destroy()` was called.
    case destroyedByUs
    /// We destroyed it because the caller's deadline passed.
    case timedOut
    /// We destroyed it because `onTick` asked to, with the caller's reason.
    case stoppedByCaller(String)
    /// Someone else destroyed it (virsh destroy, libvirtd shutting down).
    case destroyedExternally
    /// It ended without libvirt saying how (no lifecycle event reached us in time).
    case unknown(String)

    public var description: String {
        switch self {
        case .poweredOff: return "powered off"
        case .crashed: return "crashed"
        case .emulatorFailed: return "emulator failed"
        case .destroyedByUs: return "destroyed by us"
        case .timedOut: return "timeout"
        case let .stoppedByCaller(reason): return "stopped: \(reason)"
        case .destroyedExternally: return "destroyed externally"
        case let .unknown(detail): return "ended (\(detail))"
        }
    }
}

/// The outcome of `VMSession.waitUntilExit`.
public struct VMExit: Sendable {
    public let reason: ExitReason
    /// Wall-clock time from domain creation to the moment the end was seen.
    public let elapsed: Duration
    /// libvirt lifecycle events seen for the domain, in order.
    public let events: [LifecycleEvent]
    /// The last state polled while the domain still existed.
    public let lastStatus: DomainStatus?
    /// The last libvirt error met while polling, if any (polling goes on through errors).
    public let lastPollError: LibvirtError?
}

/// One VM: a transient, auto-destroying libvirt domain plus its three stream files.
/// (A `VirtualMachine`; Bochs VMs are `BochsSession`s.)
///
/// The session does not decide deadlines; the caller does, through `waitUntilExit`, and may
/// stop the VM early from `onTick` (e.g. a per-case deadline seen in the results stream).
public final class VMSession: @unchecked Sendable {
    public let name: String
    public let spec: DomainSpec
    public let connection: LibvirtConnection
    /// When the domain was created (after virDomainCreateXML returned).
    public let startedAt: ContinuousClock.Instant
    /// How long virDomainCreateXML took.
    public let creationTime: Duration

    /// QEMU's own log (command line, QEMU errors), written by libvirt.
    public var qemuLogPath: String { "/var/log/libvirt/qemu/\(name).log" }
    public var streamPaths: DomainSpec.SerialFiles { spec.serial }
    public var elapsed: Duration { ContinuousClock.now - startedAt }

    private let reaper: DomainReaper
    private let lock = NSLock()
    private var stopReason: ExitReason?  // set when we destroy, before the destroy call
    private var tailers: StreamTailers

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
        do {
            try await blocking { try connection.createTransientDomain(xml: xml, startPaused: startPaused) }
        } catch {
            reaper.unregister(spec.name)
            throw error
        }
        let now = ContinuousClock.now
        return VMSession(spec: spec, connection: connection, reaper: reaper, startedAt: now, creationTime: now - before)
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
        await destroy(because: .destroyedByUs)
    }

    @discardableResult
    private func destroy(because reason: ExitReason) async -> Bool {
        lock.withLock { if stopReason == nil { stopReason = reason } }
        let destroyed = (try? await blocking { [connection, name] in try connection.destroy(domain: name) }) ?? false
        return destroyed
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
    /// destroyed: `.timedOut`). `onTick` gets the new stream lines each poll and once more,
    /// with `isFinal`, after the end. The stream files are kept. Call it once per session.
    /// Never hangs: if libvirtd stops answering, it destroys at the deadline and gives up
    /// `destroyGiveUp` later with an `.unknown` reason naming the libvirt error.
    public func waitUntilExit(
        deadline: ContinuousClock.Instant,
        pollInterval: Duration = .milliseconds(100),
        onTick: @Sendable (Tick) async -> TickDecision = { _ in .continue }
    ) async -> VMExit {
        var lastStatus: DomainStatus?
        var lastError: LibvirtError?
        var stopRequestedAt: ContinuousClock.Instant?
        var gaveUp: String?
        while true {
            var ended = false
            do {
                let status = try await blocking { [connection, name] in try connection.state(ofDomain: name) }
                if let status { lastStatus = status }
                ended = status == nil || status!.hasEnded
            } catch let error as LibvirtError {
                lastError = error
            } catch {}
            if ended { break }
            let decision = await onTick(Tick(elapsed: elapsed, newLines: readNewLines(), isFinal: false))
            if stopRequestedAt == nil {
                if case let .stop(reason) = decision {
                    stopRequestedAt = .now
                    await destroy(because: .stoppedByCaller(reason))
                } else if ContinuousClock.now >= deadline {
                    stopRequestedAt = .now
                    await destroy(because: .timedOut)
                }
            } else if let stopRequestedAt, ContinuousClock.now - stopRequestedAt > Self.destroyGiveUp {
                // libvirtd does not answer or the destroy did not take: do not wait forever.
                gaveUp =
                    "the domain was still there \(Self.destroyGiveUp) after destroying it"
                    + (lastError.map { "; last libvirt error: \($0)" } ?? "")
                break
            }
            if stopRequestedAt == nil {
                try? await Task.sleep(for: pollInterval)
            } else {
                try? await Task.sleep(for: .milliseconds(20))
            }  // the end is imminent
        }
        let endElapsed = elapsed
        var reason = await exitReason(lastStatus: lastStatus)
        if let gaveUp { reason = .unknown("\(reason); \(gaveUp)") }
        _ = await onTick(Tick(elapsed: endElapsed, newLines: readNewLines(final: true), isFinal: true))
        reaper.unregister(name)
        let events = connection.eventLog.events(forDomain: name)
        connection.eventLog.forget(domain: name)
        return VMExit(
            reason: reason, elapsed: endElapsed, events: events, lastStatus: lastStatus, lastPollError: lastError)
    }

    /// How long `waitUntilExit` waits for a destroyed domain to disappear before giving up.
    public static let destroyGiveUp: Duration = .seconds(20)

    /// `waitUntilExit(deadline: now + timeout, ...)`.
    public func waitUntilExit(
        timeout: Duration, pollInterval: Duration = .milliseconds(100),
        onTick: @Sendable (Tick) async -> TickDecision = { _ in .continue }
    ) async -> VMExit {
        await waitUntilExit(deadline: .now + timeout, pollInterval: pollInterval, onTick: onTick)
    }

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

extension VMSession: VirtualMachine {
    public var emulatorLog: EmulatorLog { EmulatorLog(emulator: "qemu", path: qemuLogPath) }
}

/// Runs a blocking libvirt call on a dispatch thread, off Swift's cooperative pool.
@discardableResult
func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global(qos: .userInitiated).async {
            continuation.resume(with: Result { try body() })
        }
    }
}
