import Foundation

/// The verdict for one case in one cell. `timeout` is decided by the host (no RESULT before
/// the deadline); `interrupted` means the lab was stopped (SIGINT/SIGTERM/SIGHUP) before the
/// case finished; the others come from the agent or from the host when the VM died.
public enum CaseStatus: String, Sendable, Hashable, Codable, CaseIterable {
    case pass, fail, skip, error, timeout, interrupted

    public init(_ agent: AgentCaseStatus) {
        switch agent {
        case .pass: self = .pass
        case .fail: self = .fail
        case .skip: self = .skip
        case .error: self = .error
        }
    }

    /// fail, error and timeout make a run unsuccessful (and so does an interruption).
    public var isProblem: Bool { self == .fail || self == .error || self == .timeout || self == .interrupted }
}

/// The lab's exit statuses, told apart by CI (README "Exit statuses", `lab --help`).
public enum LabExitStatus: Int32, Sendable, CaseIterable {
    /// Every case passed or was skipped; declared findings (cases asserting a known problem as
    /// it is) count as passes and are listed.
    case passed = 0
    /// Some case failed, timed out or erred (or a cell could not run).
    case casesFailed = 1
    /// The lab itself could not run: bad lab.json, bad option, host not ready, build failure; or
    /// it lost its libvirt daemon (killed mid-run) and no other machine could run the cells.
    case labError = 2
    /// Interrupted (SIGINT, SIGTERM, SIGHUP); the results written hold what finished.
    case interrupted = 130

    /// The help text of every status, for `--help` and the README.
    public static let help = """
        Exit statuses:
          0    every case passed or was skipped (declared findings count as passes and are listed)
          1    some case failed, timed out or erred
          2    the lab itself could not run: bad lab.json, bad option, host not ready, build failure,
               or a libvirt daemon was lost mid-run with no other machine to rerun its cells on
               (results.json then holds one error record with the message)
          130  interrupted (SIGINT/SIGTERM/SIGHUP): VMs destroyed, results written with the
               unfinished cases marked interrupted
        """
}

/// One case's outcome in one cell, with what is needed to look into it.
public struct CaseRecord: Sendable, Hashable, Codable {
    public var caseId: String
    public var cellId: String
    public var status: CaseStatus
    public var message: String
    /// Measurements and details the case reported (`values` of its RESULT).
    public var values: [String: JSONValue]
    /// How long the case ran by the guest's clock (its RESULT's duration_ms). Under Bochs the
    /// guest's clock follows executed instructions, not the wall.
    public var durationSeconds: Double?
    /// How long it ran by the host's clock: from its BEGIN line to its RESULT line as the lab
    /// saw them (to the 100 ms poll). Absent for cases without both lines.
    public var wallSeconds: Double?
    /// 1 for the first VM of the cell, 2 for the VM that reran the remaining cases, …
    public var attempt: Int
    /// The libvirt domain (or Bochs run) name that ran the case.
    public var vmName: String?
    /// Log files by role (`console`, `agent`, `hypervisor`, `libvirt`…), paths relative to the
    /// results directory when inside it.
    public var logs: [String: String]
    /// Log roles whose stream reached the log daemon's size limit (virtlogd's `max_size`), each
    /// with what happened: which files hold its parts, and whether its beginning may be lost.
    /// Absent (nil) when no stream was rolled over.
    public var truncatedLogs: [String: String]?
    /// A shell command that reruns exactly this case in this cell.
    public var repro: String?
    /// A skip that is impossible by construction (the cell cannot meet the case's `needs`, e.g.
    /// a method case in a `none` cell): kept in results.json, counted once per cell and reason
    /// in JUnit, TAP and the text report. Absent (nil) otherwise.
    public var byConstruction: Bool?
    /// The machine (lab.json `machines[].name`; `local` without machines) whose VM ran the case;
    /// its libvirt URI and size are in `Provenance.hosts`. Absent in results from before machines.
    public var machine: String?

    public init(
        caseId: String, cellId: String, status: CaseStatus, message: String = "", values: [String: JSONValue] = [:],
        durationSeconds: Double? = nil, attempt: Int = 1, vmName: String? = nil, logs: [String: String] = [:],
        repro: String? = nil
    ) {
        self.caseId = caseId
        self.cellId = cellId
        self.status = status
        self.message = message
        self.values = values
        self.durationSeconds = durationSeconds
        self.attempt = attempt
        self.vmName = vmName
        self.logs = logs
        self.repro = repro
    }
}

/// Where the numbers came from: enough to rebuild the exact setup.
public struct Provenance: Sendable, Hashable, Codable {
    public struct GuestKernel: Sendable, Hashable, Codable {
        /// ABI version, e.g. `6.1.0-56-amd64`.
        public var version: String
        /// Debian package version, e.g. `6.1.192-2`.
        public var packageVersion: String?

        public init(version: String, packageVersion: String? = nil) {
            self.version = version
            self.packageVersion = packageVersion
        }
    }

    /// How one cell's VM was actually run.
    public struct Machine: Sendable, Hashable, Codable {
        /// `kvm`, `tcg` or `bochs`.
        public var accelerator: String
        /// The CPU model given to the guest, e.g. `qemu64,+svm,+npt`.
        public var cpuModel: String
        /// The guest kernel the cell's kernel spec resolved to.
        public var guestKernel: GuestKernel?
        /// The guest's paging mode (absent in results written before the paging axis: 4-level).
        public var paging: PagingMode?
        /// The guest kernel command line the cell used (with `no5lvl` in 4-level cells).
        public var guestCmdline: String?
        /// The hypervisor's command line (`gmlab.policy=…`); nil for backend none.
        public var hypervisorCmdline: String?

        public init(
            accelerator: String, cpuModel: String, guestKernel: GuestKernel? = nil,
            paging: PagingMode? = nil, guestCmdline: String? = nil, hypervisorCmdline: String? = nil
        ) {
            self.accelerator = accelerator
            self.cpuModel = cpuModel
            self.guestKernel = guestKernel
            self.paging = paging
            self.guestCmdline = guestCmdline
            self.hypervisorCmdline = hypervisorCmdline
        }
    }

    /// What the run was built from besides the lab's own tree (`labCommit`) and the guest
    /// kernels (`guestKernels`): the configuration file and the user case directories, each with
    /// a digest of its content, so `lab repro` can print every input a reproduction needs and
    /// name the one that changed since.
    public struct Inputs: Sendable, Hashable, Codable {
        public struct CaseDirectory: Sendable, Hashable, Codable {
            /// Absolute path.
            public var path: String
            /// `sha256:…` over the directory's files (build outputs and dot-files left out).
            public var digest: String
            /// Given with `--cases` (a repro must repeat it); else listed in the configuration.
            public var fromCommandLine: Bool

            public init(path: String, digest: String, fromCommandLine: Bool) {
                self.path = path
                self.digest = digest
                self.fromCommandLine = fromCommandLine
            }
        }

        /// The configuration file, absolute.
        public var configFile: String
        /// `sha256:…` of the configuration file.
        public var configDigest: String
        /// True when the configuration was the repository's lab.json (no `--config`).
        public var defaultConfig: Bool
        public var caseDirectories: [CaseDirectory]

        public init(configFile: String, configDigest: String, defaultConfig: Bool, caseDirectories: [CaseDirectory]) {
            self.configFile = configFile
            self.configDigest = configDigest
            self.defaultConfig = defaultConfig
            self.caseDirectories = caseDirectories
        }
    }

    /// `git rev-parse HEAD` of the lab, with `-dirty` when the tree had changes.
    public var labCommit: String?
    /// Content digests of the images used, by name (`hv.elf`, `initramfs`, `kernel-6.1.0-56-amd64`…).
    public var imageDigests: [String: String]
    /// Guest kernels used, by kernel spec as configured (`debian`, `6.1.0-56-amd64`).
    public var guestKernels: [String: GuestKernel]
    public var qemuVersion: String?
    public var bochsVersion: String?
    public var libvirtLibraryVersion: String?
    public var libvirtDaemonVersion: String?
    /// Per cell id.
    public var machines: [String: Machine]
    public var hostCPU: String?
    public var hostname: String?
    public var startTime: Date
    public var endTime: Date?
    /// The command as typed, one element per argument.
    public var commandLine: [String]
    /// The hypervisor's access policy in this run (absent in results written before the policy
    /// existed, which ran `bitvisor`).
    public var hypervisorPolicy: HypervisorPolicy?
    /// The machines VMs ran on, by name (`CaseRecord.machine`): URI, size, CPU model, daemon.
    public var hosts: [String: HostRecord]?
    /// The configuration and case directories the run used (absent in results written before).
    public var inputs: Inputs?
    /// The BitVisor a run's `bitvisor` cells booted (absent without them).
    public var bitvisor: BitVisor?

    /// Where a run's BitVisor came from and what was built.
    public struct BitVisor: Sendable, Hashable, Codable {
        /// The checkout as named (absolute).
        public var source: String
        /// HEAD's commit when the checkout is a git work tree, and whether its files differ.
        public var commit: String?
        public var localChanges: Bool?
        /// The cache key of the build (checkout content, lab files, configuration, compiler)
        /// and the checkout's own content digest.
        public var contentKey: String
        public var checkoutDigest: String
        /// `sha256:` of bitvisor.elf; nil when the build failed.
        public var elfDigest: String?

        public init(
            source: String, commit: String?, localChanges: Bool?, contentKey: String, checkoutDigest: String,
            elfDigest: String?
        ) {
            self.source = source
            self.commit = commit
            self.localChanges = localChanges
            self.contentKey = contentKey
            self.checkoutDigest = checkoutDigest
            self.elfDigest = elfDigest
        }
    }

    public init(
        labCommit: String? = nil, imageDigests: [String: String] = [:], guestKernels: [String: GuestKernel] = [:],
        qemuVersion: String? = nil, bochsVersion: String? = nil, libvirtLibraryVersion: String? = nil,
        libvirtDaemonVersion: String? = nil, machines: [String: Machine] = [:], hostCPU: String? = nil,
        hostname: String? = nil, startTime: Date, endTime: Date? = nil, commandLine: [String] = [],
        hypervisorPolicy: HypervisorPolicy? = nil, inputs: Inputs? = nil
    ) {
        self.labCommit = labCommit
        self.imageDigests = imageDigests
        self.guestKernels = guestKernels
        self.qemuVersion = qemuVersion
        self.bochsVersion = bochsVersion
        self.libvirtLibraryVersion = libvirtLibraryVersion
        self.libvirtDaemonVersion = libvirtDaemonVersion
        self.machines = machines
        self.hostCPU = hostCPU
        self.hostname = hostname
        self.startTime = startTime
        self.endTime = endTime
        self.commandLine = commandLine
        self.hypervisorPolicy = hypervisorPolicy
        self.inputs = inputs
    }

    /// Flat name/value pairs for JUnit properties and report headers, in a fixed order.
    public var properties: [(name: String, value: String)] {
        var list: [(String, String)] = []
        func add(_ name: String, _ value: String?) { if let value { list.append((name, value)) } }
        add("lab.commit", labCommit)
        for name in imageDigests.keys.sorted() { add("image.\(name)", imageDigests[name]) }
        for (spec, kernel) in guestKernels.sorted(by: { $0.key < $1.key }) {
            add("guest.kernel.\(spec)", kernel.version + (kernel.packageVersion.map { " (package \($0))" } ?? ""))
        }
        add("qemu.version", qemuVersion)
        add("bochs.version", bochsVersion)
        add("libvirt.library", libvirtLibraryVersion)
        add("libvirt.daemon", libvirtDaemonVersion)
        add("hypervisor.policy", hypervisorPolicy?.rawValue)
        if let inputs {
            add("input.config", inputs.configFile + " (" + inputs.configDigest + ")")
            for directory in inputs.caseDirectories {
                add(
                    "input.cases." + directory.path,
                    directory.digest + (directory.fromCommandLine ? " (--cases)" : " (caseDirectories)"))
            }
        }
        if let bitvisor {
            add("bitvisor.source", bitvisor.source)
            add(
                "bitvisor.commit",
                bitvisor.commit.map { $0 + (bitvisor.localChanges == true ? " (with local changes)" : "") })
            add("bitvisor.key", bitvisor.contentKey)
            add("bitvisor.elf", bitvisor.elfDigest)
        }
        for (cell, machine) in machines.sorted(by: { $0.key < $1.key }) {
            add(
                "machine.\(cell)",
                "\(machine.accelerator), cpu \(machine.cpuModel)"
                    + (machine.paging.map { ", \($0.rawValue) paging" } ?? ""))
        }
        for (name, host) in (hosts ?? [:]).sorted(by: { $0.key < $1.key }) {
            add(
                "machine-host.\(name)",
                host.uri + (host.hostname.map { " (\($0))" } ?? "") + (host.cpus.map { ", \($0) CPUs" } ?? "")
                    + (host.memoryMiB.map { ", \($0) MiB" } ?? ""))
        }
        add("host.cpu", hostCPU)
        add("host.name", hostname)
        add("time.start", Self.timestamp(startTime))
        add("time.end", endTime.map(Self.timestamp))
        add("command", commandLine.isEmpty ? nil : shellQuoted(commandLine))
        return list
    }

    static func timestamp(_ date: Date) -> String {
        date.formatted(.iso8601)
    }
}

/// Whether a cell's VMs ran. In results.json: `{"state": "ran"}`,
/// `{"state": "skipped", "reason": …}` or `{"state": "error", "message": …}`.
public enum CellRunStatus: Sendable, Hashable, Codable {
    /// The cell ran (its cases have records).
    case ran
    /// The cell was not run; reason from the matrix (e.g. no VMX here) or from the run.
    case skipped(reason: String)
    /// The lab could not run the cell (no VM started: image missing, libvirt refused…).
    case error(message: String)

    private enum CodingKeys: String, CodingKey { case state, reason, message }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        switch try container.decode(String.self, forKey: .state) {
        case "ran": self = .ran
        case "skipped": self = .skipped(reason: try container.decode(String.self, forKey: .reason))
        case "error": self = .error(message: try container.decode(String.self, forKey: .message))
        case let other:
            throw DecodingError.dataCorruptedError(
                forKey: .state, in: container,
                debugDescription: "unknown cell state \(other); expected ran, skipped or error")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .ran:
            try container.encode("ran", forKey: .state)
        case .skipped(let reason):
            try container.encode("skipped", forKey: .state)
            try container.encode(reason, forKey: .reason)
        case .error(let message):
            try container.encode("error", forKey: .state)
            try container.encode(message, forKey: .message)
        }
    }
}

/// One cell of a run: what it was, what it was meant to run, and whether it ran.
public struct CellOutcome: Sendable, Hashable, Codable {
    public var cell: MatrixCell
    public var status: CellRunStatus
    /// Case ids selected for this cell (in plan order). A planned case without a record is
    /// reported as skipped (cell skipped) or as an error (cell ran: the lab lost its result).
    public var plannedCases: [String]

    public var id: String { cell.id }

    public init(cell: MatrixCell, status: CellRunStatus, plannedCases: [String]) {
        self.cell = cell
        self.status = status
        self.plannedCases = plannedCases
    }

    private enum CodingKeys: String, CodingKey { case id, cell, status, plannedCases }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        cell = try container.decode(MatrixCell.self, forKey: .cell)
        status = try container.decode(CellRunStatus.self, forKey: .status)
        plannedCases = try container.decode([String].self, forKey: .plannedCases)
    }

    /// Also writes the cell `id`, for readers of results.json (it is derived, not read back).
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(cell, forKey: .cell)
        try container.encode(status, forKey: .status)
        try container.encode(plannedCases, forKey: .plannedCases)
    }
}

/// A problem reading a results directory.
public struct ResultsError: Error, Sendable, Hashable, CustomStringConvertible {
    public var path: String
    public var message: String

    public var description: String { "\(path): \(message)" }
}

extension ResultsError: LocalizedError {
    public var errorDescription: String? { description }
}

/// Everything a run produced: `results.json` is its encoding.
public struct RunResults: Sendable, Hashable, Codable {
    /// Bumped when the results.json format changes incompatibly.
    public static let formatVersion = 1

    public var format: Int
    public var provenance: Provenance
    public var cells: [CellOutcome]
    public var records: [CaseRecord]
    /// Descriptions of the cases (the catalog of the image used), for reports.
    public var cases: [CaseInfo]
    /// Notes from planning (auto host resolution, merges, job limits).
    public var notes: [String]
    /// Set in the results of `lab run --shard I/N`: which work units this shard ran.
    public var shard: ShardInfo?
    /// Set by `lab merge`: the results directories merged, one per shard or run.
    public var mergedFrom: [MergedSource]?
    /// Ours vs BitVisor, per case (`BackendComparison.of`): filled in when results.json is
    /// written; absent without both an svm and a bitvisor cell.
    public var comparison: [BackendComparison]?

    public init(
        provenance: Provenance, cells: [CellOutcome], records: [CaseRecord], cases: [CaseInfo] = [],
        notes: [String] = []
    ) {
        self.format = Self.formatVersion
        self.provenance = provenance
        self.cells = cells
        self.records = records
        self.cases = cases
        self.notes = notes
    }

    /// File names inside a results directory.
    public enum FileName {
        public static let json = "results.json"
        public static let junit = "junit.xml"
        public static let text = "report.txt"
        public static let html = "report.html"
        public static let tap = "results.tap"
    }

    /// One row per (cell, planned or recorded case), with the status reports show: records as
    /// they are; planned cases without a record as skip (cell skipped) or error.
    public func rows(for cell: CellOutcome) -> [CaseRecord] {
        let recorded = records.filter { $0.cellId == cell.id }
        var rows = recorded
        let recordedIds = Set(recorded.map(\.caseId))
        for caseId in cell.plannedCases where !recordedIds.contains(caseId) {
            switch cell.status {
            case .skipped(let reason):
                rows.append(
                    CaseRecord(caseId: caseId, cellId: cell.id, status: .skip, message: "cell skipped: \(reason)"))
            case .error(let message):
                rows.append(
                    CaseRecord(
                        caseId: caseId, cellId: cell.id, status: .error, message: "cell could not run: \(message)"))
            case .ran:
                rows.append(
                    CaseRecord(
                        caseId: caseId, cellId: cell.id, status: .error,
                        message: "no result was recorded for this case (lab bug: it was planned but never reported)"))
            }
        }
        let order = Dictionary(cell.plannedCases.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
        return rows.enumerated().sorted { lhs, rhs in
            (order[lhs.element.caseId] ?? Int.max, lhs.offset) < (order[rhs.element.caseId] ?? Int.max, rhs.offset)
        }.map(\.element)
    }

    /// The rows reports show: `rows(for:)` with the skips that are impossible by construction
    /// folded into one row per reason (case id `n/a (N cases)`, message: the reason and the
    /// case ids), so dashboards show a meaningful skip rate.
    public func reportRows(for cell: CellOutcome) -> [CaseRecord] {
        var out: [CaseRecord] = []
        var folded: [String: (index: Int, ids: [String])] = [:]
        for row in rows(for: cell) {
            guard row.status == .skip, row.byConstruction == true else {
                out.append(row)
                continue
            }
            if folded[row.message] == nil {
                folded[row.message] = (out.count, [])
                var summary = CaseRecord(caseId: "", cellId: row.cellId, status: .skip, message: row.message)
                summary.byConstruction = true
                out.append(summary)
            }
            folded[row.message]?.ids.append(row.caseId)
        }
        for (reason, group) in folded {
            let n = group.ids.count
            out[group.index].caseId = "n/a (\(n) case\(n == 1 ? "" : "s"))"
            out[group.index].message =
                "cannot run in this cell by construction: \(reason): " + group.ids.joined(separator: ", ")
        }
        return out
    }

    /// Counts per status over the report rows (impossible skips folded), for summaries.
    public var reportTotals: [CaseStatus: Int] {
        var counts: [CaseStatus: Int] = [:]
        for cell in cells {
            for row in reportRows(for: cell) { counts[row.status, default: 0] += 1 }
        }
        for record in records where !cells.contains(where: { $0.id == record.cellId }) {
            counts[record.status, default: 0] += 1
        }
        return counts
    }

    /// Counts per status over all rows (including synthesized ones).
    public var totals: [CaseStatus: Int] {
        var counts: [CaseStatus: Int] = [:]
        for cell in cells {
            for row in rows(for: cell) { counts[row.status, default: 0] += 1 }
        }
        for record in records where !cells.contains(where: { $0.id == record.cellId }) {
            counts[record.status, default: 0] += 1
        }
        return counts
    }

    /// True when nothing failed, errored or timed out, and no cell errored.
    public var succeeded: Bool {
        totals.allSatisfy { !$0.key.isProblem || $0.value == 0 }
            && !cells.contains { if case .error = $0.status { return true } else { return false } }
    }

    /// What a run's results mean for the lab's exit status: interrupted beats failed.
    public var exitStatus: LabExitStatus {
        if totals[.interrupted, default: 0] > 0 { return .interrupted }
        if records.contains(where: { $0.caseId == Self.labErrorCaseId && $0.status == .error }) { return .labError }
        return succeeded ? .passed : .casesFailed
    }

    /// Passing cases whose description declares a finding (a known problem asserted as it is,
    /// description starting "FINDING"): passes, listed in the summary so they are not forgotten.
    /// In a bitvisor cell, also passing cases that declare a BitVisor finding (`CaseInfo.bitvisor`).
    public var findings: [CaseRecord] {
        records.filter { $0.status == .pass && findingText(of: $0) != nil }
    }

    /// The finding a passing record stands for: its case's BitVisor declaration in a bitvisor
    /// cell, else its description when that declares one; nil when it declares none.
    public func findingText(of record: CaseRecord) -> String? {
        guard let info = caseInfo(record.caseId) else { return nil }
        if record.cellId.hasPrefix(Backend.bitvisor.rawValue + "-"), case .finding(let text) = info.bitvisorExpectation
        {
            return text
        }
        return info.description.hasPrefix("FINDING") ? info.description : nil
    }

    /// The id of the one record a run that could not start writes (`RunResults.labFailure`).
    public static let labErrorCaseId = "lab"

    /// Results of a run the lab itself could not carry out (configuration, build, host): one
    /// error record carrying the message, so CI shows why.
    public static func labFailure(
        message: String, commandLine: [String] = CommandLine.arguments, started: Date = Date()
    ) -> RunResults {
        RunResults(
            provenance: Provenance(startTime: started, endTime: Date(), commandLine: commandLine), cells: [],
            records: [
                CaseRecord(caseId: labErrorCaseId, cellId: labErrorCaseId, status: .error, message: message)
            ])
    }

    public func caseInfo(_ id: String) -> CaseInfo? { cases.first { $0.id == id } }

    // MARK: Files

    static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true)))
        }
        return encoder
    }

    static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let container = try decoder.singleValueContainer()
            let text = try container.decode(String.self)
            if let date = try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)) {
                return date
            }
            if let date = try? Date(text, strategy: Date.ISO8601FormatStyle()) { return date }
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "expected an ISO 8601 date, got \(text)")
        }
        return decoder
    }

    /// The results.json text.
    public func jsonData() throws -> Data {
        var written = self
        let comparison = BackendComparison.of(self)
        written.comparison = comparison.isEmpty ? nil : comparison
        return try Self.encoder().encode(written)
    }

    /// Reads results.json text.
    public static func decode(_ data: Data, path: String = FileName.json) throws(ResultsError) -> RunResults {
        var results: RunResults
        do {
            results = try decoder().decode(RunResults.self, from: data)
        } catch let error as DecodingError {
            throw ResultsError(path: path, message: Self.describe(error))
        } catch {
            throw ResultsError(path: path, message: "\(error)")
        }
        guard results.format == formatVersion else {
            throw ResultsError(
                path: path, message: "results format \(results.format); this lab reads format \(formatVersion)")
        }
        // Files from before the paging axis name cells without it; their cells decode as 4-level,
        // so name the records and machines the same way.
        for index in results.records.indices {
            results.records[index].cellId = MatrixCell.canonicalId(results.records[index].cellId)
        }
        results.provenance.machines = Dictionary(
            results.provenance.machines.map { (MatrixCell.canonicalId($0.key), $0.value) },
            uniquingKeysWith: { first, _ in first })
        return results
    }

    /// Writes results.json, junit.xml, report.txt and report.html into `directory` (created if
    /// needed). Returns the URLs written.
    @discardableResult
    public func write(to directory: URL) throws -> [URL] {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let files: [(String, Data)] = [
            (FileName.json, try jsonData()),
            (FileName.junit, Data(JUnitReport.xml(for: self).utf8)),
            (FileName.text, Data(TextReport.render(self, color: false).utf8)),
            (FileName.html, Data(HTMLReport.render(self).utf8)),
            (FileName.tap, Data(TAPReport.render(self).utf8)),
        ]
        return try files.map { name, data in
            let url = directory.appendingPathComponent(name)
            try data.write(to: url, options: .atomic)
            return url
        }
    }

    /// Reads a results directory (its results.json) back, for `lab report`.
    public static func load(from directory: URL) throws(ResultsError) -> RunResults {
        let url = directory.appendingPathComponent(FileName.json)
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            let exists = FileManager.default.fileExists(atPath: directory.path)
            throw ResultsError(
                path: url.path,
                message: exists
                    ? "cannot read: \(error.localizedDescription) (is this a results directory?)"
                    : "no such directory")
        }
        return try decode(data, path: url.path)
    }

    private static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            "$" + context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
        }
        switch error {
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            return "\(path(context)): \(context.debugDescription)"
        case .keyNotFound(let key, let context):
            return "\(path(context)): missing key \(JSONValue.quoted(key.stringValue))"
        case .dataCorrupted(let context):
            return "\(path(context)): \(context.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }
}

/// Joins arguments into a command a POSIX shell reads back as the same arguments.
public func shellQuoted(_ arguments: [String]) -> String {
    arguments.map { argument in
        let safe = CharacterSet(
            charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%")
        if !argument.isEmpty, argument.unicodeScalars.allSatisfy(safe.contains) { return argument }
        return "'" + argument.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }.joined(separator: " ")
}

/// `path` relative to `workingDirectory` when it lies under it (`results/2026…` rather than
/// `/home/ci/lab/results/2026…`, so a printed command works from a checkout elsewhere); else
/// `path` as given.
public func pathRelative(
    _ path: String, to workingDirectory: String = FileManager.default.currentDirectoryPath
) -> String {
    let target = URL(fileURLWithPath: path).standardizedFileURL.path
    var base = URL(fileURLWithPath: workingDirectory).standardizedFileURL.path
    if !base.hasSuffix("/") { base += "/" }
    guard target.hasPrefix(base), target.count > base.count else { return path }
    return String(target.dropFirst(base.count))
}
