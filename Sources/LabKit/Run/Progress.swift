import Dispatch
import Foundation
import LabModel

/// Progress of a run on the terminal (standard error, so standard output stays clean for
/// machine-readable output): a line when a VM starts, when each case starts (the agent's
/// `GMLAB-BEGIN`) and when it ends (with a running count), and skipped cells with their reason.
/// On a terminal a heartbeat line under them is redrawn every second: elapsed time, cases
/// done/total per cell, VMs running. Elsewhere (CI logs, pipes) only the plain lines.
public final class RunProgress: @unchecked Sendable {
    private let lock = NSLock()
    private var total = 0
    private var done = 0
    private let enabled: Bool
    private let colour: Bool
    /// Whether the heartbeat line is drawn (a terminal on standard error).
    private let live: Bool
    private var cellOrder: [String] = []
    private var cellTotals: [String: Int] = [:]
    private var cellDone: [String: Int] = [:]
    private var vmsRunning = 0
    private var started = Date()
    private var statusShown = false
    private var timer: DispatchSourceTimer?
    private let write: @Sendable (String) -> Void

    public init(enabled: Bool = true, colour: Bool? = nil) {
        self.enabled = enabled
        let tty = isatty(STDERR_FILENO) != 0
        self.colour = enabled && Colour.enabled(explicit: colour, isTerminal: tty)
        self.live = enabled && tty && ProcessInfo.processInfo.environment["TERM"] != "dumb"
        self.write = { FileHandle.standardError.write(Data($0.utf8)) }
    }

    /// For tests: lines go to `write`, the heartbeat is on when `live`.
    init(live: Bool, write: @escaping @Sendable (String) -> Void) {
        self.enabled = true
        self.colour = false
        self.live = live
        self.write = write
    }

    /// NO_COLOR (no-color.org) or TERM=dumb turn colour off.
    static func colourAllowed(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
        Colour.enabled(explicit: nil, isTerminal: true, environment: environment)
    }

    public func planned(cases: Int) { lock.withLock { total += cases } }

    /// A cell that will run `cases` cases (for the per-cell counts of the heartbeat).
    func planned(cell: String, cases: Int) {
        lock.withLock {
            total += cases
            if cellTotals[cell] == nil { cellOrder.append(cell) }
            cellTotals[cell, default: 0] += cases
        }
    }

    func vmStarting(name: String, cell: String, cases: Int, attempt: Int) {
        lock.withLock { vmsRunning += 1 }
        say(
            "▶ \(cell): VM \(name) for \(cases) case\(cases == 1 ? "" : "s")"
                + (attempt > 1 ? " (rerun \(attempt - 1) after a VM ended early)" : ""))
    }

    func vmEnded() { lock.withLock { vmsRunning = max(0, vmsRunning - 1) } }

    /// The agent began a case (its `GMLAB-BEGIN <id>` line on the results stream).
    func caseStarted(_ caseId: String, cell: String) {
        say("  START \(caseId) (\(cell))")
    }

    func caseFinished(_ record: CaseRecord) {
        let count = lock.withLock { () -> String in
            done += 1
            cellDone[record.cellId, default: 0] += 1
            return "[\(done)/\(total)]"
        }
        let status = record.status.rawValue.uppercased()
        let painted =
            colour
            ? (record.status.isProblem
                ? "\u{1b}[31m\(status)\u{1b}[0m"
                : record.status == .pass ? "\u{1b}[32m\(status)\u{1b}[0m" : "\u{1b}[33m\(status)\u{1b}[0m") : status
        var line = "\(count) \(painted) \(record.caseId) (\(record.cellId))"
        line += Self.durationText(record)
        if record.status != .pass, !record.message.isEmpty {
            line += ": " + (record.message.split(separator: "\n").first.map(String.init) ?? "")
        }
        say(line)
    }

    /// A cell's results so far were cut short (its machine was lost) and it runs again: they
    /// leave the counter, and the line says so, so the rerun's lines count from there.
    func cellRetracted(_ cell: String, reason: String) {
        let count = lock.withLock { () -> Int in
            let shown = cellDone[cell, default: 0]
            done -= shown
            cellDone[cell] = 0
            return shown
        }
        guard count > 0 else { return }
        say(
            "↺ \(cell): the \(count) result\(count == 1 ? "" : "s") above \(count == 1 ? "was" : "were") cut short (\(reason)); "
                + "the cell runs again")
    }

    /// " 12.30s" by the host's clock, with the guest's beside it when the two disagree (under
    /// Bochs the guest's clock follows instructions: "0.26s" for a case that took half a minute).
    static func durationText(_ record: CaseRecord) -> String {
        guard let wall = record.wallSeconds else {
            return record.durationSeconds.map { String(format: " %.2fs", $0) } ?? ""
        }
        var text = String(format: " %.2fs", wall)
        if let guest = record.durationSeconds, abs(guest - wall) > max(0.5, 0.2 * wall) {
            text += String(format: " (guest clock %.2fs)", guest)
        }
        return text
    }

    func cellSkipped(_ cell: String, reason: String, cases: Int) {
        say("– \(cell): skipped (\(reason)), \(cases) case\(cases == 1 ? "" : "s")")
    }

    /// The heartbeat: `⏱ 1m 05s  svm-tcg-…: 3/12  none-tcg-…: 5/5  1 VM running`.
    func statusLine(now: Date = Date()) -> String {
        lock.withLock {
            let seconds = Int(now.timeIntervalSince(started))
            var parts = [String(format: "⏱ %dm %02ds", seconds / 60, seconds % 60)]
            for cell in cellOrder {
                parts.append("\(cell): \(cellDone[cell, default: 0])/\(cellTotals[cell, default: 0])")
            }
            parts.append("\(vmsRunning) VM\(vmsRunning == 1 ? "" : "s") running")
            return parts.joined(separator: "  ")
        }
    }

    /// Starts the heartbeat (a terminal only); `finish()` stops it and clears its line.
    func startHeartbeat() {
        guard live else { return }
        lock.withLock { started = Date() }
        let timer = DispatchSource.makeTimerSource(queue: .global(qos: .utility))
        timer.schedule(deadline: .now() + 1, repeating: 1)
        timer.setEventHandler { [weak self] in self?.drawStatus() }
        lock.withLock { self.timer = timer }
        timer.resume()
    }

    func finish() {
        let timer = lock.withLock { () -> DispatchSourceTimer? in
            defer { self.timer = nil }
            return self.timer
        }
        timer?.cancel()
        lock.withLock {
            if statusShown { write("\r\u{1b}[K") }
            statusShown = false
        }
    }

    private func drawStatus() {
        let line = statusLine()
        lock.withLock {
            guard timer != nil else { return }
            write("\r\u{1b}[K" + line)
            statusShown = true
        }
    }

    public func say(_ line: String) {
        guard enabled else { return }
        lock.withLock {
            // Clear the heartbeat, print the line, and let the next tick redraw it.
            write((statusShown ? "\r\u{1b}[K" : "") + line + "\n")
            statusShown = false
        }
    }
}
