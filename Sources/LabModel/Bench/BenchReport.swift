import Foundation

/// bench.csv (one row per point, raw enough for a spreadsheet) and bench.md (the tables a
/// person reads: targets, baselines, throughput per method and size).
public enum BenchReport {
    /// Methods in report order, baselines first.
    static func methodOrder(_ method: String) -> Int {
        method == "memcpy" ? -1 : BenchMethod.allCases.firstIndex { $0.rawValue == method } ?? 99
    }

    public static func csv(_ doc: BenchDocument) -> String {
        var lines = [
            "cell,backend,method,direction,size_bytes,median_ns,q1_ns,q3_ns,ci95_low_ns,ci95_high_ns,"
                + "mean_ns,min_ns,max_ns,samples,batch,ns_per_byte,throughput_MBps,hypercalls,exits,noisy,translate_median_ns,"
                + "interleaved_memcpy_median_ns,longest_hold_ns"
        ]
        func f(_ v: Double) -> String { String(format: "%.1f", v) }
        for p in doc.points {
            let s = p.summary
            lines.append(
                [
                    p.cellId, p.backend, p.method, p.direction, String(p.size), f(s.median), f(s.q1), f(s.q3),
                    f(s.ciLow),
                    f(s.ciHigh), f(s.mean), f(s.min), f(s.max), String(s.count), String(p.batch),
                    String(format: "%.4f", p.nsPerByte), String(format: "%.2f", p.throughputMBps), String(p.hypercalls),
                    p.exits.map(String.init) ?? "", s.noisy ? "1" : "0",
                    p.translateSummary.map { f($0.median) } ?? "", p.memcpySummary.map { f($0.median) } ?? "",
                    p.longestHoldNs.map(f) ?? "",
                ].joined(separator: ","))
        }
        for v in doc.scalars {
            let s = v.summary
            lines.append(
                [
                    v.cellId, v.backend, v.method, v.series, "", f(s.median), f(s.q1), f(s.q3), f(s.ciLow), f(s.ciHigh),
                    f(s.mean), f(s.min), f(s.max), String(s.count), "", "", "", "1", "", s.noisy ? "1" : "0", "", "",
                    "",
                ]
                .joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    public static func markdown(_ doc: BenchDocument, comparison: BenchComparison? = nil) -> String {
        var out: [String] = []
        let command = doc.provenance.commandLine.isEmpty ? "lab bench" : shellQuoted(doc.provenance.commandLine)
        out.append("# lab bench")
        out.append("")
        out.append(
            "`\(command)` — \(doc.provenance.startTime.formatted(.iso8601)), \(String(format: "%.0f", doc.wallSeconds)) s, "
                + "lab \(doc.provenance.labCommit ?? "unknown"), \(doc.provenance.qemuVersion ?? "QEMU ?"), "
                + "\(doc.settings.repetitions) samples per point after \(doc.settings.warmup) warm-up.")
        out.append("")
        for note in doc.notes { out.append("> note: \(note)") }
        if !doc.notes.isEmpty { out.append("") }
        out.append("## Targets")
        out.append("")
        out.append("| target | measured | required | verdict | how |")
        out.append("| --- | ---: | ---: | --- | --- |")
        for t in doc.targets {
            out.append(
                "| \(t.description) | \(t.value.map(BenchTarget.format) ?? "–") | \(t.thresholdText) | \(t.verdict) | \(t.detail) |"
            )
        }
        out.append("")
        out.append("## Baselines (time per call, median [95 % interval])")
        out.append("")
        out.append("| cell | what | series | median | 95 % interval | IQR/median |")
        out.append("| --- | --- | --- | ---: | --- | ---: |")
        for v in doc.scalars {
            out.append(
                "| \(v.cellId) | \(v.method) | \(v.series) | \(BenchTarget.formatNs(v.summary.median)) | "
                    + "\(BenchTarget.formatNs(v.summary.ciLow)) – \(BenchTarget.formatNs(v.summary.ciHigh)) | "
                    + String(format: "%.1f %%", v.summary.relativeSpread * 100) + (v.summary.noisy ? " ⚠" : "") + " |")
        }
        for sideBySide in BenchSideBySide.of(doc) {
            out.append("")
            out += sideBySide.markdown()
        }
        for cell in cells(doc) {
            out.append("")
            out.append("## \(cell): throughput (MB/s, median; ⚠ = noisy) and time per transfer")
            out.append("")
            let series = seriesList(doc, cell: cell)
            let sizes = Array(Set(doc.points.filter { $0.cellId == cell }.map(\.size))).sorted()
            out.append("| size | " + series.map { "\($0.method) \($0.direction)" }.joined(separator: " | ") + " |")
            out.append("| ---: |" + String(repeating: " ---: |", count: series.count))
            for size in sizes {
                var row = "| \(BenchSettings.sizeLabel(size)) |"
                for s in series {
                    if let p = doc.point(cell: cell, method: s.method, direction: s.direction, size: size) {
                        row +=
                            " " + throughputText(p.throughputMBps) + (p.summary.noisy ? " ⚠" : "")
                            + " (\(BenchTarget.formatNs(p.summary.median)))"
                        if p.hypercalls > 1 { row += " \(p.hypercalls) calls" }
                        if let t = p.translateSummary { row += ", pagemap \(BenchTarget.formatNs(t.median))" }
                        row += " |"
                    } else {
                        row += " – |"
                    }
                }
                out.append(row)
            }
        }
        let limits = doc.limits
        if !limits.isEmpty {
            out.append("")
            out.append("## Where methods stop")
            out.append("")
            for l in limits {
                out.append(
                    "- \(l.cellId) \(l.method) \(l.direction): up to \(BenchSettings.sizeLabel(l.limit)) — \(l.reason)")
            }
        }
        let holds = longestHolds(doc)
        if !holds.isEmpty {
            out.append("")
            out.append("## Longest hold of the vCPU (one stay in the hypervisor during one transfer)")
            out.append("")
            out.append("| cell | series | longest stay | at size | largest size measured: its longest stay |")
            out.append("| --- | --- | ---: | ---: | --- |")
            for h in holds {
                out.append(
                    "| \(h.cellId) | \(h.method) \(h.direction) | \(BenchTarget.formatNs(h.ns)) | "
                        + "\(BenchSettings.sizeLabel(h.size)) | \(BenchSettings.sizeLabel(h.largestSize)): "
                        + "\(BenchTarget.formatNs(h.largestNs)) |")
            }
            out.append("")
            out.append(
                "The hypervisor times every stay in its hypercall dispatch (`gmlab.holds`); the figure is the least of "
                    + "three transfers, so a host that deschedules the emulator does not count. A long transfer is "
                    + "many stays of one slice each (continuations): the longest stay stays flat as sizes grow.")
        }
        let notRun = doc.outcomes
        if !notRun.isEmpty {
            out.append("")
            out.append("## Cases without figures")
            out.append("")
            for o in notRun { out.append("- \(o.cellId) \(o.caseId): \(o.status.rawValue) — \(o.message)") }
        }
        if let comparison {
            out.append("")
            out.append("## Compared with \(comparison.oldSource)")
            out.append("")
            out.append(comparison.text().split(separator: "\n").first.map(String.init) ?? "")
            out.append("")
            out.append("| point | old | new | new/old | p | verdict |")
            out.append("| --- | ---: | ---: | ---: | ---: | --- |")
            for row in comparison.rows where row.verdict != .unchanged {
                out.append(
                    "| \(row.key) | \(row.oldMedianNs.map(BenchTarget.formatNs) ?? "–") | \(row.newMedianNs.map(BenchTarget.formatNs) ?? "–") | "
                        + "\(row.ratio.map { String(format: "%.2f", $0) } ?? "–") | \(row.pValue.map { String(format: "%.2g", $0) } ?? "–") | \(row.verdict.rawValue) |"
                )
            }
        }
        out.append("")
        out.append(
            "Direction is the hypervisor's: read = guest → hypervisor, write = hypervisor → guest. "
                + "Throughput = size / median time per transfer; a sample averages a batch of transfers lasting ≥ \(doc.settings.sampleMilliseconds) ms. "
                + "Noisy: IQR or 95 % interval of the median above \(Int(BenchStatistics.noiseThreshold * 100)) % of the median."
        )
        return out.joined(separator: "\n") + "\n"
    }

    /// Per cell and series with hold figures: the longest stay over all sizes, and the stay at the
    /// largest size (the two differ when a transfer's stays stop growing with its size).
    public struct Hold: Sendable, Hashable {
        public var cellId, method, direction: String
        public var ns: Double
        public var size: Int
        public var largestSize: Int
        public var largestNs: Double
    }

    public static func longestHolds(_ doc: BenchDocument) -> [Hold] {
        var out: [Hold] = []
        for cell in cells(doc) {
            for s in seriesList(doc, cell: cell) {
                let points = doc.points.filter {
                    $0.cellId == cell && $0.method == s.method && $0.direction == s.direction && $0.longestHoldNs != nil
                }
                guard let worst = points.max(by: { ($0.longestHoldNs ?? 0) < ($1.longestHoldNs ?? 0) }),
                    let largest = points.max(by: { $0.size < $1.size })
                else { continue }
                out.append(
                    Hold(
                        cellId: cell, method: s.method, direction: s.direction, ns: worst.longestHoldNs ?? 0,
                        size: worst.size, largestSize: largest.size, largestNs: largest.longestHoldNs ?? 0))
            }
        }
        return out
    }

    static func throughputText(_ mbps: Double) -> String {
        mbps >= 100
            ? String(format: "%.0f", mbps) : mbps >= 1 ? String(format: "%.1f", mbps) : String(format: "%.3f", mbps)
    }

    /// Cells with sized points, in the document's order.
    static func cells(_ doc: BenchDocument) -> [String] {
        var seen: [String] = []
        for p in doc.points where !seen.contains(p.cellId) { seen.append(p.cellId) }
        return seen
    }

    /// (method, direction) pairs measured in a cell, memcpy first.
    static func seriesList(_ doc: BenchDocument, cell: String) -> [(method: String, direction: String)] {
        var seen: [(method: String, direction: String)] = []
        for p in doc.points
        where p.cellId == cell && !seen.contains(where: { $0.method == p.method && $0.direction == p.direction }) {
            seen.append((p.method, p.direction))
        }
        return seen.sorted { (methodOrder($0.method), $0.direction) < (methodOrder($1.method), $1.direction) }
    }
}
