import Foundation
import LabModel

/// What the user asked `lab bench` for.
public struct BenchRequest: Sendable {
    /// Matrix axes from the command line (`--backend`, `--memory`, `--jobs` …); the bench
    /// section's `backends` is the default for the backends axis.
    public var overrides = ConfigOverrides()
    public var bench = BenchOverrides()
    /// Extra `--only` / `--skip` patterns (cell ids, bench case ids).
    public var only: [String] = []
    public var skip: [String] = []
    public var resultsDirectory: String?
    /// A previous bench.json (or the directory holding it) to compare with.
    public var compareWith: String?
    public var commandLine: [String] = CommandLine.arguments
    public var showProgress = true
    /// `--machine`: where to measure (names from lab.json `machines`, `local`, or libvirt URIs).
    public var machines: [String] = []
    public init() {}
}

public struct BenchOutcome: Sendable {
    public var directory: String
    public var document: BenchDocument
    public var comparison: BenchComparison?
    /// bench.* files, then the run's own (results.json, junit.xml, report.*).
    public var files: [String]

    public init(directory: String, document: BenchDocument, comparison: BenchComparison?, files: [String]) {
        self.directory = directory
        self.document = document
        self.comparison = comparison
        self.files = files
    }
}

/// `lab bench`: a producer of plans like `lab run` (LabRunner's planning under the bench
/// configuration), executed by the same `Executor` (images, VMs, agent, results.json); then
/// turns the cases' RESULT values into bench.json/csv/md/html.
///
/// The bench settings reach the guest program on the guest kernel command line
/// (`gmlab.bench.*`, read by Sources/Guest/bench/bench.c), because the agent's plan carries only
/// case ids and timeouts.
public struct BenchRunner: Sendable {
    public let session: LabSession

    public init(session: LabSession) { self.session = session }

    /// The configuration the bench run uses: suite `bench` only, the bench backends, the
    /// parameters on the guest command line, one cell at a time unless `--jobs` says otherwise.
    public static func benchConfig(_ base: LabConfig, settings: BenchSettings, jobsGiven: Bool) -> LabConfig {
        var config = base
        config.matrix.backends = settings.backends
        config.matrix.suites = ["bench"]
        // One paging mode: the methods cost the same per page whatever the walk depth (one more
        // level to read), and one cell per backend keeps the default bench within its budget.
        // `--paging` still chooses.
        config.matrix.paging = [base.matrix.paging.contains(.fourLevel) ? .fourLevel : base.matrix.paging[0]]
        config.guest.cmdline += " " + settings.guestParameters.joined(separator: " ")
        for id in settings.caseIds { config.timeouts.perCase[id] = settings.caseSeconds }
        // Two emulated VMs on two cores compete with each other and with the host: figures from
        // cells run side by side are not comparable. One at a time by default.
        if !jobsGiven { config.jobs = .fixed(1) }
        return config
    }

    public func run(_ request: BenchRequest) async throws -> BenchOutcome {
        let started = Date()
        let loadBefore = Self.loadAverage()
        let settings = try (session.config.bench ?? BenchSettings()).applying(request.bench)
        // A bad --compare file fails now, not after ten minutes of measuring.
        var old: (document: BenchDocument, source: String)?
        if let path = request.compareWith { old = (try BenchDocument.load(path: path), path) }

        let progress = RunProgress(enabled: request.showProgress)
        let summary: RunSummary
        do {
            let (benchSession, plan) = try await self.plan(request, settings: settings, progress: progress)
            summary = try await Executor(session: benchSession).execute(plan, progress: progress)
            await KVMBoxMachines.shared.stopAll()
        } catch {
            await KVMBoxMachines.shared.stopAll()
            throw error
        }

        var document = BenchDocument.from(
            results: summary.results, settings: settings,
            wallSeconds: Date().timeIntervalSince(started))
        if let note = Self.loadNote(
            before: loadBefore, after: Self.loadAverage(), cores: ProcessInfo.processInfo.activeProcessorCount)
        {
            document.notes.append(note)
        }
        let comparison = old.map { BenchComparison(old: $0.document, new: document, oldSource: $0.source) }
        let written = try document.write(to: URL(fileURLWithPath: summary.directory), comparison: comparison)
        return BenchOutcome(
            directory: summary.directory, document: document, comparison: comparison,
            files: written.map(\.path) + summary.files)
    }

    /// The bench's plan: `lab run`'s planning (LabRunner) under the bench configuration, with
    /// the bench's case ids as `--only`. Returns the session the plan was made in.
    func plan(
        _ request: BenchRequest, settings: BenchSettings, progress: RunProgress
    ) async throws -> (LabSession, RunPlan) {
        var overrides = request.overrides
        overrides.suites = nil
        let config = Self.benchConfig(session.config, settings: settings, jobsGiven: overrides.jobs != nil)
        let benchSession = LabSession(paths: session.paths, config: config, configFile: session.configFile)
        var runRequest = RunRequest()
        runRequest.overrides = overrides
        runRequest.only = settings.caseIds + request.only
        runRequest.skip = request.skip
        runRequest.resultsDirectory = request.resultsDirectory
        runRequest.commandLine = request.commandLine
        runRequest.machines = request.machines
        return (benchSession, try await LabRunner(session: benchSession).plan(runRequest, progress: progress))
    }

    /// `lab bench --from DIR`: re-renders a bench directory's reports with this lab's target
    /// rules (and a comparison with `compareWith`), without running anything.
    public static func rerender(directory: String, compareWith: String?) throws -> BenchOutcome {
        var document = try BenchDocument.load(path: directory)
        document.targets = BenchTarget.evaluate(document)
        let comparison = try compareWith.map {
            BenchComparison(old: try BenchDocument.load(path: $0), new: document, oldSource: $0)
        }
        let files = try document.write(to: URL(fileURLWithPath: directory), comparison: comparison)
        return BenchOutcome(directory: directory, document: document, comparison: comparison, files: files.map(\.path))
    }

    /// The 1-minute load average (/proc/loadavg), nil where there is none.
    static func loadAverage() -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) else { return nil }
        return text.split(separator: " ").first.flatMap { Double($0) }
    }

    /// Under TCG the guest's clock follows the host's: time the host gives to other work is
    /// counted in the figures. Say so when the host was busy beyond the one VM the bench runs.
    static func loadNote(before: Double?, after: Double?, cores: Int) -> String? {
        let worst = [before, after].compactMap { $0 }.max() ?? 0
        guard worst > 1.5 else { return nil }
        return String(
            format:
                "the host was busy (1-minute load average %.1f at the start, %.1f at the end, %d cores; the bench itself accounts for about 1): "
                + "emulated time includes the host's other work, so figures are inflated and noisy; rerun on an idle host for numbers to quote",
            before ?? 0, after ?? 0, cores)
    }
}
