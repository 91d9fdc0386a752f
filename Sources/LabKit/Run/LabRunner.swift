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
        let basis = try await PlanBasis.prepare(
            session: session, config: try session.config.applying(request.overrides), progress: progress)
        let matrix = basis.expand(basis.config.matrix)
        var selection = try selectCases(
            plan: matrix, catalogs: basis.catalogs, suites: basis.config.matrix.suites,
            timeouts: basis.config.timeouts, only: request.only, skip: request.skip)
        selection.notes += basis.userCaseProblems
        return basis.plan(
            matrix: matrix, selection: selection, jobs: basis.config.jobs, runID: RunPlan.makeRunID(started),
            resultsDirectory: request.resultsDirectory, started: started, session: session,
            commandLine: request.commandLine)
    }

    /// Plans and executes.
    public func run(_ request: RunRequest) async throws -> RunSummary {
        let progress = RunProgress(enabled: request.showProgress)
        return try await Executor(session: session).execute(plan(request, progress: progress), progress: progress)
    }
}
