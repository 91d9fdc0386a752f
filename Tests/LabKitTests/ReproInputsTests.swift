import Foundation
import LabModel
import Testing

@testable import LabKit

/// `lab repro`: the inputs a reproduction needs (`--config`, `--cases`) and, when the rebuilt
/// images differ, which input changed since the run.
@Suite struct ReproInputsTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    func session(config: String? = nil, cases: [String] = []) throws -> LabSession {
        let paths = LabPaths(repository: Self.repository, cache: "/nonexistent")
        let file = config ?? paths.labJSON
        return LabSession(
            paths: paths, config: try LabConfig.load(from: URL(fileURLWithPath: paths.labJSON)), configFile: file,
            caseDirectories: cases, commandLineCaseDirectories: cases)
    }

    static let digest = "sha256:" + String(repeating: "a", count: 64)

    @Test func reproCommandCarriesConfigAndCases() throws {
        #expect(try session().reproCommand == ["swift", "run", "lab", "repro"])
        let command = try session(config: "/srv/ci/other.json", cases: ["/srv/mine"]).reproCommand
        #expect(command == ["swift", "run", "lab", "repro", "--config", "/srv/ci/other.json", "--cases", "/srv/mine"])
    }

    @Test func missingConfigAndCasesAreNamed() throws {
        let recorded = Provenance.Inputs(
            configFile: "/srv/ci/other.json", configDigest: Self.digest, defaultConfig: false,
            caseDirectories: [
                .init(path: "/srv/mine", digest: Self.digest, fromCommandLine: true),
                .init(path: "/srv/listed", digest: Self.digest, fromCommandLine: false),
            ])
        // Given nothing: both named (the configuration's own directory is not: it comes back with it).
        #expect(
            ReproRunner.missingInputs(recorded: recorded, session: try session()) == [
                "--config /srv/ci/other.json (this command reads \(pathRelative(Self.repository + "/lab.json")))",
                "--cases /srv/mine",
            ])
        // Given both: nothing missing.
        #expect(
            ReproRunner.missingInputs(
                recorded: recorded, session: try session(config: "/srv/ci/other.json", cases: ["/srv/mine"])
            ).isEmpty)
    }

    @Test func missingInputsFailBeforeBuildingWithTheExactCommand() async throws {
        let dir = try scratchDirectory("repro-inputs")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cell = MatrixCell(backend: .none, host: .tcg, kernel: .debianCurrent, memoryMiB: 1024, vcpus: 1)
        var provenance = Provenance(startTime: Date())
        provenance.inputs = .init(
            configFile: Self.repository + "/lab.json", configDigest: Self.digest, defaultConfig: true,
            caseDirectories: [.init(path: dir + "/my cases", digest: Self.digest, fromCommandLine: true)])
        try RunResults(
            provenance: provenance, cells: [CellOutcome(cell: cell, status: .ran, plannedCases: ["user/x/a"])],
            records: [CaseRecord(caseId: "user/x/a", cellId: cell.id, status: .fail)]
        ).write(to: URL(fileURLWithPath: dir + "/run"))
        var request = ReproRequest(caseId: "user/x/a")
        request.from = dir + "/run"
        do {
            _ = try await ReproRunner(session: try session()).plan(request)
            Issue.record("planned without the run's --cases")
        } catch let error as ReproError {
            let text = error.description
            #expect(text.contains("--cases \(dir)/my cases"), "\(text)")
            #expect(
                text.contains(
                    "swift run lab repro user/x/a --cell \(cell.id) --from \(dir)/run --cases '\(dir)/my cases'"),
                "\(text)")
        }
    }

    @Test func changedInputsAreNamed() throws {
        let dir = try scratchDirectory("repro-changed")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let other = "sha256:" + String(repeating: "b", count: 64)
        var recorded = Provenance(startTime: Date())
        recorded.labCommit = "1111"
        recorded.guestKernels = ["debian": .init(version: "6.1.0-40-amd64")]
        recorded.inputs = .init(
            configFile: dir + "/lab.json", configDigest: Self.digest, defaultConfig: false,
            caseDirectories: [
                .init(path: dir + "/edited", digest: Self.digest, fromCommandLine: true),
                .init(path: dir + "/gone", digest: Self.digest, fromCommandLine: true),
                .init(path: dir + "/same", digest: Self.digest, fromCommandLine: true),
            ])
        let now = Provenance.Inputs(
            configFile: dir + "/lab.json", configDigest: other, defaultConfig: false,
            caseDirectories: [
                .init(path: dir + "/edited", digest: other, fromCommandLine: true),
                .init(path: dir + "/same", digest: Self.digest, fromCommandLine: true),
                .init(path: dir + "/new", digest: Self.digest, fromCommandLine: true),
            ])
        let changed = ReproRunner.changedInputs(
            recorded: recorded, now: now, labCommit: "2222", kernel: (spec: "debian", version: "6.1.0-41-amd64"))
        #expect(
            changed == [
                "lab commit: the run had 1111, this checkout is 2222",
                "guest kernel debian: the run had 6.1.0-40-amd64, it resolves to 6.1.0-41-amd64 now",
                "configuration \(dir)/lab.json: its content changed",
                "user case directory \(dir)/edited: its files changed",
                "user case directory \(dir)/gone: gone",
                "user case directory \(dir)/new: used now, not by the run",
            ])
        // Nothing recorded changed: the message says so instead of blaming the lab commit.
        let same = ReproRunner.changedInputs(
            recorded: recorded, now: recorded.inputs, labCommit: "1111",
            kernel: (spec: "debian", version: "6.1.0-40-amd64"))
        #expect(same.isEmpty, "\(same)")
        let error = ReproError.imagesDiffer(["initramfs: recorded a, rebuilt b"], changed: [], commit: "1111")
        #expect(error.description.contains("None of the recorded inputs changed"))
        #expect(!error.description.contains("Check out the lab commit"))
        let commitError = ReproError.imagesDiffer(["x"], changed: [changed[0]], commit: "1111")
        #expect(commitError.description.contains("Check out the lab commit of that run (1111)"))
    }
}
