import Foundation
import LabModel

/// The lab as a user opened it: the repository, the cache, and the configuration read from
/// lab.json (or another file given with --config).
public struct LabSession: Sendable {
    public let paths: LabPaths
    public let config: LabConfig
    public let configFile: String

    /// Finds the repository from the current directory and reads (and validates) the config.
    public static func open(configFile: String? = nil) throws -> LabSession {
        let paths = try LabPaths.discover()
        let file = configFile ?? paths.labJSON
        let config = try LabConfig.load(from: URL(fileURLWithPath: file))
        return LabSession(paths: paths, config: config, configFile: file)
    }

    public init(paths: LabPaths, config: LabConfig, configFile: String) {
        self.paths = paths
        self.config = config
        self.configFile = configFile
    }

    public func builder(progress: RunProgress? = nil) -> ImageBuilder {
        ImageBuilder(paths: paths, log: { line in progress?.say(line) })
    }

    /// `git rev-parse HEAD` of the repository, with `-dirty` when the tree has changes.
    public func labCommit() async -> String? {
        guard let head = try? await Command.output("git", ["-C", paths.repository, "rev-parse", "HEAD"]) else { return nil }
        let status = (try? await Command.output("git", ["-C", paths.repository, "status", "--porcelain", "--untracked-files=no"])) ?? ""
        return status.isEmpty ? head : head + "-dirty"
    }
}
