import Foundation

/// The one rule for colour on every command: an explicit `--color`/`--no-color` wins; else
/// colour only on a terminal, with `NO_COLOR` unset or empty (no-color.org) and `TERM` not
/// `dumb`.
public enum Colour {
    public static func enabled(
        explicit: Bool?, isTerminal: Bool, environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> Bool {
        if let explicit { return explicit }
        guard isTerminal else { return false }
        if let value = environment["NO_COLOR"], !value.isEmpty { return false }
        return environment["TERM"] != "dumb"
    }
}
