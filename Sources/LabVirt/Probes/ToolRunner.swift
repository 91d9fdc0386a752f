import Foundation
import Subprocess

#if canImport(System)
import System
#else
import SystemPackage
#endif

/// Runs a host tool with a hard timeout, capturing its output. Never hangs: on timeout the
/// task running the tool is cancelled, and swift-subprocess kills the child.
public enum ToolRunner {
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

    /// `executable` is a name looked up in PATH, or an absolute path.
    public static func run(_ executable: String, _ arguments: [String], timeout: Duration) async -> Outcome {
        let target: Executable = executable.hasPrefix("/") ? .path(FilePath(executable)) : .name(executable)
        return await withTaskGroup(of: Outcome?.self) { group in
            group.addTask {
                do {
                    let result = try await Subprocess.run(
                        target, arguments: Arguments(arguments),
                        output: .string(limit: 1 << 20), error: .string(limit: 1 << 20))
                    let ending: Outcome.Ending
                    switch result.terminationStatus {
                    case let .exited(code): ending = .exited(code)
                    case let .signaled(signal): ending = .signaled(signal)
                    }
                    return Outcome(
                        ending: ending, standardOutput: result.standardOutput,
                        standardError: result.standardError)
                } catch let error as SubprocessError where error.code == .executableNotFound {
                    return Outcome(ending: .notFound, standardOutput: "", standardError: "")
                } catch is CancellationError {
                    return nil
                } catch {
                    if Task.isCancelled { return nil }
                    return Outcome(ending: .launchFailed("\(error)"), standardOutput: "", standardError: "")
                }
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

    /// The absolute path of `name` in PATH, or nil.
    public static func findInPath(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}
