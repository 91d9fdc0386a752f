import Foundation

/// Names of the lab's domains: `gmlab-<pid>-<runid>-<n>`. The owner's pid makes two lab runs
/// on one host never collide and lets `DomainReaper.sweepOrphans` recognise domains whose
/// owner died; `n` counts VMs within this process.
public enum DomainName {
    public static let prefix = "gmlab-"

    private static let counter = Counter()

    /// The next unused name for this process. `runID` is reduced to [A-Za-z0-9] (other
    /// characters become 'x') and cut to 24 characters, so the name stays a valid libvirt name.
    public static func next(runID: String) -> String {
        make(pid: getpid(), runID: runID, index: counter.next())
    }

    public static func make(pid: Int32, runID: String, index: Int) -> String {
        let cleaned = String(
            runID.unicodeScalars.prefix(24).map {
                $0.isASCII && CharacterSet.alphanumerics.contains($0) ? Character($0) : "x"
            })
        return "\(prefix)\(pid)-\(cleaned.isEmpty ? "run" : cleaned)-\(index)"
    }

    /// The owner pid encoded in a lab domain name, or nil when it is not one of ours.
    public static func ownerPID(of name: String) -> Int32? {
        guard name.hasPrefix(prefix) else { return nil }
        let rest = name.dropFirst(prefix.count)
        guard let dash = rest.firstIndex(of: "-") else { return nil }
        return Int32(rest[..<dash])
    }

    private final class Counter: @unchecked Sendable {
        private let lock = NSLock()
        private var value = 0
        func next() -> Int {
            lock.lock()
            defer { lock.unlock() }
            value += 1
            return value
        }
    }
}
