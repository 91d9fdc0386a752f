/// The answer of one host probe: a value (nil when it could not be determined), a status,
/// a sentence a person can read, and for problems the fix.
public struct ProbeResult<Value: Sendable>: Sendable {
    public typealias Status = ProbeStatus

    /// Short name shown by `lab doctor` ("KVM boots a guest").
    public let name: String
    public let value: Value?
    public let status: Status
    public let explanation: String
    public let fix: String?

    public init(name: String, value: Value?, status: Status, explanation: String, fix: String? = nil) {
        self.name = name
        self.value = value
        self.status = status
        self.explanation = explanation
        self.fix = fix
    }

    /// The same result with the value rendered as text, for listing all probes together.
    public func report(_ render: (Value) -> String) -> ProbeReport {
        ProbeReport(
            name: name, status: status, value: value.map(render) ?? "unknown",
            explanation: explanation, fix: fix)
    }
}

/// A probe result of any value type, for `lab doctor`'s table.
public struct ProbeReport: Sendable, Equatable {
    public let name: String
    public let status: ProbeStatus
    public let value: String
    public let explanation: String
    public let fix: String?
}

public enum ProbeStatus: String, Sendable, Comparable {
    /// As the lab wants it.
    case ok
    /// Works, with a limitation the lab plans around (e.g. KVM unusable: TCG only).
    case warning
    /// The lab cannot work until fixed.
    case problem

    private var rank: Int { self == .ok ? 0 : self == .warning ? 1 : 2 }
    public static func < (a: Self, b: Self) -> Bool { a.rank < b.rank }
}
