import Foundation

/// A status the guest reports for a case (the host adds `timeout`, see `CaseStatus`).
public enum AgentCaseStatus: String, Sendable, Hashable, Codable, CaseIterable {
    case pass, fail, skip, error
}

/// One `GMLAB-RESULT {…}` line, decoded.
public struct AgentResult: Sendable, Hashable, Codable {
    public var id: String
    public var status: AgentCaseStatus
    public var message: String
    public var values: [String: JSONValue]
    public var durationMs: Double?
}

/// What a line of the agent stream meant.
public enum AgentEvent: Sendable, Hashable {
    /// `GMLAB-AGENT {"event":"start",…}`: the agent is up; fields as sent (kernel, vendor, cases).
    case started(kernel: String?, vendor: String?, caseCount: Int?, fields: [String: JSONValue])
    /// `GMLAB-AGENT {"event":"done"}`: the agent finished its plan and powers off.
    case done
    /// Any other `GMLAB-AGENT` event, passed through.
    case agent(event: String, fields: [String: JSONValue])
    /// `GMLAB-BEGIN <case-id>`.
    case begin(caseId: String)
    case result(AgentResult)
    /// A line that carried the protocol prefix but could not be understood. Never fatal.
    case protocolError(line: Int, text: String, problem: String)
    /// A line without any protocol prefix (kernel noise on the port, line editing…).
    case noise(line: Int, text: String)
}

/// Incremental parser of the agent's stream on ttyS1. Feed bytes as they arrive; complete
/// lines become events, a trailing partial line waits for more (or for `finish()`). CR, CRLF
/// and NUL bytes are tolerated; a protocol marker in the middle of a line (after junk) is
/// still found; bad UTF-8 is replaced, bad JSON becomes `.protocolError`.
public struct AgentStreamParser: Sendable {
    public static let agentPrefix = "GMLAB-AGENT "
    public static let beginPrefix = "GMLAB-BEGIN "
    public static let resultPrefix = "GMLAB-RESULT "
    private static let markers = ["GMLAB-AGENT", "GMLAB-BEGIN", "GMLAB-RESULT"]
    /// Longer lines are cut (a stuck writer must not grow memory without bound).
    public static let maxLineBytes = 1 << 20

    private var pending: [UInt8] = []
    private var lineNumber = 0

    public init() {}

    /// Consumes `bytes` and returns the events of every line they complete.
    public mutating func feed(_ bytes: some Sequence<UInt8>) -> [AgentEvent] {
        var events: [AgentEvent] = []
        for byte in bytes {
            if byte == 0x0A {
                events.append(contentsOf: takeLine(truncated: false))
            } else if pending.count < Self.maxLineBytes {
                pending.append(byte)
            }
        }
        return events
    }

    public mutating func feed(_ text: String) -> [AgentEvent] {
        feed(Array(text.utf8))
    }

    /// Ends the stream: a partial last line is parsed as it is (it may be a truncated result,
    /// which then shows up as a protocol error).
    public mutating func finish() -> [AgentEvent] {
        pending.isEmpty ? [] : takeLine(truncated: true)
    }

    private mutating func takeLine(truncated: Bool) -> [AgentEvent] {
        lineNumber += 1
        let bytes = pending.filter { $0 != 0x0D && $0 != 0x00 }
        pending.removeAll(keepingCapacity: true)
        let text = String(decoding: bytes, as: UTF8.self)
        if text.allSatisfy(\.isWhitespace) { return [] }
        return [Self.parse(line: text, number: lineNumber, truncated: truncated)]
    }

    /// Parses one complete line (without its newline).
    public static func parse(line raw: String, number: Int = 0, truncated: Bool = false) -> AgentEvent {
        guard let start = markers.compactMap({ raw.range(of: $0) }).min(by: { $0.lowerBound < $1.lowerBound }) else {
            return .noise(line: number, text: raw)
        }
        let line = String(raw[start.lowerBound...]).trimmingCharacters(in: .whitespaces)
        let cut = truncated ? " (the stream ended in the middle of this line)" : ""
        func protocolError(_ problem: String) -> AgentEvent {
            .protocolError(line: number, text: raw, problem: problem + cut)
        }
        if line.hasPrefix(beginPrefix) || line == "GMLAB-BEGIN" {
            let id = line.dropFirst("GMLAB-BEGIN".count).trimmingCharacters(in: .whitespaces)
            guard !id.isEmpty, !id.contains(where: \.isWhitespace) else {
                return protocolError("GMLAB-BEGIN needs exactly one case id")
            }
            return .begin(caseId: id)
        }
        let isResult = line.hasPrefix("GMLAB-RESULT")
        let body = line.dropFirst(isResult ? "GMLAB-RESULT".count : "GMLAB-AGENT".count)
        let object: [String: JSONValue]
        do {
            let node = try JSONDocumentParser.parse(String(body).trimmingCharacters(in: .whitespaces))
            guard case .object(let members) = node.value else {
                return protocolError("expected a JSON object, got \(node.described)")
            }
            object = members
        } catch {
            return protocolError("bad JSON at column \(error.column) of the payload: \(error.message)")
        }
        if isResult {
            guard case .string(let id)? = object["id"], !id.isEmpty else {
                return protocolError("GMLAB-RESULT without a string \"id\"")
            }
            guard case .string(let statusName)? = object["status"], let status = AgentCaseStatus(rawValue: statusName)
            else {
                return protocolError(
                    "GMLAB-RESULT for \(id): \"status\" must be one of "
                        + AgentCaseStatus.allCases.map(\.rawValue).joined(separator: ", ")
                        + ", got \(object["status"]?.compactText ?? "nothing")")
            }
            var values: [String: JSONValue] = [:]
            switch object["values"] {
            case nil, .null?: break
            case .object(let members)?: values = members
            case let other?:
                return protocolError("GMLAB-RESULT for \(id): \"values\" must be an object, got \(other.compactText)")
            }
            var duration: Double?
            switch object["duration_ms"] {
            case nil, .null?: break
            case .number(let ms)? where ms >= 0: duration = ms
            case let other?:
                return protocolError(
                    "GMLAB-RESULT for \(id): \"duration_ms\" must be a non-negative number, got \(other.compactText)")
            }
            let message: String
            switch object["message"] {
            case nil, .null?: message = ""
            case .string(let text)?: message = text
            case let other?: message = other.compactText
            }
            return .result(AgentResult(id: id, status: status, message: message, values: values, durationMs: duration))
        }
        guard case .string(let event)? = object["event"] else {
            return protocolError("GMLAB-AGENT without a string \"event\"")
        }
        switch event {
        case "start":
            var count: Int?
            if case .number(let value)? = object["cases"], value >= 0, value == value.rounded() { count = Int(value) }
            return .started(
                kernel: object["kernel"]?.stringValue, vendor: object["vendor"]?.stringValue, caseCount: count,
                fields: object)
        case "done":
            return .done
        default:
            return .agent(event: event, fields: object)
        }
    }
}

/// The state of one VM's agent stream, folded from its events: which cases finished, which one
/// was running when the stream stopped, and every protocol problem seen.
public struct AgentTranscript: Sendable, Hashable {
    public private(set) var started = false
    public private(set) var done = false
    public private(set) var kernel: String?
    public private(set) var vendor: String?
    /// Results in arrival order; a repeated id keeps the first and records a protocol problem.
    public private(set) var results: [AgentResult] = []
    /// The case that has a BEGIN and no RESULT yet: if the VM dies now, this case killed it.
    public private(set) var running: String?
    public private(set) var problems: [String] = []

    public init() {}

    public mutating func apply(_ event: AgentEvent) {
        switch event {
        case .started(let kernel, let vendor, _, _):
            if started { problems.append("the agent started twice (did the guest reboot?)") }
            started = true
            self.kernel = kernel
            self.vendor = vendor
        case .done:
            if let running { problems.append("done while case \(running) had no result") }
            done = true
        case .agent: break
        case .begin(let id):
            if let running { problems.append("BEGIN \(id) while case \(running) had no result") }
            running = id
        case .result(let result):
            if results.contains(where: { $0.id == result.id }) {
                problems.append("a second result for \(result.id) was ignored")
                return
            }
            if let running, running != result.id {
                problems.append("result for \(result.id) while case \(running) was running")
            }
            if running == result.id || running == nil { running = nil }
            results.append(result)
        case .protocolError(let line, let text, let problem):
            problems.append("line \(line): \(problem): \(text)")
        case .noise: break
        }
    }

    public mutating func apply(_ events: [AgentEvent]) {
        for event in events { apply(event) }
    }

    public func result(for caseId: String) -> AgentResult? {
        results.first { $0.id == caseId }
    }
}
