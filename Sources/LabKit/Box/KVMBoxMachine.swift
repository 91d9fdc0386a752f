import Foundation
import LabModel
import LabVirt

/// The KVM box as a libvirt machine (lab.json `{"name": "box", "box": true}`, `--machine box`,
/// `--host box`; docs/kvm-box.md): L1 boots with `BOX_MODE=libvirt`, loads `kvm_amd nested=1`
/// and runs libvirtd on its user-mode network interface, which the outer QEMU forwards from a
/// free port on 127.0.0.1. From then on the box is a remote machine like any other
/// (`RemoteLibvirtLauncher`: pool uploads, console streams, capabilities from its daemon).
///
/// Boxes live as long as the run that started them (`stopAll` at its end; the outer QEMU also
/// dies with the lab through `setpriv --pdeathsig`). A watcher follows L1's heartbeat while the
/// box serves: the box's known TCG stall (kvm-box-notes: L1 stops getting timer interrupts
/// while a nested guest runs) kills the box, so its connection breaks and the run's loss path
/// takes over; `restart` then boots it again on the same port (an infrastructure flake, not a
/// case result).
public final class KVMBoxMachines: @unchecked Sendable {
    public static let shared = KVMBoxMachines()

    /// How a box is booted; the defaults are what `lab run` uses.
    public struct Settings: Sendable {
        public var l1MemoryMiB = 3072
        /// Outer QEMU start to libvirtd answering with KVM domain capabilities (L1's boot ~5 s,
        /// libvirtd's QEMU probe ~8 s under TCG; generous for a loaded host).
        public var readySeconds: Double = 180
        /// L1 prints a heartbeat every 2 s; a longer silence while serving is the known stall.
        public var heartbeatGapSeconds: Double = 60
        /// Boots after a failed or stalled one, at start and after a stall mid-run, per box.
        public var restarts = 2
        public init() {}
    }

    final class Running: @unchecked Sendable {
        let name: String
        let port: Int
        let directory: String
        var process: ChildProcess
        var attempt: Int
        var watcher: Task<Void, Never>?
        /// Why the watcher stopped the box (the stall), once it has.
        var stall: String?
        var restartsLeft: Int

        init(name: String, port: Int, directory: String, process: ChildProcess, attempt: Int, restartsLeft: Int) {
            self.name = name
            self.port = port
            self.directory = directory
            self.process = process
            self.attempt = attempt
            self.restartsLeft = restartsLeft
        }
    }

    private let lock = NSLock()
    private var running: [String: Running] = [:]
    private var image: KVMBoxImage?
    public var settings = Settings()

    public init() {}

    /// The libvirt URI of a box served on `port`.
    public static func uri(port: Int) -> String { "qemu+tcp://127.0.0.1:\(port)/system" }

    /// Starts every box among `machines` that is not running yet (its image from `image`, its
    /// logs under `directory/machines/<name>/`) and returns the machines with each box's URI in
    /// place, leaving out a box that could not start; `notes` say what happened.
    public func start(
        _ machines: [MachineConfig], image: () async throws -> KVMBoxImage, directory: String,
        say: @escaping @Sendable (String) -> Void
    ) async -> (machines: [MachineConfig], notes: [String]) {
        var result: [MachineConfig] = []
        var notes: [String] = []
        for machine in machines {
            guard machine.box else {
                result.append(machine)
                continue
            }
            if let port = lock.withLock({ running[machine.name]?.port }) {
                result.append(Self.served(machine, port: port))
                continue
            }
            do {
                if lock.withLock({ self.image }) == nil {
                    if let missing = KVMBox.missingTools() { throw KVMBoxError.missingTool(missing) }
                    let built = try await image()
                    lock.withLock { self.image = built }
                }
                let started = ContinuousClock.now
                let port = try Self.freeLoopbackPort()
                let box = try await boot(
                    name: machine.name, port: port, directory: directory + "/machines/\(machine.name)", attempt: 1,
                    restartsLeft: settings.restarts, say: say)
                lock.withLock { running[machine.name] = box }
                let seconds = (ContinuousClock.now - started).seconds
                notes.append(
                    "machine \(machine.name) is the KVM box: libvirtd on \(Self.uri(port: port)), ready after "
                        + String(format: "%.1f s", seconds) + " (attempt \(box.attempt); logs in \(box.directory))")
                result.append(Self.served(machine, port: port))
            } catch {
                let text = "machine \(machine.name) (the KVM box) could not start and runs nothing: \(error)"
                say(text)
                notes.append(text)
            }
        }
        return (result, notes)
    }

    static func served(_ machine: MachineConfig, port: Int) -> MachineConfig {
        var served = machine
        if let uri = try? MachineURI(parsing: uri(port: port)) { served.uri = uri }
        return served
    }

    public func isBox(_ name: String) -> Bool { lock.withLock { running[name] != nil } }

    /// The outer QEMU of the box `name` while it runs (tests freeze it to make the stall).
    public func processID(_ name: String) -> pid_t? { lock.withLock { running[name]?.process.pid } }

    /// Boots the box `name` again on its port after it stalled or its daemon was lost, while it
    /// has restarts left. Returns what happened, for the run's notes, or nil when it cannot.
    public func restart(_ name: String, say: @escaping @Sendable (String) -> Void) async -> String? {
        guard let old = lock.withLock({ running[name] }), old.restartsLeft > 0 else { return nil }
        old.watcher?.cancel()
        _ = old.process.killGroup()
        _ = await old.process.waitForEnd(timeout: .seconds(10))
        let why = old.stall ?? "its libvirtd stopped answering"
        say("machine \(name): the box stopped serving (\(why)); booting it again (infrastructure flake)")
        do {
            let box = try await boot(
                name: name, port: old.port, directory: old.directory, attempt: old.attempt + 1,
                restartsLeft: old.restartsLeft - 1, say: say)
            lock.withLock { running[name] = box }
            return "machine \(name) (the KVM box) stopped serving (\(why)): an infrastructure flake; booted again "
                + "(attempt \(box.attempt)), its cell runs again"
        } catch {
            lock.withLock { running[name] = nil }
            say("machine \(name): the box did not come back: \(error)")
            return nil
        }
    }

    /// Stops every box (the end of a run).
    public func stopAll() async {
        let all: [Running] = lock.withLock {
            let list = Array(running.values)
            running.removeAll()
            return list
        }
        for box in all {
            box.watcher?.cancel()
            _ = box.process.killGroup()
            _ = await box.process.waitForEnd(timeout: .seconds(10))
        }
    }

    // MARK: - Booting

    /// Boots a box until libvirtd answers with KVM domain capabilities, retrying a stalled or
    /// failed boot while `restartsLeft` allows.
    private func boot(
        name: String, port: Int, directory: String, attempt: Int, restartsLeft: Int,
        say: @escaping @Sendable (String) -> Void
    ) async throws -> Running {
        guard let image = lock.withLock({ self.image }) else { throw KVMBoxError.invalid("no box image") }
        var attempt = attempt
        var left = restartsLeft
        while true {
            do {
                let box = try await bootOnce(
                    name: name, image: image, port: port, directory: directory, attempt: attempt, say: say)
                box.restartsLeft = left
                box.watcher = watch(box, say: say)
                return box
            } catch {
                guard left > 0 else { throw error }
                say("machine \(name): box attempt \(attempt) failed (\(error)); trying again")
                left -= 1
                attempt += 1
            }
        }
    }

    private func bootOnce(
        name: String, image: KVMBoxImage, port: Int, directory: String, attempt: Int,
        say: @escaping @Sendable (String) -> Void
    ) async throws -> Running {
        let fm = FileManager.default
        let dir = directory + "/attempt-\(attempt)"
        try? fm.removeItem(atPath: dir)
        try fm.createDirectory(atPath: dir + "/payload/box", withIntermediateDirectories: true)
        guard !dir.contains(",") && !image.archive.contains(",") && !image.kernel.contains(",") else {
            throw KVMBoxError.invalid("\(dir): QEMU's option syntax cannot take a path with a comma")
        }
        // L1's initrd: the box image + box/run.conf saying "serve libvirt".
        try "BOX_MODE=libvirt\n".write(toFile: dir + "/payload/box/run.conf", atomically: true, encoding: .utf8)
        let initrd = try await KVMBox.l1Initrd(
            box: image, payload: dir + "/payload", files: ["box/run.conf"], directory: dir)

        let console = dir + "/l1-console.log"
        // restrict=on: L1 reaches nothing outside its QEMU; only the forward from 127.0.0.1
        // reaches L1 (the network rule: loopback only).
        let arguments =
            KVMBox.l1Arguments(box: image, initrd: initrd, memoryMiB: settings.l1MemoryMiB, console: console) + [
                "-netdev", "user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:\(port)-:16509",
                "-device", "virtio-net-pci,netdev=net0",
            ]
        try (shellQuoted(arguments) + "\n").write(
            toFile: dir + "/command.txt", atomically: true, encoding: .utf8)
        guard let setpriv = KVMBox.setpriv else { throw KVMBoxError.missingTool("setpriv (Debian package util-linux)") }
        say("machine \(name): booting the KVM box (attempt \(attempt), libvirtd on 127.0.0.1:\(port)); logs in \(dir)")
        let process: ChildProcess
        do {
            process = try await ChildProcess.spawn(arguments, setpriv: setpriv, unshare: nil, output: dir + "/qemu.log")
        } catch {
            throw KVMBoxError.spawn("\(error)")
        }
        let started = ContinuousClock.now
        var tail = Tail(path: console)
        var daemonStarted = false
        var lastTry = -1.0
        var lastError = "libvirtd did not start"
        while true {
            let now = (ContinuousClock.now - started).seconds
            for line in tail.read() {
                if let signature = Self.l1StallSignature(line) {
                    _ = process.killGroup()
                    throw KVMBoxError.invalid("L1 logged \"\(signature)\" while booting (the box's TCG stall)")
                }
                if let failed = line.range(of: "GMLAB-BOX: FAILED: ") {
                    _ = process.killGroup()
                    throw KVMBoxError.invalid("L1: " + String(line[failed.upperBound...]))
                }
                if line.contains("GMLAB-BOX: libvirtd started") { daemonStarted = true }
            }
            if let ending = process.poll() {
                throw KVMBoxError.invalid("the box's QEMU ended (\(ending)) before libvirtd answered; see \(dir)")
            }
            if daemonStarted, now - lastTry >= 1 {
                lastTry = now
                let uri = Self.uri(port: port)
                let answer: Result<Bool, any Error> = await withCheckedContinuation { continuation in
                    DispatchQueue.global().async {
                        continuation.resume(
                            returning: Result {
                                let connection = try LibvirtConnection(uri: uri)
                                defer { connection.close() }
                                return try connection.domainCapabilities(virtType: "kvm") != nil
                            })
                    }
                }
                switch answer {
                case .success(true):
                    say("machine \(name): the box's libvirtd answers on \(uri) after " + String(format: "%.1f s", now))
                    return Running(
                        name: name, port: port, directory: directory, process: process, attempt: attempt,
                        restartsLeft: 0)
                case .success(false): lastError = "libvirtd in the box offers no KVM domain"
                case .failure(let error): lastError = "\(error)"
                }
            }
            if now > settings.readySeconds {
                _ = process.killGroup()
                _ = await process.waitForEnd(timeout: .seconds(10))
                throw KVMBoxError.invalid(
                    "libvirtd in the box did not answer within \(Int(settings.readySeconds)) s (last: \(lastError)); see \(dir)"
                )
            }
            try await Task.sleep(for: .milliseconds(250))
        }
    }

    /// Follows L1's console while the box serves: a stall signature or a heartbeat gap kills the
    /// box (its connection then breaks, and the run's loss path asks for `restart`).
    private func watch(_ box: Running, say: @escaping @Sendable (String) -> Void) -> Task<Void, Never> {
        let gap = settings.heartbeatGapSeconds
        let console = box.directory + "/attempt-\(box.attempt)/l1-console.log"
        let lock = self.lock
        return Task.detached {
            var tail = Tail(path: console)
            var lastTick = ContinuousClock.now
            while !Task.isCancelled {
                var stall: String?
                for line in tail.read() {
                    if line.contains("GMLAB-BOX: tick") { lastTick = ContinuousClock.now }
                    if let signature = Self.l1StallSignature(line) { stall = "L1 logged \"\(signature)\"" }
                }
                let silent = (ContinuousClock.now - lastTick).seconds
                if stall == nil, silent > gap {
                    stall = "L1's heartbeat stopped for \(Int(silent)) s (the box's known TCG stall)"
                }
                if let stall {
                    lock.withLock { box.stall = stall }
                    say("machine \(box.name): \(stall); stopping the box")
                    _ = box.process.killGroup()
                    return
                }
                if box.process.poll() != nil {
                    lock.withLock { box.stall = "the box's QEMU ended" }
                    return
                }
                try? await Task.sleep(for: .milliseconds(500))
            }
        }
    }

    static func l1StallSignature(_ line: String) -> String? {
        Watch.stallSignatures["l1-console"]?.first { line.contains($0) }
    }

    /// A port on 127.0.0.1 nothing listens on now (the kernel's pick for port 0).
    static func freeLoopbackPort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw KVMBoxError.invalid("socket() failed: errno \(errno)") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0 else { throw KVMBoxError.invalid("bind(127.0.0.1:0) failed: errno \(errno)") }
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else { throw KVMBoxError.invalid("getsockname failed: errno \(errno)") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
