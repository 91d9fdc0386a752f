import Foundation

/// What changed between two bench runs (`lab bench --compare OLD.json`), point by point.
///
/// A change counts only when it is significant twice over: the two samples differ by a
/// Mann–Whitney U test at `alpha`, and the medians' bootstrap intervals do not overlap. It must
/// also exceed `minimumChange` (relative), so a real but negligible shift is reported unchanged.
public struct BenchComparison: Sendable, Hashable, Codable {
    public static let alpha = 0.01
    public static let minimumChange = 0.03

    public enum Verdict: String, Sendable, Hashable, Codable {
        case faster, slower, unchanged
        /// Only in the old run, or only in the new one.
        case removed, added
    }

    public struct Row: Sendable, Hashable, Codable {
        /// `cell method/direction size` or `cell method series`.
        public var key: String
        public var oldMedianNs: Double?
        public var newMedianNs: Double?
        /// new / old time (< 1 is faster).
        public var ratio: Double?
        public var pValue: Double?
        public var intervalsOverlap: Bool?
        public var verdict: Verdict
    }

    public var oldSource: String
    public var oldStart: Date
    public var rows: [Row]

    public var changed: [Row] { rows.filter { $0.verdict == .faster || $0.verdict == .slower } }

    public func count(_ verdict: Verdict) -> Int { rows.filter { $0.verdict == verdict }.count }

    public init(old: BenchDocument, new: BenchDocument, oldSource: String) {
        self.oldSource = oldSource
        self.oldStart = old.provenance.startTime
        var rows: [Row] = []
        typealias Entry = (samples: [Double], summary: BenchSummary)
        // New cells are matched to old ones by id; a cell id the old run lacks (the matrix grew
        // an axis, e.g. `-4lvl`) falls back to the old cell of the same backend whose id the new
        // one extends, or the only old cell of that backend.
        let oldCells = Set(old.points.map(\.cellId) + old.scalars.map(\.cellId))
        let oldBackend = Dictionary(
            (old.points.map { ($0.cellId, $0.backend) } + old.scalars.map { ($0.cellId, $0.backend) }),
            uniquingKeysWith: { a, _ in a })
        func oldCell(for cell: String, backend: String) -> String {
            if oldCells.contains(cell) { return cell }
            let sameBackend = oldCells.filter { oldBackend[$0] == backend }
            if let prefix = sameBackend.filter({ cell.hasPrefix($0 + "-") }).max(by: { $0.count < $1.count }) {
                return prefix
            }
            return sameBackend.count == 1 ? sameBackend.first ?? cell : cell
        }
        func entries(_ doc: BenchDocument, mapped: Bool) -> [(String, Entry)] {
            doc.points.map { p in
                let cell = mapped ? oldCell(for: p.cellId, backend: p.backend) : p.cellId
                return ("\(cell) \(p.method)/\(p.direction) \(p.size)", (p.samplesNs, p.summary))
            }
                + doc.scalars.map { v in
                    let cell = mapped ? oldCell(for: v.cellId, backend: v.backend) : v.cellId
                    return ("\(cell) \(v.method) \(v.series)", (v.samplesNs, v.summary))
                }
        }
        let oldEntries = entries(old, mapped: false)
        let newEntries = entries(new, mapped: true)
        let oldByKey = Dictionary(oldEntries, uniquingKeysWith: { a, _ in a })
        let newKeys = Set(newEntries.map(\.0))
        for (key, now) in newEntries {
            guard let before = oldByKey[key] else {
                rows.append(
                    Row(
                        key: key, oldMedianNs: nil, newMedianNs: now.summary.median, ratio: nil, pValue: nil,
                        intervalsOverlap: nil, verdict: .added))
                continue
            }
            rows.append(Self.compare(key: key, old: before, new: now))
        }
        for (key, before) in oldEntries where !newKeys.contains(key) {
            rows.append(
                Row(
                    key: key, oldMedianNs: before.summary.median, newMedianNs: nil, ratio: nil, pValue: nil,
                    intervalsOverlap: nil, verdict: .removed))
        }
        self.rows = rows
    }

    static func compare(
        key: String, old: (samples: [Double], summary: BenchSummary),
        new: (samples: [Double], summary: BenchSummary)
    ) -> Row {
        let ratio = old.summary.median > 0 ? new.summary.median / old.summary.median : 1
        let p = BenchStatistics.mannWhitney(old.samples, new.samples).p
        let overlap = old.summary.ciLow <= new.summary.ciHigh && new.summary.ciLow <= old.summary.ciHigh
        var verdict = Verdict.unchanged
        if p < alpha, !overlap, abs(ratio - 1) > minimumChange {
            verdict = ratio < 1 ? .faster : .slower
        }
        return Row(
            key: key, oldMedianNs: old.summary.median, newMedianNs: new.summary.median, ratio: ratio, pValue: p,
            intervalsOverlap: overlap, verdict: verdict)
    }

    /// Terminal summary: counts, then every significant change.
    public func text() -> String {
        var lines = [
            "compared with \(oldSource): \(count(.faster)) faster, \(count(.slower)) slower, "
                + "\(count(.unchanged)) unchanged, \(count(.added)) new, \(count(.removed)) gone "
                + "(significant: Mann–Whitney p < \(Self.alpha), 95 % intervals apart, change > \(Int(Self.minimumChange * 100)) %)"
        ]
        for row in changed.sorted(by: { ($0.ratio ?? 1) < ($1.ratio ?? 1) }) {
            lines.append(
                "  \(row.verdict.rawValue.padding(toLength: 6, withPad: " ", startingAt: 0)) \(row.key): "
                    + "\(BenchTarget.formatNs(row.oldMedianNs ?? 0)) → \(BenchTarget.formatNs(row.newMedianNs ?? 0)) "
                    + String(format: "(×%.2f, p=%.2g)", row.ratio ?? 1, row.pValue ?? 1))
        }
        return lines.joined(separator: "\n")
    }
}
