import Foundation

/// A libvirt connection URI naming a machine that runs QEMU domains:
/// `qemu:///system` (the local daemon), `qemu+unix:///system?socket=/run/x.sock`,
/// `qemu+tcp://127.0.0.1:16509/system`, `qemu+ssh://user@host/system?keyfile=…`,
/// `qemu+tls://host.example/system`. Parsed and checked before anything connects, so a typo
/// is an error that says what is wrong, not a libvirt timeout.
public struct MachineURI: Sendable, Hashable, Codable, CustomStringConvertible {
    /// How the client reaches the daemon.
    public enum Transport: String, Sendable, Hashable, Codable, CaseIterable {
        /// The local daemon's UNIX socket (`qemu:///…` or `qemu+unix:///…`).
        case unix
        case tcp, tls, ssh, libssh, libssh2, ext

        /// The daemon's default port for this transport (nil: not a TCP transport of libvirt's own).
        public var defaultPort: Int? {
            switch self {
            case .tcp: return 16509
            case .tls: return 16514
            case .ssh, .libssh, .libssh2: return 22
            case .unix, .ext: return nil
            }
        }

        /// True when the transport needs a host name.
        public var needsHost: Bool { self != .unix && self != .ext }
    }

    /// `system` (root daemon) or `session` (per-user daemon).
    public enum Instance: String, Sendable, Hashable, Codable {
        case system, session
    }

    public let text: String
    public let transport: Transport
    /// The user for ssh transports, if given.
    public let user: String?
    /// The host (without brackets for IPv6); nil for the local daemon.
    public let host: String?
    public let port: Int?
    public let instance: Instance
    /// Query parameters (`socket`, `keyfile`, `no_verify`, `pkipath`, …), as given.
    public let parameters: [String: String]

    public var description: String { text }

    /// True for the local daemon (UNIX socket, no host).
    public var isLocal: Bool { transport == .unix && (host == nil || host == "localhost") }

    /// True when every byte to the daemon stays on this machine: the local socket, or a host in
    /// 127.0.0.0/8, `::1` or `localhost`. Tests and CI may only use such machines.
    public var isLoopback: Bool {
        guard let host else { return transport == .unix }
        if host == "localhost" || host == "::1" { return true }
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts[0] == "127" && parts.allSatisfy { UInt8($0) != nil }
    }

    /// The port the connection uses (the transport's default when none is given).
    public var effectivePort: Int? { port ?? transport.defaultPort }

    /// Drivers libvirt has that the lab cannot use, with a hint.
    static let otherDrivers: [String: String] = [
        "xen": "Xen", "lxc": "LXC containers", "vbox": "VirtualBox", "vmware": "VMware", "esx": "VMware ESX",
        "hyperv": "Hyper-V", "bhyve": "bhyve", "openvz": "OpenVZ", "ch": "Cloud Hypervisor", "vz": "Virtuozzo",
        "test": "libvirt's test driver",
    ]

    public init(parsing raw: String) throws(MachineURIError) {
        let text = raw.trimmingCharacters(in: .whitespaces)
        func fail(_ message: String) -> MachineURIError { MachineURIError(uri: raw, message: message) }
        guard !text.isEmpty else { throw fail("empty URI; expected e.g. qemu:///system or qemu+ssh://host/system") }
        guard let schemeEnd = text.range(of: "://") else {
            throw fail(
                "not a libvirt URI (no \"://\"); expected e.g. qemu:///system or qemu+tcp://127.0.0.1:16509/system")
        }
        let scheme = text[..<schemeEnd.lowerBound].lowercased()
        let schemeParts = scheme.split(separator: "+", maxSplits: 1, omittingEmptySubsequences: false)
        let driver = String(schemeParts[0])
        guard driver == "qemu" else {
            if let name = Self.otherDrivers[driver] {
                throw fail(
                    "driver \(driver) (\(name)): the lab runs QEMU domains; use a qemu URI (qemu+ssh://host/system)")
            }
            throw fail("unknown driver \(JSONValue.quoted(driver)); the lab needs qemu (qemu:///system, qemu+ssh://…)")
        }
        var transport = Transport.unix
        if schemeParts.count == 2 {
            guard let given = Transport(rawValue: String(schemeParts[1])) else {
                throw fail(
                    "unknown transport \(JSONValue.quoted(String(schemeParts[1]))); expected one of "
                        + Transport.allCases.map(\.rawValue).joined(separator: ", "))
            }
            transport = given
        }

        var rest = String(text[schemeEnd.upperBound...])
        var parameters: [String: String] = [:]
        if let question = rest.firstIndex(of: "?") {
            let query = rest[rest.index(after: question)...]
            rest = String(rest[..<question])
            for pair in query.split(separator: "&") {
                let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                let key = String(kv[0])
                guard !key.isEmpty else {
                    throw fail("empty query parameter name in \(JSONValue.quoted(String(query)))")
                }
                let value = kv.count == 2 ? String(kv[1]).removingPercentEncoding ?? String(kv[1]) : ""
                parameters[key] = value
            }
        }
        if rest.contains("#") { throw fail("a fragment (#…) has no meaning in a libvirt URI") }
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        var authority = String(rest[..<slash])
        let path = String(rest[slash...])

        var user: String?
        if let at = authority.lastIndex(of: "@") {
            user = String(authority[..<at])
            authority = String(authority[authority.index(after: at)...])
            if user?.isEmpty == true { throw fail("empty user name before \"@\"") }
        }
        var host: String?
        var port: Int?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { throw fail("unclosed \"[\" in an IPv6 address") }
            host = String(authority[authority.index(after: authority.startIndex)..<close])
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else {
                    throw fail("unexpected \(JSONValue.quoted(String(after))) after \"]\"")
                }
                port = try Self.port(String(after.dropFirst()), fail)
            }
        } else if !authority.isEmpty {
            let pieces = authority.split(separator: ":", omittingEmptySubsequences: false)
            guard pieces.count <= 2 else {
                throw fail("bad host \(JSONValue.quoted(authority)) (an IPv6 address goes in brackets: [::1]:16509)")
            }
            host = String(pieces[0])
            if pieces.count == 2 { port = try Self.port(String(pieces[1]), fail) }
            guard let host, !host.isEmpty else { throw fail("empty host before the port") }
            let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: ".-_"))
            guard host.unicodeScalars.allSatisfy({ $0.isASCII && allowed.contains($0) }) else {
                throw fail("bad host name \(JSONValue.quoted(host))")
            }
        }

        if transport.needsHost, host == nil {
            throw fail(
                "transport \(transport.rawValue) needs a host: qemu+\(transport.rawValue)://HOST\(transport == .tcp ? ":16509" : "")/system"
            )
        }
        if transport == .unix, host != nil, host != "localhost", schemeParts.count == 1 {
            throw fail(
                "qemu://\(host ?? "")/… names a remote host without a transport (libvirt would use TLS): "
                    + "say which, e.g. qemu+ssh://\(host ?? "")/system or qemu+tls://\(host ?? "")/system")
        }
        if transport == .unix, port != nil {
            throw fail("a port needs a network transport (qemu+tcp, qemu+tls, qemu+ssh)")
        }
        if user != nil, ![.ssh, .libssh, .libssh2].contains(transport) {
            throw fail("a user name (user@host) is only used by the ssh transports")
        }
        switch path {
        case "/system": self.instance = .system
        case "/session": self.instance = .session
        case "", "/":
            throw fail(
                "no daemon instance: end the URI with /system (or /session), e.g. \(scheme)://\(authority)/system")
        default:
            throw fail("unknown path \(JSONValue.quoted(path)); a QEMU URI ends in /system or /session")
        }
        if let socket = parameters["socket"], !socket.hasPrefix("/") {
            throw fail("socket=\(socket): the socket path must be absolute")
        }
        self.text = text
        self.transport = transport
        self.user = user
        self.host = host
        self.port = port
        self.parameters = parameters
    }

    private static func port(_ text: String, _ fail: (String) -> MachineURIError) throws(MachineURIError) -> Int {
        guard let value = Int(text), (1...65535).contains(value) else {
            throw fail("bad port \(JSONValue.quoted(text)); expected 1-65535")
        }
        return value
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        do {
            self = try MachineURI(parsing: text)
        } catch {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: error.description))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(text)
    }

    public static func == (lhs: MachineURI, rhs: MachineURI) -> Bool { lhs.text == rhs.text }
    public func hash(into hasher: inout Hasher) { hasher.combine(text) }
}

public struct MachineURIError: Error, Sendable, Hashable, CustomStringConvertible {
    public var uri: String
    public var message: String
    public var description: String { "machine URI \(JSONValue.quoted(uri)): \(message)" }
}

extension MachineURIError: LocalizedError {
    public var errorDescription: String? { description }
}
