import Foundation
import Testing

@testable import LabVirt

/// Real libvirt, real TCG VMs (tiny multiboot guests generated in code). Needs libvirtd:
/// `sudo scripts/setup-host`.
@Suite("VM sessions against qemu:///system", .serialized)
struct VMSessionIntegrationTests {
    @Test("a guest that powers off: lines land in the right files, reason is powered off")
    func poweredOffGuest() async throws {
        let connection = try connection()
        let directory = try makeTestDirectory("poweroff")
        defer { try? FileManager.default.removeItem(at: directory) }
        let spec = try tinyGuestSpec(in: directory, ending: .powerOff)
        let session = try await VMSession.start(spec: spec, connection: connection)
        print("domain \(session.name) created in \(session.creationTime)")
        let collected = LinesBox()
        let exit = await session.waitUntilExit(timeout: .seconds(8)) { tick in
            collected.append(tick.newLines)
            return .continue
        }
        print("exit: \(exit.reason) after \(exit.elapsed); events \(exit.events.map(\.text))")
        #expect(exit.reason == .poweredOff)
        #expect(readFile(spec.serial.console) == "hello console\n")
        #expect(readFile(spec.serial.results) == "hello results\n")
        #expect(readFile(spec.serial.hypervisorLog) == "hello hv\n")
        #expect(
            collected.lines == [
                StreamLine(stream: .console, text: "hello console"),
                StreamLine(stream: .results, text: "hello results"),
                StreamLine(stream: .hypervisorLog, text: "hello hv"),
            ])
        #expect(try connection.state(ofDomain: spec.name) == nil)
    }

    @Test("a hanging guest, started paused with a gdb stub: resumed, destroyed at its deadline, logs kept")
    func hangingGuestTimesOut() async throws {
        let connection = try connection()
        let directory = try makeTestDirectory("hang")
        defer { try? FileManager.default.removeItem(at: directory) }
        var spec = try tinyGuestSpec(in: directory, ending: .hang, console: "still here")
        spec.gdbPort = try freeLocalPort()
        let session = try await VMSession.start(spec: spec, connection: connection, startPaused: true)
        print("domain \(session.name) created in \(session.creationTime)")
        #expect(try await session.status()?.state == .paused)
        #expect(somethingListens(onPort: spec.gdbPort!), "QEMU's gdb stub listens on 127.0.0.1:\(spec.gdbPort!)")
        try? await Task.sleep(for: .milliseconds(300))
        #expect(
            !FileManager.default.fileExists(atPath: spec.serial.console)
                || readFile(spec.serial.console).isEmpty, "a paused guest has written nothing")
        try await session.resume()
        #expect(try await session.status()?.state == .running)

        let deadline = ContinuousClock.now + .seconds(3)
        let exit = await session.waitUntilExit(deadline: deadline)
        print("exit: \(exit.reason) after \(exit.elapsed); events \(exit.events.map(\.text))")
        #expect(exit.reason == .timedOut)
        // virDomainDestroy itself takes ~1.7 s on this host (SIGTERM, then libvirtd's cleanup).
        #expect(ContinuousClock.now - deadline < .seconds(4), "destroyed promptly at the deadline")
        #expect(readFile(spec.serial.console) == "still here\n", "the log is kept after the destroy")
        #expect(readFile(spec.serial.results) == "hello results\n")
        #expect(try connection.state(ofDomain: spec.name) == nil)
        #expect(await session.destroy() == false, "destroy is idempotent")
        #expect(!DomainReaper.shared.registeredNames.contains(spec.name))
    }

    @Test("a guest reset (triple fault) ends the VM instead of rebooting it")
    func tripleFaultEndsVM() async throws {
        let connection = try connection()
        let directory = try makeTestDirectory("tripleFault")
        defer { try? FileManager.default.removeItem(at: directory) }
        let spec = try tinyGuestSpec(in: directory, ending: .tripleFault)
        let session = try await VMSession.start(spec: spec, connection: connection)
        print("domain \(session.name) created in \(session.creationTime)")
        let exit = await session.waitUntilExit(timeout: .seconds(8))
        print("triple fault exit: \(exit.reason) after \(exit.elapsed); events \(exit.events.map(\.text))")
        // With on_reboot=destroy libvirt runs QEMU with -no-reboot: the reset becomes a
        // guest-initiated shutdown, which libvirt 9 reports exactly like a power-off.
        #expect(exit.reason == .poweredOff)
        #expect(exit.elapsed < .seconds(8))
        #expect(readFile(spec.serial.console) == "hello console\n")
        #expect(try connection.state(ofDomain: spec.name) == nil)
    }

    @Test("onTick can stop the VM when it sees a line (how LabKit enforces per-case deadlines)")
    func stopFromTick() async throws {
        let connection = try connection()
        let directory = try makeTestDirectory("stop")
        defer { try? FileManager.default.removeItem(at: directory) }
        let spec = try tinyGuestSpec(in: directory, ending: .hang, results: "GMLAB-BEGIN case/1")
        let session = try await VMSession.start(spec: spec, connection: connection)
        print("domain \(session.name) created in \(session.creationTime)")
        let exit = await session.waitUntilExit(timeout: .seconds(8)) { tick in
            tick.newLines.contains(StreamLine(stream: .results, text: "GMLAB-BEGIN case/1"))
                ? .stop(reason: "case/1 timed out") : .continue
        }
        print("exit: \(exit.reason) after \(exit.elapsed)")
        #expect(exit.reason == .stoppedByCaller("case/1 timed out"))
        #expect(try connection.state(ofDomain: spec.name) == nil)
    }

    @Test("AUTODESTROY: closing the connection that created a domain destroys it")
    func autodestroyOnClose() async throws {
        let observer = try connection()
        let creator = try LibvirtConnection()
        let directory = try makeTestDirectory("autodestroy")
        defer { try? FileManager.default.removeItem(at: directory) }
        let spec = try tinyGuestSpec(in: directory, ending: .hang)
        try creator.createTransientDomain(xml: try spec.xml())
        #expect(try observer.state(ofDomain: spec.name)?.state == .running)
        creator.close()
        creator.close()  // idempotent
        var gone = false
        for _ in 0..<50 where !gone {
            gone = try observer.state(ofDomain: spec.name) == nil
            if !gone { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(gone, "libvirtd destroyed the domain when its creating connection closed")
        #expect(throws: LibvirtError.connectionClosed(operation: "list domains")) {
            try creator.domainNames(withPrefix: "gmlab-")
        }
    }

    @Test("reaper: sweepOrphans destroys only dead owners' domains; destroyAll (the signal path) destroys ours")
    func reaper() async throws {
        let connection = try connection()
        let reaper = DomainReaper()
        let directory = try makeTestDirectory("reaper")
        defer { try? FileManager.default.removeItem(at: directory) }

        // A domain of ours (live pid), registered with this reaper.
        let ours = try tinyGuestSpec(in: directory.appendingPathComponent("ours"), ending: .hang)
        let session = try await VMSession.start(spec: ours, connection: connection, reaper: reaper)
        #expect(reaper.registeredNames == [session.name])

        // A domain named for a process that has exited: an orphan.
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/bin/true")
        try child.run()
        child.waitUntilExit()
        let deadPID = child.processIdentifier
        #expect(!DomainReaper.processIsAlive(deadPID))
        var orphan = try tinyGuestSpec(in: directory.appendingPathComponent("orphan"), ending: .hang)
        orphan.name = DomainName.make(pid: deadPID, runID: "orphan", index: 1)
        try connection.createTransientDomain(xml: try orphan.xml())

        let swept = try DomainReaper.sweepOrphans(connection: connection)
        #expect(swept.contains(orphan.name))
        #expect(!swept.contains(session.name), "a live owner's domain is not swept")
        #expect(try connection.state(ofDomain: orphan.name) == nil)
        #expect(try connection.state(ofDomain: session.name)?.state == .running)

        let destroyed = reaper.destroyAll()
        #expect(destroyed == [session.name])
        #expect(try connection.state(ofDomain: session.name) == nil)
        #expect(reaper.registeredNames.isEmpty)
        let message = DomainReaper.interruptionMessage(signal: SIGINT, destroyed: destroyed)
        #expect(message.contains("SIGINT") && message.contains(session.name))
        let exit = await session.waitUntilExit(timeout: .seconds(5))
        #expect(exit.reason == .destroyedExternally, "the session sees a destroy it did not make")
    }

    @Test("no domain of this process is left (checked through the API)")
    func noDomainLeft() throws {
        let connection = try connection()
        let left = try connection.domainNames(withPrefix: "\(DomainName.prefix)\(getpid())-")
        #expect(left.isEmpty, "left behind: \(left)")
    }
}

final class LinesBox: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [StreamLine] = []
    func append(_ lines: [StreamLine]) { lock.withLock { storage += lines } }
    var lines: [StreamLine] { lock.withLock { storage } }
}
