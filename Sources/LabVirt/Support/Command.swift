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

/// The lab's one way to run a host tool (make, the recipes in images/, sha256sum, git,
/// apt-cache, QEMU and Bochs probes, grub-mkrescue). Thin on purpose: the logic lives in the
/// callers. `run` never throws and never hangs (a hard timeout; the probes use it); `output`
/// and `logged` turn a failure into a `CommandError` (the builds use them).
public enum Command {
    /// How a command ended, with what it printed.
    public struct Outcome: Sendable, Equatable {
        public enum Ending: Sendable, Equatable {
            case exited(Int32)
            case signaled(Int32)
            case timedOut(Duration)
            case notFound
            case launchFailed(String)
        }
        public let ending: Ending
        public let standardOutput: String
        public let standardError: String

        /// The exit code when the tool exited normally.
        public var exitCode: Int32? {
            if case let .exited(code) = ending { return code }
            return nil
        }

        public var endingText: String {
            switch ending {
            case let .exited(code): return "exited with status \(code)"
            case let .signaled(signal): return "killed by signal \(signal)"
            case let .timedOut(limit): return "did not finish within \(limit) (killed)"
            case .notFound: return "not found in PATH"
            case let .launchFailed(message): return "could not be started: \(message)"
            }
        }
    }

    /// Runs `executable arguments…` (a name looked up in PATH, or a path) with a hard timeout:
    /// on timeout the task running it is cancelled, and swift-subprocess kills the child.
    public static func run(_ executable: String, _ arguments: [String], timeout: Duration) async -> Outcome {
        await withTaskGroup(of: Outcome?.self) { group in
            group.addTask {
                let outcome = await spawn(executable, arguments, outputLimit: 1 << 20)
                return Task.isCancelled ? nil : outcome
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return Task.isCancelled
                    ? nil : Outcome(ending: .timedOut(timeout), standardOutput: "", standardError: "")
            }
            var first: Outcome?
            for await outcome in group {
                if let outcome {
                    first = outcome
                    break
                }
            }
            group.cancelAll()
            return first ?? Outcome(ending: .timedOut(timeout), standardOutput: "", standardError: "")
        }
    }

    /// Runs `executable arguments…`, returns its standard output (trimmed); throws on non-zero exit.
    @discardableResult
    public static func output(
        _ executable: String, _ arguments: [String] = [],
        workingDirectory: String? = nil, environment: [String: String] = [:]
    ) async throws -> String {
        let outcome = await spawn(
            executable, arguments, workingDirectory: workingDirectory, environment: environment,
            outputLimit: 16 << 20)
        guard outcome.exitCode == 0 else {
            throw CommandError(
                command: ([executable] + arguments).joined(separator: " "), status: outcome.endingText,
                outputTail: tail(outcome.standardOutput + outcome.standardError, lines: 20), logFile: nil)
        }
        return outcome.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Runs a long step (a build, a recipe) with stdout and stderr going to `logFile`; on failure
    /// the error carries the last lines of that log.
    public static func logged(
        _ executable: String, _ arguments: [String], logFile: String,
        workingDirectory: String? = nil, environment: [String: String] = [:]
    ) async throws {
        _ = FileManager.default.createFile(atPath: logFile, contents: nil)
        let fd = try FileDescriptor.open(FilePath(logFile), .writeOnly, options: [.truncate])
        let result = try await Subprocess.run(
            target(executable), arguments: Arguments(arguments),
            environment: variables(environment), workingDirectory: workingDirectory.map { FilePath($0) },
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

    /// The absolute path of `name` in PATH, or nil.
    public static func findInPath(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// The last `lines` lines of `text`, trimmed.
    public static func tail(_ text: String, lines: Int) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    // MARK: - The one spawn

    /// Runs the tool to its end capturing both outputs; a tool that cannot start is an outcome
    /// too (`notFound`, `launchFailed`), never an error.
    private static func spawn(
        _ executable: String, _ arguments: [String], workingDirectory: String? = nil,
        environment: [String: String] = [:], outputLimit: Int
    ) async -> Outcome {
        do {
            let result = try await Subprocess.run(
                target(executable), arguments: Arguments(arguments),
                environment: variables(environment), workingDirectory: workingDirectory.map { FilePath($0) },
                output: .string(limit: outputLimit), error: .string(limit: 1 << 20))
            let ending: Outcome.Ending
            switch result.terminationStatus {
            case let .exited(code): ending = .exited(code)
            case let .signaled(signal): ending = .signaled(signal)
            }
            return Outcome(
                ending: ending, standardOutput: result.standardOutput, standardError: result.standardError)
        } catch let error as SubprocessError where error.code == .executableNotFound {
            return Outcome(ending: .notFound, standardOutput: "", standardError: "")
        } catch {
            return Outcome(ending: .launchFailed("\(error)"), standardOutput: "", standardError: "")
        }
    }

    private static func target(_ executable: String) -> Executable {
        executable.contains("/") ? .path(FilePath(executable)) : .name(executable)
    }

    private static func variables(_ environment: [String: String]) -> Environment {
        .inherit.updating(
            Dictionary(uniqueKeysWithValues: environment.map { (Environment.Key(stringLiteral: $0.key), $0.value) }))
    }
}
