import CLibvirt
import Foundation

/// Process-wide libvirt set-up, done once before the first connection:
/// - an error handler that swallows libvirt's default printing to stderr (our errors carry the
///   text instead, see `LibvirtError`);
/// - libvirt's default event loop, run on one dedicated thread, so that lifecycle events
///   (how a domain ended) and connection keepalives are delivered.
enum LibvirtRuntime {
    private static let initialized: Bool = {
        virSetErrorFunc(nil, { _, _ in })  // silence: errors are read with virGetLastError
        if virEventRegisterDefaultImpl() == 0 {
            let thread = Thread {
                while true {
                    if virEventRunDefaultImpl() < 0 {
                        // Only fails on internal errors; avoid a hot loop if it keeps failing.
                        Thread.sleep(forTimeInterval: 0.1)
                    }
                }
            }
            thread.name = "libvirt-event-loop"
            thread.start()
            return true
        }
        return false
    }()

    /// True when the event loop runs (lifecycle events will arrive).
    @discardableResult
    static func ensureInitialized() -> Bool { initialized }
}

/// One lifecycle event libvirt reported for a domain (VIR_DOMAIN_EVENT_ID_LIFECYCLE).
public struct LifecycleEvent: Sendable, Equatable {
    /// virDomainEventType (VIR_DOMAIN_EVENT_STOPPED = 5, VIR_DOMAIN_EVENT_SHUTDOWN = 6, ...).
    public let event: Int32
    /// The event-specific detail (e.g. VIR_DOMAIN_EVENT_STOPPED_DESTROYED = 1).
    public let detail: Int32

    public var isStopped: Bool { event == Int32(VIR_DOMAIN_EVENT_STOPPED.rawValue) }

    public var text: String {
        switch Int(event) {
        case Int(VIR_DOMAIN_EVENT_DEFINED.rawValue): return "defined(\(detail))"
        case Int(VIR_DOMAIN_EVENT_UNDEFINED.rawValue): return "undefined(\(detail))"
        case Int(VIR_DOMAIN_EVENT_STARTED.rawValue): return "started(\(detail))"
        case Int(VIR_DOMAIN_EVENT_SUSPENDED.rawValue): return "suspended(\(detail))"
        case Int(VIR_DOMAIN_EVENT_RESUMED.rawValue): return "resumed(\(detail))"
        case Int(VIR_DOMAIN_EVENT_STOPPED.rawValue):
            let names = ["shutdown", "destroyed", "crashed", "migrated", "saved", "failed", "from-snapshot"]
            return "stopped(\(detail < names.count && detail >= 0 ? names[Int(detail)] : String(detail)))"
        case Int(VIR_DOMAIN_EVENT_SHUTDOWN.rawValue):
            let names = ["finished", "guest", "host"]
            return "shutdown(\(detail < names.count && detail >= 0 ? names[Int(detail)] : String(detail)))"
        case Int(VIR_DOMAIN_EVENT_PMSUSPENDED.rawValue): return "pmsuspended(\(detail))"
        case Int(VIR_DOMAIN_EVENT_CRASHED.rawValue): return "crashed(\(detail))"
        default: return "event \(event)(\(detail))"
        }
    }
}

/// Lifecycle events per domain name, as one connection received them (each
/// `LibvirtConnection` has its own), filled from libvirt's event thread. Sessions read the
/// events of their domain to learn how it ended: a transient domain vanishes the moment it
/// stops, so polling virDomainGetState alone often cannot see the reason.
public final class DomainEventLog: @unchecked Sendable {
    private let lock = NSLock()
    private var events: [String: [LifecycleEvent]] = [:]

    func record(domain: String, event: LifecycleEvent) {
        lock.lock()
        defer { lock.unlock() }
        events[domain, default: []].append(event)
    }

    public func events(forDomain name: String) -> [LifecycleEvent] {
        lock.lock()
        defer { lock.unlock() }
        return events[name] ?? []
    }

    /// Drops the events of a domain that is finished with (names are unique per lab run).
    public func forget(domain name: String) {
        lock.lock()
        defer { lock.unlock() }
        events[name] = nil
    }
}

/// C callback for lifecycle events; runs on the libvirt event thread. `opaque` is the
/// connection's DomainEventLog, retained for libvirt and released by `releaseEventLog` when
/// libvirt drops the callback. virDomainGetName is local (no RPC): this never blocks.
let lifecycleEventCallback: gmlab_lifecycle_callback = { _, domain, event, detail, opaque in
    guard let domain, let opaque, let cName = virDomainGetName(domain) else { return }
    Unmanaged<DomainEventLog>.fromOpaque(opaque).takeUnretainedValue()
        .record(domain: String(cString: cName), event: LifecycleEvent(event: event, detail: detail))
}

let releaseEventLog: virFreeCallback = { opaque in
    if let opaque { Unmanaged<DomainEventLog>.fromOpaque(opaque).release() }
}
