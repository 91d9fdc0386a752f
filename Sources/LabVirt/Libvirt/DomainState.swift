import CLibvirt

/// A domain's state as virDomainGetState reports it, with the reason code decoded.
public struct DomainStatus: Sendable, Equatable, CustomStringConvertible {
    public enum State: String, Sendable {
        case noState = "no state", running, blocked, paused, shuttingDown = "shutting down"
        case shutOff = "shut off", crashed, pmSuspended = "pm-suspended", unknown
    }

    public let state: State
    /// The raw reason code (virDomainRunningReason, virDomainShutoffReason, ...).
    public let reason: Int32

    public init(rawState: Int32, reason: Int32) {
        switch Int(rawState) {
        case Int(VIR_DOMAIN_NOSTATE.rawValue): state = .noState
        case Int(VIR_DOMAIN_RUNNING.rawValue): state = .running
        case Int(VIR_DOMAIN_BLOCKED.rawValue): state = .blocked
        case Int(VIR_DOMAIN_PAUSED.rawValue): state = .paused
        case Int(VIR_DOMAIN_SHUTDOWN.rawValue): state = .shuttingDown
        case Int(VIR_DOMAIN_SHUTOFF.rawValue): state = .shutOff
        case Int(VIR_DOMAIN_CRASHED.rawValue): state = .crashed
        case Int(VIR_DOMAIN_PMSUSPENDED.rawValue): state = .pmSuspended
        default: state = .unknown
        }
        self.reason = reason
    }

    /// The domain no longer runs guest code and never will again.
    public var hasEnded: Bool { state == .shutOff || state == .crashed }

    /// libvirt's name for the reason, for logs ("shutdown", "destroyed", "crashed", ...).
    public var reasonText: String {
        let names: [String]
        switch state {
        case .shutOff:
            names = [
                "unknown", "shutdown", "destroyed", "crashed", "migrated", "saved", "failed",
                "from-snapshot", "daemon",
            ]
        case .running:
            names = [
                "unknown", "booted", "migrated", "restored", "from-snapshot", "unpaused",
                "migration-canceled", "save-canceled", "wakeup", "crashed", "postcopy",
            ]
        case .paused:
            names = [
                "unknown", "user", "migration", "save", "dump", "ioerror", "watchdog",
                "from-snapshot", "shutting-down", "snapshot", "crashed", "starting-up",
                "postcopy", "postcopy-failed",
            ]
        case .crashed:
            names = ["unknown", "panicked"]
        default:
            names = []
        }
        return reason >= 0 && Int(reason) < names.count ? names[Int(reason)] : "reason \(reason)"
    }

    public var description: String { "\(state.rawValue) (\(reasonText))" }
}

/// Versions as libvirt encodes them: major * 1_000_000 + minor * 1_000 + release.
public struct LibvirtVersion: Sendable, Equatable, Comparable, CustomStringConvertible {
    public let major: Int, minor: Int, release: Int

    public init(encoded: UInt) {
        major = Int(encoded / 1_000_000)
        minor = Int(encoded / 1_000 % 1_000)
        release = Int(encoded % 1_000)
    }

    public init(major: Int, minor: Int, release: Int) {
        self.major = major
        self.minor = minor
        self.release = release
    }

    public var description: String { "\(major).\(minor).\(release)" }

    public static func < (a: Self, b: Self) -> Bool {
        (a.major, a.minor, a.release) < (b.major, b.minor, b.release)
    }
}

/// The three versions that matter: the libvirt library linked into this process, the libvirt
/// daemon we talk to, and the hypervisor (QEMU) that daemon drives.
public struct LibvirtVersions: Sendable, Equatable {
    public let library: LibvirtVersion
    public let daemon: LibvirtVersion
    /// virConnectGetType: "QEMU" for the qemu driver.
    public let hypervisorType: String
    public let hypervisor: LibvirtVersion
}
