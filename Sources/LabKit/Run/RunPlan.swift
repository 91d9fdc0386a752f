import Foundation
import LabModel
import LabVirt

/// Everything one execution needs, decided before any VM starts. `lab run`, `lab repro` and
/// `lab bench` are producers of plans (LabRunner, ReproRunner, BenchRunner); `Executor` runs
/// every plan the same way.
public struct RunPlan: Sendable {
    /// The configuration the cells run with (user cases' suite and timeouts merged in).
    public var config: LabConfig
    public var capabilities: HostCapabilities
    public var implemented: Implemented
    public var matrix: MatrixPlan
    /// The cells to run or report as skipped, with their cases.
    public var selection: CaseSelection
    public var jobs: JobPlan
    /// The images of each guest kernel the matrix names.
    public var images: [KernelSpec: ImageSet]
    /// Every case the images list (all kernels together), for the reports' descriptions.
    public var catalog: CaseCatalog

    public var runID: String
    public var resultsDirectory: String
    /// When planning began (results' start time).
    public var started: Date
    /// How a case is reproduced: these arguments, then the case id, its cell and `--from`.
    public var reproCommand: [String]
    /// `lab repro --gdb`: the VM starts paused under a gdb stub on this port, without deadlines.
    public var gdbPort: UInt16?
    /// The command as typed, for provenance.
    public var commandLine: [String]
    /// Keep each VM's boot images in its directory (`--keep-images`).
    public var keepImages = false
    /// Set when the plan is one shard of a split (`--shard I/N`): written into the results.
    public var shard: ShardInfo?

    /// What planning has to say (auto host resolution, merges, exclusions, job limits).
    public var notes: [String] { matrix.notes + selection.notes + [jobs.note].compactMap { $0 } }

    /// `<UTC time><4 hex digits>`: sortable, and unique enough for two runs in one second.
    public static func makeRunID(_ date: Date) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyyMMdd'T'HHmmss"
        return f.string(from: date) + String(format: "%04x", UInt16.random(in: 0...0xffff))
    }
}

/// What every plan is made from: the images of each kernel of a matrix, the cases they list,
/// the host's capabilities and what the lab implements with those images. Run, repro and bench
/// plan from this; nothing else builds images for a plan or decides what is implemented.
struct PlanBasis: Sendable {
    /// The configuration given, with the user cases' suite and timeouts merged in.
    var config: LabConfig
    var capabilities: HostCapabilities
    var implemented: Implemented
    var images: [KernelSpec: ImageSet]
    /// Each kernel's images list their own cases: a cell's come from its kernel's catalog.
    var catalogs: [KernelSpec: CaseCatalog]
    /// All of them, in the matrix's kernel order.
    var catalog: CaseCatalog
    /// Problems of user case directories (notes of the plan).
    var userCaseProblems: [String]

    /// Builds the images of every kernel of `config.matrix` and surveys the host. User case
    /// directories given means: run their cases (suite "user"), with the timeouts their
    /// descriptions ask for unless lab.json's perCase says otherwise.
    static func prepare(session: LabSession, config given: LabConfig, progress: RunProgress) async throws -> PlanBasis {
        var config = given
        let capabilities = try await HostSurvey(paths: session.paths).capabilities()
        var images: [KernelSpec: ImageSet] = [:]
        var catalogs: [KernelSpec: CaseCatalog] = [:]
        for kernel in config.matrix.kernels {
            let built = try await session.builder(progress: progress).build(kernel: kernel.description)
            images[kernel] = built
            catalogs[kernel] = try CaseCatalog.load(from: URL(fileURLWithPath: built.casesCatalog))
        }
        let ordered = config.matrix.kernels.compactMap { images[$0] }
        let catalog = CaseCatalog.merging(config.matrix.kernels.compactMap { catalogs[$0] })
        let userCases = ordered.compactMap(\.userCases)
        if !userCases.isEmpty, catalog.suites.contains(UserCaseDescription.suite),
            !config.matrix.suites.contains(UserCaseDescription.suite)
        {
            config.matrix.suites.append(UserCaseDescription.suite)
        }
        for summary in userCases {
            for (id, seconds) in summary.timeouts where config.timeouts.perCase[id] == nil {
                config.timeouts.perCase[id] = seconds
            }
        }
        var problems: [String] = []
        for problem in userCases.flatMap(\.problems) where !problems.contains(problem) { problems.append(problem) }
        var implemented = Implemented.of(images: ordered)
        if let source = config.bitvisorSource {
            implemented.backends.insert(.bitvisor)
            if config.matrix.backends.contains(.bitvisor) {
                let (build, error) = await buildBitVisor(
                    source: source, userServices: ordered.first?.userServices ?? [], session: session,
                    progress: progress)
                for kernel in images.keys {
                    images[kernel]?.bitvisor = build
                    images[kernel]?.bitvisorError = error
                }
            }
        }
        return PlanBasis(
            config: config, capabilities: capabilities, implemented: implemented, images: images,
            catalogs: catalogs, catalog: catalog, userCaseProblems: problems)
    }

    /// BitVisor from `source` with the lab's services and `userServices` (once per run: every
    /// kernel's cells boot the same BitVisor). A directory that is no checkout, or a failed
    /// build, is not fatal: the bitvisor cells report it as error cases (`BitVisorLauncher`).
    static func buildBitVisor(
        source: String, userServices: [String], session: LabSession, progress: RunProgress
    ) async -> (BitVisorBuild?, String?) {
        do {
            let checkout = try BitVisorCheckout(path: source)
            let build = try await BitVisorBuilder(images: session.builder(progress: progress))
                .build(checkout: checkout, userServices: userServices)
            if let error = build.error { progress.say("BitVisor did not build; its cells will report:\n\(error)") }
            return (build, nil)
        } catch {
            progress.say("BitVisor: \(error)")
            return (nil, "\(error)")
        }
    }

    /// `matrix` expanded against the host and what is implemented.
    func expand(_ matrix: LabConfig.Matrix) -> MatrixPlan {
        MatrixPlan(matrix: matrix, capabilities: capabilities, implemented: implemented)
    }

    /// A plan of `selection`, with the jobs its runnable cells allow.
    func plan(
        matrix: MatrixPlan, selection: CaseSelection, jobs requested: JobsSetting, runID: String,
        resultsDirectory: String?, started: Date, session: LabSession, gdbPort: UInt16? = nil,
        commandLine: [String]
    ) -> RunPlan {
        let runnable = selection.cells.filter { $0.cell.status == .runnable && !$0.cases.isEmpty }.map(\.cell.cell)
        return RunPlan(
            config: config, capabilities: capabilities, implemented: implemented, matrix: matrix,
            selection: selection,
            jobs: plannedJobs(requested: requested, cells: runnable, capabilities: capabilities),
            images: images, catalog: catalog, runID: runID,
            resultsDirectory: resultsDirectory ?? session.paths.repository + "/results/" + runID, started: started,
            reproCommand: session.reproCommand, gdbPort: gdbPort, commandLine: commandLine)
    }
}
