import Foundation

/// TAP version 13 (the Test Anything Protocol kvm-unit-tests and kselftest users know): one
/// test point per case and cell, in the order of the reports; `ok … # SKIP reason` for skips;
/// `not ok` for fail, timeout, error and interrupted, with a YAML block (status, message,
/// repro, logs). Written as results.tap in every results directory; `lab run --tap` prints it.
public enum TAPReport {
    public static func render(_ results: RunResults) -> String {
        var rows: [CaseRecord] = results.cells.flatMap { results.reportRows(for: $0) }
        rows += results.records.filter { record in !results.cells.contains { $0.id == record.cellId } }
        var lines = ["TAP version 13", "1..\(rows.count)"]
        for (index, row) in rows.enumerated() {
            let description = escape("\(row.caseId) in \(row.cellId)")
            switch row.status {
            case .pass:
                lines.append("ok \(index + 1) - \(description)")
            case .skip:
                lines.append("ok \(index + 1) - \(description) # SKIP \(escape(firstLine(row.message)))")
            case .fail, .timeout, .error, .interrupted:
                lines.append("not ok \(index + 1) - \(description)")
                lines.append("  ---")
                lines.append("  status: \(row.status.rawValue)")
                lines.append("  message: \(JSONValue.quoted(row.message))")
                if let duration = row.durationSeconds { lines.append("  duration_s: \(duration)") }
                if let wall = row.wallSeconds { lines.append("  wall_s: \(wall)") }
                if let repro = row.repro { lines.append("  repro: \(JSONValue.quoted(repro))") }
                if !row.logs.isEmpty {
                    lines.append("  logs:")
                    for (role, path) in row.logs.sorted(by: { $0.key < $1.key }) {
                        lines.append("    \(role): \(JSONValue.quoted(path))")
                    }
                }
                lines.append("  ...")
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// `#` starts a directive and a newline ends a test line: neither may appear unescaped.
    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "#", with: "\\#")
            .replacingOccurrences(of: "\n", with: " ")
    }

    static func firstLine(_ text: String) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false).first.map(String.init) ?? ""
    }
}
