import Foundation
import LabModel
import Testing

@testable import LabKit

/// Shell completion: the candidates `lab` offers at TAB time, and the scripts it generates.
@Suite struct CompletionCandidatesTests {
    /// The repository's lab.json with the matrix's backends, hosts and suites replaced.
    static func config(backends: [String], hosts: [String], suites: [String]) throws -> String {
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let data = try Data(contentsOf: repository.appendingPathComponent("lab.json"))
        var object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        var matrix = try #require(object["matrix"] as? [String: Any])
        matrix["backends"] = backends
        matrix["hosts"] = hosts
        matrix["suites"] = suites
        matrix["paging"] = ["4-level"]
        object["matrix"] = matrix
        return String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
    }

    /// A repository (lab.json) and a cache with two guest catalogs, the newer one current.
    func fixture() throws -> (CompletionCandidates, String) {
        let root = try scratchDirectory("completion")
        let repository = root + "/repo"
        let cache = root + "/cache"
        let fm = FileManager.default
        try fm.createDirectory(atPath: repository, withIntermediateDirectories: true)
        try Self.config(backends: ["none", "vmx"], hosts: ["auto"], suites: ["smoke", "extra"]).write(
            toFile: repository + "/lab.json", atomically: true, encoding: .utf8)
        for (name, ids, age) in [("old", ["gone/case"], 3600.0), ("new", ["smoke/a", "linear/b"], 0)] {
            let dir = cache + "/guest/" + name
            try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
            // "needs" this lab does not know (a newer checkout's catalog, the cache is shared).
            let cases = ids.map { #"{"id": "\#($0)", "suite": "s", "description": "d", "needs": ["future"]}"# }
            try ("[" + cases.joined(separator: ",") + "]").write(
                toFile: dir + "/cases.json", atomically: true, encoding: .utf8)
            try fm.setAttributes([.modificationDate: Date() - age], ofItemAtPath: dir + "/cases.json")
        }
        // One kernel in the cache, and something that is not a kernel.
        try fm.createDirectory(atPath: cache + "/kernel/6.1.0-57-amd64", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: cache + "/kernel/tmp-123", withIntermediateDirectories: true)
        // results/latest holds a user case.
        let latest = repository + "/results/latest"
        try RunResults(
            provenance: Provenance(startTime: Date()), cells: [],
            records: [CaseRecord(caseId: "user/mine/x", cellId: "c", status: .pass)],
            cases: [CaseInfo(id: "user/mine/x", suite: "user", description: "")]
        ).write(to: URL(fileURLWithPath: latest))
        return (CompletionCandidates(paths: LabPaths(repository: repository, cache: cache)), root)
    }

    @Test func caseIdsSuitesAndCells() throws {
        let (candidates, root) = try fixture()
        defer { try? FileManager.default.removeItem(atPath: root) }
        #expect(candidates.caseIds() == ["linear/b", "smoke/a", "user/mine/x"])
        #expect(candidates.suites() == ["extra", "linear", "smoke", "user"])
        // auto taken both ways: KVM, and the emulator standing in for it.
        let cells = candidates.cellIds()
        #expect(cells.contains("none-kvm-debian-1024m-1cpu-4lvl"))
        #expect(cells.contains("none-tcg-debian-1024m-1cpu-4lvl"))
        #expect(cells.contains("vmx-bochs-debian-1024m-1cpu-4lvl"))
        #expect(!cells.contains { $0.hasPrefix("svm-") })
        #expect(candidates.patterns().contains("linear/*"))
        #expect(candidates.kernels() == ["debian", "6.1.0-57-amd64"])
    }

    @Test func configOnTheCommandLineIsUsed() throws {
        let (candidates, root) = try fixture()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let other = root + "/other.json"
        try Self.config(backends: ["svm"], hosts: ["tcg"], suites: ["smoke"]).write(
            toFile: other, atomically: true, encoding: .utf8)
        var fromWords = candidates
        fromWords.configFile = other
        #expect(fromWords.cellIds().allSatisfy { $0.hasPrefix("svm-tcg-") })
        #expect(!fromWords.cellIds().isEmpty)
        let parsed = CompletionCandidates.forCommandLine(["lab", "run", "--config=" + other, "--only", ""])
        #expect(parsed?.configFile == other)
    }
}
