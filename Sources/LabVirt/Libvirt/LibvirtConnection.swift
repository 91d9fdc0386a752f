import CLibvirt
import Foundation

/// A thin, safe wrapper over one libvirt connection (`virConnectPtr`).
///
/// libvirt connections are thread-safe, so calls from several threads may run concurrently;
/// a read-write lock only guarantees that `close()` never frees the pointer under a running
/// call. All calls block (they are RPCs to libvirtd); async callers should run them off the
/// cooperative pool (`VMSession` does).
///
/// Domains created here with `autodestroy` are destroyed by libvirtd when this connection
/// closes, including when this process dies: a SIGKILLed lab leaves no VM behind.
public final class LibvirtConnection: @unchecked Sendable {
    public static let systemURI = "qemu:///system"

    public let uri: String
    /// Lifecycle events this connection received, by domain name.
    public let eventLog = DomainEventLog()
    /// Why libvirt closed the connection under us (the daemon died, the socket broke, keepalive
    /// timed out), set by libvirt's close callback; nil while it is fine or after our own close.
    public let loss = ConnectionLoss()
    private let lock = ReadWriteLock()
    private var pointer: virConnectPtr?  // nil once closed; guarded by `lock`
    private var eventCallbackID: Int32 = -1

    /// Opens `uri` (read-write). Throws `.daemonNotAnswering` with the fix when libvirtd is
    /// not there.
    public init(uri: String = LibvirtConnection.systemURI) throws(LibvirtError) {
        LibvirtRuntime.ensureInitialized()
        self.uri = uri
        guard let connection = virConnectOpen(uri) else {
            throw .daemonNotAnswering(uri: uri, libvirtMessage: LibvirtError.takeLastError().message)
        }
        virConnSetErrorFunc(connection, nil, { _, _ in })
        pointer = connection
        // Lifecycle events tell how a domain ended; without them we still poll states.
        let opaque = Unmanaged.passRetained(eventLog).toOpaque()
        eventCallbackID = gmlab_register_lifecycle_events(connection, lifecycleEventCallback, opaque, releaseEventLog)
        if eventCallbackID < 0 {
            Unmanaged<DomainEventLog>.fromOpaque(opaque).release()
            _ = LibvirtError.takeLastError()
        }
        // The close callback: how the lab learns that the daemon went away (libvirtd SIGKILLed)
        // without waiting for a call to fail.
        let lossOpaque = Unmanaged.passRetained(loss).toOpaque()
        if virConnectRegisterCloseCallback(connection, connectionClosedCallback, lossOpaque, releaseConnectionLoss) < 0
        {
            Unmanaged<ConnectionLoss>.fromOpaque(lossOpaque).release()
            _ = LibvirtError.takeLastError()
        }
    }

    deinit { close() }

    /// Closes the connection; libvirtd then destroys every AUTODESTROY domain created on it.
    /// Idempotent.
    public func close() {
        lock.writeLocked {
            guard let connection = pointer else { return }
            if eventCallbackID >= 0 {
                _ = virConnectDomainEventDeregisterAny(connection, eventCallbackID)
            }
            _ = virConnectUnregisterCloseCallback(connection, connectionClosedCallback)
            _ = virConnectClose(connection)
            _ = LibvirtError.takeLastError()
            pointer = nil
        }
    }

    public var isClosed: Bool { lock.readLocked { pointer == nil } }

    func withConnection<T>(
        _ operation: String, _ body: (virConnectPtr) throws(LibvirtError) -> T
    ) throws(LibvirtError) -> T {
        lock.readLock()
        defer { lock.unlock() }
        guard let connection = pointer else { throw .connectionClosed(operation: operation) }
        return try body(connection)
    }

    // MARK: Versions

    /// The libvirt library linked into this process (virGetVersion).
    public static func libraryVersion() -> LibvirtVersion {
        var version: UInt = 0
        _ = virGetVersion(&version, nil, nil)
        return LibvirtVersion(encoded: version)
    }

    public func versions() throws(LibvirtError) -> LibvirtVersions {
        try withConnection("get versions") { (connection) throws(LibvirtError) in
            var daemon: UInt = 0
            var hypervisor: UInt = 0
            guard virConnectGetLibVersion(connection, &daemon) == 0 else {
                throw LibvirtError.lastError(operation: "virConnectGetLibVersion")
            }
            guard virConnectGetVersion(connection, &hypervisor) == 0 else {
                throw LibvirtError.lastError(operation: "virConnectGetVersion")
            }
            guard let type = virConnectGetType(connection) else {
                throw LibvirtError.lastError(operation: "virConnectGetType")
            }
            return LibvirtVersions(
                library: Self.libraryVersion(), daemon: LibvirtVersion(encoded: daemon),
                hypervisorType: String(cString: type), hypervisor: LibvirtVersion(encoded: hypervisor))
        }
    }

    // MARK: Domains

    /// Names of all domains (running or defined) whose name starts with `prefix`, sorted.
    public func domainNames(withPrefix prefix: String) throws(LibvirtError) -> [String] {
        try withConnection("list domains") { (connection) throws(LibvirtError) in
            var list: UnsafeMutablePointer<virDomainPtr?>?
            let count = virConnectListAllDomains(connection, &list, 0)
            guard count >= 0, let list else {
                throw LibvirtError.lastError(operation: "virConnectListAllDomains")
            }
            defer { free(list) }
            var names: [String] = []
            for index in 0..<Int(count) {
                guard let domain = list[index] else { continue }
                if let name = virDomainGetName(domain).map({ String(cString: $0) }), name.hasPrefix(prefix) {
                    names.append(name)
                }
                virDomainFree(domain)
            }
            return names.sorted()
        }
    }

    /// Creates and starts a transient domain from XML; returns its name.
    /// - autodestroy: libvirtd destroys the domain when this connection closes (or this
    ///   process dies). Keep it on for everything the lab starts.
    /// - startPaused: the vCPUs do not run until `resume(domain:)`.
    @discardableResult
    public func createTransientDomain(
        xml: String, startPaused: Bool = false, autodestroy: Bool = true
    ) throws(LibvirtError) -> String {
        try withConnection("create domain") { (connection) throws(LibvirtError) in
            var flags: UInt32 = 0
            if autodestroy { flags |= VIR_DOMAIN_START_AUTODESTROY.rawValue }
            if startPaused { flags |= VIR_DOMAIN_START_PAUSED.rawValue }
            guard let domain = virDomainCreateXML(connection, xml, flags) else {
                throw LibvirtError.lastError(operation: "virDomainCreateXML")
            }
            defer { virDomainFree(domain) }
            return String(cString: virDomainGetName(domain))
        }
    }

    /// Runs `body` with a looked-up domain; nil when libvirt has no such domain.
    private func withDomain<T>(
        _ name: String, _ operation: String, _ body: (virDomainPtr) throws(LibvirtError) -> T
    ) throws(LibvirtError) -> T? {
        try withConnection(operation) { (connection) throws(LibvirtError) -> T? in
            guard let domain = virDomainLookupByName(connection, name) else {
                let error = LibvirtError.lastError(operation: "\(operation) '\(name)'")
                if error.isNoSuchDomain { return nil }
                throw error
            }
            defer { virDomainFree(domain) }
            return try body(domain)
        }
    }

    /// The domain's state, or nil when libvirt no longer knows it (a transient domain
    /// disappears as soon as it stops).
    public func state(ofDomain name: String) throws(LibvirtError) -> DomainStatus? {
        let status: DomainStatus?? = try withDomain(name, "get state of") {
            (domain) throws(LibvirtError) -> DomainStatus? in
            var state: Int32 = 0
            var reason: Int32 = 0
            guard virDomainGetState(domain, &state, &reason, 0) == 0 else {
                let error = LibvirtError.lastError(operation: "virDomainGetState '\(name)'")
                if error.isNoSuchDomain { return nil }  // ended between lookup and query
                throw error
            }
            return DomainStatus(rawState: state, reason: reason)
        }
        return status ?? nil
    }

    /// Forcibly stops the domain (virDomainDestroy). Returns false when it was already gone,
    /// so calling it twice is fine.
    @discardableResult
    public func destroy(domain name: String) throws(LibvirtError) -> Bool {
        let destroyed: Bool?? = try withDomain(name, "destroy") { (domain) throws(LibvirtError) -> Bool? in
            guard virDomainDestroy(domain) == 0 else {
                let error = LibvirtError.lastError(operation: "virDomainDestroy '\(name)'")
                // Already shut off / vanished between lookup and destroy: nothing to do.
                if error.isNoSuchDomain || error.isOperationInvalid { return false }
                throw error
            }
            return true
        }
        return (destroyed ?? false) ?? false
    }

    /// Starts the vCPUs of a domain created with `startPaused`.
    public func resume(domain name: String) throws(LibvirtError) {
        let done: Void? = try withDomain(name, "resume") { (domain) throws(LibvirtError) in
            guard virDomainResume(domain) == 0 else {
                throw LibvirtError.lastError(operation: "virDomainResume '\(name)'")
            }
        }
        if done == nil { throw .noSuchDomain(name: name, operation: "resume") }
    }

    /// The domain's live XML (as libvirt expanded it), or nil when it is gone.
    public func xmlDescription(ofDomain name: String) throws(LibvirtError) -> String? {
        try withDomain(name, "get XML of") { (domain) throws(LibvirtError) -> String in
            guard let text = virDomainGetXMLDesc(domain, 0) else {
                throw LibvirtError.lastError(operation: "virDomainGetXMLDesc '\(name)'")
            }
            defer { free(text) }
            return String(cString: text)
        }
    }
}

/// What libvirt's close callback said about a connection: set once, when the connection broke.
public final class ConnectionLoss: @unchecked Sendable {
    private let lock = NSLock()
    private var text: String?

    /// Why the connection was closed under us ("the daemon closed it (end of file)", …).
    public var reason: String? { lock.withLock { text } }

    func record(reason: Int32) {
        let why: String
        switch UInt32(reason) {
        case VIR_CONNECT_CLOSE_REASON_ERROR.rawValue: why = "a socket error"
        case VIR_CONNECT_CLOSE_REASON_EOF.rawValue: why = "the daemon closed it (end of file)"
        case VIR_CONNECT_CLOSE_REASON_KEEPALIVE.rawValue: why = "the daemon stopped answering keepalives"
        case VIR_CONNECT_CLOSE_REASON_CLIENT.rawValue: why = "closed by the client"
        default: why = "close reason \(reason)"
        }
        lock.withLock { if text == nil { text = why } }
    }
}

/// libvirt's close callback (run on the event-loop thread): records the reason.
let connectionClosedCallback: virConnectCloseFunc = { _, reason, opaque in
    guard let opaque else { return }
    Unmanaged<ConnectionLoss>.fromOpaque(opaque).takeUnretainedValue().record(reason: reason)
}

let releaseConnectionLoss: virFreeCallback = { opaque in
    if let opaque { Unmanaged<ConnectionLoss>.fromOpaque(opaque).release() }
}

extension LibvirtError {
    /// VIR_ERR_OPERATION_INVALID: e.g. destroying a domain that is not running.
    var isOperationInvalid: Bool {
        if case let .callFailed(_, code, _) = self { return code == Int32(VIR_ERR_OPERATION_INVALID.rawValue) }
        return false
    }
}

/// pthread read-write lock: many concurrent readers (libvirt calls), one writer (close).
final class ReadWriteLock: @unchecked Sendable {
    private let rwlock: UnsafeMutablePointer<pthread_rwlock_t>

    init() {
        rwlock = .allocate(capacity: 1)
        pthread_rwlock_init(rwlock, nil)
    }

    deinit {
        pthread_rwlock_destroy(rwlock)
        rwlock.deallocate()
    }

    func readLock() { pthread_rwlock_rdlock(rwlock) }
    func unlock() { pthread_rwlock_unlock(rwlock) }

    func readLocked<T>(_ body: () throws -> T) rethrows -> T {
        pthread_rwlock_rdlock(rwlock)
        defer { pthread_rwlock_unlock(rwlock) }
        return try body()
    }

    func writeLocked<T>(_ body: () throws -> T) rethrows -> T {
        pthread_rwlock_wrlock(rwlock)
        defer { pthread_rwlock_unlock(rwlock) }
        return try body()
    }
}
