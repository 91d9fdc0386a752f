import Foundation

/// Reads how a Bochs VM ended from Bochs' log. Bochs reports every way a machine stops as a
/// PANIC (`panic: action=fatal` makes each one end the process, with exit status 1), so the
/// exit status alone says nothing; the last PANIC line does:
///
/// | PANIC message (Bochs 2.7) | meaning |
/// | --- | --- |
/// | `ACPI control: soft power off` | the guest wrote S5 to PIIX4 PM1a_CNT (Linux `poweroff`) |
/// | `Shutdown port: shutdown requested` | "Shutdown" written to port 0x8900 (the hypervisor's last resort) |
/// | `exception(): 3rd (N) exception with no resolution` | triple fault (`reset_on_triple_fault=0`) |
/// | anything else | Bochs itself gave up (bad config, unimplemented feature, …) |
public enum BochsLog {
    /// The message of the last `>>PANIC<<` line in `log`, nil when there is none.
    public static func lastPanic(in log: String) -> String? {
        guard let line = log.split(separator: "\n").last(where: { $0.contains(">>PANIC<<") }) else { return nil }
        guard let marker = line.range(of: ">>PANIC<<") else { return nil }
        return line[marker.upperBound...].trimmingCharacters(in: .whitespaces)
    }

    /// The exit reason for a Bochs process that ended by itself with `termination`, given its log.
    static func exitReason(termination: ChildProcess.Termination, log: String) -> ExitReason {
        let panic = lastPanic(in: log)
        if let panic {
            let lower = panic.lowercased()
            if lower.contains("soft power off") || lower.contains("shutdown requested") { return .poweredOff }
            if lower.contains("3rd (") && lower.contains("exception with no resolution") { return .crashed }
        }
        if case .signaled = termination { return .destroyedExternally }
        if let panic { return .unknown("bochs \(termination): \(panic)") }
        return .unknown(
            "bochs \(termination) without a PANIC in its log"
                + (lastLines(log, 2).isEmpty ? "" : " (last lines: \(lastLines(log, 2)))"))
    }

    static func lastLines(_ text: String, _ count: Int) -> String {
        text.split(separator: "\n").suffix(count).map { $0.trimmingCharacters(in: .whitespaces) }.joined(
            separator: " / ")
    }

    /// The last `limit` bytes of the file at `path` ("" when unreadable): Bochs logs can be long.
    static func tail(of path: String, limit: Int = 64 << 10) -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else { return "" }
        defer { try? handle.close() }
        let size = (try? handle.seekToEnd()) ?? 0
        try? handle.seek(toOffset: size > UInt64(limit) ? size - UInt64(limit) : 0)
        let data = (try? handle.readToEnd()) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}
