import Foundation

/// Where the lab's inputs and outputs live. The repository holds sources and recipes; the cache
/// (outside git) holds built images keyed by content; results go where the user asks.
public struct LabPaths: Sendable {
    public let repository: String
    public let cache: String

    public init(repository: String, cache: String) {
        self.repository = repository
        self.cache = cache
    }

    public var labJSON: String { repository + "/lab.json" }
    public var imagesRecipes: String { repository + "/images" }
    public var hypervisorSources: String { repository + "/Sources/Hypervisor" }
    public var guestSources: String { repository + "/Sources/Guest" }

    /// Finds the repository by walking up from `start` to the directory holding both Package.swift
    /// and lab.json. The cache is `$LAB_CACHE`, else `$XDG_CACHE_HOME/guestmemlab`, else
    /// `~/.cache/guestmemlab`: shared by every clone on this machine, so a fresh clone reuses
    /// a kernel already downloaded (entries are keyed by content, never by clone).
    public static func discover(from start: String = FileManager.default.currentDirectoryPath) throws -> LabPaths {
        var dir = URL(fileURLWithPath: start).standardizedFileURL
        while true {
            let fm = FileManager.default
            if fm.fileExists(atPath: dir.appendingPathComponent("Package.swift").path),
                fm.fileExists(atPath: dir.appendingPathComponent("lab.json").path)
            {
                return LabPaths(repository: dir.path, cache: defaultCache())
            }
            let parent = dir.deletingLastPathComponent()
            if parent.path == dir.path { break }
            dir = parent
        }
        throw LabError.notInRepository(start)
    }

    static func defaultCache() -> String {
        let env = ProcessInfo.processInfo.environment
        if let c = env["LAB_CACHE"], !c.isEmpty { return c }
        if let x = env["XDG_CACHE_HOME"], !x.isEmpty { return x + "/guestmemlab" }
        return (env["HOME"] ?? "/root") + "/.cache/guestmemlab"
    }
}

/// Errors of the lab's own making, each saying what was wrong and what to do.
public enum LabError: Error, CustomStringConvertible, Sendable {
    case notInRepository(String)
    case imageBuild(component: String, detail: String)
    case noSuchResults(String)
    case launcher(String)

    public var description: String {
        switch self {
        case .notInRepository(let dir):
            return
                "no GuestMemLab repository (Package.swift + lab.json) at or above \(dir); run lab from inside the repository"
        case .imageBuild(let component, let detail):
            return "building \(component) failed: \(detail)"
        case .noSuchResults(let path):
            return "no results at \(path) (expected a directory written by `lab run`, holding results.json)"
        case .launcher(let detail):
            return "lab bug: \(detail)"
        }
    }
}
