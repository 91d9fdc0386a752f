import Foundation

/// `lab bench --backend svm,bitvisor`: the lab's hypervisor and the real BitVisor measured in
/// one run, put side by side per method, direction and size (median time per transfer, and
/// BitVisor's over ours), and per baseline (the null hypercall at CPL3 and CPL0). Cells are
/// paired when they differ only in the backend. In bench.md and bench.html.
public struct BenchSideBySide: Sendable, Hashable {
    public struct Row: Sendable, Hashable {
        public var method: String
        public var direction: String
        public var size: Int
        /// Median ns per transfer; nil where that side has no point.
        public var ours: Double?
        public var bitvisor: Double?
        /// BitVisor's median over ours (> 1: BitVisor is slower); nil unless both measured.
        public var ratio: Double? {
            guard let ours, let bitvisor, ours > 0 else { return nil }
            return bitvisor / ours
        }
    }

    public struct Scalar: Sendable, Hashable {
        public var method: String
        public var series: String
        public var ours: Double?
        public var bitvisor: Double?
        public var ratio: Double? {
            guard let ours, let bitvisor, ours > 0 else { return nil }
            return bitvisor / ours
        }
    }

    public var oursCell: String
    public var bitvisorCell: String
    public var scalars: [Scalar]
    public var rows: [Row]

    /// The cell id without its backend part (`svm-tcg-…` → `-tcg-…`).
    static func machine(_ cellId: String) -> Substring { cellId.drop { $0 != "-" } }

    /// One side-by-side per svm cell that has a bitvisor twin in `doc`.
    public static func of(_ doc: BenchDocument) -> [BenchSideBySide] {
        let cells = Set(doc.points.map(\.cellId) + doc.scalars.map(\.cellId))
        return cells.filter { $0.hasPrefix(Backend.svm.rawValue + "-") }.sorted().compactMap { ours in
            let twin = Backend.bitvisor.rawValue + machine(ours)
            guard cells.contains(twin) else { return nil }
            return compare(doc, ours: ours, bitvisor: twin)
        }
    }

    static func compare(_ doc: BenchDocument, ours: String, bitvisor: String) -> BenchSideBySide {
        var scalars: [Scalar] = []
        for v in doc.scalars where v.cellId == ours || v.cellId == bitvisor {
            guard !scalars.contains(where: { $0.method == v.method && $0.series == v.series }) else { continue }
            func median(_ cell: String) -> Double? {
                doc.scalars.first { $0.cellId == cell && $0.method == v.method && $0.series == v.series }?.summary
                    .median
            }
            scalars.append(Scalar(method: v.method, series: v.series, ours: median(ours), bitvisor: median(bitvisor)))
        }
        var rows: [Row] = []
        for p in doc.points where (p.cellId == ours || p.cellId == bitvisor) && p.method != "memcpy" {
            guard !rows.contains(where: { $0.method == p.method && $0.direction == p.direction && $0.size == p.size })
            else { continue }
            rows.append(
                Row(
                    method: p.method, direction: p.direction, size: p.size,
                    ours: doc.point(cell: ours, method: p.method, direction: p.direction, size: p.size)?.summary
                        .median,
                    bitvisor: doc.point(cell: bitvisor, method: p.method, direction: p.direction, size: p.size)?
                        .summary.median))
        }
        rows.sort { ($0.method, $0.direction, $0.size) < ($1.method, $1.direction, $1.size) }
        return BenchSideBySide(oursCell: ours, bitvisorCell: bitvisor, scalars: scalars, rows: rows)
    }

    static func ns(_ value: Double?) -> String { value.map(BenchTarget.formatNs) ?? "–" }
    static func ratio(_ value: Double?) -> String { value.map { String(format: "%.2f×", $0) } ?? "–" }

    /// The bench.md section.
    public func markdown() -> [String] {
        var out = ["## Ours vs BitVisor: \(oursCell) and \(bitvisorCell) (median time, BitVisor / ours)", ""]
        out.append("| what | series | ours | BitVisor | BitVisor / ours |")
        out.append("| --- | --- | ---: | ---: | ---: |")
        for s in scalars {
            out.append(
                "| \(s.method) | \(s.series) | \(Self.ns(s.ours)) | \(Self.ns(s.bitvisor)) | \(Self.ratio(s.ratio)) |")
        }
        out.append("")
        out.append("| method | direction | size | ours | BitVisor | BitVisor / ours |")
        out.append("| --- | --- | ---: | ---: | ---: | ---: |")
        for r in rows {
            out.append(
                "| \(r.method) | \(r.direction) | \(BenchSettings.sizeLabel(r.size)) | \(Self.ns(r.ours)) | "
                    + "\(Self.ns(r.bitvisor)) | \(Self.ratio(r.ratio)) |")
        }
        return out
    }

    /// The bench.html section.
    public func html() -> String {
        let e = HTMLReport.escape
        var h = "<h2>Ours vs BitVisor</h2>\n<p class=sub><code>\(e(oursCell))</code> (ours) and "
        h += "<code>\(e(bitvisorCell))</code> (BitVisor): median time per call or transfer; the last "
        h += "column is BitVisor's over ours (above 1: BitVisor is slower)</p>\n"
        h += "<table><tr><th class=l>what</th><th class=l>series</th><th>ours</th><th>BitVisor</th>"
        h += "<th>BitVisor / ours</th></tr>\n"
        for s in scalars {
            h += "<tr><td class=l>\(e(s.method))</td><td class=l>\(e(s.series))</td><td>\(Self.ns(s.ours))</td>"
            h += "<td>\(Self.ns(s.bitvisor))</td><td>\(Self.ratio(s.ratio))</td></tr>\n"
        }
        h += "</table>\n<table><tr><th class=l>method</th><th class=l>direction</th><th>size</th><th>ours</th>"
        h += "<th>BitVisor</th><th>BitVisor / ours</th></tr>\n"
        for r in rows {
            h += "<tr><td class=l>\(e(r.method))</td><td class=l>\(e(r.direction))</td>"
            h += "<td>\(BenchSettings.sizeLabel(r.size))</td><td>\(Self.ns(r.ours))</td>"
            h += "<td>\(Self.ns(r.bitvisor))</td><td>\(Self.ratio(r.ratio))</td></tr>\n"
        }
        return h + "</table>\n"
    }
}
