import Foundation

/// The QEMU process behind one of the lab's domains, found and ended from the lab's side, for
/// when libvirtd cannot do it: libvirt runs QEMU with `-no-shutdown` and a SIGKILLed libvirtd
/// leaves it running (AUTODESTROY needs a live daemon), so a lost connection would leave the
/// VM's QEMU alive after the lab.
///
/// Which case is covered: a daemon on this host (the system `qemu:///system`, or a `qemu+tcp`
/// daemon on a loopback address such as the tests' `scripts/private-libvirtd`, whose QEMU runs in
/// another mount namespace but the same pid namespace). The process is found by its command line
/// in /proc (`-name guest=<domain>,…`), not by the pid file, so it works whatever runtime
/// directory the daemon uses (the private daemon's is `BASE/run/qemu/<domain>.pid` outside its
/// namespace). A daemon on another host runs its QEMU out of our sight: nothing is found, and
/// that QEMU is the remote machine's to end.
public enum EmulatorProcess {
    /// True when `cmdline` (NUL-separated, as /proc/PID/cmdline) is a QEMU named `domain`.
    static func commandLine(_ cmdline: [UInt8], names domain: String) -> Bool {
        let arguments = cmdline.split(separator: 0, omittingEmptySubsequences: false).map {
            String(decoding: $0, as: UTF8.self)
        }
        guard let index = arguments.firstIndex(of: "-name"), index + 1 < arguments.count else { return false }
        let value = arguments[index + 1]
        // `guest=NAME,debug-threads=on` (libvirt) or a bare `NAME`.
        let first = value.split(separator: ",", maxSplits: 1).first.map(String.init) ?? value
        return first == "guest=" + domain || first == domain
    }

    static func commandLine(ofPID pid: Int32) -> [UInt8]? {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return nil }
        return [UInt8](data)
    }

    /// The pids on this host whose command line names `domain` (at most one for a running VM).
    public static func pids(ofDomain domain: String) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap(Int32.init).filter { pid in
            commandLine(ofPID: pid).map { commandLine($0, names: domain) } ?? false
        }.sorted()
    }

    /// True while `pid` exists and is not a zombie (a killed QEMU holds no memory once it is one;
    /// its new parent reaps it when it will).
    public static func isRunning(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let end = stat.range(of: ") ", options: .backwards)
        else { return false }
        return !stat[end.upperBound...].hasPrefix("Z") && !stat[end.upperBound...].hasPrefix("X")
    }

    /// SIGKILLs `pid` if, and only if, its command line still names `domain` (a pid may have been
    /// reused). Returns true when it killed it.
    @discardableResult
    public static func kill(pid: Int32, ofDomain domain: String) -> Bool {
        guard pid > 0, let cmdline = commandLine(ofPID: pid), commandLine(cmdline, names: domain) else { return false }
        return Foundation.kill(pid, SIGKILL) == 0
    }

    /// Kills every process of this host that names `domain` and waits (at most `timeout`) for
    /// them to be gone; returns the pids killed.
    @discardableResult
    public static func killAll(
        ofDomain domain: String, known: [Int32] = [], timeout: Duration = .seconds(5)
    )
        -> [Int32]
    {
        let candidates = Set(known + pids(ofDomain: domain)).sorted()
        let killed = candidates.filter { kill(pid: $0, ofDomain: domain) }
        let until = ContinuousClock.now + timeout
        while (!pids(ofDomain: domain).isEmpty || killed.contains(where: isRunning)) && ContinuousClock.now < until {
            usleep(20_000)
        }
        return killed
    }
}
