import Foundation

/// A user case directory's description, `cases.json` in that directory (docs/user-cases.md): which hypervisor services, guest programs and kernel modules the directory holds,
/// and its cases — what to run, as whom, and what passes. Validated completely on load: every
/// problem is reported at once with the file, line and JSON path, and every file it names must
/// exist inside the directory.
public struct UserCaseDescription: Sendable, Hashable {
    public static let fileName = "cases.json"
    /// Every user case belongs to this suite; the lab's own suites never use the name, and its
    /// ids are `user/<prefix>/<name>`, so user ids cannot collide with the lab's.
    public static let suite = "user"
    public static let schemaVersion = 1

    /// The case directory (absolute, as given to `load`).
    public var directory: String
    /// Second segment of every id: `"prefix"`, else the directory's name.
    public var prefix: String
    /// Hypervisor service sources (.c, seed API), paths relative to `directory`.
    public var services: [String]
    public var programs: [Program]
    /// Kernel module sources (.c, one module each, named after the file), relative paths.
    public var modules: [String]
    public var cases: [Case]

    public struct Program: Sendable, Hashable {
        public enum Kind: String, Sendable, Hashable { case c, script }
        /// File name without `.c` (C) or the file name (script): the name `run` uses, and the
        /// file name under /gmlab/user/<prefix>/bin in the guest.
        public var name: String
        public var path: String
        public var kind: Kind
    }

    public enum User: String, Sendable, Hashable, CaseIterable { case root, nobody }

    public struct Expectation: Sendable, Hashable {
        /// nil: any exit status passes.
        public var exitStatus: Int?
        /// Each must occur in stdout.
        public var stdoutContains: [String]
        /// POSIX extended regular expressions, each must match somewhere in stdout (`^`/`$` match
        /// at line boundaries).
        public var stdoutMatches: [String]

        public init(exitStatus: Int? = 0, stdoutContains: [String] = [], stdoutMatches: [String] = []) {
            self.exitStatus = exitStatus
            self.stdoutContains = stdoutContains
            self.stdoutMatches = stdoutMatches
        }
    }

    public struct Case: Sendable, Hashable {
        public var name: String
        public var id: String
        public var description: String
        /// argv as written; `run[0]` is a program of this directory, an absolute guest path, or
        /// a busybox applet.
        public var run: [String]
        public var user: User
        public var needs: [CaseNeed]
        public var timeoutSeconds: Double?
        public var expect: Expectation
        /// Line of the case object in the description (for messages about it later).
        public var line: Int

        /// The program of this directory that `run[0]` names, if any.
        public func program(in description: UserCaseDescription) -> Program? {
            description.programs.first { $0.name == run[0] || $0.path == run[0] }
        }
    }

    /// The case's full id: `user/<prefix>/<name>`.
    public static func caseId(prefix: String, name: String) -> String { "\(suite)/\(prefix)/\(name)" }

    /// Ids and prefixes: lowercase letters, digits, `-`, `_` and `.`, starting with a letter or digit.
    public static func isName(_ text: String) -> Bool {
        guard let first = text.unicodeScalars.first, ("a"..."z").contains(first) || ("0"..."9").contains(first) else {
            return false
        }
        return text.unicodeScalars.allSatisfy {
            ("a"..."z").contains($0) || ("0"..."9").contains($0) || "-_.".unicodeScalars.contains($0)
        }
    }

    /// The prefix a directory gets without `"prefix"`: its name, when that is a valid name.
    public static func defaultPrefix(directory: String) -> String? {
        let name = (directory as NSString).lastPathComponent
        return isName(name) ? name : nil
    }

    /// Reads and validates `<directory>/cases.json`. `commands` are the names `run[0]` may use
    /// besides the directory's programs and absolute paths (the guest's busybox applets); nil
    /// accepts any name.
    public static func load(
        directory: String, commands: Set<String>? = nil
    ) throws(UserCaseError) -> UserCaseDescription {
        let file = directory + "/" + fileName
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDir), isDir.boolValue else {
            throw UserCaseError(file: directory, issues: [.init(message: "no such directory")])
        }
        guard let data = FileManager.default.contents(atPath: file) else {
            throw UserCaseError(
                file: file,
                issues: [
                    .init(
                        message:
                            "missing: a case directory holds its description in \(fileName) (docs/user-cases.md)"
                    )
                ])
        }
        return try parse(data, file: file, directory: directory, commands: commands)
    }

    /// Validates description text; files it names are looked up in `directory`.
    public static func parse(
        _ data: Data, file: String, directory: String, commands: Set<String>? = nil
    ) throws(UserCaseError) -> UserCaseDescription {
        let root: JSONNode
        do {
            root = try JSONDocumentParser.parse(data)
        } catch {
            throw UserCaseError(
                file: file, issues: [.init(line: error.line, path: "column \(error.column)", message: error.message)])
        }
        var validator = ConfigValidator(citesLines: true)
        let description = validator.userCaseDescription(root, directory: directory, commands: commands)
        guard validator.issues.isEmpty, let description else {
            throw UserCaseError(file: file, issues: validator.issues)
        }
        return description
    }
}

/// Every problem in one description; one line each, `file:line: $.path: message`, the form
/// compilers use so editors jump to it.
public struct UserCaseError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The one issue type of the lab's JSON validator, here with its line.
    public typealias Issue = ConfigIssue

    public var file: String
    public var issues: [Issue]

    public init(file: String, issues: [Issue]) {
        self.file = file
        self.issues = issues
    }

    public var description: String {
        issues.map { issue in "\(file)" + (issue.line.map { ":\($0)" } ?? "") + ": \(issue)" }.joined(separator: "\n")
    }
}

extension UserCaseError: LocalizedError {
    public var errorDescription: String? { description }
}
