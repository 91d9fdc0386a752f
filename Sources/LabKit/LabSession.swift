import Foundation
import LabModel
import LabVirt

/// The lab as a user opened it: the repository, the cache, and the configuration read from
/// lab.json (or another file given with --config).
public struct LabSession: Sendable {
    public let paths: LabPaths
    public let config: LabConfig
    public let configFile: String
    /// User case directories (absolute): lab.json's `caseDirectories` (relative to the config
    /// file), then `--cases` (relative to the current directory), each once.
    public let caseDirectories: [String]
    /// The `--cases` ones (repro commands repeat them; lab.json's are read again anyway).
    public let commandLineCaseDirectories: [String]

    /// Finds the repository from the current directory and reads (and validates) the config.
    ///
    /// The BitVisor checkout (backend `bitvisor`): `bitvisor` (`--bitvisor DIR`, relative to the
    /// current directory), else `BITVISOR_SRC`, else lab.json `bitvisor.source` (relative to the
    /// config file). With one, `bitvisor` joins lab.json's backends (a `--backend` still
    /// replaces the axis); without one, the configuration stays as written.
    public static func open(
        configFile: String? = nil, caseDirectories extra: [String] = [], bitvisor: String? = nil,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> LabSession {
        let paths = try LabPaths.discover()
        let file = configFile ?? paths.labJSON
        var config = try LabConfig.load(from: URL(fileURLWithPath: file))
        let configDir = URL(fileURLWithPath: file).deletingLastPathComponent()
        config = config.resolvingBitVisorSource(
            flag: bitvisor, environment: environment["BITVISOR_SRC"],
            currentDirectory: FileManager.default.currentDirectoryPath, configDirectory: configDir.path)
        let fromConfig = config.caseDirectories.map {
            URL(fileURLWithPath: $0, relativeTo: configDir).standardizedFileURL.path
        }
        let fromCommandLine = extra.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
        return LabSession(
            paths: paths, config: config, configFile: file, caseDirectories: fromConfig + fromCommandLine,
            commandLineCaseDirectories: fromCommandLine)
    }

    public init(
        paths: LabPaths, config: LabConfig, configFile: String, caseDirectories: [String] = [],
        commandLineCaseDirectories: [String] = []
    ) {
        self.paths = paths
        self.config = config
        self.configFile = configFile
        var seen: Set<String> = []
        self.caseDirectories = caseDirectories.filter { seen.insert($0).inserted }
        self.commandLineCaseDirectories = commandLineCaseDirectories.filter {
            !caseDirectories.prefix(caseDirectories.count - commandLineCaseDirectories.count).contains($0)
        }
    }

    /// How a record's case is reproduced: `lab repro` with `--config` when it was not the
    /// repository's lab.json and every `--cases` of the command line (the configuration's own
    /// directories are read again anyway), paths relative to the working directory when under
    /// it; the case, its cell and `--from` follow.
    public var reproCommand: [String] {
        ["swift", "run", "lab", "repro"]
            + Self.inputArguments(
                configFile: configFile, defaultConfig: usesDefaultConfig, caseDirectories: commandLineCaseDirectories)
    }

    /// `--config FILE` (unless the default) and `--cases DIR` for each directory.
    public static func inputArguments(configFile: String, defaultConfig: Bool, caseDirectories: [String]) -> [String] {
        (defaultConfig ? [] : ["--config", pathRelative(configFile)])
            + caseDirectories.flatMap { ["--cases", pathRelative($0)] }
    }

    /// True when the configuration is the repository's lab.json.
    public var usesDefaultConfig: Bool {
        URL(fileURLWithPath: configFile).standardizedFileURL.path
            == URL(fileURLWithPath: paths.labJSON).standardizedFileURL.path
    }

    /// The configuration and the case directories, with digests of their content (provenance).
    public func inputs() async throws -> Provenance.Inputs {
        var directories: [Provenance.Inputs.CaseDirectory] = []
        for directory in caseDirectories {
            directories.append(
                .init(
                    path: directory, digest: try await Digest.tree([directory], relativeTo: directory),
                    fromCommandLine: commandLineCaseDirectories.contains(directory)))
        }
        return Provenance.Inputs(
            configFile: URL(fileURLWithPath: configFile).standardizedFileURL.path,
            configDigest: try await Digest.file(configFile), defaultConfig: usesDefaultConfig,
            caseDirectories: directories)
    }

    public func builder(progress: RunProgress? = nil) -> ImageBuilder {
        ImageBuilder(paths: paths, userCaseDirectories: caseDirectories, log: { line in progress?.say(line) })
    }

    /// `git rev-parse HEAD` of the repository, with `-dirty` when the tree has changes.
    public func labCommit() async -> String? {
        guard let head = try? await Command.output("git", ["-C", paths.repository, "rev-parse", "HEAD"]) else {
            return nil
        }
        let status =
            (try? await Command.output(
                "git", ["-C", paths.repository, "status", "--porcelain", "--untracked-files=no"])) ?? ""
        return status.isEmpty ? head : head + "-dirty"
    }
}
