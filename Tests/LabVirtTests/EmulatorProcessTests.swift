import Foundation
import Testing

@testable import LabVirt

/// `EmulatorProcess`: the QEMU of a domain is found by `-name guest=<domain>` and killed only
/// while its command line still names that domain.
@Suite("Emulator process by domain name")
struct EmulatorProcessTests {
    static func cmdline(_ arguments: [String]) -> [UInt8] {
        arguments.flatMap { Array($0.utf8) + [0] }
    }

    @Test func commandLinesNameTheirDomainExactly() {
        let qemu = Self.cmdline([
            "/usr/bin/qemu-system-x86_64", "-name", "guest=gmlab-12-ab-1,debug-threads=on", "-S",
        ])
        #expect(EmulatorProcess.commandLine(qemu, names: "gmlab-12-ab-1"))
        #expect(!EmulatorProcess.commandLine(qemu, names: "gmlab-12-ab"), "a prefix is another domain")
        #expect(!EmulatorProcess.commandLine(qemu, names: "gmlab-12-ab-10"))
        #expect(EmulatorProcess.commandLine(Self.cmdline(["qemu", "-name", "plain"]), names: "plain"))
        #expect(!EmulatorProcess.commandLine(Self.cmdline(["qemu", "-name"]), names: "plain"))
        #expect(!EmulatorProcess.commandLine(Self.cmdline(["guest=plain"]), names: "plain"))
    }

    /// A real process whose command line names a domain (a shell blocked in `read`, `$0` `-name`, `$1` `guest=…`):
    /// found, spared when the name differs, killed when it matches.
    @Test func aProcessNamingTheDomainIsFoundAndKilledOthersAreSpared() throws {
        let domain = "gmlab-test-\(getpid())-\(UUID().uuidString.prefix(6))"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        // `read` is built in: the shell blocks on the pipe and forks no child (a child would show
        // the same command line between its fork and its exec).
        process.arguments = ["-c", "read line", "-name", "guest=\(domain),debug-threads=on"]
        let input = Pipe()
        process.standardInput = input
        try process.run()
        defer { if process.isRunning { process.terminate() } }
        let pid = process.processIdentifier
        var found: [Int32] = []
        for _ in 0..<100 where found.isEmpty {
            found = EmulatorProcess.pids(ofDomain: domain)
            if found.isEmpty { usleep(10_000) }
        }
        #expect(found == [pid])
        #expect(!EmulatorProcess.kill(pid: pid, ofDomain: domain + "-other"), "killed a process of another domain")
        #expect(process.isRunning && EmulatorProcess.isRunning(pid))
        #expect(EmulatorProcess.killAll(ofDomain: domain, known: [pid]) == [pid])
        process.waitUntilExit()
        #expect(process.terminationReason == .uncaughtSignal && process.terminationStatus == SIGKILL)
        #expect(EmulatorProcess.pids(ofDomain: domain).isEmpty && !EmulatorProcess.isRunning(pid))
    }
}
