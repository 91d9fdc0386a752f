import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The checks of a user case description (`UserCaseDescription.parse`), on the lab's one JSON
/// validator: every problem with its line and JSON path, every file it names looked up in the
/// case directory.
extension ConfigValidator {
    // MARK: Document

    mutating func userCaseDescription(
        _ root: JSONNode, directory: String, commands: Set<String>?
    ) -> UserCaseDescription? {
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
                files(
                    $0, "$.services", ext: ".c", what: "hypervisor service source", directory: directory,
                    seen: &seenFiles)
            } ?? []
        let modules =
            members["modules"].map {
                files(
                    $0, "$.modules", ext: ".c", what: "kernel module source", directory: directory, seen: &seenFiles)
            } ?? []
        var programs: [UserCaseDescription.Program] = []
        if let node = members["programs"] {
            var byName: [String: String] = [:]
            for (path, element, elementPath) in filesWithNodes(
                node, "$.programs", ext: nil, what: "guest program", directory: directory, seen: &seenFiles)
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
                    guard
                        let c = oneCase(
                            item, path: path, prefix: prefix ?? "?", programs: programs, commands: commands)
                    else { continue }
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
        _ node: JSONNode, _ path: String, ext: String, what: String, directory: String,
        seen: inout [String: String]
    ) -> [String] {
        filesWithNodes(node, path, ext: ext, what: what, directory: directory, seen: &seen).map(\.0)
    }

    /// Relative paths of existing regular files inside the directory, without characters a
    /// Makefile or the guest's shell would split on.
    mutating func filesWithNodes(
        _ node: JSONNode, _ path: String, ext: String?, what: String, directory: String,
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
        programs: [UserCaseDescription.Program], commands: Set<String>?
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
