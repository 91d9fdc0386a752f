import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// One serial port of a Bochs VM delivered to its stream file as the guest writes it: a
/// pseudo-terminal whose slave end Bochs opens as the port (`mode=term`), whose master end a
/// thread of the lab drains into the file.
///
/// Why: Bochs writes `mode=file` ports through stdio's buffer, so the results stream reached the
/// lab kilobytes late, and a case that had passed was blamed for the next case's hang (its
/// RESULT line was still in Bochs' buffer when the deadline struck). A terminal port is written
/// with one write(2) per byte. Bochs' other live modes are TCP sockets, which do not reach the
/// lab from the private network namespace Bochs runs in (`BochsInstallation.unshare`); a pty is
/// a file, reachable from any namespace.
///
/// Bochs sets the terminal raw but with output post-processing on (OPOST|ONLCR), so each "\n"
/// arrives as "\r\n" and the guest's own "\r\n" as "\r\r\n": `LineTailer` drops every trailing
/// "\r". The lab keeps the slave open itself, so the master never reads EIO between Bochs'
/// open and close; `stop()` drains what is left and ends the thread.
public final class SerialPump: @unchecked Sendable {
    /// The terminal Bochs opens (`/dev/pts/N`).
    public let terminal: String
    /// The file the port's bytes go to.
    public let file: String

    private let master: Int32
    private let slave: Int32
    private let output: Int32
    private let lock = NSLock()
    private var stopping = false
    private let finished = DispatchSemaphore(value: 0)

    /// Opens a pty and `file` (created or truncated) and starts draining.
    public init(file: String) throws(BochsError) {
        // posix_openpt/unlockpt/ptsname are not in Swift's Glibc module; on Linux they are
        // /dev/ptmx and two ioctls (grantpt is a no-op with devpts).
        let master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC)
        guard master >= 0 else { throw .spawn(detail: "/dev/ptmx: \(String(cString: strerror(errno)))") }
        var unlock: CInt = 0
        var number: CUnsignedInt = 0
        guard ioctl(master, Self.setLock, &unlock) == 0, ioctl(master, Self.getNumber, &number) == 0 else {
            let why = String(cString: strerror(errno))
            close(master)
            throw .spawn(detail: "setting up a pseudo-terminal for \(file): \(why)")
        }
        let terminal = "/dev/pts/\(number)"
        let slave = open(terminal, O_RDWR | O_NOCTTY)
        let output = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0o644)
        guard slave >= 0, output >= 0 else {
            let why = String(cString: strerror(errno))
            for fd in [master, slave, output] where fd >= 0 { close(fd) }
            throw .spawn(detail: "opening \(slave < 0 ? terminal : file): \(why)")
        }
        // The child must not inherit the lab's end of the slave (Bochs opens it by its name).
        _ = fcntl(slave, F_SETFD, FD_CLOEXEC)
        self.terminal = terminal
        self.file = file
        self.master = master
        self.slave = slave
        self.output = output
        let thread = Thread { [self] in drain() }
        thread.name = "serial pump \((file as NSString).lastPathComponent)"
        thread.start()
    }

    /// <asm-generic/ioctls.h>: TIOCSPTLCK = _IOW('T', 0x31, int), TIOCGPTN = _IOR('T', 0x30, unsigned int).
    private static let setLock: UInt = 0x4004_5431
    private static let getNumber: UInt = 0x8004_5430

    deinit { stop() }

    /// Copies what arrives until asked to stop, then what is still buffered.
    private func drain() {
        var buffer = [UInt8](repeating: 0, count: 65536)
        var pfd = pollfd(fd: master, events: Int16(POLLIN), revents: 0)
        while true {
            let ready = poll(&pfd, 1, 50)
            if ready > 0, pfd.revents & Int16(POLLIN) != 0 {
                let n = buffer.withUnsafeMutableBytes { read(master, $0.baseAddress, $0.count) }
                if n > 0 {
                    writeAll(buffer, count: n)
                    continue
                }
            }
            if ready < 0, errno == EINTR { continue }
            // Nothing (more) to read: leave once stop() asked; a hang-up or error cannot clear
            // while we hold the slave, so do not spin on it.
            if lock.withLock({ stopping }) { break }
            if ready > 0 { usleep(50_000) }
        }
        finished.signal()
    }

    private func writeAll(_ buffer: [UInt8], count: Int) {
        var done = 0
        while done < count {
            let n = buffer.withUnsafeBytes { bytes -> Int in
                guard let base = bytes.baseAddress else { return 0 }
                return write(output, base + done, count - done)
            }
            if n < 0, errno == EINTR { continue }
            if n <= 0 { return }  // the disk is full or the file is gone: the bytes are lost either way
            done += n
        }
    }

    /// Drains what the port still holds into the file, ends the thread and closes everything.
    /// Idempotent; call once the emulator has ended.
    public func stop() {
        let first = lock.withLock { () -> Bool in
            if stopping { return false }
            stopping = true
            return true
        }
        guard first else { return }
        finished.wait()
        for fd in [master, slave, output] { close(fd) }
    }
}
