import Foundation
import LabModel

/// `lab clean`: removes old runs from a results directory and, on request, cache entries no
/// kept run used. A run is a directory holding results.json (`repro-…` directories too); its
/// age is its provenance's start time (the directory's modification time when unreadable).
public struct Cleaner: Sendable {
    public struct Rules: Sendable {
        /// Keep the newest N runs.
        public var keepNewest: Int?
        /// Remove runs that started before this date.
        public var olderThan: Date?
        public init(keepNewest: Int? = nil, olderThan: Date? = nil) {
            self.keepNewest = keepNewest
            self.olderThan = olderThan
        }
    }

    public struct Run: Sendable, Equatable {
        public var path: String
        public var started: Date
        public var imageDigests: Set<String>
    }

    public struct Plan: Sendable {
        public var remove: [Run]
        public var keep: [Run]
        /// Cache entry directories no kept run used (only with `cache`).
        public var cacheEntries: [String]
    }

    public let resultsDirectory: String
    /// The image cache (~/.cache/guestmemlab), or nil to leave it alone.
    public let cache: String?

    public init(resultsDirectory: String, cache: String? = nil) {
        self.resultsDirectory = resultsDirectory
        self.cache = cache
    }

    /// The kinds of cache entries that hold images a run records by digest.
    static let cacheKinds = ["kernel", "guest", "hv", "user"]

    public func runs() -> [Run] {
        let fm = FileManager.default
        let names = (try? fm.contentsOfDirectory(atPath: resultsDirectory)) ?? []
        var runs: [Run] = []
        for name in names where name != "latest" {
            let path = resultsDirectory + "/" + name
            var isDir: ObjCBool = false
            guard fm.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue,
                (try? fm.destinationOfSymbolicLink(atPath: path)) == nil,
                fm.fileExists(atPath: path + "/" + RunResults.FileName.json)
            else { continue }
            if let results = try? RunResults.load(from: URL(fileURLWithPath: path)) {
                runs.append(
                    Run(
                        path: path, started: results.provenance.startTime,
                        imageDigests: Set(results.provenance.imageDigests.values)))
            } else {
                let modified = (try? fm.attributesOfItem(atPath: path))?[.modificationDate] as? Date ?? .distantPast
                runs.append(Run(path: path, started: modified, imageDigests: []))
            }
        }
        return runs.sorted { ($0.started, $0.path) > ($1.started, $1.path) }
    }

    /// What `rules` remove: a run goes when every rule given says so (beyond the newest N, and
    /// older than the date). No rule removes nothing.
    public func plan(_ rules: Rules) -> Plan {
        let all = runs()
        var remove: [Run] = []
        var keep: [Run] = []
        for (index, run) in all.enumerated() {
            var verdicts: [Bool] = []
            if let n = rules.keepNewest { verdicts.append(index >= n) }
            if let date = rules.olderThan { verdicts.append(run.started < date) }
            if !verdicts.isEmpty, verdicts.allSatisfy({ $0 }) { remove.append(run) } else { keep.append(run) }
        }
        return Plan(remove: remove, keep: keep, cacheEntries: unusedCacheEntries(keptDigests: keep))
    }

    /// Cache entries whose images (`*.sha256` digest memos) no kept run recorded; the newest
    /// entry of each kind always stays (the current build).
    func unusedCacheEntries(keptDigests kept: [Run]) -> [String] {
        guard let cache else { return [] }
        let used = kept.reduce(into: Set<String>()) { $0.formUnion($1.imageDigests) }
        let fm = FileManager.default
        var unused: [String] = []
        for kind in Self.cacheKinds {
            let dir = cache + "/" + kind
            let entries = ((try? fm.contentsOfDirectory(atPath: dir)) ?? []).map { dir + "/" + $0 }.filter {
                var isDir: ObjCBool = false
                return fm.fileExists(atPath: $0, isDirectory: &isDir) && isDir.boolValue
            }
            let newest = entries.max { modified($0) < modified($1) }
            for entry in entries where entry != newest {
                let memos = ((try? fm.contentsOfDirectory(atPath: entry)) ?? []).filter { $0.hasSuffix(".sha256") }
                guard !memos.isEmpty else { continue }  // not an image entry we understand
                let digests = memos.compactMap {
                    try? String(contentsOfFile: entry + "/" + $0, encoding: .utf8).trimmingCharacters(
                        in: .whitespacesAndNewlines)
                }
                if used.isDisjoint(with: digests) { unused.append(entry) }
            }
        }
        return unused.sorted()
    }

    private func modified(_ path: String) -> Date {
        (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date ?? .distantPast
    }

    /// Removes what `plan` lists and repoints `latest` at the newest kept run (or removes it).
    public func apply(_ plan: Plan) throws {
        let fm = FileManager.default
        for run in plan.remove { try fm.removeItem(atPath: run.path) }
        for entry in plan.cacheEntries { try fm.removeItem(atPath: entry) }
        let latest = resultsDirectory + "/latest"
        if let target = try? fm.destinationOfSymbolicLink(atPath: latest),
            !fm.fileExists(atPath: resultsDirectory + "/" + target)
        {
            try? fm.removeItem(atPath: latest)
            if let newest = plan.keep.first {
                try? fm.createSymbolicLink(
                    atPath: latest, withDestinationPath: URL(fileURLWithPath: newest.path).lastPathComponent)
            }
        }
    }

    /// Bytes below `path` (du's apparent size), for the summary.
    public static func size(of path: String) -> Int64 {
        let fm = FileManager.default
        var total: Int64 = 0
        if let walker = fm.enumerator(atPath: path) {
            while let rel = walker.nextObject() as? String {
                if let size = (try? fm.attributesOfItem(atPath: path + "/" + rel))?[.size] as? NSNumber,
                    (try? fm.destinationOfSymbolicLink(atPath: path + "/" + rel)) == nil
                {
                    total += size.int64Value
                }
            }
        }
        return total
    }
}
