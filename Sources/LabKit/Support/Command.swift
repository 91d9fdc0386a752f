import Foundation
import Subprocess

#if canImport(System)
import System
#else
import SystemPackage
#endif

/// A command that failed, with enough context to act on: what ran, how it ended, the tail of
/// what it printed, and where its full log is.
public struct CommandError: Error, CustomStringConvertible, Sendable {
    public let command: String
    public let status: String
    public let outputTail: String
    public let logFile: String?

    public var description: String {
        var text = "command failed (\(status)): \(command)"
        if let logFile { text += "\n  full log: \(logFile)" }
        if !outputTail.isEmpty {
            text +=
                "\n  last lines:\n"
                + outputTail.split(separator: "\n", omittingEmptySubsequences: false)
                .map { "    " + $0 }.joined(separator: "\n")
        }
        return text
    }
}

/// Runs host tools (make, recipes in images/, sha256sum, git, apt-cache). Thin on purpose:
/// the logic lives in the callers; this only turns exit statuses into `CommandError`s.
public enum Command {
    /// Runs `executable arguments…`, returns its standard output (trimmed); throws on non-zero exit.
    @discardableResult
    public static func output(
        _ executable: String, _ arguments: [String] = [],
        workingDirectory: String? = nil, environment: [String: String] = [:]
    ) async throws -> String {
        let result = try await run(
            executable.contains("/") ? .path(FilePath(executable)) : .name(executable),
            arguments: Arguments(arguments),
            environment: .inherit.updating(environment.reduce(into: [:]) { $0[.init(rawValue: $1.key)!] = $1.value }),
            workingDirectory: workingDirectory.map { FilePath($0) },
            output: .string(limit: 16 << 20),
            error: .string(limit: 1 << 20)
        )
        let out = result.standardOutput
        guard case .exited(0) = result.terminationStatus else {
            throw CommandError(
                command: ([executable] + arguments).joined(separator: " "),
                status: "\(result.terminationStatus)",
                outputTail: tail(out + result.standardError, lines: 20),
                logFile: nil)
        }
        return out.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Runs a long step (a build, a recipe) with stdout and stderr going to `logFile`; on failure
    /// the error carries the last lines of that log.
    public static func logged(
        _ executable: String, _ arguments: [String], logFile: String,
        workingDirectory: String? = nil, environment: [String: String] = [:]
    ) async throws {
        _ = FileManager.default.createFile(atPath: logFile, contents: nil)
        let fd = try FileDescriptor.open(FilePath(logFile), .writeOnly, options: [.truncate])
        let result = try await run(
            executable.contains("/") ? .path(FilePath(executable)) : .name(executable),
            arguments: Arguments(arguments),
            environment: .inherit.updating(environment.reduce(into: [:]) { $0[.init(rawValue: $1.key)!] = $1.value }),
            workingDirectory: workingDirectory.map { FilePath($0) },
            output: .fileDescriptor(fd, closeAfterSpawningProcess: true),
            error: .combinedWithOutput
        )
        guard case .exited(0) = result.terminationStatus else {
            let log = (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? ""
            throw CommandError(
                command: ([executable] + arguments).joined(separator: " "),
                status: "\(result.terminationStatus)", outputTail: tail(log, lines: 25), logFile: logFile)
        }
    }

    static func tail(_ text: String, lines: Int) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
