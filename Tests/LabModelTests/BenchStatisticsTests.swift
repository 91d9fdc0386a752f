import Foundation
import Testing

@testable import LabModel

@Suite struct BenchStatisticsTests {
    @Test func quantilesInterpolateBetweenRanks() {
        let sorted = [1.0, 2, 3, 4]
        #expect(BenchStatistics.quantile(sorted: sorted, 0) == 1)
        #expect(BenchStatistics.quantile(sorted: sorted, 1) == 4)
        #expect(BenchStatistics.quantile(sorted: sorted, 0.5) == 2.5)
        #expect(BenchStatistics.quantile(sorted: sorted, 0.25) == 1.75)  // R type 7
        #expect(BenchStatistics.median([5, 1, 3]) == 3)
        #expect(BenchStatistics.median([7]) == 7)
    }

    @Test func summaryOfATightSampleIsNotNoisy() throws {
        let samples = (0..<15).map { 1000.0 + Double($0 % 5) }  // 1000…1004
        let s = try #require(BenchStatistics.summarize(samples, key: "tight"))
        #expect(s.count == 15)
        #expect(s.median == 1002)
        #expect(s.min == 1000 && s.max == 1004)
        #expect(s.ciLow <= s.median && s.median <= s.ciHigh)
        #expect(s.ciLow >= 1000 && s.ciHigh <= 1004)
        #expect(s.relativeSpread < 0.01)
        #expect(!s.noisy)
    }

    @Test func spreadAboveTheThresholdIsFlaggedNoisy() throws {
        // Half the samples doubled (a host stealing the CPU): IQR is far above 10 % of the median.
        let samples = (0..<16).map { $0 % 2 == 0 ? 100.0 : 200.0 }
        let s = try #require(BenchStatistics.summarize(samples, key: "bimodal"))
        #expect(s.noisy)
        #expect(s.iqr == 100)
    }

    @Test func oneOutlierDoesNotMoveTheMedianOrFlagThePoint() throws {
        var samples = Array(repeating: 50.0, count: 14)
        samples.append(5000)
        let s = try #require(BenchStatistics.summarize(samples, key: "outlier"))
        #expect(s.median == 50)
        #expect(s.mean > 300)
        #expect(!s.noisy)
    }

    @Test func bootstrapIsDeterministicPerKeyAndCoversTheMedian() throws {
        let samples = [10.0, 12, 9, 11, 30, 10.5, 9.5, 10, 12, 11, 10, 9]
        let a = try #require(BenchStatistics.summarize(samples, key: "k"))
        let b = try #require(BenchStatistics.summarize(samples, key: "k"))
        #expect(a == b)
        #expect(a.ciLow <= a.median && a.median <= a.ciHigh)
        #expect(a.ciHigh < 30)  // the outlier is not the interval's edge
    }

    @Test func emptyAndNonFiniteSamples() {
        #expect(BenchStatistics.summarize([], key: "none") == nil)
        #expect(BenchStatistics.summarize([.nan, .infinity], key: "nan") == nil)
        #expect(BenchStatistics.summarize([3, .nan], key: "one")?.median == 3)
    }

    @Test func splitMixIsReproducible() {
        var a = SplitMix64(seed: 42)
        var b = SplitMix64(seed: 42)
        var c = SplitMix64(seed: 43)
        let x = (0..<4).map { _ in a.next() }
        #expect(x == (0..<4).map { _ in b.next() })
        #expect(x != (0..<4).map { _ in c.next() })
        #expect(SplitMix64.seed(for: "a") != SplitMix64.seed(for: "b"))
    }

    @Test func mannWhitneySeparatesDistinctSamples() {
        let fast = (0..<15).map { 100.0 + Double($0) }
        let slow = (0..<15).map { 130.0 + Double($0) }
        let test = BenchStatistics.mannWhitney(fast, slow)
        #expect(test.u == 0)  // every fast sample below every slow one
        #expect(test.p < 0.001)
        #expect(test.z < 0)
        #expect(BenchStatistics.mannWhitney(slow, fast).z > 0)
    }

    @Test func mannWhitneyFindsNothingBetweenInterleavedSamples() {
        let a = (0..<15).map { Double($0 * 2) }
        let b = (0..<15).map { Double($0 * 2 + 1) }
        #expect(BenchStatistics.mannWhitney(a, b).p > 0.5)
        #expect(BenchStatistics.mannWhitney([1, 1, 1], [1, 1, 1]).p == 1)  // all tied
        #expect(BenchStatistics.mannWhitney([], [1, 2]).p == 1)
    }

    @Test func mannWhitneyMatchesAKnownValue() {
        // U counts pairs with a above b: only 6 > 5, so U = 1. Normal approximation with
        // continuity correction: z = (|1 - 12.5| - 0.5) / sqrt(25 * 11 / 12) ≈ 2.30, p ≈ 0.022.
        let a = [1.0, 2, 3, 4, 6]
        let b = [5.0, 7, 8, 9, 10]
        let test = BenchStatistics.mannWhitney(a, b)
        #expect(test.u == 1)
        let expectedZ = (abs(1 - 12.5) - 0.5) / (25.0 * 11 / 12).squareRoot()
        #expect(abs(abs(test.z) - expectedZ) < 1e-9)
        #expect(abs(test.p - erfc(expectedZ / 2.0.squareRoot())) < 1e-9)
    }
}
