import Foundation
import LabModel
import LabVirt

/// What the user asked `lab run` (or `lab repro`) for.
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

/// Plans and runs the matrix: images, host capabilities, matrix expansion, case selection, VMs
/// in parallel (as many as the host's cores and memory allow), and the results directory.
public struct LabRunner: Sendable {
    public let session: LabSession

    public init(session: LabSession) { self.session = session }

    /// The expanded plan without running anything (`lab list`, and the first half of `run`).
    public struct Plan: Sendable {
        public var config: LabConfig
        public var capabilities: HostCapabilities
        public var matrix: MatrixPlan
        public var selection: CaseSelection
        public var jobs: JobPlan
        public var images: [KernelSpec: ImageSet]
        public var catalog: CaseCatalog
    }

    public func plan(_ request: RunRequest, progress: RunProgress) async throws -> Plan {
        var config = try session.config.applying(request.overrides)
        var capabilities = try await HostSurvey(paths: session.paths).capabilities()
        var images: [KernelSpec: ImageSet] = [:]
        for kernel in config.matrix.kernels {
            images[kernel] = try await session.builder(progress: progress).build(kernel: kernel.description)
        }
        // A backend counts as implemented when its image was built and announces it
        // (the hypervisor Makefile's `backends` file beside hv.elf).
        capabilities.implementedBackends = HypervisorBackends.implemented(by: Array(images.values))
        let catalog = try CaseCatalog.load(from: URL(fileURLWithPath: images.values.first!.casesCatalog))
        // User case directories given means: run their cases (suite "user"), with the timeouts
        // their descriptions ask for unless lab.json's perCase says otherwise.
        let userCases = images.values.first?.userCases
        if userCases != nil, catalog.suites.contains(UserCaseDescription.suite),
            !config.matrix.suites.contains(UserCaseDescription.suite)
        {
            config.matrix.suites.append(UserCaseDescription.suite)
        }
        for (id, seconds) in userCases?.timeouts ?? [:] where config.timeouts.perCase[id] == nil {
            config.timeouts.perCase[id] = seconds
        }
        let matrix = MatrixPlan(matrix: config.matrix, capabilities: capabilities)
        var selection = try selectCases(
            plan: matrix, catalog: catalog, suites: config.matrix.suites,
            timeouts: config.timeouts, only: request.only, skip: request.skip)
        selection.notes += userCases?.problems ?? []
        let runnable = selection.cells.filter { $0.cell.status == .runnable && !$0.cases.isEmpty }.map(\.cell.cell)
        let jobs = plannedJobs(requested: config.jobs, cells: runnable, capabilities: capabilities)
        return Plan(
            config: config, capabilities: capabilities, matrix: matrix, selection: selection,
            jobs: jobs, images: images, catalog: catalog)
    }

    public func run(_ request: RunRequest) async throws -> RunSummary {
        let progress = RunProgress(enabled: request.showProgress)
        let started = Date()
        let runID = Self.makeRunID(started)
        let directory = request.resultsDirectory ?? session.paths.repository + "/results/" + runID
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)

        let plan = try await plan(request, progress: progress)
        for note in plan.matrix.notes + plan.selection.notes + [plan.jobs.note].compactMap({ $0 }) {
            progress.say("note: \(note)")
        }

        let connection = try LibvirtConnection()
        defer { connection.close() }
        let swept = try DomainReaper.sweepOrphans(connection: connection)
        if !swept.isEmpty { progress.say("destroyed VMs left by dead lab runs: \(swept.joined(separator: ", "))") }
        DomainReaper.shared.installSignalHandlers()

        var cells: [CellOutcome] = []
        var work: [(CellSelection, ImageSet)] = []
        for selected in plan.selection.cells {
            let ids = selected.cases.map(\.id) + selected.skippedCases.map(\.info.id)
            if let reason = selected.cell.status.skipReason {
                cells.append(CellOutcome(cell: selected.cell.cell, status: .skipped(reason: reason), plannedCases: ids))
                progress.cellSkipped(selected.cell.id, reason: reason, cases: ids.count)
            } else {
                cells.append(CellOutcome(cell: selected.cell.cell, status: .ran, plannedCases: ids))
                work.append((selected, plan.images[selected.cell.cell.kernel]!))
                progress.planned(cases: selected.cases.count)
            }
        }
        progress.say(
            "running \(work.count) cell\(work.count == 1 ? "" : "s") with up to \(plan.jobs.jobs) VM\(plan.jobs.jobs == 1 ? "" : "s") at once (limit: \(plan.jobs.limitedBy)); results in \(directory)"
        )

        var records: [CaseRecord] = []
        // Cases a cell does not support (needs) are reported as skips with their reason.
        for (selected, _) in work {
            records += selected.skippedCases.map {
                CaseRecord(caseId: $0.info.id, cellId: selected.cell.id, status: .skip, message: $0.reason)
            }
        }
        let labVersion = await session.labCommit() ?? "unknown"
        records += await withTaskGroup(of: [CaseRecord].self) { group in
            var iterator = work.makeIterator()
            func startNext() -> Bool {
                guard let (selection, images) = iterator.next() else { return false }
                let runner = CellRunner(
                    context: .init(
                        runID: runID, resultsDirectory: directory, images: images, config: plan.config,
                        connection: connection, labVersion: labVersion, progress: progress,
                        reproCommand: ["swift", "run", "lab", "repro"]
                            + session.commandLineCaseDirectories.flatMap { ["--cases", $0] }))
                group.addTask { await runner.run(selection) }
                return true
            }
            for _ in 0..<plan.jobs.jobs { guard startNext() else { break } }
            var all: [CaseRecord] = []
            while let batch = await group.next() {
                all += batch
                _ = startNext()
            }
            return all
        }

        let provenance = await makeProvenance(
            plan: plan, connection: connection, started: started, commandLine: request.commandLine)
        let results = RunResults(
            provenance: provenance, cells: cells, records: records,
            cases: plan.catalog.cases,
            notes: plan.matrix.notes + plan.selection.notes + [plan.jobs.note].compactMap { $0 })
        let files = try results.write(to: URL(fileURLWithPath: directory)).map(\.path)
        return RunSummary(directory: directory, results: results, files: files)
    }

    // MARK: - Provenance

    func makeProvenance(
        plan: Plan, connection: LibvirtConnection, started: Date, commandLine: [String]
    ) async -> Provenance {
        var digests: [String: String] = [:]
        var kernels: [String: Provenance.GuestKernel] = [:]
        for (spec, images) in plan.images {
            for (name, digest) in images.digests {
                digests[plan.images.count == 1 ? name : "\(name)@\(images.kernelVersion)"] = digest
            }
            kernels[spec.description] = .init(
                version: images.kernelVersion, packageVersion: images.kernelPackageVersion)
        }
        var machines: [String: Provenance.Machine] = [:]
        for cell in plan.matrix.runnableCells {
            let cpu: String
            switch CellRunner.cpu(for: cell) {
            case let .custom(model, features): cpu = ([model] + features.map { "+" + $0 }).joined(separator: ",")
            case let .hostPassthrough(features):
                cpu = (["host-passthrough"] + features.map { "+" + $0 }).joined(separator: ",")
            }
            machines[cell.id] = .init(
                accelerator: cell.host.rawValue, cpuModel: cpu,
                guestKernel: kernels[cell.kernel.description], paging: cell.paging,
                guestCmdline: CellRunner.guestCmdline(for: cell, configured: plan.config.guest.cmdline),
                hypervisorCmdline: CellRunner.hypervisorCmdline(for: cell, policy: plan.config.policy))
        }
        let versions = try? connection.versions()
        let qemu = try? await Command.output("qemu-system-x86_64", ["--version"])
        return Provenance(
            labCommit: await session.labCommit(), imageDigests: digests, guestKernels: kernels,
            // "7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)": the reports say "QEMU" themselves.
            qemuVersion: qemu?.split(separator: "\n").first.map {
                String($0).replacingOccurrences(of: "QEMU emulator version ", with: "")
            },
            libvirtLibraryVersion: versions.map { "\($0.library)" },
            libvirtDaemonVersion: versions.map { "\($0.daemon)" },
            machines: machines, hostCPU: HostSurvey.hostCPUModel(), hostname: ProcessInfo.processInfo.hostName,
            startTime: started, endTime: Date(), commandLine: commandLine,
            hypervisorPolicy: plan.matrix.runnableCells.contains { $0.backend.usesHypervisor }
                ? plan.config.policy : nil)
    }

    static func makeRunID(_ date: Date) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyyMMdd'T'HHmmss"
        return f.string(from: date) + String(format: "%04x", UInt16.random(in: 0...0xffff))
    }
}
