import Foundation

/// A self-contained HTML page (inline CSS, no scripts or external assets): totals, a table of
/// cases × cells coloured by status, every problem expanded with logs and repro command, the
/// provenance, and the notes.
public enum HTMLReport {
    public static func render(_ results: RunResults) -> String {
        let cells = results.cells
        var rowsByCell: [String: [String: CaseRecord]] = [:]
        var caseOrder: [String] = []
        var seenCases: Set<String> = []
        for cell in cells {
            for row in results.rows(for: cell) {
                rowsByCell[cell.id, default: [:]][row.caseId] = row
                if seenCases.insert(row.caseId).inserted { caseOrder.append(row.caseId) }
            }
        }
        let provenance = results.provenance
        var html = """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <title>GuestMemLab results \(escape(Provenance.timestamp(provenance.startTime)))</title>
            <style>
            body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
            table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
            th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: left; vertical-align: top; }
            th.cell { writing-mode: vertical-rl; transform: rotate(180deg); font-weight: normal; font-family: monospace; }
            td.status { text-align: center; font-family: monospace; }
            .pass { background: #c8efc8; } .fail, .timeout { background: #f5b5b5; } .error { background: #e8b5f0; }
            .skip { background: #f0e6b0; } .none { background: #eee; }
            code, pre { font-family: monospace; } pre { white-space: pre-wrap; background: #f6f6f6; padding: 0.5em; }
            details { margin: 0.5em 0; border-left: 4px solid #d55; padding-left: 0.5em; }
            </style>
            </head>
            <body>
            <h1>GuestMemLab results</h1>

            """
        let totals = results.totals
        html +=
            "<p>Totals: "
            + CaseStatus.allCases.compactMap { status in
                guard let count = totals[status], count > 0 else { return nil }
                return "<span class=\"\(status.rawValue)\">\(count) \(status.rawValue)</span>"
            }.joined(separator: ", ") + " in \(cells.count) cell\(cells.count == 1 ? "" : "s").</p>\n"

        // Cells and their status.
        html += "<h2>Cells</h2>\n<table>\n<tr><th>cell</th><th>status</th></tr>\n"
        for cell in cells {
            let (cls, text): (String, String)
            switch cell.status {
            case .ran:
                let problem = results.rows(for: cell).contains { $0.status.isProblem }
                (cls, text) = problem ? ("fail", "ran, with problems") : ("pass", "ran")
            case .skipped(let reason): (cls, text) = ("skip", "skipped: \(reason)")
            case .error(let message): (cls, text) = ("error", "could not run: \(message)")
            }
            html += "<tr><td><code>\(escape(cell.id))</code></td><td class=\"\(cls)\">\(escape(text))</td></tr>\n"
        }
        html += "</table>\n"

        // Matrix of cases × cells.
        html += "<h2>Cases</h2>\n<table>\n<tr><th>case</th>"
        for cell in cells { html += "<th class=\"cell\">\(escape(cell.id))</th>" }
        html += "</tr>\n"
        for caseId in caseOrder {
            let description = results.caseInfo(caseId)?.description ?? ""
            html += "<tr><td><code>\(escape(caseId))</code>"
            if !description.isEmpty { html += "<br><small>\(escape(description))</small>" }
            html += "</td>"
            for cell in cells {
                if let row = rowsByCell[cell.id]?[caseId] {
                    html +=
                        "<td class=\"status \(row.status.rawValue)\" title=\"\(escape(row.message))\">\(row.status.rawValue)</td>"
                } else {
                    html += "<td class=\"status none\" title=\"not selected in this cell\">–</td>"
                }
            }
            html += "</tr>\n"
        }
        html += "</table>\n"

        // Problems, expanded.
        let problems = cells.flatMap { cell in
            rowsByCell[cell.id].map { byCase in caseOrder.compactMap { byCase[$0] }.filter(\.status.isProblem) } ?? []
        }
        if !problems.isEmpty {
            html += "<h2>Problems</h2>\n"
            for row in problems {
                html +=
                    "<details open id=\"\(escape(row.cellId + "/" + row.caseId))\"><summary><span class=\"\(row.status.rawValue)\">"
                    + "\(row.status.rawValue)</span> <code>\(escape(row.caseId))</code> in <code>\(escape(row.cellId))</code>"
                    + (row.attempt > 1 ? " (attempt \(row.attempt))" : "") + "</summary>\n"
                if !row.message.isEmpty { html += "<pre>\(escape(row.message))</pre>\n" }
                if !row.values.isEmpty || !row.logs.isEmpty || row.repro != nil || row.vmName != nil {
                    html += "<ul>\n"
                    if let vm = row.vmName { html += "<li>VM <code>\(escape(vm))</code></li>\n" }
                    for (role, path) in row.logs.sorted(by: { $0.key < $1.key }) {
                        html += "<li>\(escape(role)) log: <code>\(escape(path))</code></li>\n"
                    }
                    if !row.values.isEmpty {
                        html += "<li>values: <code>\(escape(JSONValue.object(row.values).compactText))</code></li>\n"
                    }
                    if let repro = row.repro { html += "<li>reproduce: <code>\(escape(repro))</code></li>\n" }
                    html += "</ul>\n"
                }
                html += "</details>\n"
            }
        }

        for comparison in BackendComparison.of(results) { html += Self.comparison(comparison) }

        html += "<h2>Provenance</h2>\n<table>\n"
        for (name, value) in provenance.properties {
            html += "<tr><th>\(escape(name))</th><td><code>\(escape(value))</code></td></tr>\n"
        }
        html += "</table>\n"
        if !results.notes.isEmpty {
            html += "<h2>Notes</h2>\n<ul>\n"
            for note in results.notes { html += "<li>\(escape(note))</li>\n" }
            html += "</ul>\n"
        }
        html += "</body>\n</html>\n"
        return html
    }

    /// The side-by-side section: per method, per case, both results and the verdict.
    static func comparison(_ comparison: BackendComparison) -> String {
        let c = comparison.counts
        var html = "<h2>Ours vs BitVisor</h2>\n<p><code>\(escape(comparison.oursCell))</code> (ours) vs "
        html += "<code>\(escape(comparison.bitvisorCell))</code> (BitVisor): \(c[.same, default: 0]) same, "
        html += "\(c[.differsAsDeclared, default: 0]) differ as declared (findings), "
        html += "\(c[.differs, default: 0]) differ undeclared, \(c[.notCompared, default: 0]) not compared</p>\n"
        html += "<table>\n<tr><th>method</th><th>case</th><th>ours</th><th>BitVisor</th><th>verdict</th>"
        html += "<th>why</th></tr>\n"
        for group in comparison.groups {
            for (index, entry) in group.entries.enumerated() {
                html += "<tr>"
                if index == 0 { html += "<td rowspan=\"\(group.entries.count)\">\(escape(group.method))</td>" }
                html += "<td><code>\(escape(entry.caseId))</code></td>"
                for side in [entry.ours, entry.bitvisor] {
                    let status = side?.status.rawValue ?? "none"
                    html += "<td class=\"status \(status)\" title=\"\(escape(side?.message ?? ""))\">\(status)</td>"
                }
                html += "<td>\(escape(entry.verdict.rawValue))</td><td>\(escape(entry.note ?? ""))</td></tr>\n"
            }
        }
        return html + "</table>\n"
    }

    /// Escapes text for HTML element content and double- or single-quoted attributes; characters
    /// HTML cannot carry (C0 controls) become U+FFFD.
    public static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.count)
        for character in xmlSafe(text) {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }
}
