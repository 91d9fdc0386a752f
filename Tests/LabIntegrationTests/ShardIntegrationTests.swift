import Foundation
import LabModel
import LabVirt
import Testing

@testable import LabKit

/// `lab run --shard 1/2` + `--shard 2/2` + `lab merge` against one run of the same selection: real
/// images and VMs (QEMU TCG through libvirt), the smoke suite in the two `none` cells (one per
/// paging mode), one VM at a time. Needs root and a running libvirtd (`scripts/setup-host`).
@Suite(.serialized) struct ShardIntegrationTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path

    func session() throws -> LabSession {
        guard getuid() == 0 else {
            Issue.record("integration tests drive libvirtd on qemu:///system and must run as root (sudo make test)")
            throw CancellationError()
        }
        let paths = LabPaths(repository: Self.repository, cache: LabPaths.defaultCache())
        var config = try LabConfig.load(from: URL(fileURLWithPath: paths.labJSON))
        config.timeouts.bootSeconds = 150
        config.matrix.paging = [.fiveLevel, .fourLevel]
        return LabSession(paths: paths, config: config, configFile: paths.labJSON)
    }

    func request(results: String, shard: ShardSpec?) -> RunRequest {
        var r = RunRequest()
        r.only = ["smoke"]
        r.overrides = ConfigOverrides(backends: ["none"], jobs: "1")
        r.resultsDirectory = results
        r.shard = shard
        return r
    }

    static func temporaryDirectory(_ name: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent(
            "gmlab-it-\(name)-\(UUID().uuidString.prefix(8))"
        ).path
    }

    /// What must agree between a run and its merged shards: each record's cell, case and status.
    static func recordSet(_ results: RunResults) -> Set<String> {
        Set(results.records.map { "\($0.cellId) \($0.caseId) \($0.status.rawValue)" })
    }

    @Test func twoShardsMergedGiveTheRecordsOfOneRun() async throws {
        let lab = try session()
        let whole = try await LabRunner(session: lab).run(
            request(results: Self.temporaryDirectory("whole"), shard: nil))
        #expect(whole.results.shard == nil)
        #expect(whole.results.cells.count == 2, "expected the two none cells (5-level, 4-level)")
        #expect(!whole.results.records.isEmpty)

        var shardDirectories: [String] = []
        var shardCells: [[String]] = []
        for index in 1...2 {
            let directory = Self.temporaryDirectory("shard\(index)")
            let summary = try await LabRunner(session: lab).run(
                request(results: directory, shard: try ShardSpec(index: index, count: 2)))
            let info = try #require(summary.results.shard)
            #expect(info.index == index && info.count == 2 && info.totalUnits == 2)
            // Each shard runs one of the two cells (one unit each: cell × smoke).
            #expect(summary.results.cells.count == 1)
            shardCells.append(summary.results.cells.map(\.id))
            shardDirectories.append(directory)
        }
        #expect(Set(shardCells.flatMap { $0 }) == Set(whole.results.cells.map(\.id)))

        let out = Self.temporaryDirectory("merged")
        let merged = try ResultsMerger().merge(into: out, from: shardDirectories, commandLine: ["lab", "merge"])
        #expect(Self.recordSet(merged.results) == Self.recordSet(whole.results))
        #expect(merged.results.records.count == whole.results.records.count)
        #expect(merged.results.cells.map(\.id) == whole.results.cells.map(\.id))
        #expect(merged.results.exitStatus == whole.results.exitStatus)
        for record in whole.results.records where record.caseId.hasPrefix("smoke/") {
            #expect(
                record.status == .pass || record.status == .skip, "\(record.cellId) \(record.caseId): \(record.message)"
            )
        }
        // Every file a run writes, and the VM logs the records point at, are in the merged directory.
        for name in [
            RunResults.FileName.json, RunResults.FileName.junit, RunResults.FileName.tap, RunResults.FileName.text,
            RunResults.FileName.html,
        ] {
            #expect(FileManager.default.fileExists(atPath: out + "/" + name), "\(name) missing")
        }
        for record in merged.results.records {
            for (role, path) in record.logs where !path.hasPrefix("/") {
                #expect(FileManager.default.fileExists(atPath: out + "/" + path), "\(record.caseId) \(role): \(path)")
            }
        }
        // And it reads back as results.
        let back = try RunResults.load(from: URL(fileURLWithPath: out))
        #expect(Self.recordSet(back) == Self.recordSet(whole.results))
        #expect(back.mergedFrom?.compactMap(\.shard?.index).sorted() == [1, 2])
        for directory in shardDirectories + [whole.directory, out] {
            try? FileManager.default.removeItem(atPath: directory)
        }
    }
}
