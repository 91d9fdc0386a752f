import Foundation

/// One running guest, whatever runs it: a libvirt domain (`VMSession`, QEMU TCG or KVM) or a
/// Bochs process (`BochsSession`, the VMX host on machines without nested VMX). This is all the
/// run pipeline (LabKit's CellRunner, through a launcher) needs: the three serial streams as
/// lines, polled with a caller-owned deadline and an early-stop decision, a destroy, and how it
/// ended. The types every kind of VM shares live here with the protocol; so does the polling
/// loop behind every `waitUntilExit` (`PolledMachine`).
public protocol VirtualMachine: AnyObject, Sendable {
    /// The lab's name for the VM (`DomainName.next(runID:)`), also its results sub-directory.
    var name: String { get }
    /// The three stream files (console, results, hypervisor log).
    var streamPaths: SerialFiles { get }
    /// Time since the VM started running.
    var elapsed: Duration { get }
    /// How long starting it took (libvirt: creating the domain; Bochs: building the boot CD
    /// and spawning the process).
    var creationTime: Duration { get }
    /// The emulator's own log, to keep beside the streams.
    var emulatorLog: EmulatorLog { get }

    /// Starts the vCPUs of a VM started paused (debugging).
    func resume() async throws
    /// Destroys the VM now. Idempotent; false when it had already ended.
    @discardableResult func destroy() async -> Bool
    /// Complete lines written to the streams since the last call (`final`: also a trailing
    /// unterminated line, once the writer is gone).
    func readNewLines(final: Bool) -> [StreamLine]
    /// Polls until the VM ends or `deadline` passes (then it is destroyed: `.timedOut`).
    /// `onTick` gets the new stream lines each poll, and once more with `isFinal` at the end.
    func waitUntilExit(
        deadline: ContinuousClock.Instant, pollInterval: Duration,
        onTick: @Sendable (VMTick) async -> VMTickDecision
    ) async -> VMExit
}

extension VirtualMachine {
    /// `waitUntilExit(deadline: now + timeout, ...)`.
    public func waitUntilExit(
        timeout: Duration, pollInterval: Duration = .milliseconds(100),
        onTick: @Sendable (VMTick) async -> VMTickDecision = { _ in .continue }
    ) async -> VMExit {
        await waitUntilExit(deadline: .now + timeout, pollInterval: pollInterval, onTick: onTick)
    }
}

// MARK: - Streams

/// The three serial streams of a VM.
public enum SerialStream: String, Sendable, CaseIterable {
    case console, results, hypervisorLog = "hypervisor-log"
}

/// One line a VM wrote on one of its streams.
public struct StreamLine: Sendable, Equatable {
    public let stream: SerialStream
    public let text: String
}

/// The three serial streams as files the emulator writes (truncated at start), the same ports
/// and names for every kind of VM.
public struct SerialFiles: Sendable, Equatable {
    /// Port 0, COM1 (0x3f8): guest console.
    public var console: String
    /// Port 1, COM2 (0x2f8): guest agent results stream.
    public var results: String
    /// Port 2, COM3 (0x3e8): hypervisor log.
    public var hypervisorLog: String

    public init(console: String, results: String, hypervisorLog: String) {
        self.console = console
        self.results = results
        self.hypervisorLog = hypervisorLog
    }

    /// `console.log`, `results.log`, `hypervisor.log` in `directory`.
    public init(directory: URL) {
        console = directory.appendingPathComponent("console.log").path
        results = directory.appendingPathComponent("results.log").path
        hypervisorLog = directory.appendingPathComponent("hypervisor.log").path
    }

    public var all: [String] { [console, results, hypervisorLog] }
}

/// Where an emulator writes its own log, and the file name it is kept under in the VM's
/// results directory (`qemu.log`, `bochs.log`).
public struct EmulatorLog: Sendable, Equatable {
    /// "qemu" or "bochs".
    public let emulator: String
    public let path: String
    public var keptAs: String { emulator + ".log" }

    public init(emulator: String, path: String) {
        self.emulator = emulator
        self.path = path
    }
}

// MARK: - Polling and how a VM ended

/// What `onTick` sees every poll.
public struct VMTick: Sendable {
    public let elapsed: Duration
    public let newLines: [StreamLine]
    /// The last tick, after the VM ended: the rest of the streams; the decision is ignored.
    public let isFinal: Bool

    public init(elapsed: Duration, newLines: [StreamLine], isFinal: Bool) {
        self.elapsed = elapsed
        self.newLines = newLines
        self.isFinal = isFinal
    }
}

public enum VMTickDecision: Sendable, Equatable {
    case `continue`
    /// Destroy the VM now; the exit reason becomes `.stoppedByCaller(reason)`.
    case stop(reason: String)
}

/// How a VM ended.
public enum ExitReason: Sendable, Equatable, CustomStringConvertible {
    /// The guest powered itself off (ACPI S5, `poweroff`).
    case poweredOff
    /// The guest crashed (libvirt reported a crash, e.g. a panic device; a triple fault under Bochs).
    case crashed
    /// The emulator itself failed or died.
    case emulatorFailed
    /// We destroyed it: `destroy()` was called.
    case destroyedByUs
    /// We destroyed it because the caller's deadline passed.
    case timedOut
    /// We destroyed it because `onTick` asked to, with the caller's reason.
    case stoppedByCaller(String)
    /// Someone else destroyed it (virsh destroy, libvirtd shutting down, a signal to Bochs).
    case destroyedExternally
    /// It ended without saying how (e.g. no libvirt lifecycle event reached us in time).
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

/// The outcome of `waitUntilExit`.
public struct VMExit: Sendable {
    public let reason: ExitReason
    /// Wall-clock time from the VM's start to the moment the end was seen.
    public let elapsed: Duration
    /// libvirt lifecycle events seen for the domain, in order (none for a Bochs VM).
    public let events: [LifecycleEvent]
    /// The last libvirt state polled while the domain still existed (nil for a Bochs VM).
    public let lastStatus: DomainStatus?
    /// The last libvirt error met while polling, if any (polling goes on through errors).
    public let lastPollError: LibvirtError?

    public init(
        reason: ExitReason, elapsed: Duration, events: [LifecycleEvent] = [], lastStatus: DomainStatus? = nil,
        lastPollError: LibvirtError? = nil
    ) {
        self.reason = reason
        self.elapsed = elapsed
        self.events = events
        self.lastStatus = lastStatus
        self.lastPollError = lastPollError
    }
}

/// What the one polling loop needs from a kind of VM besides `VirtualMachine`: one look at
/// whether it has ended, and a way to end it for a reason (the first reason given is the one
/// reported).
protocol PolledMachine: VirtualMachine {
    /// One poll: true once the VM has ended. Errors are the VM's to remember (polling goes on).
    func pollEnded() async -> Bool
    /// Ends the VM now, remembering `reason` unless an earlier one is remembered.
    func stop(because reason: ExitReason) async
    /// Said when the VM outlives a stop by `stopGiveUp` (e.g. the last libvirt error), if any.
    var pollProblem: String? { get }
}

/// How long the polling loop waits for a stopped VM to disappear before giving up.
let stopGiveUp: Duration = .seconds(20)

extension PolledMachine {
    /// The loop behind every `waitUntilExit`: polls every `pollInterval` until the VM ends; each
    /// poll hands `onTick` the new stream lines and stops the VM when it asks (or when `deadline`
    /// passes: `.timedOut`). Never hangs: a VM still there `stopGiveUp` after it was stopped is
    /// given up on, and the text returned says so. Ends with the final tick (the rest of the
    /// streams) and returns when the end was seen.
    func pollUntilExit(
        deadline: ContinuousClock.Instant, pollInterval: Duration,
        onTick: @Sendable (VMTick) async -> VMTickDecision
    ) async -> (elapsed: Duration, gaveUp: String?) {
        var stopRequestedAt: ContinuousClock.Instant?
        var gaveUp: String?
        while !(await pollEnded()) {
            let decision = await onTick(VMTick(elapsed: elapsed, newLines: readNewLines(final: false), isFinal: false))
            if let requested = stopRequestedAt {
                if ContinuousClock.now - requested > stopGiveUp {
                    gaveUp =
                        "the VM was still there \(stopGiveUp) after destroying it"
                        + (pollProblem.map { "; \($0)" } ?? "")
                    break
                }
            } else if case let .stop(reason) = decision {
                stopRequestedAt = .now
                await stop(because: .stoppedByCaller(reason))
            } else if ContinuousClock.now >= deadline {
                stopRequestedAt = .now
                await stop(because: .timedOut)
            }
            // Once stopped, the end is imminent: look again soon.
            try? await Task.sleep(for: stopRequestedAt == nil ? pollInterval : .milliseconds(20))
        }
        let endElapsed = elapsed
        _ = await onTick(VMTick(elapsed: endElapsed, newLines: readNewLines(final: true), isFinal: true))
        return (endElapsed, gaveUp)
    }
}
