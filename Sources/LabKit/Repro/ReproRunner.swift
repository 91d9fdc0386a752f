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
    case imagesDiffer([String], changed: [String], commit: String?)
    /// The run used inputs (`--config`, `--cases`) this command does not give.
    case inputsMissing([String], command: String)

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
        case let .imagesDiffer(diffs, changed, commit):
            let cause =
                changed.isEmpty
                ? "\nNone of the recorded inputs changed (lab commit, configuration, case directories, guest kernel):"
                    + " the build tools or the Debian packages the images are built from may differ.\n"
                : "\nInputs that changed since the run:\n  " + changed.joined(separator: "\n  ") + "\n"
            let advice =
                changed.contains { $0.hasPrefix("lab commit") }
                ? "Check out the lab commit of that run" + (commit.map { " (\($0))" } ?? "")
                    + " to rebuild them identically, or pass"
                : "Restore what changed, or pass"
            return "the images rebuilt now differ from the ones the run recorded:\n  " + diffs.joined(separator: "\n  ")
                + cause + advice + " --allow-different-images to run with today's images."
        case let .inputsMissing(missing, command):
            return "the run used inputs this command does not give:\n  " + missing.joined(separator: "\n  ")
                + "\nReproduce it with:\n  " + command
        }
    }
}

/// `lab repro`: a producer of one-case plans for the `Executor`, like `lab run`'s.
public struct ReproRunner: Sendable {
    public let session: LabSession
    public init(session: LabSession) { self.session = session }

    /// Plans and executes.
    public func run(_ request: ReproRequest, progress: RunProgress = RunProgress()) async throws -> RunSummary {
        try await Executor(session: session).execute(plan(request, progress: progress), progress: progress)
    }

    /// The plan of one case in one cell: the cell and the digests from `--from`'s results, else
    /// the cell from lab.json's matrix; the images rebuilt and checked against the recorded ones.
    public func plan(_ request: ReproRequest, progress: RunProgress = RunProgress()) async throws -> RunPlan {
        let started = Date()
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
            // Before building anything: the run's --config and --cases must be given again.
            if let inputs = results.provenance.inputs {
                let missing = Self.missingInputs(recorded: inputs, session: session)
                if !missing.isEmpty {
                    let command =
                        ["swift", "run", "lab", "repro", request.caseId]
                        + (cellId.map { ["--cell", $0] } ?? []) + ["--from", pathRelative(from)]
                        + LabSession.inputArguments(
                            configFile: inputs.configFile, defaultConfig: inputs.defaultConfig,
                            caseDirectories: inputs.caseDirectories.filter(\.fromCommandLine).map(\.path))
                    throw ReproError.inputsMissing(missing, command: shellQuoted(command))
                }
            }
        }

        // The cell: from the earlier results, else from lab.json's matrix.
        var config = session.config
        // The hypervisor's policy: the one the earlier run recorded, else lab.json's.
        if let policy = recorded?.provenance.hypervisorPolicy { config.hypervisor = .init(policy: policy) }
        if let recordedCell = recorded?.cells.first(where: { $0.id == cellId })?.cell {
            config.matrix = Self.matrix(of: recordedCell)
        }
        let basis = try await PlanBasis.prepare(session: session, config: config, progress: progress)
        let expanded = basis.expand(config.matrix)
        let candidates = expanded.cells.filter { cellId == nil || $0.id == cellId }
        guard let planned = candidates.first else {
            throw ReproError.unknownCell(cellId ?? "?", known: expanded.cells.map(\.id))
        }
        if cellId == nil, candidates.filter({ $0.status == .runnable }).count > 1 {
            throw ReproError.ambiguousCell(
                caseId: request.caseId, cells: candidates.filter { $0.status == .runnable }.map(\.id))
        }
        if let reason = planned.status.skipReason { throw ReproError.cellNotRunnable(planned.id, reason: reason) }

        if let recorded, let images = basis.images[planned.cell.kernel] {
            let diffs = Self.digestDifferences(recorded: recorded.provenance.imageDigests, now: images)
            var changed: [String] = []
            if !diffs.isEmpty {
                changed = Self.changedInputs(
                    recorded: recorded.provenance, now: try? await session.inputs(),
                    labCommit: await session.labCommit(),
                    kernel: (spec: planned.cell.kernel.description, version: images.kernelVersion))
            }
            if !diffs.isEmpty, !request.allowDifferentImages {
                throw ReproError.imagesDiffer(diffs, changed: changed, commit: recorded.provenance.labCommit)
            }
            for d in diffs + changed.map({ "changed since the run: " + $0 }) { progress.say("warning: \(d)") }
        }

        // Exactly this cell: its selection is the plan's only cell.
        let single = basis.expand(Self.matrix(of: planned.cell))
        // The case by its id, whatever its suite; a user case keeps the timeout its description
        // asks for, as in `lab run` (the basis merged them).
        let selection = try selectCases(
            plan: single, catalogs: basis.catalogs, suites: [], timeouts: basis.config.timeouts,
            only: [request.caseId])
        guard let cellSelection = selection.cells.first(where: { $0.cell.id == planned.id }) else {
            throw ReproError.unknownCell(planned.id, known: selection.cells.map(\.cell.id))
        }
        if let skipped = cellSelection.skippedCases.first {
            throw ReproError.cellNotRunnable(planned.id, reason: "case \(skipped.info.id): \(skipped.reason)")
        }
        return basis.plan(
            matrix: single, selection: selection, jobs: .fixed(1),
            runID: "repro" + RunPlan.makeRunID(started), resultsDirectory: request.resultsDirectory,
            started: started, session: session, gdbPort: request.gdbPort, commandLine: CommandLine.arguments)
    }

    /// The matrix of exactly `cell`.
    static func matrix(of cell: MatrixCell) -> LabConfig.Matrix {
        LabConfig.Matrix(
            backends: [cell.backend], hosts: [.host(cell.host)], kernels: [cell.kernel], memoryMiB: [cell.memoryMiB],
            vcpus: [cell.vcpus], paging: [cell.paging], suites: [])
    }

    /// The run's inputs this session lacks: a non-default configuration file not given (or
    /// another one given), and `--cases` directories not given. Configuration directories
    /// (`caseDirectories`) come back with the configuration.
    static func missingInputs(recorded: Provenance.Inputs, session: LabSession) -> [String] {
        var missing: [String] = []
        let configNow = URL(fileURLWithPath: session.configFile).standardizedFileURL.path
        if !recorded.defaultConfig, configNow != recorded.configFile {
            missing.append(
                "--config \(pathRelative(recorded.configFile)) (this command reads \(pathRelative(configNow)))")
        }
        for directory in recorded.caseDirectories where directory.fromCommandLine {
            if !session.caseDirectories.contains(directory.path) {
                missing.append("--cases \(pathRelative(directory.path))")
            }
        }
        return missing
    }

    /// Which of the run's inputs differ now, each named with what changed: the lab commit, the
    /// configuration file, each case directory (changed, gone, or new), the guest kernel.
    static func changedInputs(
        recorded: Provenance, now: Provenance.Inputs?, labCommit: String?, kernel: (spec: String, version: String)
    ) -> [String] {
        var changed: [String] = []
        if let then = recorded.labCommit, let labCommit {
            if then != labCommit {
                changed.append("lab commit: the run had \(then), this checkout is \(labCommit)")
            } else if labCommit.hasSuffix("-dirty") {
                changed.append(
                    "lab commit: \(labCommit) then and now, but with uncommitted changes, which may differ")
            }
        }
        if let then = recorded.guestKernels[kernel.spec]?.version, then != kernel.version {
            changed.append("guest kernel \(kernel.spec): the run had \(then), it resolves to \(kernel.version) now")
        }
        guard let inputs = recorded.inputs, let now else { return changed }
        if inputs.configFile == now.configFile, inputs.configDigest != now.configDigest {
            changed.append("configuration \(pathRelative(now.configFile)): its content changed")
        }
        let current = Dictionary(now.caseDirectories.map { ($0.path, $0.digest) }, uniquingKeysWith: { a, _ in a })
        for directory in inputs.caseDirectories {
            if let digest = current[directory.path] {
                if digest != directory.digest {
                    changed.append("user case directory \(pathRelative(directory.path)): its files changed")
                }
            } else if !FileManager.default.fileExists(atPath: directory.path) {
                changed.append("user case directory \(pathRelative(directory.path)): gone")
            } else {
                changed.append("user case directory \(pathRelative(directory.path)): not used now")
            }
        }
        let before = Set(inputs.caseDirectories.map(\.path))
        for directory in now.caseDirectories where !before.contains(directory.path) {
            changed.append("user case directory \(pathRelative(directory.path)): used now, not by the run")
        }
        return changed
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
