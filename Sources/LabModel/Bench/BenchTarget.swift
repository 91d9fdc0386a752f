import Foundation

/// One of the lab's performance targets (issue 5), evaluated on one run's medians.
public struct BenchTarget: Sendable, Hashable, Codable {
    public var id: String
    public var description: String
    /// The measured ratio (or seconds for the run-time target); nil when not measured.
    public var value: Double?
    public var threshold: Double
    /// `atMost`: value ≤ threshold meets the target; `atLeast`: value ≥ threshold.
    public var comparison: Comparison
    /// How the value was obtained, or why it could not be.
    public var detail: String

    public enum Comparison: String, Sendable, Hashable, Codable { case atMost, atLeast }

    public var met: Bool? {
        guard let value else { return nil }
        return comparison == .atMost ? value <= threshold : value >= threshold
    }

    public var verdict: String {
        switch met {
        case .some(true): return "met"
        case .some(false): return "missed"
        case .none: return "not measured"
        }
    }

    public var thresholdText: String { (comparison == .atMost ? "≤ " : "≥ ") + BenchTarget.format(threshold) }

    public static func format(_ value: Double) -> String {
        value >= 100
            ? String(format: "%.0f", value)
            : value >= 10 ? String(format: "%.1f", value) : String(format: "%.2f", value)
    }

    /// The five targets on one document. Throughput ratios compare medians of the same size in
    /// the same cell (memcpy in the cell that ran the method), and the worst size/direction counts.
    public static func evaluate(_ doc: BenchDocument) -> [BenchTarget] {
        var targets: [BenchTarget] = []

        // 1. Null hypercall: ours (CPL0, like the L2 kernel's vmmcall) vs peer KVM in-kernel.
        var null = BenchTarget(
            id: "null-hypercall",
            description: "null hypercall through our hypervisor vs the peer KVM's in-kernel hypercall (time ratio)",
            value: nil, threshold: 0.5, comparison: .atMost, detail: "")
        // Pairs of cells that differ only in the backend (svm-X with none-X); the worst pair counts.
        func rest(_ cell: String) -> Substring { cell.drop { $0 != "-" } }
        var pairs: [(BenchScalar, BenchScalar)] = []
        let kvms = doc.scalars.filter { $0.method == "kvm-vmmcall" && $0.series == "l2-vmmcall-in-kernel" }
        // (a bitvisor cell's null hypercall is BitVisor's, not ours: BenchSideBySide compares it)
        let oursNull = doc.scalars.filter {
            $0.method == "null-hypercall" && !$0.cellId.hasPrefix(Backend.bitvisor.rawValue + "-")
        }
        for cell in Set(oursNull.map(\.cellId)).sorted() {
            guard
                let mine = doc.scalars.first(where: {
                    $0.cellId == cell && $0.method == "null-hypercall" && $0.series == "cpl0"
                })
                    ?? doc.scalars.first(where: { $0.cellId == cell && $0.method == "null-hypercall" }),
                let peer = kvms.first(where: { rest($0.cellId) == rest(cell) }) ?? (kvms.count == 1 ? kvms.first : nil),
                peer.summary.median > 0
            else { continue }
            pairs.append((mine, peer))
        }
        if let worst = pairs.max(by: {
            $0.0.summary.median / $0.1.summary.median < $1.0.summary.median / $1.1.summary.median
        }) {
            null.value = worst.0.summary.median / worst.1.summary.median
            null.detail = pairs.map {
                "\($0.0.cellId): ours (\($0.0.series)) \(formatNs($0.0.summary.median)) / KVM \(formatNs($0.1.summary.median))"
            }
            .joined(separator: "; ")
        } else {
            let hasOurs = doc.scalars.contains { $0.method == "null-hypercall" }
            null.detail =
                "missing: "
                + [hasOurs ? nil : "bench/null-hypercall", kvms.isEmpty ? "bench/kvm-vmmcall" : nil]
                .compactMap { $0 }.joined(separator: " and ")
            if hasOurs && !kvms.isEmpty { null.detail = "no svm cell has a none cell with the same other axes" }
        }
        targets.append(null)

        // 2 and 4. Copies of ≥ 1 MiB against the guest's memcpy.
        targets.append(
            copyTarget(
                doc, id: "linear-page-vs-memcpy", method: BenchMethod.linearPage.rawValue, threshold: 0.5,
                description: "page-wise linear copy at ≥ 1 MiB vs guest memcpy (throughput ratio)"))
        targets.append(
            copyTarget(
                doc, id: "phys-contiguous-vs-memcpy", method: BenchMethod.physKernel.rawValue, threshold: 0.6,
                description: "contiguous physical copy at ≥ 1 MiB vs guest memcpy (throughput ratio)"))

        // 3. Page-wise vs byte-wise at 64 KiB.
        var walk = BenchTarget(
            id: "linear-page-vs-byte", description: "page-wise vs byte-wise linear copy at 64 KiB (speed-up)",
            value: nil, threshold: 50, comparison: .atLeast, detail: "")
        var ratios: [(String, Double)] = []
        for direction in BenchDirection.allCases.map(\.rawValue) {
            if let page = doc.point(method: BenchMethod.linearPage.rawValue, direction: direction, size: 65536),
                let byte = doc.point(
                    cell: page.cellId, method: BenchMethod.linearByte.rawValue, direction: direction, size: 65536)
            {
                ratios.append((direction, byte.summary.median / page.summary.median))
            }
        }
        if let worst = ratios.min(by: { $0.1 < $1.1 }) {
            walk.value = worst.1
            walk.detail = ratios.map { "\($0.0) \(format($0.1))×" }.joined(separator: ", ")
        } else {
            walk.detail = "missing: linear-page and linear-byte at 64 KiB in one cell (byte-wise max below 64 KiB?)"
        }
        targets.append(walk)

        // 5. The whole run.
        targets.append(
            BenchTarget(
                id: "run-time", description: "the whole lab bench run (seconds)", value: doc.wallSeconds,
                threshold: 600, comparison: .atMost,
                detail:
                    "\(doc.settings.repetitions) samples per point, sizes \(BenchSettings.sizeLabel(doc.settings.minSize))–\(BenchSettings.sizeLabel(doc.settings.maxSize))"
            ))
        return targets
    }

    private static func copyTarget(
        _ doc: BenchDocument, id: String, method: String, threshold: Double, description: String
    ) -> BenchTarget {
        var target = BenchTarget(
            id: id, description: description, value: nil, threshold: threshold, comparison: .atLeast, detail: "")
        var ratios: [(BenchPoint, Double)] = []
        var interleaved = 0
        for point in doc.points where point.method == method && point.size >= 1 << 20 {
            // Prefer the memcpy timed between this point's own samples (same host conditions).
            if let memcpy = point.memcpySummary {
                interleaved += 1
                ratios.append((point, memcpy.median / point.summary.median))
            } else if let memcpy = doc.point(cell: point.cellId, method: "memcpy", direction: "copy", size: point.size)
            {
                ratios.append((point, memcpy.summary.median / point.summary.median))
            }
        }
        guard let worst = ratios.min(by: { $0.1 < $1.1 }), let best = ratios.max(by: { $0.1 < $1.1 }) else {
            target.detail = "missing: \(method) and memcpy at ≥ 1 MiB in one cell"
            return target
        }
        target.value = worst.1
        target.detail =
            "worst \(worst.0.direction) \(BenchSettings.sizeLabel(worst.0.size)) \(format(worst.1)), "
            + "best \(best.0.direction) \(BenchSettings.sizeLabel(best.0.size)) \(format(best.1)) over \(ratios.count) points"
            + (interleaved == ratios.count
                ? " (memcpy interleaved with the method)" : interleaved == 0 ? " (memcpy from bench/memcpy)" : "")
        return target
    }

    public static func formatNs(_ ns: Double) -> String {
        if ns >= 1e9 { return String(format: "%.2f s", ns / 1e9) }
        if ns >= 1e6 { return String(format: "%.2f ms", ns / 1e6) }
        if ns >= 1e3 { return String(format: "%.1f µs", ns / 1e3) }
        return String(format: "%.0f ns", ns)
    }
}
