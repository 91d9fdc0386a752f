import Dispatch
import Foundation

/// Process-wide record of every domain this process started, so that none outlives the lab
/// (libvirt domains by name; VMs the lab runs as its own child processes, like Bochs, by a
/// kill action):
/// - on SIGINT / SIGTERM / SIGHUP it destroys them all, says which, and exits with 130;
/// - `sweepOrphans` destroys `gmlab-<pid>-…` domains whose owner process is dead.
/// Both are belt and braces on top of VIR_DOMAIN_START_AUTODESTROY (libvirtd destroys a
/// domain when the connection that created it closes, even when we are SIGKILLed).
public final class DomainReaper: @unchecked Sendable {
    public static let shared = DomainReaper()

    private let lock = NSLock()
    private var domains: [String: LibvirtConnection] = [:]
    /// The QEMU pids of registered domains whose daemon runs on this host (`EmulatorProcess`).
    private var emulatorPIDs: [String: [Int32]] = [:]
    /// VMs that are child processes of the lab: name → "kill it now" (true when it killed one).
    private var killActions: [String: @Sendable () -> Bool] = [:]
    private var signalSources: [DispatchSourceSignal] = []
    /// Run after the VMs are destroyed and before the exit (the executor writes the results).
    private var interruptionHandlers: [String: @Sendable (Int32) -> Void] = [:]

    public init() {}

    /// Registers a domain before it is created (so a signal during creation still finds it).
    public func register(_ name: String, on connection: LibvirtConnection) {
        lock.lock()
        defer { lock.unlock() }
        domains[name] = connection
    }

    /// Registers a VM that is not a libvirt domain (a Bochs child process): `kill` must end it
    /// at once, from any thread, and say whether there was anything to kill.
    public func register(_ name: String, kill: @escaping @Sendable () -> Bool) {
        lock.lock()
        defer { lock.unlock() }
        killActions[name] = kill
    }

    /// Remembers the QEMU pids of a registered domain: when its daemon cannot destroy it (the
    /// connection is lost), `destroyAll` kills them (after checking they still name the domain).
    public func register(_ name: String, emulatorPIDs pids: [Int32]) {
        lock.withLock { emulatorPIDs[name] = pids }
    }

    public func unregister(_ name: String) {
        lock.lock()
        defer { lock.unlock() }
        domains[name] = nil
        emulatorPIDs[name] = nil
        killActions[name] = nil
    }

    public var registeredNames: [String] {
        lock.lock()
        defer { lock.unlock() }
        return Set(domains.keys).union(killActions.keys).sorted()
    }

    /// Destroys every registered domain that still exists; returns the names destroyed.
    /// This is the whole of the signal path except the exit, so tests can run it.
    @discardableResult
    public func destroyAll() -> [String] {
        lock.lock()
        let snapshot = domains
        let kills = killActions
        let pids = emulatorPIDs
        domains.removeAll()
        killActions.removeAll()
        emulatorPIDs.removeAll()
        lock.unlock()
        var destroyed: [String] = []
        for (name, connection) in snapshot.sorted(by: { $0.key < $1.key }) {
            if (try? connection.destroy(domain: name)) == true {
                destroyed.append(name)
            } else if !connection.isAlive,
                !EmulatorProcess.killAll(ofDomain: name, known: pids[name] ?? [], timeout: .seconds(2)).isEmpty
            {
                // The daemon is gone and cannot destroy it: its QEMU is killed by pid instead.
                destroyed.append(name)
            }
        }
        for (name, kill) in kills.sorted(by: { $0.key < $1.key }) where kill() {
            destroyed.append(name)
        }
        return destroyed.sorted()
    }

    /// Sets (or, with nil, removes) work the signal path does after destroying the VMs and
    /// before exiting 130 — the executor writes the results of what finished. By key, so an
    /// execution removes its own when it ends; handlers run in key order.
    /// The signal being handled, from its arrival on: results recorded after it (a VM start
    /// that failed because its domain was just destroyed) are the interruption's doing.
    public var interruptingSignal: Int32? { lock.withLock { interrupting } }
    private var interrupting: Int32?

    public func setInterruptionHandler(_ key: String, _ handler: (@Sendable (Int32) -> Void)?) {
        lock.withLock { interruptionHandlers[key] = handler }
    }

    /// The name of a stopping signal, for messages.
    public static func signalName(_ signal: Int32) -> String {
        [SIGINT: "SIGINT", SIGTERM: "SIGTERM", SIGHUP: "SIGHUP"][signal] ?? "signal \(signal)"
    }

    /// What the signal handler prints (to stderr) after `destroyAll()`.
    public static func interruptionMessage(signal: Int32, destroyed: [String]) -> String {
        let name = Self.signalName(signal)
        if destroyed.isEmpty { return "lab: \(name): no VM was running; exiting" }
        return "lab: \(name): destroyed \(destroyed.count) VM(s): \(destroyed.joined(separator: ", ")); exiting"
    }

    /// Installs handlers for SIGINT, SIGTERM and SIGHUP (dispatch signal sources; the
    /// default actions are ignored so the handler runs instead of the process dying).
    /// Each signal destroys all registered domains, prints what was destroyed, exits 130.
    /// Idempotent.
    public func installSignalHandlers() {
        lock.lock()
        defer { lock.unlock() }
        guard signalSources.isEmpty else { return }
        for number in [SIGINT, SIGTERM, SIGHUP] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global(qos: .userInitiated))
            source.setEventHandler { [weak self] in
                if let self { self.lock.withLock { self.interrupting = number } }
                let destroyed = self?.destroyAll() ?? []
                FileHandle.standardError.write(
                    Data((Self.interruptionMessage(signal: number, destroyed: destroyed) + "\n").utf8))
                let handlers = self.map { reaper in reaper.lock.withLock { reaper.interruptionHandlers } } ?? [:]
                for (_, handler) in handlers.sorted(by: { $0.key < $1.key }) { handler(number) }
                exit(130)
            }
            source.resume()
            signalSources.append(source)
        }
    }

    /// Destroys lab domains (`gmlab-<pid>-…`) whose owner pid is not a live process; returns
    /// their names. Call at the start of every lab run. Domains of live processes (other lab
    /// runs, including this one) are left alone.
    @discardableResult
    public static func sweepOrphans(connection: LibvirtConnection) throws(LibvirtError) -> [String] {
        var swept: [String] = []
        for name in try connection.domainNames(withPrefix: DomainName.prefix) {
            guard let pid = DomainName.ownerPID(of: name), !processIsAlive(pid) else { continue }
            if try connection.destroy(domain: name) { swept.append(name) }
        }
        return swept
    }

    /// kill(pid, 0): ESRCH means no such process; EPERM means it exists (not ours to signal).
    static func processIsAlive(_ pid: Int32) -> Bool {
        guard pid > 0 else { return false }
        return kill(pid, 0) == 0 || errno == EPERM
    }
}
