import Foundation
import Testing

@testable import LabModel

/// docs/schemas/results.schema.json and bench.schema.json against what the lab's own encoders
/// write (the integration tests check the files of real runs too), and proof that the schemas
/// reject what they should.
@Suite struct ResultsSchemaTests {
    static let schemas = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("docs/schemas")

    static func results() throws -> JSONSchema {
        try JSONSchema(contentsOf: schemas.appendingPathComponent("results.schema.json"))
    }

    /// sampleResults() with every optional key filled in, so the schema sees each one.
    static func everyKey() -> RunResults {
        var results = sampleResults()
        results.provenance.bochsVersion = "2.8"
        results.provenance.hypervisorPolicy = .strict
        let digest = "sha256:" + String(repeating: "0", count: 64)
        results.provenance.inputs = .init(
            configFile: "/srv/lab/ci.json", configDigest: digest, defaultConfig: false,
            caseDirectories: [.init(path: "/srv/mine", digest: digest, fromCommandLine: true)])
        results.provenance.machines["vmx-bochs-debian-1024m-1cpu-4lvl"] = .init(
            accelerator: "bochs", cpuModel: "corei7_skylake_x", guestKernel: .init(version: "6.1.0-56-amd64"),
            paging: .fourLevel, guestCmdline: "console=ttyS0", hypervisorCmdline: "gmlab.policy=strict")
        results.records[0].byConstruction = true
        results.records[1].truncatedLogs = ["console": "reached virtlogd's max_size (2 MiB) 1 time"]
        results.cases.append(
            CaseInfo(
                id: "hv/smp", suite: "hv", description: "FINDING: x", needs: CaseNeed.allCases,
                bitvisor: "FINDING: y"))
        results.provenance.bitvisor = .init(
            source: "/src/bitvisor", commit: "66559d6", localChanges: false, contentKey: digest,
            checkoutDigest: digest, elfDigest: digest)
        for status in CaseStatus.allCases {
            results.records.append(CaseRecord(caseId: "smoke/\(status.rawValue)", cellId: "lab", status: status))
        }
        // Machines (issue 13): where each record ran, and the shards of a split and their merge.
        results.records[0].machine = "box"
        results.provenance.hosts = [
            "box": HostRecord(
                uri: "qemu+tcp://127.0.0.1:16509/system", cpus: 1, memoryMiB: 3072, cpuModel: "qemu64",
                libvirtDaemon: "9.0.0", hostname: "box")
        ]
        let shard = ShardInfo(
            index: 1, count: 2, units: ["svm-tcg-debian-1024m-1cpu-5lvl|smoke"], totalUnits: 2,
            planDigest: "0123456789abcdef", cellOrder: ["svm-tcg-debian-1024m-1cpu-5lvl"],
            plannedCases: ["svm-tcg-debian-1024m-1cpu-5lvl": ["smoke/kernel-version"]])
        results.shard = shard
        var source = MergedSource(directory: "out/1", results: results)
        source.hostname = "runner-1"
        source.labCommit = "0123abcd"
        source.endTime = results.provenance.startTime
        results.mergedFrom = [source]
        return results
    }

    func problems(_ results: RunResults) throws -> [String] {
        try Self.results().problems(in: results.jsonData())
    }

    @Test func encodedResultsValidate() throws {
        #expect(try problems(Self.everyKey()) == [])
        #expect(try problems(sampleResults()) == [])
        #expect(try problems(RunResults.labFailure(message: "lab.json: bad")) == [])
    }

    /// Every key the encoder writes is named by the schema (additionalProperties false
    /// everywhere but the open maps), so an undocumented new key fails here.
    @Test func schemaRejectsUnknownKeysWrongTypesAndValues() throws {
        let schema = try Self.results()
        var object = try #require(
            try JSONDecoder().decode(JSONValue.self, from: Self.everyKey().jsonData()).objectValue)
        object["extra"] = .number(1)
        #expect(try schema.problems(in: .object(object)) == [#"$: key "extra" is not in the schema"#])
        object["extra"] = nil

        guard case .array(var records)? = object["records"], case .object(var record) = records[0] else {
            Issue.record("no records")
            return
        }
        record["status"] = .string("passed")
        record["attempt"] = .number(0)
        record["wallTime"] = .number(1)
        records[0] = .object(record)
        object["records"] = .array(records)
        let found = try schema.problems(in: .object(object))
        #expect(found.contains { $0.hasPrefix("$.records[0].status: \"passed\" is not one of") }, "\(found)")
        #expect(found.contains("$.records[0].attempt: 0 is below the minimum 1"), "\(found)")
        #expect(found.contains(#"$.records[0]: key "wallTime" is not in the schema"#), "\(found)")
        #expect(found.count == 3, "\(found)")

        object["format"] = .number(2)
        object["provenance"] = .object([:])
        let more = try schema.problems(in: .object(object))
        #expect(more.contains("$.format: expected 1, got 2"), "\(more)")
        #expect(more.contains(#"$.provenance: missing key "startTime""#), "\(more)")
    }

    @Test func cellStatusMustBeOneOfTheThreeShapes() throws {
        let schema = try Self.results()
        var object = try #require(
            try JSONDecoder().decode(JSONValue.self, from: sampleResults().jsonData()).objectValue)
        guard case .array(var cells)? = object["cells"], case .object(var cell) = cells[0] else {
            Issue.record("no cells")
            return
        }
        cell["status"] = .object(["state": .string("skipped")])
        cells[0] = .object(cell)
        object["cells"] = .array(cells)
        let found = try schema.problems(in: .object(object))
        #expect(found.count == 1 && found[0].hasPrefix("$.cells[0].status: matches none of the oneOf"), "\(found)")
    }

    @Test func benchDocumentValidates() throws {
        let schema = try JSONSchema(contentsOf: Self.schemas.appendingPathComponent("bench.schema.json"))
        var document = BenchFixture.document()
        document.provenance = Self.everyKey().provenance
        document.notes = ["a note"]
        #expect(!document.points.isEmpty && !document.scalars.isEmpty && !document.targets.isEmpty)
        #expect(!document.limits.isEmpty)
        #expect(try schema.problems(in: document.jsonData()) == [])
        // The provenance is checked through the reference to results.schema.json.
        var object = try #require(try JSONDecoder().decode(JSONValue.self, from: document.jsonData()).objectValue)
        guard case .object(var provenance)? = object["provenance"] else {
            Issue.record("no provenance")
            return
        }
        provenance["startTime"] = .string("yesterday")
        object["provenance"] = .object(provenance)
        let found = try schema.problems(in: .object(object))
        #expect(
            found.count == 1 && found[0].hasPrefix("$.provenance.startTime: \"yesterday\" does not match"), "\(found)")
    }

    @Test func unsupportedKeywordsAreRefused() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gmlab-schema-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("s.json")
        try Data(#"{"type": "object", "maxProperties": 3}"#.utf8).write(to: file)
        #expect(throws: JSONSchema.SchemaError.self) { try JSONSchema(contentsOf: file).problems(in: .object([:])) }
    }
}

extension JSONValue {
    var objectValue: [String: JSONValue]? {
        if case .object(let members) = self { return members }
        return nil
    }
}
