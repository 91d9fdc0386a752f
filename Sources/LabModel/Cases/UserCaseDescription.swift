import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A user case directory's description, `cases.json` in that directory (README: "Your own
/// cases"): which hypervisor services, guest programs and kernel modules the directory holds,
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
                            "missing: a case directory holds its description in \(fileName) (README: \"Your own cases\")"
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
        var reader = DescriptionReader(directory: directory, commands: commands)
        let description = reader.description(root)
        guard reader.issues.isEmpty, let description else { throw UserCaseError(file: file, issues: reader.issues) }
        return description
    }
}

/// Every problem in one description; one line each, `file:line: $.path: message`, the form
/// compilers use so editors jump to it.
public struct UserCaseError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Issue: Sendable, Hashable, CustomStringConvertible {
        public var line: Int?
        public var path: String
        public var message: String

        public init(line: Int? = nil, path: String = "", message: String) {
            self.line = line
            self.path = path
            self.message = message
        }

        public var description: String { path.isEmpty ? message : "\(path): \(message)" }
    }

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

/// Walks a parsed description, collecting every problem with its line and JSON path.
private struct DescriptionReader {
    let directory: String
    let commands: Set<String>?
    var issues: [UserCaseError.Issue] = []

    init(directory: String, commands: Set<String>?) {
        self.directory = directory
        self.commands = commands
    }

    mutating func report(_ node: JSONNode, _ path: String, _ message: String) {
        issues.append(.init(line: node.line, path: path, message: message))
    }

    /// An object with only `known` keys (each once) and every `required` one.
    mutating func object(_ node: JSONNode, path: String, known: [String], required: [String]) -> [String: JSONNode]? {
        let checked = checkedObjectMembers(node, known: known, required: required) { key, first, _ in
            "key \(JSONValue.quoted(key)) appears twice (also on line \(first))"
        }
        for problem in checked.problems {
            issues.append(.init(line: problem.line, path: path, message: problem.message))
        }
        return checked.members
    }

    mutating func string(_ node: JSONNode, _ path: String, what: String = "a non-empty string") -> String? {
        guard case .string(let value) = node.kind, !value.isEmpty else {
            report(node, path, "expected \(what), got \(node.described)")
            return nil
        }
        if value.unicodeScalars.contains(where: { $0.value == 0 }) {
            report(node, path, "contains a NUL character")
            return nil
        }
        return value
    }

    /// A string or an array of strings (each non-empty), as a list with each element's path.
    mutating func stringList(_ node: JSONNode, _ path: String, what: String) -> [(String, JSONNode, String)] {
        let elements: [(JSONNode, String)]
        switch node.kind {
        case .string: elements = [(node, path)]
        case .array(let items): elements = items.enumerated().map { ($1, "\(path)[\($0)]") }
        default:
            report(node, path, "expected \(what) or an array of them, got \(node.described)")
            return []
        }
        return elements.compactMap { element, elementPath in
            string(element, elementPath, what: what).map { ($0, element, elementPath) }
        }
    }

    // MARK: Document

    mutating func description(_ root: JSONNode) -> UserCaseDescription? {
        guard
            let members = object(
                root, path: "$", known: ["schema", "prefix", "services", "programs", "modules", "cases"],
                required: ["schema", "cases"])
        else { return nil }
        if let node = members["schema"] {
            if node.integerValue != UserCaseDescription.schemaVersion {
                report(node, "$.schema", "expected \(UserCaseDescription.schemaVersion), got \(node.described)")
            }
        }
        var prefix: String?
        if let node = members["prefix"] {
            if let value = string(node, "$.prefix") {
                if UserCaseDescription.isName(value) {
                    prefix = value
                } else {
                    report(
                        node, "$.prefix",
                        "\(JSONValue.quoted(value)) is not a prefix; expected lowercase letters, digits, \"-\", \"_\" and \".\", starting with a letter or digit"
                    )
                }
            }
        } else if let name = UserCaseDescription.defaultPrefix(directory: directory) {
            prefix = name
        } else {
            report(
                root, "$",
                "the directory's name \(JSONValue.quoted((directory as NSString).lastPathComponent)) cannot be the id prefix (lowercase letters, digits, \"-\", \"_\", \".\"); set \"prefix\""
            )
        }

        var seenFiles: [String: String] = [:]
        let services =
            members["services"].map {
                files($0, "$.services", ext: ".c", what: "hypervisor service source", seen: &seenFiles)
            } ?? []
        let modules =
            members["modules"].map { files($0, "$.modules", ext: ".c", what: "kernel module source", seen: &seenFiles) }
            ?? []
        var programs: [UserCaseDescription.Program] = []
        if let node = members["programs"] {
            var byName: [String: String] = [:]
            for (path, element, elementPath) in filesWithNodes(
                node, "$.programs", ext: nil, what: "guest program", seen: &seenFiles)
            {
                let file = (path as NSString).lastPathComponent
                let isC = file.hasSuffix(".c")
                let name = isC ? String(file.dropLast(2)) : file
                if !isC, let head = FileManager.default.contents(atPath: directory + "/" + path)?.prefix(2),
                    head != Data("#!".utf8)
                {
                    report(
                        element, elementPath,
                        "\(path) is neither a C source (.c) nor a script starting with \"#!\" (e.g. #!/bin/sh)")
                    continue
                }
                if !name.unicodeScalars.allSatisfy({
                    CharacterSet.alphanumerics.contains($0) && $0.isASCII || "-_.+".unicodeScalars.contains($0)
                }) {
                    report(
                        element, elementPath,
                        "program name \(JSONValue.quoted(name)) may only use letters, digits, \"-\", \"_\", \".\" and \"+\""
                    )
                    continue
                }
                if let other = byName[name] {
                    report(
                        element, elementPath, "\(path) and \(other) would both be the program \(JSONValue.quoted(name))"
                    )
                    continue
                }
                byName[name] = path
                programs.append(.init(name: name, path: path, kind: isC ? .c : .script))
            }
        }

        var cases: [UserCaseDescription.Case] = []
        if let node = members["cases"] {
            if case .array(let items) = node.kind, !items.isEmpty {
                var names: [String: Int] = [:]
                for (index, item) in items.enumerated() {
                    let path = "$.cases[\(index)]"
                    guard let c = oneCase(item, path: path, prefix: prefix ?? "?", programs: programs) else { continue }
                    if let line = names[c.name] {
                        report(item, "\(path).name", "\(JSONValue.quoted(c.name)) is used twice (also on line \(line))")
                        continue
                    }
                    names[c.name] = item.line
                    cases.append(c)
                }
            } else {
                report(node, "$.cases", "expected a non-empty array of cases, got \(node.described)")
            }
        }
        guard issues.isEmpty, let prefix else { return nil }
        return UserCaseDescription(
            directory: directory, prefix: prefix, services: services, programs: programs,
            modules: modules, cases: cases)
    }

    mutating func files(
        _ node: JSONNode, _ path: String, ext: String, what: String, seen: inout [String: String]
    ) -> [String] {
        filesWithNodes(node, path, ext: ext, what: what, seen: &seen).map(\.0)
    }

    /// Relative paths of existing regular files inside the directory, without characters a
    /// Makefile or the guest's shell would split on.
    mutating func filesWithNodes(
        _ node: JSONNode, _ path: String, ext: String?, what: String,
        seen: inout [String: String]
    ) -> [(String, JSONNode, String)] {
        guard case .array(let items) = node.kind else {
            report(
                node, path, "expected an array of file paths (relative to the case directory), got \(node.described)")
            return []
        }
        var result: [(String, JSONNode, String)] = []
        for (index, item) in items.enumerated() {
            let elementPath = "\(path)[\(index)]"
            guard let file = string(item, elementPath, what: "a \(what) path") else { continue }
            if file.hasPrefix("/") || file.split(separator: "/").contains("..") {
                report(
                    item, elementPath,
                    "\(JSONValue.quoted(file)) must be a path inside the case directory (relative, without \"..\")")
                continue
            }
            if file.unicodeScalars.contains(where: {
                !($0.isASCII && (CharacterSet.alphanumerics.contains($0) || "-_.+/".unicodeScalars.contains($0)))
            }) {
                report(
                    item, elementPath,
                    "\(JSONValue.quoted(file)): file paths may only use letters, digits, \"-\", \"_\", \".\", \"+\" and \"/\" (they go through make and the guest's shell)"
                )
                continue
            }
            if let ext, !file.hasSuffix(ext) {
                report(item, elementPath, "\(JSONValue.quoted(file)) is not a \(what) (expected a \(ext) file)")
                continue
            }
            var isDir: ObjCBool = false
            let full = directory + "/" + file
            guard FileManager.default.fileExists(atPath: full, isDirectory: &isDir) else {
                report(item, elementPath, "\(JSONValue.quoted(file)): no such file in \(directory)")
                continue
            }
            if isDir.boolValue {
                report(item, elementPath, "\(JSONValue.quoted(file)) is a directory; expected a file")
                continue
            }
            if let other = seen[file] {
                report(item, elementPath, "\(JSONValue.quoted(file)) is already listed at \(other)")
                continue
            }
            seen[file] = elementPath
            result.append((file, item, elementPath))
        }
        return result
    }

    // MARK: One case

    mutating func oneCase(
        _ node: JSONNode, path: String, prefix: String,
        programs: [UserCaseDescription.Program]
    ) -> UserCaseDescription.Case? {
        guard
            let members = object(
                node, path: path, known: ["name", "description", "run", "user", "needs", "timeoutSeconds", "expect"],
                required: ["name", "description", "run"])
        else { return nil }
        let before = issues.count
        var name: String?
        if let n = members["name"], let value = string(n, "\(path).name") {
            if UserCaseDescription.isName(value) {
                name = value
            } else {
                report(
                    n, "\(path).name",
                    "\(JSONValue.quoted(value)) is not a case name; expected lowercase letters, digits, \"-\", \"_\" and \".\", starting with a letter or digit"
                )
            }
        }
        var text: String?
        if let n = members["description"], let value = string(n, "\(path).description") {
            if value.contains(where: \.isNewline) {
                report(n, "\(path).description", "must be one line")
            } else {
                text = value
            }
        }
        var run: [String] = []
        if let n = members["run"] {
            if case .array(let items) = n.kind, !items.isEmpty {
                for (i, item) in items.enumerated() {
                    // Arguments may be empty strings; the program itself may not.
                    if case .string(let arg) = item.kind, !arg.unicodeScalars.contains(where: { $0.value == 0 }),
                        i > 0 || !arg.isEmpty
                    {
                        run.append(arg)
                    } else {
                        report(
                            item, "\(path).run[\(i)]",
                            "expected \(i == 0 ? "a program name" : "an argument (a string)"), got \(item.described)")
                    }
                }
                if let program = run.first, items.count == run.count {
                    let known = programs.contains { $0.name == program || $0.path == program }
                    if !known, !program.hasPrefix("/"), let commands, !commands.contains(program) {
                        let names = programs.map(\.name)
                        let hint =
                            closest(to: program, among: names + commands.sorted()).map {
                                " (did you mean \(JSONValue.quoted($0))?)"
                            } ?? ""
                        report(
                            items[0], "\(path).run[0]",
                            "\(JSONValue.quoted(program)) is not a program of this directory"
                                + (names.isEmpty ? "" : " (\(names.joined(separator: ", ")))")
                                + ", an absolute path or a busybox command\(hint)")
                    }
                }
            } else {
                report(
                    n, "\(path).run",
                    "expected the command as a non-empty array [program, arguments…], got \(n.described)")
            }
        }
        var user = UserCaseDescription.User.root
        if let n = members["user"] {
            if case .string(let value) = n.kind, let u = UserCaseDescription.User(rawValue: value) {
                user = u
            } else {
                report(n, "\(path).user", "\(n.described) is not a user; expected root or nobody")
            }
        }
        var needs: [CaseNeed] = []
        if let n = members["needs"] {
            let names = CaseNeed.allCases.map(\.rawValue).joined(separator: ", ")
            for (value, element, elementPath) in stringList(n, "\(path).needs", what: "a need") {
                if let need = CaseNeed(rawValue: value) {
                    if !needs.contains(need) { needs.append(need) }
                } else {
                    report(element, elementPath, "\(element.described) is not a need; expected one of \(names)")
                }
            }
        }
        var timeout: Double?
        if let n = members["timeoutSeconds"] {
            if case .number(let value, _) = n.kind, value > 0, value <= 86400 {
                timeout = value
            } else {
                report(
                    n, "\(path).timeoutSeconds",
                    "expected seconds (a number above 0, at most 86400), got \(n.described)")
            }
        }
        var expect = UserCaseDescription.Expectation()
        if let n = members["expect"] { expect = expectation(n, path: "\(path).expect") ?? expect }
        guard issues.count == before, let name, let text else { return nil }
        return .init(
            name: name, id: UserCaseDescription.caseId(prefix: prefix, name: name), description: text, run: run,
            user: user, needs: needs, timeoutSeconds: timeout, expect: expect, line: node.line)
    }

    mutating func expectation(_ node: JSONNode, path: String) -> UserCaseDescription.Expectation? {
        guard
            let members = object(
                node, path: path, known: ["exitStatus", "stdoutContains", "stdoutMatches"], required: [])
        else { return nil }
        var result = UserCaseDescription.Expectation()
        if let n = members["exitStatus"] {
            if case .string("any") = n.kind {
                result.exitStatus = nil
            } else if let status = n.integerValue, (0...255).contains(status) {
                result.exitStatus = status
            } else {
                report(n, "\(path).exitStatus", "expected an exit status 0-255 or \"any\", got \(n.described)")
            }
        }
        if let n = members["stdoutContains"] {
            result.stdoutContains = stringList(n, "\(path).stdoutContains", what: "a non-empty string").map(\.0)
        }
        if let n = members["stdoutMatches"] {
            for (pattern, element, elementPath) in stringList(n, "\(path).stdoutMatches", what: "a regular expression")
            {
                if let problem = posixRegexProblem(pattern) {
                    report(
                        element, elementPath,
                        "\(JSONValue.quoted(pattern)) is not a POSIX extended regular expression: \(problem)")
                } else {
                    result.stdoutMatches.append(pattern)
                }
            }
        }
        return result
    }
}

/// Why `pattern` does not compile as the guest's runner will compile it (glibc regcomp,
/// REG_EXTENDED | REG_NEWLINE), or nil when it does.
func posixRegexProblem(_ pattern: String) -> String? {
    #if canImport(Glibc)
    var regex = regex_t()
    let code = regcomp(&regex, pattern, REG_EXTENDED | REG_NEWLINE | REG_NOSUB)
    defer { if code == 0 { regfree(&regex) } }
    guard code != 0 else { return nil }
    var buffer = [CChar](repeating: 0, count: 256)
    regerror(code, &regex, &buffer, buffer.count)
    return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    #else
    return nil
    #endif
}
