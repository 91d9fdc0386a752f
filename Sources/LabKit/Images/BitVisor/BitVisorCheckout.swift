import Foundation
import LabVirt

/// A BitVisor source tree the user named (`lab.json` `bitvisor.source`, `--bitvisor DIR`,
/// `BITVISOR_SRC`). The lab never fetches, vendors or commits BitVisor: it reads this directory,
/// copies it into its cache and builds the copy (`BitVisorBuilder`); the checkout itself is
/// never written to.
public struct BitVisorCheckout: Sendable, Equatable {
    /// Absolute, standardized path of the checkout.
    public let path: String

    /// Checks that `path` looks like a BitVisor tree (the files the recipe edits or runs exist),
    /// so a wrong directory is reported up front with what is missing, not as a build failure.
    public init(path: String) throws {
        let full = URL(fileURLWithPath: path).standardizedFileURL.path
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: full, isDirectory: &isDir), isDir.boolValue else {
            throw BitVisorError.notACheckout(path: path, missing: ["the directory itself"])
        }
        let missing = Self.requiredFiles.filter { !FileManager.default.fileExists(atPath: full + "/" + $0) }
        guard missing.isEmpty else { throw BitVisorError.notACheckout(path: full, missing: missing) }
        self.path = full
    }

    /// What the recipe needs in a checkout: the build, the configuration script and template,
    /// and the x86 core directory the lab's services are added to.
    public static let requiredFiles = [
        "Makefile", "Kconfig", "scripts/kconfig/kconfig.py", "defconfig.tmpl", "core/x86/Makefile",
    ]

    // MARK: - Content

    /// Files BitVisor's own Makefiles write into the tree (object files, dependency lists, the
    /// per-directory flag/object records, the embedded processes, the final image), and the two
    /// configuration files the lab writes itself in its copy. They never enter the content key
    /// and are never copied. `siblings` holds the names in the same directory: a `.bin` is
    /// output only beside the `.bin.s` the build writes with it (the tree also holds `.bin`
    /// test inputs).
    public static func isBuildOutput(_ relativePath: String, siblings: Set<String>) -> Bool {
        let name = (relativePath as NSString).lastPathComponent
        let topLevel = !relativePath.contains("/")
        if topLevel && topLevelOutputs.contains(name) { return true }
        if recordFiles.contains(name) { return true }
        if outputSuffixes.contains(where: { name.hasSuffix($0) }) { return true }
        if name.hasSuffix(".bin") && siblings.contains(name + ".s") { return true }
        return false
    }

    static let topLevelOutputs: Set<String> = [
        "bitvisor.elf", "bitvisor.map", "compile_commands.json", ".config", ".config.old", "defconfig",
    ]
    static let recordFiles: Set<String> = [".flags", ".depends", ".objects", ".boptions"]
    static let outputSuffixes = [".o", ".d", ".a", ".o_p", ".a_p", ".bin.s", ".bin.debug"]
    /// Directories never part of the content: version control metadata.
    static let skippedDirectories: Set<String> = [".git", ".hg", ".svn"]

    /// One entry of the checkout: a regular file (with its executable bit) or a symbolic link.
    public struct Entry: Sendable, Equatable {
        public var path: String  // relative to the checkout
        public var executable: Bool
        public var symlinkTarget: String?
    }

    /// Every file of the checkout, tracked or not, except version-control metadata and build
    /// outputs (`isBuildOutput`), sorted by path. Symbolic links are listed, never followed.
    public func entries() throws -> [Entry] {
        let fm = FileManager.default
        var result: [Entry] = []
        var pending = [""]
        while let dir = pending.popLast() {
            let full = dir.isEmpty ? path : path + "/" + dir
            let names = try fm.contentsOfDirectory(atPath: full)
            let siblings = Set(names)
            for name in names {
                let rel = dir.isEmpty ? name : dir + "/" + name
                let attrs = try fm.attributesOfItem(atPath: path + "/" + rel)
                switch attrs[.type] as? FileAttributeType {
                case .typeDirectory?:
                    if !Self.skippedDirectories.contains(name) { pending.append(rel) }
                case .typeSymbolicLink?:
                    let target = try fm.destinationOfSymbolicLink(atPath: path + "/" + rel)
                    result.append(Entry(path: rel, executable: false, symlinkTarget: target))
                case .typeRegular?:
                    guard !Self.isBuildOutput(rel, siblings: siblings) else { continue }
                    let mode = (attrs[.posixPermissions] as? NSNumber)?.intValue ?? 0
                    result.append(Entry(path: rel, executable: mode & 0o111 != 0, symlinkTarget: nil))
                default:
                    continue  // sockets, fifos, devices: not source
                }
            }
        }
        return result.sorted { $0.path < $1.path }
    }

    /// The content key: `sha256:` over every entry's path, kind (file mode or link target) and
    /// content. It changes with any edit, added or deleted file (tracked or not) and mode change,
    /// and with nothing else: not with build outputs, the checkout's location or timestamps.
    public func contentDigest() async throws -> String {
        let list = try entries()
        let files = list.filter { $0.symlinkTarget == nil }.map(\.path)
        let sums = try await Self.sha256(of: files, in: path)
        var manifest = "bitvisor checkout v1\n"
        for e in list {
            if let target = e.symlinkTarget {
                manifest += "link \(e.path) -> \(target)\n"
            } else {
                manifest += "\(e.executable ? "100755" : "100644") \(sums[e.path] ?? "?") \(e.path)\n"
            }
        }
        return try await Self.digest(of: manifest)
    }

    /// sha256 of each file (relative paths), one `sha256sum` for all (file names go through a
    /// NUL-separated list, so no command line gets too long).
    static func sha256(of files: [String], in directory: String) async throws -> [String: String] {
        guard !files.isEmpty else { return [:] }
        let list = FileManager.default.temporaryDirectory.appendingPathComponent("gmlab-bv-\(UUID().uuidString)")
        try Data(files.joined(separator: "\0").utf8).write(to: list)
        defer { try? FileManager.default.removeItem(at: list) }
        let out = try await Command.output(
            "sh", ["-c", "cd \"$1\" && xargs -0 sha256sum -- < \"$2\"", "sh", directory, list.path])
        var sums: [String: String] = [:]
        for line in out.split(separator: "\n") {
            // "<hex>  <path>"; a leading backslash marks an escaped name (never in BitVisor).
            let parts = line.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2 else { continue }
            let hex = parts[0].hasPrefix("\\") ? String(parts[0].dropFirst()) : String(parts[0])
            sums[String(parts[1].dropFirst())] = hex
        }
        return sums
    }

    static func digest(of text: String) async throws -> String {
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("gmlab-bv-\(UUID().uuidString)")
        try text.write(to: tmp, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: tmp) }
        return try await Digest.file(tmp.path)
    }

    // MARK: - Provenance

    /// Where the checkout's content came from, as far as git can say.
    public struct Provenance: Codable, Sendable, Equatable {
        /// HEAD's commit when the checkout is the top of a git work tree, else nil.
        public var commit: String?
        /// Files differ from that commit (edited, added or deleted sources; build outputs do
        /// not count). Nil without a commit.
        public var localChanges: Bool?
    }

    /// The commit when the checkout is itself a git work tree (a checkout inside someone
    /// else's repository is not: its HEAD says nothing about these files).
    public func provenance() async -> Provenance {
        let git = ["-c", "safe.directory=*", "-C", path]
        guard let top = try? await Command.output("git", git + ["rev-parse", "--show-toplevel"]),
            URL(fileURLWithPath: top).standardizedFileURL.path == path,
            let commit = try? await Command.output("git", git + ["rev-parse", "--verify", "HEAD"])
        else { return Provenance(commit: nil, localChanges: nil) }
        let status = (try? await Command.output("git", git + ["status", "--porcelain", "--untracked-files=all"])) ?? ""
        return Provenance(commit: commit, localChanges: Self.hasSourceChanges(porcelain: status))
    }

    /// `git status --porcelain` lines that are not build outputs. BitVisor has no .gitignore, so
    /// a checkout that was built in place lists every object file as untracked.
    static func hasSourceChanges(porcelain: String) -> Bool {
        porcelain.split(separator: "\n").contains { line in
            guard line.count > 3 else { return false }
            var file = String(line.dropFirst(3))
            if let arrow = file.range(of: " -> ") { file = String(file[arrow.upperBound...]) }
            if file.hasPrefix("\"") { return true }  // quoted (unusual) names: count them
            // siblings are unknown here: a .bin counts as a change unless its .bin.s is listed too
            let siblings: Set<String> =
                porcelain.contains(file + ".s") ? [(file as NSString).lastPathComponent + ".s"] : []
            return !isBuildOutput(file, siblings: siblings)
        }
    }
}

/// What can go wrong with the user's BitVisor before the compiler runs.
public enum BitVisorError: Error, CustomStringConvertible, Sendable, Equatable {
    case notACheckout(path: String, missing: [String])
    case configuration(String)
    case injection(String)
    /// No BitVisor to boot (not a checkout, the build failed): the reason as it stands.
    case unavailable(String)

    public var description: String {
        switch self {
        case let .notACheckout(path, missing):
            return
                "\(path) is not a BitVisor checkout: missing \(missing.joined(separator: ", ")) (name the top directory of a clone of https://github.com/matsu/bitvisor)"
        case .configuration(let why): return "BitVisor configuration: \(why)"
        case .injection(let why): return "adding the lab's services to the BitVisor copy: \(why)"
        case .unavailable(let why): return why
        }
    }
}
