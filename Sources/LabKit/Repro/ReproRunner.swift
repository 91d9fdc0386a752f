import Foundation
import LabModel
import LabVirt

/// `lab repro`: boot exactly one case in one matrix cell again — with the images an earlier run
/// recorded (rebuilt from the sources, then checked digest by digest) — keep its logs, and
/// optionally hold the VM paused under QEMU's gdb stub.
public struct ReproRequest: Sendable {
    public var caseId: String
    /// A matrix cell id; needed when the case ran in several cells.
    public var cell: String?
    /// A results directory of an earlier run to take the cell and the image digests from.
    public var from: String?
    public var gdbPort: UInt16?
    /// Run even when the rebuilt images differ from the recorded ones.
    public var allowDifferentImages = false
    public var resultsDirectory: String?

    public init(caseId: String) { self.caseId = caseId }
}

public enum ReproError: Error, CustomStringConvertible, Sendable {
    case caseNotInResults(caseId: String, from: String, known: [String])
    case ambiguousCell(caseId: String, cells: [String])
    case unknownCell(String, known: [String])
    case cellNotRunnable(String, reason: String)
    case imagesDiffer([String], commit: String?)

    public var description: String {
        switch self {
        case let .caseNotInResults(id, from, known):
            return "case \(id) has no record in \(from)/results.json"
                + (known.isEmpty ? "" : "; cases there: " + known.prefix(20).joined(separator: ", "))
        case let .ambiguousCell(id, cells):
            return "case \(id) ran in several cells; pick one with --cell: " + cells.joined(separator: ", ")
        case let .unknownCell(cell, known):
            return "no matrix cell \(cell); cells: " + known.joined(separator: ", ")
        case let .cellNotRunnable(cell, reason):
            return "cell \(cell) cannot run on this host: \(reason)"
        case let .imagesDiffer(diffs, commit):
            return "the images rebuilt now differ from the ones the run recorded:\n  " + diffs.joined(separator: "\n  ")
                + "\nCheck out the lab commit of that run" + (commit.map { " (\($0))" } ?? "")
                + " to rebuild them identically, or pass --allow-different-images to run with today's images."
        }
    }
}

public struct ReproRunner: Sendable {
    public let session: LabSession
    public init(session: LabSession) { self.session = session }

    public func run(_ request: ReproRequest, progress: RunProgress = RunProgress()) async throws -> RunSummary {
        var cellId = request.cell.map(MatrixCell.canonicalId)
        var recorded: RunResults?
        if let from = request.from {
            let results = try RunResults.load(from: URL(fileURLWithPath: from))
            recorded = results
            let cells = Array(
                Set(results.records.filter { $0.caseId == request.caseId }.map { MatrixCell.canonicalId($0.cellId) })
            ).sorted()
            if cells.isEmpty {
                throw ReproError.caseNotInResults(
                    caseId: request.caseId, from: from,
                    known: Array(Set(results.records.map(\.caseId))).sorted())
            }
            if cellId == nil {
                guard cells.count == 1 else { throw ReproError.ambiguousCell(caseId: request.caseId, cells: cells) }
                cellId = cells[0]
            }
        }

        // The hypervisor's policy: the one the earlier run recorded, else lab.json's.
        var config = session.config
        if let policy = recorded?.provenance.hypervisorPolicy { config.hypervisor = .init(policy: policy) }

        // The cell: from the earlier results, else from lab.json's matrix.
        var matrix = session.config.matrix
        if let recordedCell = recorded?.cells.first(where: { $0.id == cellId })?.cell {
            matrix = LabConfig.Matrix(
                backends: [recordedCell.backend], hosts: [.host(recordedCell.host)],
                kernels: [recordedCell.kernel], memoryMiB: [recordedCell.memoryMiB],
                vcpus: [recordedCell.vcpus], paging: [recordedCell.paging], suites: [])
        }
        let capabilities = try await HostSurvey(paths: session.paths).capabilities()
        let plan = MatrixPlan(matrix: matrix, capabilities: capabilities)
        let candidates = plan.cells.filter { cellId == nil || $0.id == cellId }
        guard let planned = candidates.first else {
            throw ReproError.unknownCell(cellId ?? "?", known: plan.cells.map(\.id))
        }
        if cellId == nil, candidates.filter({ $0.status == .runnable }).count > 1 {
            throw ReproError.ambiguousCell(
                caseId: request.caseId, cells: candidates.filter { $0.status == .runnable }.map(\.id))
        }
        if let reason = planned.status.skipReason { throw ReproError.cellNotRunnable(planned.id, reason: reason) }

        let images = try await session.builder(progress: progress).build(kernel: planned.cell.kernel.description)
        if let recorded {
            let diffs = Self.digestDifferences(recorded: recorded.provenance.imageDigests, now: images)
            if !diffs.isEmpty, !request.allowDifferentImages {
                throw ReproError.imagesDiffer(diffs, commit: recorded.provenance.labCommit)
            }
            for d in diffs { progress.say("warning: \(d)") }
        }

        let catalog = try CaseCatalog.load(from: URL(fileURLWithPath: images.casesCatalog))
        let single = MatrixPlan(
            matrix: LabConfig.Matrix(
                backends: [planned.cell.backend], hosts: [.host(planned.cell.host)], kernels: [planned.cell.kernel],
                memoryMiB: [planned.cell.memoryMiB], vcpus: [planned.cell.vcpus], paging: [planned.cell.paging],
                suites: []),
            capabilities: capabilities)
        // A user case keeps the timeout its description asks for, as in `lab run`.
        var timeouts = session.config.timeouts
        for (id, seconds) in images.userCases?.timeouts ?? [:] where timeouts.perCase[id] == nil {
            timeouts.perCase[id] = seconds
        }
        let selection = try selectCases(
            plan: single, catalog: catalog, suites: [], timeouts: timeouts,
            only: [request.caseId])
        guard let cellSelection = selection.cells.first(where: { $0.cell.id == planned.id }) else {
            throw ReproError.unknownCell(planned.id, known: selection.cells.map(\.cell.id))
        }
        if let skipped = cellSelection.skippedCases.first {
            throw ReproError.cellNotRunnable(planned.id, reason: "case \(skipped.info.id): \(skipped.reason)")
        }

        let started = Date()
        let runID = "repro" + LabRunner.makeRunID(started)
        let directory = request.resultsDirectory ?? session.paths.repository + "/results/" + runID
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let connection = try LibvirtConnection()
        defer { connection.close() }
        DomainReaper.shared.installSignalHandlers()
        progress.planned(cases: cellSelection.cases.count)
        let runner = CellRunner(
            context: .init(
                runID: runID, resultsDirectory: directory, images: images, config: config,
                connection: connection, labVersion: await session.labCommit() ?? "unknown", progress: progress,
                reproCommand: ["swift", "run", "lab", "repro"], gdbPort: request.gdbPort))
        let records = await runner.run(cellSelection)
        let labPlan = LabRunner.Plan(
            config: config, capabilities: capabilities, matrix: single, selection: selection,
            jobs: plannedJobs(requested: .fixed(1), cells: [planned.cell], capabilities: capabilities),
            images: [planned.cell.kernel: images], catalog: catalog)
        let provenance = await LabRunner(session: session).makeProvenance(
            plan: labPlan, connection: connection, started: started, commandLine: CommandLine.arguments)
        let results = RunResults(
            provenance: provenance,
            cells: [CellOutcome(cell: planned.cell, status: .ran, plannedCases: [request.caseId])],
            records: records, cases: catalog.cases)
        let files = try results.write(to: URL(fileURLWithPath: directory)).map(\.path)
        return RunSummary(directory: directory, results: results, files: files)
    }

    /// Names whose recorded digest differs from today's build (names recorded as `name` or
    /// `name@kernel-version`).
    static func digestDifferences(recorded: [String: String], now images: ImageSet) -> [String] {
        var diffs: [String] = []
        for (name, digest) in images.digests.sorted(by: { $0.key < $1.key }) {
            let old = recorded[name] ?? recorded["\(name)@\(images.kernelVersion)"]
            if let old, old != digest { diffs.append("\(name): recorded \(old), rebuilt \(digest)") }
        }
        return diffs
    }
}
