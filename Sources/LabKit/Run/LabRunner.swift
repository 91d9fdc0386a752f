import Foundation
import LabModel
import LabVirt

/// What the user asked `lab run` (or `lab list`, or `lab bench` through it) for.
public struct RunRequest: Sendable {
    public var overrides = ConfigOverrides()
    public var only: [String] = []
    public var skip: [String] = []
    /// Where to write results; default `results/<run-id>` in the repository.
    public var resultsDirectory: String?
    public var commandLine: [String] = CommandLine.arguments
    public var showProgress = true
    /// Keep each VM's full boot images (`--keep-images`).
    public var keepImages = false
    /// `--color`/`--no-color` for the progress lines (nil: the terminal and NO_COLOR decide).
    public var colour: Bool?
    /// `--shard I/N`: run only this shard's work units (`ShardSplit`).
    public var shard: ShardSpec?
    /// `--machine`: names from lab.json `machines`, `local`, or libvirt URIs; they replace
    /// lab.json's machines for this run (`MachineSelection`).
    public var machines: [String] = []
    /// Boot the run's KVM boxes while planning (`KVMBoxMachines`); `lab list` does not, and
    /// plans a box with the capabilities it is built with.
    public var startBoxes = true
    public init() {}
}

/// The outcome of a run: where its results are and what they say.
public struct RunSummary: Sendable {
    public var directory: String
    public var results: RunResults
    public var files: [String]
}

/// `lab run` (and `lab list`): plans the matrix from lab.json and the command line — images,
/// host capabilities, matrix expansion, case selection, how many VMs at once (as many as the
/// host's cores and memory allow) — and hands the plan to the `Executor`.
public struct LabRunner: Sendable {
    public let session: LabSession

    public init(session: LabSession) { self.session = session }

    /// The expanded plan without running anything (`lab list`, and the first half of `run`).
    public func plan(_ request: RunRequest, progress: RunProgress) async throws -> RunPlan {
        let started = Date()
        var config = try session.config.applying(request.overrides)
        if !request.machines.isEmpty {
            config.machines = try MachineSelection.choose(request.machines, configured: config.machines ?? [])
        }
        var basis = try await PlanBasis.prepare(session: session, config: config, progress: progress)
        var machineNotes: [String] = []
        if request.startBoxes, let machines = basis.config.machines, machines.contains(where: \.box) {
            // The box answers on a loopback port once it has booted: its URI is known from here on.
            let kernel = basis.images.values.first?.kernelVersion
            let builder = session.builder(progress: progress)
            let (served, notes) = await KVMBoxMachines.shared.start(
                machines,
                image: {
                    guard let kernel else { throw KVMBoxError.invalid("no guest kernel was built for L1") }
                    return try await builder.buildKVMBox(kernelVersion: kernel)
                }, directory: request.resultsDirectory ?? session.defaultResultsDirectory(started), say: progress.say)
            basis.config.machines = served
            machineNotes += notes
        }
        if let machines = basis.config.machines {
            let found: [String]
            (basis.capabilities, found) = await MachinePlanning.capabilities(machines, local: basis.capabilities)
            machineNotes += found
        }
        let matrix = basis.expand(basis.config.matrix)
        var selection = try selectCases(
            plan: matrix, catalogs: basis.catalogs, suites: basis.config.matrix.suites,
            timeouts: basis.config.timeouts, only: request.only, skip: request.skip)
        selection.notes += basis.userCaseProblems + machineNotes
        var shardInfo: ShardInfo?
        if let shard = request.shard { (selection, shardInfo) = ShardSplit.select(shard, from: selection) }
        var plan = basis.plan(
            matrix: matrix, selection: selection, jobs: basis.config.jobs, runID: RunPlan.makeRunID(started),
            resultsDirectory: request.resultsDirectory ?? session.defaultResultsDirectory(started), started: started,
            session: session,
            commandLine: request.commandLine)
        plan.shard = shardInfo
        return plan
    }

    /// Plans and executes. When the lab itself cannot run (configuration, build, host), the
    /// results directory still gets results.json, junit.xml and the reports, with one error
    /// record carrying the message, and the error is rethrown (exit status 2).
    public func run(_ request: RunRequest) async throws -> RunSummary {
        let progress = RunProgress(enabled: request.showProgress, colour: request.colour)
        let started = Date()
        var plan: RunPlan
        do {
            plan = try await self.plan(request, progress: progress)
        } catch {
            await KVMBoxMachines.shared.stopAll()
            Self.writeLabFailure(
                error, directory: request.resultsDirectory ?? session.defaultResultsDirectory(started),
                commandLine: request.commandLine, started: started, progress: progress, paths: session.paths)
            throw error
        }
        plan.keepImages = request.keepImages
        do {
            let summary = try await Executor(session: session).execute(plan, progress: progress)
            await KVMBoxMachines.shared.stopAll()
            Self.pointLatest(at: summary.directory, paths: session.paths)
            return summary
        } catch {
            await KVMBoxMachines.shared.stopAll()
            Self.writeLabFailure(
                error, directory: plan.resultsDirectory, commandLine: request.commandLine, started: started,
                progress: progress, paths: session.paths)
            throw error
        }
    }

    /// Writes the results of a run that could not be carried out: one error record with the
    /// message (README "Exit statuses").
    public static func writeLabFailure(
        _ error: any Error, directory: String, commandLine: [String] = CommandLine.arguments, started: Date = Date(),
        progress: RunProgress? = nil, paths: LabPaths? = nil
    ) {
        let results = RunResults.labFailure(
            message: String(describing: error), commandLine: commandLine, started: started)
        do {
            try results.write(to: URL(fileURLWithPath: directory))
            progress?.say("lab: could not run; the error is recorded in \(directory)/\(RunResults.FileName.json)")
            if let paths { pointLatest(at: directory, paths: paths) }
        } catch {
            progress?.say("lab: could not write \(directory)/\(RunResults.FileName.json): \(error)")
        }
    }

    /// `results/latest` → the newest run, when the run is in the repository's results directory.
    static func pointLatest(at directory: String, paths: LabPaths) {
        let results = URL(fileURLWithPath: paths.repository).appendingPathComponent("results").standardizedFileURL
        let run = URL(fileURLWithPath: directory).standardizedFileURL
        guard run.deletingLastPathComponent().path == results.path else { return }
        let latest = results.appendingPathComponent("latest").path
        let temporary = latest + ".\(getpid())"
        try? FileManager.default.removeItem(atPath: temporary)
        guard
            (try? FileManager.default.createSymbolicLink(atPath: temporary, withDestinationPath: run.lastPathComponent))
                != nil
        else { return }
        // rename(2) replaces the old link atomically.
        if rename(temporary, latest) != 0 { try? FileManager.default.removeItem(atPath: temporary) }
    }
}

extension LabSession {
    /// `results/<run-id>` in the repository.
    public func defaultResultsDirectory(_ started: Date = Date()) -> String {
        paths.repository + "/results/" + RunPlan.makeRunID(started)
    }
}
