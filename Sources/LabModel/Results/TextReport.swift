import Foundation

/// The terminal report: totals, one line per cell, then every problem (fail, error, timeout)
/// with its message, logs and repro command. ANSI colour only when `color` is true.
public enum TextReport {
    public static func render(_ results: RunResults, color: Bool = false) -> String {
        let paint = Painter(enabled: color)
        var lines: [String] = []
        let provenance = results.provenance
        var header = "GuestMemLab run " + Provenance.timestamp(provenance.startTime)
        if let end = provenance.endTime {
            header += " (\(formatDuration(end.timeIntervalSince(provenance.startTime))))"
        }
        lines.append(paint.bold(header))
        var facts: [String] = []
        if let commit = provenance.labCommit { facts.append("lab \(commit)") }
        if let qemu = provenance.qemuVersion { facts.append("QEMU \(qemu)") }
        if let policy = provenance.hypervisorPolicy { facts.append("hypervisor policy \(policy.rawValue)") }
        if let library = provenance.libvirtLibraryVersion {
            facts.append("libvirt \(library)" + (provenance.libvirtDaemonVersion.map { " (daemon \($0))" } ?? ""))
        }
        for (spec, kernel) in provenance.guestKernels.sorted(by: { $0.key < $1.key }) {
            facts.append("kernel \(spec) = \(kernel.version)")
        }
        if !facts.isEmpty { lines.append(facts.joined(separator: ", ")) }

        let totals = results.reportTotals
        let total = totals.values.reduce(0, +)
        lines.append("")
        lines.append(
            "Totals: " + summary(totals, paint: paint)
                + " (\(total) case run\(total == 1 ? "" : "s") in \(results.cells.count) cell\(results.cells.count == 1 ? "" : "s"))"
        )

        lines.append("")
        lines.append(paint.bold("Cells"))
        let width = results.cells.map(\.id.count).max() ?? 0
        for cell in results.cells {
            let rows = results.reportRows(for: cell)
            var counts: [CaseStatus: Int] = [:]
            for row in rows { counts[row.status, default: 0] += 1 }
            let label: String
            let detail: String
            switch cell.status {
            case .skipped(let reason):
                label = paint.status(.skip, "SKIP")
                detail = "skipped: \(terminalSafe(reason))"
            case .error(let message):
                label = paint.status(.error, "ERROR")
                detail = "could not run: \(terminalSafe(message))"
            case .ran:
                let problem = counts.contains { $0.key.isProblem && $0.value > 0 }
                label = problem ? paint.status(.fail, "FAIL") : paint.status(.pass, "PASS")
                detail = summary(counts, paint: paint)
            }
            lines.append(
                "  \(pad(label, visible: 5, paint: paint)) \(cell.id.padding(toLength: width, withPad: " ", startingAt: 0))  \(detail)"
            )
        }

        let problems =
            results.cells.flatMap { cell -> [CaseRecord] in
                if case .skipped = cell.status { return [] }
                return results.rows(for: cell).filter(\.status.isProblem)
            }
            + results.records.filter { record in
                record.status.isProblem && !results.cells.contains { $0.id == record.cellId }
            }
        if !problems.isEmpty {
            lines.append("")
            lines.append(paint.bold("Problems"))
            for record in problems {
                lines.append(
                    "  \(paint.status(record.status, record.status.rawValue.uppercased())) \(record.caseId) in \(record.cellId)"
                        + (record.attempt > 1 ? " (attempt \(record.attempt))" : ""))
                if let info = results.caseInfo(record.caseId) { lines.append("      \(info.description)") }
                for line in terminalSafe(record.message).split(separator: "\n", omittingEmptySubsequences: false) {
                    lines.append("      \(line)")
                }
                for (role, path) in record.logs.sorted(by: { $0.key < $1.key }) {
                    lines.append("      \(role) log: \(path)")
                }
                for (role, text) in (record.truncatedLogs ?? [:]).sorted(by: { $0.key < $1.key }) {
                    lines.append("      \(role) log TRUNCATED: \(text)")
                }
                if let repro = record.repro { lines.append("      reproduce: \(repro)") }
            }
        }
        let findings = results.findings
        if !findings.isEmpty {
            lines.append("")
            lines.append(paint.bold("Findings (declared, asserted as they are: they pass)"))
            for record in findings {
                lines.append("  \(record.caseId) in \(record.cellId)")
                if let text = results.findingText(of: record) {
                    lines.append("      \(terminalSafe(text))")
                }
            }
        }
        for comparison in BackendComparison.of(results) {
            lines.append("")
            var section = comparison.text(safe: terminalSafe)
            section[0] = paint.bold(section[0])
            lines += section
        }
        if !results.notes.isEmpty {
            lines.append("")
            lines.append(paint.bold("Notes"))
            for note in results.notes { lines.append("  - \(note)") }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Guest-supplied text with control characters (ESC included) shown as `\xNN`, so a
    /// message cannot move the cursor or recolour the terminal. Newlines and tabs stay.
    static func terminalSafe(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            if (scalar.value < 0x20 && scalar != "\n" && scalar != "\t") || scalar.value == 0x7F
                || (0x80..<0xA0).contains(scalar.value)
            {
                out += String(format: "\\x%02x", scalar.value)
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    static func summary(_ counts: [CaseStatus: Int], paint: Painter) -> String {
        let parts = CaseStatus.allCases.compactMap { status -> String? in
            guard let count = counts[status], count > 0 else { return nil }
            return paint.status(status, "\(count) \(status.rawValue)")
        }
        return parts.isEmpty ? "no cases" : parts.joined(separator: ", ")
    }

    static func pad(_ text: String, visible: Int, paint: Painter) -> String {
        let plain =
            paint.enabled
            ? text.replacingOccurrences(of: #"\u{1B}\[[0-9;]*m"#, with: "", options: .regularExpression) : text
        return text + String(repeating: " ", count: max(0, visible - plain.count))
    }

    static func formatDuration(_ seconds: TimeInterval) -> String {
        let total = Int(seconds.rounded())
        if total < 60 { return "\(total)s" }
        if total < 3600 { return "\(total / 60)m \(total % 60)s" }
        return "\(total / 3600)h \(total % 3600 / 60)m"
    }

    struct Painter {
        var enabled: Bool

        func wrap(_ code: String, _ text: String) -> String {
            enabled ? "\u{1B}[\(code)m\(text)\u{1B}[0m" : text
        }

        func bold(_ text: String) -> String { wrap("1", text) }

        func status(_ status: CaseStatus, _ text: String) -> String {
            switch status {
            case .pass: return wrap("32", text)
            case .fail, .timeout: return wrap("1;31", text)
            case .error, .interrupted: return wrap("1;35", text)
            case .skip: return wrap("33", text)
            }
        }
    }
}
