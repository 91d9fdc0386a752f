import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The box's outer QEMU, a process the lab runs itself (the box is infrastructure, not a libvirt
/// domain), started so that it can never outlive the lab — the same rules as LabVirt's Bochs
/// driver (`ChildProcess`, internal to LabVirt):
/// - in its own process group, SIGKILLed as a group;
/// - through util-linux `setpriv --pdeathsig KILL`, so the kernel kills it when the lab dies,
///   even by SIGKILL; the parent-death signal belongs to the *thread* that forked, so every spawn
///   happens on one thread that never ends;
/// - with the lab's ignored signals back at their defaults, stdin from /dev/null, stdout and
///   stderr to one file.
final class BoxProcess: @unchecked Sendable {
    enum Ending: Sendable, Equatable, CustomStringConvertible {
        case exited(Int32)
        case signaled(Int32)
        case vanished

        var description: String {
            switch self {
            case .exited(let code): return "exited with status \(code)"
            case .signaled(let signal): return "killed by signal \(signal)"
            case .vanished: return "gone (reaped elsewhere)"
            }
        }
    }

    let pid: pid_t
    private let lock = NSLock()
    private var ending: Ending?

    private init(pid: pid_t) { self.pid = pid }

    /// Starts `arguments` (`arguments[0]` an absolute path) under `setpriv --pdeathsig KILL`.
    static func spawn(_ arguments: [String], setpriv: String, output: String) async throws -> BoxProcess {
        let argv = [setpriv, "--pdeathsig", "KILL", "--"] + arguments
        let result: Result<pid_t, KVMBoxError> = await BoxSpawner.shared.run { Self.posixSpawn(argv, output: output) }
        return BoxProcess(pid: try result.get())
    }

    private static func posixSpawn(_ argv: [String], output: String) -> Result<pid_t, KVMBoxError> {
        var actions = posix_spawn_file_actions_t()
        var attributes = posix_spawnattr_t()
        posix_spawn_file_actions_init(&actions)
        posix_spawnattr_init(&attributes)
        defer {
            posix_spawn_file_actions_destroy(&actions)
            posix_spawnattr_destroy(&attributes)
        }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        posix_spawnattr_setpgroup(&attributes, 0)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE, SIGCHLD] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        posix_spawnattr_setsigmask(&attributes, &emptyMask)
        posix_spawnattr_setflags(
            &attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        var cArguments: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { for pointer in cArguments { free(pointer) } }
        var pid: pid_t = 0
        let status = posix_spawn(&pid, argv[0], &actions, &attributes, &cArguments, environ)
        guard status == 0 else {
            return .failure(.spawn("posix_spawn \(argv.joined(separator: " ")): \(String(cString: strerror(status)))"))
        }
        return .success(pid)
    }

    /// How it ended, once it has (reaps it; never blocks).
    func poll() -> Ending? {
        lock.withLock {
            if let ending { return ending }
            var status: Int32 = 0
            let result = waitpid(pid, &status, WNOHANG)
            if result == pid {
                let signal = status & 0x7f
                ending = signal == 0 ? .exited((status >> 8) & 0xff) : .signaled(signal)
            } else if result < 0, errno == ECHILD {
                ending = .vanished
            }
            return ending
        }
    }

    /// SIGKILLs the process group and waits (at most 10 s) until it is reaped.
    func kill() async {
        if poll() == nil {
            _ = Glibc.kill(-pid, SIGKILL) == 0 || Glibc.kill(pid, SIGKILL) == 0
        }
        let deadline = ContinuousClock.now + .seconds(10)
        while poll() == nil, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(10)) }
    }
}

/// The one thread that spawns box processes and never ends (see `BoxProcess`).
private final class BoxSpawner: @unchecked Sendable {
    static let shared = BoxSpawner()

    private let condition = NSCondition()
    private var jobs: [() -> Void] = []

    private init() {
        let thread = Thread { [unowned self] in self.loop() }
        thread.name = "gmlab-box-spawner"
        thread.start()
    }

    func run<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            condition.lock()
            jobs.append { continuation.resume(returning: body()) }
            condition.signal()
            condition.unlock()
        }
    }

    private func loop() -> Never {
        while true {
            condition.lock()
            while jobs.isEmpty { condition.wait() }
            let job = jobs.removeFirst()
            condition.unlock()
            job()
        }
    }
}
