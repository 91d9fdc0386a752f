import Foundation
import LabModel

/// Progress of a run on the terminal (standard error, so standard output stays clean for
/// machine-readable output): one line when a VM starts, one per finished case with a running
/// count, and skipped cells with their reason.
public final class RunProgress: @unchecked Sendable {
    private let lock = NSLock()
    private var total = 0
    private var done = 0
    private let enabled: Bool
    private let colour: Bool

    public init(enabled: Bool = true) {
        self.enabled = enabled
        self.colour = enabled && isatty(STDERR_FILENO) != 0
    }

    public func planned(cases: Int) { lock.withLock { total += cases } }

    func vmStarting(name: String, cell: String, cases: Int, attempt: Int) {
        say(
            "▶ \(cell): VM \(name) for \(cases) case\(cases == 1 ? "" : "s")"
                + (attempt > 1 ? " (rerun \(attempt - 1) after a VM ended early)" : ""))
    }

    func caseFinished(_ record: CaseRecord) {
        let count = lock.withLock { () -> String in
            done += 1
            return "[\(done)/\(total)]"
        }
        let status = record.status.rawValue.uppercased()
        let painted =
            colour
            ? (record.status.isProblem
                ? "\u{1b}[31m\(status)\u{1b}[0m"
                : record.status == .pass ? "\u{1b}[32m\(status)\u{1b}[0m" : "\u{1b}[33m\(status)\u{1b}[0m") : status
        var line = "\(count) \(painted) \(record.caseId) (\(record.cellId))"
        if let d = record.durationSeconds { line += String(format: " %.2fs", d) }
        if record.status != .pass, !record.message.isEmpty {
            line += ": " + (record.message.split(separator: "\n").first.map(String.init) ?? "")
        }
        say(line)
    }

    func cellSkipped(_ cell: String, reason: String, cases: Int) {
        say("– \(cell): skipped (\(reason)), \(cases) case\(cases == 1 ? "" : "s")")
    }

    public func say(_ line: String) {
        guard enabled else { return }
        lock.withLock { FileHandle.standardError.write(Data((line + "\n").utf8)) }
    }
}
