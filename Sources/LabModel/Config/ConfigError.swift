import Foundation

/// One problem in a JSON file the lab reads (lab.json, cases.json, a user case description) or
/// in a command-line override: where (a JSON path such as `$.matrix.backends[2]`, a
/// command-line option such as `--backend`, or `line 3, column 5` for syntax), what, and — where
/// the file's errors cite lines, as a user case description's do — the line.
public struct ConfigIssue: Sendable, Hashable, Codable, CustomStringConvertible {
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

/// Every problem found in one configuration source; the description lists them, one per line:
/// `lab.json: $.timeouts.caseSeconds: expected a positive number, got -3`.
public struct ConfigError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Where the configuration came from: a file name, or `command line` for overrides.
    public var file: String
    public var issues: [ConfigIssue]

    public init(file: String, issues: [ConfigIssue]) {
        self.file = file
        self.issues = issues
    }

    public var description: String {
        issues.map { "\(file): \($0)" }.joined(separator: "\n")
    }
}

extension ConfigError: LocalizedError {
    public var errorDescription: String? { description }
}
