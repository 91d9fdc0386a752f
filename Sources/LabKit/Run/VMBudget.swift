import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The host's VM budget, shared by every `lab run`, `lab repro` and `lab bench` on the machine:
/// a directory of slot files under the cache (`vm-slots/slot-N`), one slot per core by default
/// (`LAB_VM_SLOTS` overrides; 0 turns the budget off). A VM starts only while its run holds a
/// slot (an exclusive `flock` on one file); when every slot is held the run waits, and says so,
/// rather than overcommitting the cores that the cases' wall-clock deadlines depend on. The
/// kernel drops a dead process's locks, so a killed run frees its slots at once.
public struct VMBudget: Sendable {
    public let directory: String
    public let slots: Int

    public init(directory: String, slots: Int) {
        self.directory = directory
        self.slots = slots
    }

    /// The machine's budget: `cache/vm-slots`, `LAB_VM_SLOTS` slots or one per core. Nil when
    /// `LAB_VM_SLOTS` is 0 (no budget).
    public static func host(
        cache: String, environment: [String: String] = ProcessInfo.processInfo.environment
    )
        -> VMBudget?
    {
        var slots = ProcessInfo.processInfo.activeProcessorCount
        if let text = environment["LAB_VM_SLOTS"], let count = Int(text.trimmingCharacters(in: .whitespaces)),
            count >= 0
        {
            slots = count
        }
        guard slots > 0 else { return nil }
        return VMBudget(directory: cache + "/vm-slots", slots: slots)
    }

    /// A held slot; released by `release()` (or when the process ends).
    public final class Slot: @unchecked Sendable {
        public let index: Int
        private let lock = NSLock()
        private var descriptor: Int32

        init(index: Int, descriptor: Int32) {
            self.index = index
            self.descriptor = descriptor
        }

        public func release() {
            lock.withLock {
                guard descriptor >= 0 else { return }
                _ = ftruncate(descriptor, 0)
                _ = flock(descriptor, LOCK_UN)
                close(descriptor)
                descriptor = -1
            }
        }

        deinit { release() }
    }

    func path(_ index: Int) -> String { directory + "/slot-\(index)" }

    /// A free slot, or nil when all are held. `owner` is written into the slot file (who holds
    /// it, for the message of a run that waits).
    public func tryAcquire(owner: String) -> Slot? {
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for index in 0..<slots {
            let fd = open(path(index), O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
            guard fd >= 0 else { continue }
            if flock(fd, LOCK_EX | LOCK_NB) == 0 {
                _ = ftruncate(fd, 0)
                let text = owner + "\n"
                _ = text.withCString { write(fd, $0, strlen($0)) }
                return Slot(index: index, descriptor: fd)
            }
            close(fd)
        }
        return nil
    }

    /// Who holds the slots now (the owner lines of the held slot files).
    public func holders() -> [String] {
        (0..<slots).compactMap { index in
            let fd = open(path(index), O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { return nil }
            defer { close(fd) }
            // A shared lock is refused while someone holds the exclusive one.
            if flock(fd, LOCK_SH | LOCK_NB) == 0 {
                _ = flock(fd, LOCK_UN)
                return nil
            }
            let text = (try? String(contentsOfFile: path(index), encoding: .utf8)) ?? ""
            let line = text.trimmingCharacters(in: .whitespacesAndNewlines)
            return line.isEmpty ? "slot \(index): held" : line
        }
    }

    /// Waits for a slot, polling every `interval`; `waiting` is told once, with the holders,
    /// when the first try finds none free. Throws CancellationError when the task is cancelled.
    public func acquire(
        owner: String, interval: Duration = .milliseconds(250), waiting: @Sendable ([String]) -> Void
    ) async throws -> Slot {
        var told = false
        while true {
            if let slot = tryAcquire(owner: owner) { return slot }
            if !told {
                waiting(holders())
                told = true
            }
            try await Task.sleep(for: interval)
        }
    }
}
