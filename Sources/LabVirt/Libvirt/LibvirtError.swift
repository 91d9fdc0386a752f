import CLibvirt

/// Every failure of the libvirt binding. Each case carries libvirt's own last-error text
/// (virGetLastError) so a thrown error says what libvirt said, not only what we tried.
public enum LibvirtError: Error, Sendable, Equatable, CustomStringConvertible {
    /// virConnectOpen failed: almost always libvirtd (or virtlogd) is not running.
    case daemonNotAnswering(uri: String, libvirtMessage: String)
    /// A libvirt call failed. `code` is libvirt's virErrorNumber (0 when libvirt set none).
    case callFailed(operation: String, code: Int32, libvirtMessage: String)
    /// The operation needs a domain that libvirt does not know (it ended, or never existed).
    case noSuchDomain(name: String, operation: String)
    /// The connection was closed by `close()` before this call.
    case connectionClosed(operation: String)
    /// A blocking libvirt call did not return within the time we allow it.
    case timedOut(operation: String, seconds: Double)

    public var description: String {
        switch self {
        case let .daemonNotAnswering(uri, message):
            return """
                cannot connect to libvirt at \(uri): \(message)
                  fix: run `sudo scripts/setup-host`. It starts virtlogd and libvirtd; nothing else starts \
                them on this host (no systemd). It starts libvirtd in a private mount namespace with a \
                non-working /dev/kvm hidden, because otherwise libvirtd re-probes QEMU on every call and \
                each domain creation takes 45-70 s. Do not start libvirtd by hand.
                """
        case let .callFailed(operation, code, message):
            return "libvirt: \(operation) failed: \(message) (libvirt error \(code))"
        case let .noSuchDomain(name, operation):
            return "libvirt: \(operation): no domain named '\(name)' (it has ended or never existed)"
        case let .connectionClosed(operation):
            return "libvirt: \(operation): the connection is already closed"
        case let .timedOut(operation, seconds):
            return "libvirt: \(operation) did not return within \(seconds) s (is libvirtd hung? "
                + "run `sudo scripts/setup-host`, see /var/log/libvirt/libvirtd.log)"
        }
    }

    /// Reads and clears libvirt's thread-local last error. Must be called on the thread that
    /// made the failing call, right after it (our wrappers do).
    static func lastError(operation: String) -> LibvirtError {
        let (code, message) = takeLastError()
        return .callFailed(operation: operation, code: code, libvirtMessage: message)
    }

    static func takeLastError() -> (code: Int32, message: String) {
        defer { virResetLastError() }
        guard let error = virGetLastError() else {
            return (0, "no error text from libvirt")
        }
        let message = error.pointee.message.map { String(cString: $0) } ?? "no error text from libvirt"
        return (error.pointee.code, message)
    }

    /// True for libvirt's "domain not found" (VIR_ERR_NO_DOMAIN).
    public var isNoSuchDomain: Bool {
        switch self {
        case .noSuchDomain: return true
        case let .callFailed(_, code, _): return code == Int32(VIR_ERR_NO_DOMAIN.rawValue)
        default: return false
        }
    }
}
