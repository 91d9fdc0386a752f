import Foundation

/// One running guest, whatever runs it: a libvirt domain (`VMSession`, QEMU TCG or KVM) or a
/// Bochs process (`BochsSession`, the VMX host on machines without nested VMX). This is all the
/// run pipeline (LabKit's CellRunner) needs: the three serial streams as lines, polled with a
/// caller-owned deadline and an early-stop decision, a destroy, and how it ended.
public protocol VirtualMachine: AnyObject, Sendable {
    /// The lab's name for the VM (`DomainName.next(runID:)`), also its results sub-directory.
    var name: String { get }
    /// The three stream files (console, results, hypervisor log).
    var streamPaths: DomainSpec.SerialFiles { get }
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
