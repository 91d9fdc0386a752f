import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A VM process the lab runs itself (libvirt runs QEMU; nobody runs Bochs for us), started so
/// that it can never outlive the lab:
/// - in its own process group (`kill(-pgid)` ends it and anything it starts; a Ctrl-C at the
///   terminal goes to the lab, whose reaper then kills it);
/// - through util-linux `setpriv --pdeathsig KILL`, so the kernel SIGKILLs it when the lab dies,
///   even by SIGKILL. The parent-death signal fires when the *thread* that forked the child
///   ends, so every spawn happens on one thread that never ends (`SpawnerThread`);
/// - with SIGINT/SIGTERM/SIGHUP back at their default actions (the lab ignores them in favour
///   of its dispatch handlers, and ignored signals are inherited through exec);
/// - stdin from /dev/null, stdout and stderr to one file.
/// Used by the Bochs driver and by the KVM box's outer QEMU (LabKit/Box).
public final class ChildProcess: @unchecked Sendable {
    public let pid: pid_t
    public let commandLine: [String]

    public enum Termination: Sendable, Equatable, CustomStringConvertible {
        case exited(Int32)
        case signaled(Int32)
        /// Someone else reaped it (ECHILD): it is gone, status unknown.
        case vanished

        public var description: String {
            switch self {
            case let .exited(code): return "exited with status \(code)"
            case let .signaled(signal): return "killed by signal \(signal)"
            case .vanished: return "gone (reaped elsewhere, status unknown)"
            }
        }
    }

    private let lock = NSLock()
    private var termination: Termination?

    private init(pid: pid_t, commandLine: [String]) {
        self.pid = pid
        self.commandLine = commandLine
    }

    /// Starts `arguments[0]` (an absolute path) with `arguments`, prefixed by the setpriv
    /// wrapper (and `unshare --net` when given).
    public static func spawn(
        _ arguments: [String], setpriv: String, unshare: String?, output: String
    ) async throws(BochsError) -> ChildProcess {
        var argv = [setpriv, "--pdeathsig", "KILL", "--"]
        if let unshare { argv += [unshare, "--net", "--"] }
        argv += arguments
        let commandLine = argv
        let result: Result<pid_t, BochsError> = await SpawnerThread.shared.run {
            Self.posixSpawn(commandLine, output: output)
        }
        return ChildProcess(pid: try result.get(), commandLine: commandLine)
    }

    private static func posixSpawn(_ argv: [String], output: String) -> Result<pid_t, BochsError> {
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
            return .failure(
                .spawn(detail: "posix_spawn \(argv.joined(separator: " ")): \(String(cString: strerror(status)))"))
        }
        return .success(pid)
    }

    /// The termination, once it happened (reaps the child; never blocks).
    public func poll() -> Termination? {
        lock.withLock {
            if let termination { return termination }
            var status: Int32 = 0
            let result = waitpid(pid, &status, WNOHANG)
            if result == pid {
                termination = Self.decode(status)
            } else if result < 0, errno == ECHILD {
                termination = .vanished
            }
            return termination
        }
    }

    public var hasEnded: Bool { poll() != nil }

    /// SIGKILLs the whole process group. True when there was something to kill.
    @discardableResult
    public func killGroup() -> Bool {
        guard poll() == nil else { return false }
        return kill(-pid, SIGKILL) == 0 || kill(pid, SIGKILL) == 0
    }

    /// Waits (off the cooperative pool) until the child has ended, at most `timeout`.
    public func waitForEnd(timeout: Duration) async -> Termination? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let ended = poll() { return ended }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return poll()
    }

    private static func decode(_ status: Int32) -> Termination {
        // <sys/wait.h> macros, which Swift does not import.
        let signal = status & 0x7f
        return signal == 0 ? .exited((status >> 8) & 0xff) : .signaled(signal)
    }
}

/// One thread that lives as long as the process and does every spawn, because a child's
/// parent-death signal is tied to the thread that forked it (prctl(2) PR_SET_PDEATHSIG), and
/// the threads behind Swift's executors come and go.
final class SpawnerThread: @unchecked Sendable {
    static let shared = SpawnerThread()

    private let condition = NSCondition()
    private var jobs: [() -> Void] = []

    private init() {
        let thread = Thread { [unowned self] in self.loop() }
        thread.name = "gmlab-spawner"
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
