import Foundation

/// A self-contained HTML page (inline CSS, no scripts or external assets): a header saying what
/// produced the run (date, duration, commit, command, counts, and the provenance summary: image
/// digests, guest kernels, QEMU/Bochs, libvirt, CPU models), the problems first with logs and
/// repro command, the cells, a table of cases × cells (each problem cell linked to its problem),
/// every VM with links to its logs, the full provenance and the notes.
public enum HTMLReport {
    /// `logBase`: what to put before a log path recorded relative to the results directory so
    /// the link works from where the page is written ("" for DIR/report.html).
    public static func render(_ results: RunResults, logBase: String = "") -> String {
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
            td.status a { color: inherit; }
            .pass { background: #c8efc8; } .fail, .timeout { background: #f5b5b5; }
            .error, .interrupted { background: #e8b5f0; } .skip { background: #f0e6b0; } .none { background: #eee; }
            table.header th { background: #f6f6f6; }
            code, pre { font-family: monospace; } pre { white-space: pre-wrap; background: #f6f6f6; padding: 0.5em; }
            details { margin: 0.5em 0; border-left: 4px solid #d55; padding-left: 0.5em; }
            </style>
            </head>
            <body>
            <h1>GuestMemLab results</h1>

            """
        html += header(results)

        // Problems first, expanded, each with an anchor the table links to.
        // Records outside every cell (the `lab` record of a run that could not start) too.
        let problems =
            cells.flatMap { cell in
                rowsByCell[cell.id].map { byCase in caseOrder.compactMap { byCase[$0] }.filter(\.status.isProblem) }
                    ?? []
            }
            + results.records.filter { record in
                record.status.isProblem && !cells.contains { $0.id == record.cellId }
            }
        if !problems.isEmpty {
            html += "<h2 id=\"problems\">Problems</h2>\n"
            for row in problems {
                html +=
                    "<details open id=\"\(anchor(row))\"><summary><span class=\"\(row.status.rawValue)\">"
                    + "\(row.status.rawValue)</span> <code>\(escape(row.caseId))</code> in <code>\(escape(row.cellId))</code>"
                    + (row.attempt > 1 ? " (attempt \(row.attempt))" : "") + "</summary>\n"
                if !row.message.isEmpty { html += "<pre>\(escape(row.message))</pre>\n" }
                if !row.values.isEmpty || !row.logs.isEmpty || row.repro != nil || row.vmName != nil {
                    html += "<ul>\n"
                    if let vm = row.vmName { html += "<li>VM <code>\(escape(vm))</code></li>\n" }
                    for (role, path) in row.logs.sorted(by: { $0.key < $1.key }) {
                        html += "<li>\(escape(role)) log: \(link(path, base: logBase))"
                        if let text = row.truncatedLogs?[role] {
                            html += " — <strong>truncated</strong>: \(escape(text))"
                        }
                        html += "</li>\n"
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

        // Cells and their status.
        html += "<h2>Cells</h2>\n<table>\n<tr><th>cell</th><th>status</th><th>machine</th></tr>\n"
        for cell in cells {
            let (cls, text): (String, String)
            switch cell.status {
            case .ran:
                let problem = results.rows(for: cell).contains { $0.status.isProblem }
                (cls, text) = problem ? ("fail", "ran, with problems") : ("pass", "ran")
            case .skipped(let reason): (cls, text) = ("skip", "skipped: \(reason)")
            case .error(let message): (cls, text) = ("error", "could not run: \(message)")
            }
            let machine = provenance.machines[cell.id].map { "\($0.accelerator), CPU \($0.cpuModel)" } ?? ""
            html +=
                "<tr><td><code>\(escape(cell.id))</code></td><td class=\"\(cls)\">\(escape(text))</td>"
                + "<td><code>\(escape(machine))</code></td></tr>\n"
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
                    let text =
                        row.status.isProblem
                        ? "<a href=\"#\(anchor(row))\">\(row.status.rawValue)</a>" : row.status.rawValue
                    html += "<td class=\"status \(row.status.rawValue)\" title=\"\(escape(row.message))\">\(text)</td>"
                } else {
                    html += "<td class=\"status none\" title=\"not selected in this cell\">–</td>"
                }
            }
            html += "</tr>\n"
        }
        html += "</table>\n"

        html += virtualMachines(results, logBase: logBase)

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

    /// The header: when, how long, which commit and command, the counts, and what produced the
    /// run (image digests, guest kernels, emulators, libvirt, CPU models, host).
    static func header(_ results: RunResults) -> String {
        let provenance = results.provenance
        var rows: [(String, String)] = []
        var started = Provenance.timestamp(provenance.startTime)
        if let end = provenance.endTime {
            started += " (took \(TextReport.formatDuration(end.timeIntervalSince(provenance.startTime))))"
        }
        rows.append(("run", escape(started)))
        let verdict: String
        switch results.exitStatus {
        case .passed: verdict = "<span class=\"pass\">passed</span>"
        case .casesFailed: verdict = "<a class=\"fail\" href=\"#problems\">some cases failed</a>"
        case .labError: verdict = "<a class=\"error\" href=\"#problems\">the lab could not run</a>"
        case .interrupted: verdict = "<a class=\"interrupted\" href=\"#problems\">interrupted</a>"
        }
        let totals = results.reportTotals
        let total = totals.values.reduce(0, +)
        let counts = CaseStatus.allCases.compactMap { status -> String? in
            guard let count = totals[status], count > 0 else { return nil }
            return "<span class=\"\(status.rawValue)\">\(count) \(status.rawValue)</span>"
        }
        rows.append(
            (
                "result",
                verdict + " (exit status \(results.exitStatus.rawValue)): " + counts.joined(separator: ", ")
                    + " — \(total) case run\(total == 1 ? "" : "s") in \(results.cells.count) cell\(results.cells.count == 1 ? "" : "s")"
            ))
        if let commit = provenance.labCommit { rows.append(("lab commit", "<code>\(escape(commit))</code>")) }
        if !provenance.commandLine.isEmpty {
            rows.append(("command", "<code>\(escape(shellQuoted(provenance.commandLine)))</code>"))
        }
        if !provenance.imageDigests.isEmpty {
            rows.append(
                (
                    "images",
                    provenance.imageDigests.sorted(by: { $0.key < $1.key }).map { name, digest in
                        "\(escape(name)) <code title=\"\(escape(digest))\">\(escape(shortDigest(digest)))</code>"
                    }.joined(separator: ", ")
                ))
        }
        if !provenance.guestKernels.isEmpty {
            rows.append(
                (
                    "guest kernel",
                    provenance.guestKernels.sorted(by: { $0.key < $1.key }).map { spec, kernel in
                        "\(escape(spec)): <code>\(escape(kernel.version))</code>"
                            + (kernel.packageVersion.map { " (package \(escape($0)))" } ?? "")
                    }.joined(separator: ", ")
                ))
        }
        var emulators: [String] = []
        if let qemu = provenance.qemuVersion { emulators.append("QEMU \(escape(qemu))") }
        if let bochs = provenance.bochsVersion { emulators.append("Bochs \(escape(bochs))") }
        if !emulators.isEmpty { rows.append(("emulators", emulators.joined(separator: ", "))) }
        if let library = provenance.libvirtLibraryVersion {
            rows.append(
                (
                    "libvirt",
                    "library \(escape(library))"
                        + (provenance.libvirtDaemonVersion.map { ", daemon \(escape($0))" } ?? "")
                ))
        }
        let models = Set(provenance.machines.values.map { "\($0.accelerator): \($0.cpuModel)" }).sorted()
        if !models.isEmpty {
            rows.append(("guest CPU", models.map { "<code>\(escape($0))</code>" }.joined(separator: ", ")))
        }
        if let policy = provenance.hypervisorPolicy { rows.append(("hypervisor policy", escape(policy.rawValue))) }
        let host = [provenance.hostCPU, provenance.hostname.map { "on \($0)" }].compactMap { $0 }
        if !host.isEmpty { rows.append(("host", escape(host.joined(separator: " ")))) }
        var out = "<table class=\"header\">\n"
        for (name, value) in rows { out += "<tr><th>\(escape(name))</th><td>\(value)</td></tr>\n" }
        return out + "</table>\n"
    }

    /// Every VM that ran cases, by cell and attempt, with links to its logs.
    static func virtualMachines(_ results: RunResults, logBase: String) -> String {
        struct VM {
            var name: String
            var cellId: String
            var attempt: Int
            var logs: [String: String]
            var truncated: [String: String]
            var cases: Int
        }
        var vms: [VM] = []
        var index: [String: Int] = [:]
        for record in results.records {
            guard let name = record.vmName else { continue }
            if let i = index[name] {
                vms[i].cases += 1
                vms[i].logs.merge(record.logs) { old, _ in old }
                vms[i].truncated.merge(record.truncatedLogs ?? [:]) { old, _ in old }
            } else {
                index[name] = vms.count
                vms.append(
                    VM(
                        name: name, cellId: record.cellId, attempt: record.attempt, logs: record.logs,
                        truncated: record.truncatedLogs ?? [:], cases: 1))
            }
        }
        guard !vms.isEmpty else { return "" }
        var out = "<h2>VMs</h2>\n<table>\n<tr><th>VM</th><th>cell</th><th>cases</th><th>logs</th></tr>\n"
        for vm in vms {
            let logs = vm.logs.sorted(by: { $0.key < $1.key }).map { role, path in
                link(path, base: logBase, text: role)
                    + (vm.truncated[role].map { " (<strong title=\"\(escape($0))\">truncated</strong>)" } ?? "")
            }
            out +=
                "<tr><td><code>\(escape(vm.name))</code>" + (vm.attempt > 1 ? " (attempt \(vm.attempt))" : "")
                + "</td><td><code>\(escape(vm.cellId))</code></td><td>\(vm.cases)</td><td>"
                + logs.joined(separator: " · ") + "</td></tr>\n"
        }
        return out + "</table>\n"
    }

    /// A link to a log: relative paths (inside the results directory) get `base` before them.
    static func link(_ path: String, base: String, text: String? = nil) -> String {
        let target = path.hasPrefix("/") ? path : base + path
        let href =
            target.addingPercentEncoding(
                withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "?#")))
            ?? target
        return "<a href=\"\(escape(href))\"><code>\(escape(text ?? path))</code></a>"
    }

    /// An anchor id for a problem row: the cell and case ids with anything but letters, digits,
    /// `.`, `_` and `-` replaced.
    static func anchor(_ row: CaseRecord) -> String {
        let allowed = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
        let text = "problem-" + row.cellId + "--" + row.caseId
        return String(String.UnicodeScalarView(text.unicodeScalars.map { allowed.contains($0) ? $0 : "_" }))
    }

    /// What to put before a results-relative log path for a page written at `page`: nothing
    /// when the page is in the results directory, the way there when the results directory lies
    /// below the page's directory, else its absolute path.
    public static func logBase(resultsDirectory: String, page: String) -> String {
        let results = URL(fileURLWithPath: resultsDirectory).standardizedFileURL.path
        let pageDirectory = URL(fileURLWithPath: page).standardizedFileURL.deletingLastPathComponent().path
        if results == pageDirectory { return "" }
        let relative = pathRelative(results, to: pageDirectory)
        return (relative == results ? results : relative) + "/"
    }

    /// `sha256:` and the first 12 hex digits.
    static func shortDigest(_ digest: String) -> String {
        guard let colon = digest.firstIndex(of: ":") else { return String(digest.prefix(16)) }
        return String(digest[...colon]) + digest[digest.index(after: colon)...].prefix(12)
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
