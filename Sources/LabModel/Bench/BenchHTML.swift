import Foundation

/// bench.html: one self-contained page (inline CSS and SVG, no scripts, nothing fetched).
/// At a glance: the targets, then throughput against size per method on log–log axes with the
/// guest's memcpy as the dashed reference line, one chart per cell and direction.
public enum BenchHTML {
    static let palette: [String: String] = [
        "regs": "#d62728", "phys-kernel": "#1f77b4", "phys-kernel-list": "#17becf", "phys-user": "#9467bd",
        "linear-byte": "#ff7f0e", "linear-page": "#2ca02c", "linear-page-refuse": "#bcbd22",
        "linear-page-faultin": "#8c564b", "linear-page-mlock": "#e377c2", "memcpy": "#222222",
    ]

    static func color(_ method: String) -> String { palette[method] ?? "#7f7f7f" }

    public static func render(_ doc: BenchDocument, comparison: BenchComparison? = nil) -> String {
        let e = HTMLReport.escape
        var h = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>lab bench</title>
            <style>
            body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px;color:#222;max-width:1400px}
            h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:26px 0 8px;border-bottom:1px solid #ddd;padding-bottom:3px}
            .sub{color:#555;font-size:13px} code{background:#f3f3f3;padding:1px 4px;border-radius:3px}
            table{border-collapse:collapse;font-size:12.5px;margin:6px 0} th,td{border:1px solid #ddd;padding:3px 7px;text-align:right}
            th{background:#f5f5f5} td.l,th.l{text-align:left}
            .met{background:#dff3df;font-weight:600}.missed{background:#fbdada;font-weight:600}.nm{background:#eee}
            .charts{display:flex;flex-wrap:wrap;gap:12px} .chart{border:1px solid #e3e3e3;border-radius:4px;padding:2px}
            .noisy{color:#b36b00} .note{font-size:12px;color:#555;max-width:1100px}
            </style></head><body>
            """
        let command = doc.provenance.commandLine.isEmpty ? "lab bench" : shellQuoted(doc.provenance.commandLine)
        h += "<h1>lab bench: guest-memory transfer methods</h1>\n"
        h +=
            "<div class=\"sub\"><code>\(e(command))</code> · \(e(doc.provenance.startTime.formatted(.iso8601))) · "
            + "\(String(format: "%.0f", doc.wallSeconds)) s · lab \(e(doc.provenance.labCommit ?? "unknown")) · "
            + "\(e(doc.provenance.qemuVersion ?? "QEMU ?")) · host \(e(doc.provenance.hostCPU ?? "?")) · "
            + "\(doc.settings.repetitions) samples per point after \(doc.settings.warmup) warm-up</div>\n"

        for note in doc.notes { h += "<p class=note>note: \(e(note))</p>\n" }
        // Targets
        h +=
            "<h2>Targets</h2>\n<table><tr><th class=l>target</th><th>measured</th><th>required</th><th class=l>verdict</th><th class=l>how</th></tr>\n"
        for t in doc.targets {
            let cls = t.met == true ? "met" : t.met == false ? "missed" : "nm"
            h +=
                "<tr><td class=l>\(e(t.description))</td><td>\(t.value.map(BenchTarget.format) ?? "–")</td><td>\(e(t.thresholdText))</td>"
                + "<td class=\"l \(cls)\">\(t.verdict)</td><td class=l>\(e(t.detail))</td></tr>\n"
        }
        h += "</table>\n"
        for sideBySide in BenchSideBySide.of(doc) { h += sideBySide.html() }

        // Charts: every cell and direction side by side (two per row on a wide screen).
        h += "<h2>Throughput against transfer size</h2>\n<div class=charts>\n"
        for cell in BenchReport.cells(doc) {
            let directions = Set(doc.points.filter { $0.cellId == cell && $0.method != "memcpy" }.map(\.direction))
            let shown = ["read", "write"].filter(directions.contains)
            for direction in shown.isEmpty ? [nil] : shown.map({ Optional($0) }) {
                h += "<div class=chart>\(chart(doc, cell: cell, direction: direction))</div>\n"
            }
        }
        h += "</div>\n"

        // Baselines
        if !doc.scalars.isEmpty {
            h +=
                "<h2>Null hypercall round trips</h2>\n<div class=chart style=\"display:inline-block\">\(baselineChart(doc))</div>\n"
            h +=
                "<table><tr><th class=l>cell</th><th class=l>what</th><th class=l>series</th><th>median</th><th>95 % interval</th><th>IQR/median</th><th class=l>note</th></tr>\n"
            for v in doc.scalars {
                h +=
                    "<tr><td class=l>\(e(v.cellId))</td><td class=l>\(e(v.method))</td><td class=l>\(e(v.series))</td>"
                    + "<td>\(BenchTarget.formatNs(v.summary.median))</td><td>\(BenchTarget.formatNs(v.summary.ciLow)) – \(BenchTarget.formatNs(v.summary.ciHigh))</td>"
                    + "<td\(v.summary.noisy ? " class=noisy" : "")>\(String(format: "%.1f %%", v.summary.relativeSpread * 100))</td><td class=l>\(e(v.note ?? ""))</td></tr>\n"
            }
            h += "</table>\n"
        }

        // Tables
        for cell in BenchReport.cells(doc) {
            let series = BenchReport.seriesList(doc, cell: cell)
            let sizes = Array(Set(doc.points.filter { $0.cellId == cell }.map(\.size))).sorted()
            h += "<h2>\(e(cell)): MB/s (median) and time per transfer</h2>\n<table><tr><th>size</th>"
            for s in series { h += "<th>\(e(s.method))<br>\(e(s.direction))</th>" }
            h += "</tr>\n"
            for size in sizes {
                h += "<tr><td>\(BenchSettings.sizeLabel(size))</td>"
                for s in series {
                    guard let p = doc.point(cell: cell, method: s.method, direction: s.direction, size: size) else {
                        h += "<td>–</td>"
                        continue
                    }
                    var title =
                        "median \(BenchTarget.formatNs(p.summary.median)), IQR \(BenchTarget.formatNs(p.summary.q1))–\(BenchTarget.formatNs(p.summary.q3)), "
                        + "95 % CI \(BenchTarget.formatNs(p.summary.ciLow))–\(BenchTarget.formatNs(p.summary.ciHigh)), \(p.summary.count) samples × \(p.batch), "
                        + "\(p.hypercalls) hypercalls, exits \(p.exits.map(String.init) ?? "n/a")"
                    if let t = p.translateSummary { title += ", pagemap \(BenchTarget.formatNs(t.median))" }
                    h +=
                        "<td title=\"\(e(title))\"\(p.summary.noisy ? " class=noisy" : "")>\(BenchReport.throughputText(p.throughputMBps))\(p.summary.noisy ? " ⚠" : "")"
                        + "<br><small>\(BenchTarget.formatNs(p.summary.median))</small></td>"
                }
                h += "</tr>\n"
            }
            h += "</table>\n"
        }

        let holds = BenchReport.longestHolds(doc)
        if !holds.isEmpty {
            h +=
                "<h2>Longest hold of the vCPU</h2>\n<p class=note>One stay in the hypervisor's dispatch during one "
                + "transfer (gmlab.holds; the least of three transfers).</p>\n<table><tr><th class=l>cell</th>"
                + "<th class=l>series</th><th>longest stay</th><th>at size</th><th>at the largest size</th></tr>\n"
            for x in holds {
                h +=
                    "<tr><td class=l>\(e(x.cellId))</td><td class=l>\(e(x.method)) \(e(x.direction))</td>"
                    + "<td>\(BenchTarget.formatNs(x.ns))</td><td>\(BenchSettings.sizeLabel(x.size))</td>"
                    + "<td>\(BenchSettings.sizeLabel(x.largestSize)): \(BenchTarget.formatNs(x.largestNs))</td></tr>\n"
            }
            h += "</table>\n"
        }

        if !doc.limits.isEmpty || !doc.outcomes.isEmpty {
            h += "<h2>Limits and cases without figures</h2>\n<ul class=note>\n"
            for l in doc.limits {
                h +=
                    "<li>\(e(l.cellId)) \(e(l.method)) \(e(l.direction)): up to \(BenchSettings.sizeLabel(l.limit)) — \(e(l.reason))</li>\n"
            }
            for o in doc.outcomes {
                h += "<li>\(e(o.cellId)) \(e(o.caseId)): <b>\(o.status.rawValue)</b> — \(e(o.message))</li>\n"
            }
            h += "</ul>\n"
        }

        if let comparison {
            h +=
                "<h2>Compared with \(e(comparison.oldSource))</h2>\n<p class=note>\(e(comparison.text().split(separator: "\n").first.map(String.init) ?? ""))</p>\n"
            h +=
                "<table><tr><th class=l>point</th><th>old</th><th>new</th><th>new/old</th><th>p</th><th class=l>verdict</th></tr>\n"
            for row in comparison.rows where row.verdict != .unchanged {
                let cls = row.verdict == .faster ? "met" : row.verdict == .slower ? "missed" : "nm"
                h +=
                    "<tr><td class=l>\(e(row.key))</td><td>\(row.oldMedianNs.map(BenchTarget.formatNs) ?? "–")</td><td>\(row.newMedianNs.map(BenchTarget.formatNs) ?? "–")</td>"
                    + "<td>\(row.ratio.map { String(format: "%.2f", $0) } ?? "–")</td><td>\(row.pValue.map { String(format: "%.2g", $0) } ?? "–")</td><td class=\"l \(cls)\">\(row.verdict.rawValue)</td></tr>\n"
            }
            h += "</table>\n"
        }

        h +=
            "<h2>How to read this</h2>\n<p class=note>Direction is the hypervisor's: <b>read</b> = guest → hypervisor, <b>write</b> = hypervisor → guest. "
            + "Throughput = size / median time per transfer (MB = 10<sup>6</sup> bytes); whiskers span the interquartile range. "
            + "A sample averages a batch of transfers lasting ≥ \(doc.settings.sampleMilliseconds) ms; hollow markers and ⚠ flag noisy points "
            + "(IQR or 95 % bootstrap interval of the median above \(Int(BenchStatistics.noiseThreshold * 100)) % of the median). "
            + "Methods: "
            + BenchMethod.allCases.map { "<b>\($0.rawValue)</b> \(e($0.summary))" }.joined(separator: "; ") + ".</p>\n"
        h += "<h2>Provenance</h2>\n<table>\n"
        for (name, value) in doc.provenance.properties {
            h += "<tr><td class=l>\(e(name))</td><td class=l>\(e(value))</td></tr>\n"
        }
        h +=
            "<tr><td class=l>run directory</td><td class=l>\(e(doc.runDirectory))</td></tr>\n</table>\n</body></html>\n"
        return h
    }

    // MARK: SVG

    static let width = 640.0, height = 400.0
    static let left = 62.0, right = 128.0, top = 30.0, bottom = 48.0

    /// Throughput (log) against size (log2) for one cell and direction, memcpy dashed.
    static func chart(_ doc: BenchDocument, cell: String, direction: String?) -> String {
        let points = doc.points.filter { $0.cellId == cell && ($0.method == "memcpy" || $0.direction == direction) }
        let series = BenchReport.seriesList(doc, cell: cell).filter {
            $0.method == "memcpy" || $0.direction == direction
        }
        let sizes = points.map { log2(Double($0.size)) }
        guard let xMin = sizes.min(), let largest = sizes.max() else { return "" }
        let xMax = max(largest, xMin + 1)
        let values = points.flatMap { p -> [Double] in
            let q3 = p.summary.q3 > 0 ? Double(p.size) / p.summary.q3 * 1000 : p.throughputMBps
            let q1 = p.summary.q1 > 0 ? Double(p.size) / p.summary.q1 * 1000 : p.throughputMBps
            return [q3, q1, p.throughputMBps]
        }.filter { $0 > 0 }
        let yMin = floor(log10(values.min() ?? 0.001))
        let yMax = max(ceil(log10(values.max() ?? 1)), yMin + 1)
        let plotW = width - left - right
        let plotH = height - top - bottom
        func x(_ size: Int) -> Double { left + (log2(Double(size)) - xMin) / (xMax - xMin) * plotW }
        func y(_ mbps: Double) -> Double { top + plotH - (log10(max(mbps, 1e-9)) - yMin) / (yMax - yMin) * plotH }
        func n(_ v: Double) -> String { String(format: "%.1f", v) }

        let title =
            "\(cell): "
            + (direction.map { $0 == "read" ? "read (guest → hypervisor)" : "write (hypervisor → guest)" }
                ?? "guest memcpy")
        var s =
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" font-family=\"system-ui,Helvetica,Arial,sans-serif\" font-size=\"11\">\n"
        s += "<text x=\"\(n(left))\" y=\"18\" font-size=\"13\" font-weight=\"600\">\(HTMLReport.escape(title))</text>\n"
        // grid: decades of MB/s, powers of two of size (labels every other)
        for decade in stride(from: yMin, through: yMax, by: 1) {
            let yy = y(pow(10, decade))
            s +=
                "<line x1=\"\(n(left))\" y1=\"\(n(yy))\" x2=\"\(n(left + plotW))\" y2=\"\(n(yy))\" stroke=\"#e6e6e6\"/>\n"
            s += "<text x=\"\(n(left - 6))\" y=\"\(n(yy + 4))\" text-anchor=\"end\">\(decadeLabel(decade))</text>\n"
        }
        var exponent = Int(xMin)
        while Double(exponent) <= xMax {
            let xx = x(1 << exponent)
            s +=
                "<line x1=\"\(n(xx))\" y1=\"\(n(top))\" x2=\"\(n(xx))\" y2=\"\(n(top + plotH))\" stroke=\"#f0f0f0\"/>\n"
            if (exponent - Int(xMin)) % 2 == 0 {
                s +=
                    "<text x=\"\(n(xx))\" y=\"\(n(top + plotH + 15))\" text-anchor=\"middle\">\(shortSize(1 << exponent))</text>\n"
            }
            exponent += 1
        }
        s +=
            "<rect x=\"\(n(left))\" y=\"\(n(top))\" width=\"\(n(plotW))\" height=\"\(n(plotH))\" fill=\"none\" stroke=\"#999\"/>\n"
        s +=
            "<text x=\"\(n(left + plotW / 2))\" y=\"\(n(height - 10))\" text-anchor=\"middle\">transfer size in bytes (log scale)</text>\n"
        s +=
            "<text transform=\"translate(14 \(n(top + plotH / 2))) rotate(-90)\" text-anchor=\"middle\">MB/s (log scale)</text>\n"

        for (index, entry) in series.enumerated() {
            let line = points.filter { $0.method == entry.method && $0.direction == entry.direction }.sorted {
                $0.size < $1.size
            }
            guard !line.isEmpty else { continue }
            let c = color(entry.method)
            let dashed = entry.method == "memcpy"
            let path = line.map { "\(n(x($0.size))),\(n(y($0.throughputMBps)))" }.joined(separator: " ")
            s +=
                "<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(c)\" stroke-width=\"\(dashed ? 2 : 1.8)\"\(dashed ? " stroke-dasharray=\"6 4\"" : "")/>\n"
            for p in line {
                let xx = x(p.size)
                if p.summary.q1 > 0, p.summary.q3 > 0 {
                    let lo = y(Double(p.size) / p.summary.q3 * 1000)
                    let hi = y(Double(p.size) / p.summary.q1 * 1000)
                    if abs(lo - hi) > 1.5 {
                        s +=
                            "<line x1=\"\(n(xx))\" y1=\"\(n(lo))\" x2=\"\(n(xx))\" y2=\"\(n(hi))\" stroke=\"\(c)\" stroke-width=\"1\"/>\n"
                    }
                }
                let fill = p.summary.noisy ? "#fff" : c
                s +=
                    "<circle cx=\"\(n(xx))\" cy=\"\(n(y(p.throughputMBps)))\" r=\"2.8\" fill=\"\(fill)\" stroke=\"\(c)\"><title>"
                    + "\(HTMLReport.escape("\(p.method) \(p.direction) \(BenchSettings.sizeLabel(p.size)): \(BenchReport.throughputText(p.throughputMBps)) MB/s, \(BenchTarget.formatNs(p.summary.median))\(p.summary.noisy ? " (noisy)" : "")"))</title></circle>\n"
            }
            // legend
            let ly = top + 8 + Double(index) * 18
            let lx = left + plotW + 12
            s +=
                "<line x1=\"\(n(lx))\" y1=\"\(n(ly))\" x2=\"\(n(lx + 22))\" y2=\"\(n(ly))\" stroke=\"\(c)\" stroke-width=\"2\"\(dashed ? " stroke-dasharray=\"6 4\"" : "")/>\n"
            s += "<text x=\"\(n(lx + 28))\" y=\"\(n(ly + 4))\">\(HTMLReport.escape(entry.method))</text>\n"
        }
        s += "</svg>"
        return s
    }

    /// Axis labels: 8, 512, 2K, 16M (bytes, binary units).
    static func shortSize(_ bytes: Int) -> String {
        if bytes >= 1 << 20 { return "\(bytes >> 20)M" }
        if bytes >= 1 << 10 { return "\(bytes >> 10)K" }
        return "\(bytes)"
    }

    static func decadeLabel(_ decade: Double) -> String {
        let value = pow(10, decade)
        if value >= 1 { return String(format: "%.0f", value) }
        return String(format: "%g", value)
    }

    /// Horizontal bars: median null-hypercall time per series (ours, the peer KVM's).
    static func baselineChart(_ doc: BenchDocument) -> String {
        let rows = doc.scalars
        let maxNs = rows.map { max($0.summary.median, $0.summary.q3) }.max() ?? 1
        let w = 660.0
        let labelW = 300.0
        let barH = 20.0
        let h = Double(rows.count) * (barH + 8) + 30
        var s =
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(w))\" height=\"\(Int(h))\" font-family=\"system-ui,Helvetica,Arial,sans-serif\" font-size=\"11\">\n"
        for (i, v) in rows.enumerated() {
            let yy = 10 + Double(i) * (barH + 8)
            let len = v.summary.median / maxNs * (w - labelW - 80)
            let c = v.method == "kvm-vmmcall" ? "#8c564b" : "#2ca02c"
            s +=
                "<text x=\"\(labelW - 6)\" y=\"\(yy + 14)\" text-anchor=\"end\">\(HTMLReport.escape("\(v.method) \(v.series)"))</text>\n"
            s +=
                String(
                    format: "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"", labelW, yy, max(len, 1), barH)
                + " fill=\"\(c)\"/>\n"
            s +=
                String(format: "<text x=\"%.1f\" y=\"%.1f\">", labelW + len + 5, yy + 14)
                + BenchTarget.formatNs(v.summary.median) + "</text>\n"
        }
        s += "</svg>"
        return s
    }
}
