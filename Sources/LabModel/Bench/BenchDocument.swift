import Foundation

/// One measured point: a method moving `size` bytes in one direction in one matrix cell.
/// Samples are nanoseconds per transfer (each sample averages a batch of transfers).
public struct BenchPoint: Sendable, Hashable, Codable {
    public var cellId: String
    public var backend: String
    /// A `BenchMethod` raw value, or `memcpy` for the baseline.
    public var method: String
    /// `read`, `write` (hypervisor's view) or `copy` (memcpy).
    public var direction: String
    public var size: Int
    public var samplesNs: [Double]
    public var summary: BenchSummary
    /// phys-user only: the pagemap translation alone (included in `samplesNs`).
    public var translateNs: [Double]?
    public var translateSummary: BenchSummary?
    /// Hypervisor methods: the guest's memcpy of the same size, timed between this point's
    /// samples (same host conditions; the ratio targets use it when present).
    public var memcpyNs: [Double]?
    public var memcpySummary: BenchSummary?
    /// Transfers per sample.
    public var batch: Int
    /// Hypercalls one transfer makes (0 for memcpy).
    public var hypercalls: Int
    /// VM exits of one transfer measured through gmlab.info; nil when not measurable (backend none).
    public var exits: Int?
    /// The longest single stay of the vCPU in the hypervisor's dispatch during one transfer
    /// (gmlab.holds: the least of three transfers, so host descheduling does not count); nil
    /// where the hypervisor has no such service (backend none, BitVisor) or for memcpy.
    public var longestHoldNs: Double?

    /// Megabytes (10^6) per second at the median.
    public var throughputMBps: Double { summary.median > 0 ? Double(size) / summary.median * 1000 : 0 }
    public var nsPerByte: Double { summary.median / Double(size) }
    /// Identity across runs (for comparisons).
    public var key: String { "\(cellId) \(method)/\(direction) \(size)" }
}

/// A baseline measured without a size: null hypercalls (ours, the peer KVM's).
public struct BenchScalar: Sendable, Hashable, Codable {
    public var cellId: String
    public var backend: String
    /// `null-hypercall` or `kvm-vmmcall`.
    public var method: String
    /// `cpl3`, `cpl0`, `l2-vmmcall-in-kernel`, …
    public var series: String
    public var samplesNs: [Double]
    public var summary: BenchSummary
    public var note: String?

    public var key: String { "\(cellId) \(method) \(series)" }
}

/// Where a method stopped below the configured maximum size, and why.
public struct BenchLimit: Sendable, Hashable, Codable {
    public var cellId: String
    public var method: String
    public var direction: String
    public var limit: Int
    public var reason: String
}

/// A bench case that did not measure (error, timeout) or was skipped in a cell.
public struct BenchCaseOutcome: Sendable, Hashable, Codable {
    public var cellId: String
    public var caseId: String
    public var status: CaseStatus
    public var message: String
}

/// Everything `lab bench` produced: bench.json is its encoding.
public struct BenchDocument: Sendable, Hashable, Codable {
    public static let formatVersion = 1

    public var format: Int
    public var provenance: Provenance
    public var settings: BenchSettings
    /// Wall time of the whole `lab bench` (images, boots, measurements).
    public var wallSeconds: Double
    /// The run's results directory (results.json, VM logs), relative to bench.json.
    public var runDirectory: String
    public var points: [BenchPoint]
    public var scalars: [BenchScalar]
    public var limits: [BenchLimit]
    /// Cases that did not pass (skips included, e.g. the methods in the `none` cell).
    public var outcomes: [BenchCaseOutcome]
    public var targets: [BenchTarget]
    public var notes: [String]

    public init(
        provenance: Provenance, settings: BenchSettings, wallSeconds: Double, runDirectory: String = ".",
        points: [BenchPoint] = [], scalars: [BenchScalar] = [], limits: [BenchLimit] = [],
        outcomes: [BenchCaseOutcome] = [], targets: [BenchTarget] = [], notes: [String] = []
    ) {
        self.format = Self.formatVersion
        self.provenance = provenance
        self.settings = settings
        self.wallSeconds = wallSeconds
        self.runDirectory = runDirectory
        self.points = points
        self.scalars = scalars
        self.limits = limits
        self.outcomes = outcomes
        self.targets = targets
        self.notes = notes
    }

    /// Bench cases that errored, failed or timed out (skips are expected and not problems).
    public var problems: [BenchCaseOutcome] { outcomes.filter { $0.status.isProblem } }

    public enum FileName {
        public static let json = "bench.json"
        public static let csv = "bench.csv"
        public static let markdown = "bench.md"
        public static let html = "bench.html"
    }

    // MARK: From a run

    /// Reads the bench cases' RESULT values out of a run. A case whose values do not have the
    /// expected shape is reported as an error outcome naming what was wrong.
    public static func from(
        results: RunResults, settings: BenchSettings, wallSeconds: Double,
        runDirectory: String = "."
    ) -> BenchDocument {
        var document = BenchDocument(
            provenance: results.provenance, settings: settings, wallSeconds: wallSeconds,
            runDirectory: runDirectory, notes: results.notes)
        let backends = Dictionary(
            results.cells.map { ($0.id, $0.cell.backend.rawValue) }, uniquingKeysWith: { a, _ in a })
        for cell in results.cells {
            for record in results.rows(for: cell) where record.caseId.hasPrefix("bench/") {
                let backend = backends[record.cellId] ?? "?"
                guard record.status == .pass else {
                    document.outcomes.append(
                        .init(
                            cellId: record.cellId, caseId: record.caseId, status: record.status,
                            message: record.message))
                    continue
                }
                do {
                    try document.add(record: record, backend: backend)
                } catch {
                    document.outcomes.append(
                        .init(
                            cellId: record.cellId, caseId: record.caseId, status: error.nothingFits ? .skip : .error,
                            message: error.nothingFits ? error.message : "values not understood: \(error.message)"))
                }
            }
        }
        document.targets = BenchTarget.evaluate(document)
        return document
    }

    struct ShapeError: Error {
        var message: String
        /// Not a malformed result: the method's own limit is below every size asked for.
        var nothingFits = false
    }

    private mutating func add(record: CaseRecord, backend: String) throws(ShapeError) {
        let values = record.values
        func string(_ key: String) throws(ShapeError) -> String {
            guard case .string(let text)? = values[key] else { throw ShapeError(message: "\"\(key)\" is not a string") }
            return text
        }
        func numbers(_ value: JSONValue?, _ what: String) throws(ShapeError) -> [Double] {
            guard case .array(let items)? = value else { throw ShapeError(message: "\(what) is not an array") }
            var out: [Double] = []
            for item in items {
                guard case .number(let n) = item else { throw ShapeError(message: "\(what) holds a non-number") }
                out.append(n)
            }
            return out
        }
        func integers(_ key: String) throws(ShapeError) -> [Int] {
            try numbers(values[key], "\"\(key)\"").map { (value: Double) throws(ShapeError) -> Int in
                guard value == value.rounded(), abs(value) < 1e15 else {
                    throw ShapeError(message: "\"\(key)\" holds \(value), not a count")
                }
                return Int(value)
            }
        }
        func matrix(_ key: String) throws(ShapeError) -> [[Double]] {
            guard case .array(let rows)? = values[key] else { throw ShapeError(message: "\"\(key)\" is not an array") }
            var out: [[Double]] = []
            for (index, row) in rows.enumerated() { out.append(try numbers(row, "\"\(key)\"[\(index)]")) }
            return out
        }
        let method = try string("method")
        switch try string("kind") {
        case "sized":
            let direction = try string("direction")
            // The method's own limit (the guest reports 2^64-1 for "none") and why.
            var limit: Double?
            if case .number(let value)? = values["limit"] { limit = value }
            var limitReason = "the method's own limit"
            if case .string(let text)? = values["limit_reason"] { limitReason = text }
            let sizes = try integers("sizes")
            let samples = try matrix("samples")
            let batch = try integers("batch")
            let hypercalls = try integers("hypercalls")
            let exits = try integers("exits")
            let translate = values["translate_samples"] == nil ? nil : try matrix("translate_samples")
            let interleaved = values["memcpy_samples"] == nil ? nil : try matrix("memcpy_samples")
            let holds =
                values["longest_hold_ns"] == nil ? nil : try numbers(values["longest_hold_ns"], "\"longest_hold_ns\"")
            guard samples.count == sizes.count, batch.count == sizes.count, hypercalls.count == sizes.count,
                exits.count == sizes.count, translate.map({ $0.count == sizes.count }) ?? true,
                interleaved.map({ $0.count == sizes.count }) ?? true, holds.map({ $0.count == sizes.count }) ?? true
            else {
                throw ShapeError(
                    message:
                        "\"sizes\", \"samples\", \"batch\", \"hypercalls\", \"exits\", \"longest_hold_ns\" differ in length"
                )
            }
            if sizes.isEmpty {
                // The guest measures only the sizes its method can do (a 4 MiB kmalloc buffer for
                // the contiguous physical method): when none of the sizes asked for fits, that is a
                // skip with the guest's reason, not a malformed result.
                if let limit, limit < Double(settings.minSize) {
                    throw ShapeError(
                        message:
                            "skip: no size from \(BenchSettings.sizeLabel(settings.minSize)) up fits \(method)'s limit of "
                            + "\(BenchSettings.sizeLabel(Int(limit))): \(limitReason)",
                        nothingFits: true)
                }
                throw ShapeError(message: "no sizes were measured")
            }
            for (i, size) in sizes.enumerated() {
                let key = "\(record.cellId) \(method)/\(direction) \(size)"
                guard let summary = BenchStatistics.summarize(samples[i], key: key) else {
                    throw ShapeError(message: "no samples for size \(size)")
                }
                points.append(
                    BenchPoint(
                        cellId: record.cellId, backend: backend, method: method, direction: direction, size: size,
                        samplesNs: samples[i], summary: summary, translateNs: translate?[i],
                        translateSummary: translate.flatMap {
                            BenchStatistics.summarize($0[i], key: key + " translate")
                        },
                        memcpyNs: interleaved?[i],
                        memcpySummary: interleaved.flatMap { BenchStatistics.summarize($0[i], key: key + " memcpy") },
                        batch: batch[i], hypercalls: hypercalls[i], exits: exits[i] < 0 ? nil : exits[i],
                        longestHoldNs: holds?[i]))
            }
            if let limit, limit < Double(settings.maxSize) {
                limits.append(
                    BenchLimit(
                        cellId: record.cellId, method: method, direction: direction, limit: Int(limit),
                        reason: limitReason))
            }
        case "scalar":
            guard case .object(let series)? = values["series"], !series.isEmpty else {
                throw ShapeError(message: "\"series\" is not a non-empty object")
            }
            var note: String?
            if case .string(let text)? = values["service"] { note = text }
            for name in series.keys.sorted() {
                let samples = try numbers(series[name], "\"series\".\(name)")
                let key = "\(record.cellId) \(method) \(name)"
                guard let summary = BenchStatistics.summarize(samples, key: key) else {
                    throw ShapeError(message: "no samples in series \(name)")
                }
                scalars.append(
                    BenchScalar(
                        cellId: record.cellId, backend: backend, method: method, series: name,
                        samplesNs: samples, summary: summary, note: note))
            }
        case let other:
            throw ShapeError(message: "unknown kind \(JSONValue.quoted(other)); expected sized or scalar")
        }
    }

    // MARK: Look-ups

    public func point(cell: String? = nil, method: String, direction: String, size: Int) -> BenchPoint? {
        points.first {
            ($0.cellId == cell || cell == nil) && $0.method == method && $0.direction == direction && $0.size == size
        }
    }

    public func scalar(method: String, series: String) -> BenchScalar? {
        scalars.first { $0.method == method && $0.series == series }
    }

    // MARK: Files

    public func jsonData() throws -> Data { try RunResults.encoder().encode(self) }

    public static func decode(_ data: Data, path: String) throws(ResultsError) -> BenchDocument {
        let document: BenchDocument
        do {
            document = try RunResults.decoder().decode(BenchDocument.self, from: data)
        } catch {
            throw ResultsError(path: path, message: "not a bench.json this lab can read: \(error)")
        }
        guard document.format == formatVersion else {
            throw ResultsError(
                path: path, message: "bench format \(document.format); this lab reads format \(formatVersion)")
        }
        return document
    }

    public static func load(path: String) throws(ResultsError) -> BenchDocument {
        var url = URL(fileURLWithPath: path)
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            url.appendPathComponent(FileName.json)
        }
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw ResultsError(path: url.path, message: "cannot read: \(error.localizedDescription)")
        }
        return try decode(data, path: url.path)
    }

    /// Writes bench.json, bench.csv, bench.md and bench.html (with `comparison` when given).
    @discardableResult
    public func write(to directory: URL, comparison: BenchComparison? = nil) throws -> [URL] {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let files: [(String, Data)] = [
            (FileName.json, try jsonData()),
            (FileName.csv, Data(BenchReport.csv(self).utf8)),
            (FileName.markdown, Data(BenchReport.markdown(self, comparison: comparison).utf8)),
            (FileName.html, Data(BenchHTML.render(self, comparison: comparison).utf8)),
        ]
        return try files.map { name, data in
            let url = directory.appendingPathComponent(name)
            try data.write(to: url, options: .atomic)
            return url
        }
    }
}
