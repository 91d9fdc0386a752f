import Foundation

/// A deterministic 64-bit generator (SplitMix64): bootstrap intervals must be the same every
/// time the same samples are summarised, so reports and comparisons are reproducible.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A seed derived from a text key (FNV-1a), e.g. the point's identity.
    public static func seed(for key: String) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in key.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3 }
        return hash
    }
}

/// Robust summary of repeated timings of one point.
public struct BenchSummary: Sendable, Hashable, Codable {
    public var count: Int
    public var median: Double
    public var q1: Double
    public var q3: Double
    public var mean: Double
    public var min: Double
    public var max: Double
    /// 95 % bootstrap percentile interval of the median.
    public var ciLow: Double
    public var ciHigh: Double
    /// Interquartile range relative to the median.
    public var relativeSpread: Double
    /// Too much spread to trust the median to better than `BenchStatistics.noiseThreshold`.
    public var noisy: Bool

    public var iqr: Double { q3 - q1 }
}

public enum BenchStatistics {
    /// A point is flagged noisy when its IQR, or its median's 95 % interval, exceeds this
    /// fraction of the median.
    public static let noiseThreshold = 0.10
    public static let bootstrapResamples = 2000

    /// The p-quantile of sorted values, linear interpolation between closest ranks (R type 7).
    public static func quantile(sorted values: [Double], _ p: Double) -> Double {
        precondition(!values.isEmpty, "quantile of no values")
        let position = p * Double(values.count - 1)
        let lower = Int(position.rounded(.down))
        let upper = Int(position.rounded(.up))
        return values[lower] + (values[upper] - values[lower]) * (position - Double(lower))
    }

    public static func median(_ values: [Double]) -> Double {
        quantile(sorted: values.sorted(), 0.5)
    }

    /// Median, quartiles and a bootstrap interval of the median. `key` seeds the bootstrap.
    /// Returns nil for no samples.
    public static func summarize(_ samples: [Double], key: String) -> BenchSummary? {
        let sorted = samples.filter(\.isFinite).sorted()
        guard let first = sorted.first, let last = sorted.last else { return nil }
        let median = quantile(sorted: sorted, 0.5)
        let (low, high) = bootstrapMedianInterval(sorted, seed: SplitMix64.seed(for: key))
        let q1 = quantile(sorted: sorted, 0.25)
        let q3 = quantile(sorted: sorted, 0.75)
        let scale = median > 0 ? median : 1
        let spread = (q3 - q1) / scale
        return BenchSummary(
            count: sorted.count, median: median, q1: q1, q3: q3,
            mean: sorted.reduce(0, +) / Double(sorted.count), min: first, max: last,
            ciLow: low, ciHigh: high, relativeSpread: spread,
            noisy: spread > noiseThreshold || (high - low) / scale > noiseThreshold)
    }

    /// 95 % percentile interval of the median over `bootstrapResamples` resamples.
    public static func bootstrapMedianInterval(_ sorted: [Double], seed: UInt64) -> (Double, Double) {
        guard sorted.count > 1 else { return (sorted[0], sorted[0]) }
        var generator = SplitMix64(seed: seed)
        var medians: [Double] = []
        medians.reserveCapacity(bootstrapResamples)
        var resample = [Double](repeating: 0, count: sorted.count)
        for _ in 0..<bootstrapResamples {
            for i in resample.indices { resample[i] = sorted[Int(generator.next() % UInt64(sorted.count))] }
            resample.sort()
            medians.append(quantile(sorted: resample, 0.5))
        }
        medians.sort()
        return (quantile(sorted: medians, 0.025), quantile(sorted: medians, 0.975))
    }

    /// Two-sided Mann–Whitney U test (normal approximation with tie correction and continuity
    /// correction). p is 1 when either side has no samples or all values are equal.
    public static func mannWhitney(_ a: [Double], _ b: [Double]) -> (u: Double, z: Double, p: Double) {
        let n1 = Double(a.count)
        let n2 = Double(b.count)
        guard n1 > 0, n2 > 0 else { return (0, 0, 1) }
        // Ranks of the pooled samples, ties get their average rank.
        let pooled = (a.map { ($0, 0) } + b.map { ($0, 1) }).sorted { $0.0 < $1.0 }
        var ranks = [Double](repeating: 0, count: pooled.count)
        var tieTerm = 0.0
        var i = 0
        while i < pooled.count {
            var j = i
            while j + 1 < pooled.count, pooled[j + 1].0 == pooled[i].0 { j += 1 }
            let average = Double(i + j) / 2 + 1
            for k in i...j { ranks[k] = average }
            let t = Double(j - i + 1)
            tieTerm += t * t * t - t
            i = j + 1
        }
        let rankSumA = zip(pooled, ranks).filter { $0.0.1 == 0 }.reduce(0) { $0 + $1.1 }
        let u = rankSumA - n1 * (n1 + 1) / 2
        let mean = n1 * n2 / 2
        let n = n1 + n2
        let variance = n1 * n2 / 12 * ((n + 1) - tieTerm / (n * (n - 1)))
        guard variance > 0 else { return (u, 0, 1) }
        let difference = abs(u - mean) - 0.5
        let z = max(0, difference) / variance.squareRoot() * (u < mean ? -1 : 1)
        let p = min(1, erfc(abs(z) / 2.0.squareRoot()))
        return (u, z, p)
    }
}
