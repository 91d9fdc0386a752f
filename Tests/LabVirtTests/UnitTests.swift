import Foundation
import Testing

@testable import LabVirt

@Suite("LineTailer")
struct LineTailerTests {
    @Test("missing file, partial lines, CRLF, truncation")
    func tailing() throws {
        let directory = try makeTestDirectory("tailer")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("stream.log").path
        var tailer = LineTailer(path: path)
        #expect(tailer.readNewLines() == [], "a file that does not exist yet gives nothing")

        #expect(FileManager.default.createFile(atPath: path, contents: Data("first\r\nsec".utf8)))
        #expect(tailer.readNewLines() == ["first"])
        #expect(tailer.readNewLines() == [], "partial line held back")

        let handle = try #require(FileHandle(forWritingAtPath: path))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("ond\nthird\nfour".utf8))
        #expect(tailer.readNewLines() == ["second", "third"])
        #expect(tailer.readRemainingLines() == ["four"], "the unterminated tail at the end")
        #expect(tailer.readRemainingLines() == [])

        // A new writer truncates the file (QEMU's append='off'): start over.
        try Data("new\n".utf8).write(to: URL(fileURLWithPath: path))
        #expect(tailer.readNewLines() == ["new"])

        // Invalid UTF-8 does not stop the stream.
        try handle.close()
        try Data([0x66, 0xff, 0x6f, 0x0a] + Array("new\n".utf8)).write(to: URL(fileURLWithPath: path))
        var fresh = LineTailer(path: path)
        #expect(fresh.readNewLines() == ["f\u{FFFD}o", "new"])

        // A Bochs terminal port turns the guest's "\r\n" into "\r\r\n" (SerialPump).
        try Data("GMLAB-RESULT {}\r\r\nnext\r\n".utf8).write(to: URL(fileURLWithPath: path))
        var bochs = LineTailer(path: path)
        #expect(bochs.readNewLines() == ["GMLAB-RESULT {}", "next"])
    }
}

@Suite("Bochs serial pump")
struct SerialPumpTests {
    /// What Bochs does to a `mode=term` port (serial.cc): open the terminal non-blocking, raw
    /// with output post-processing, then write(2) each byte.
    static func openLikeBochs(_ terminal: String) -> Int32 {
        let fd = open(terminal, O_RDWR | O_NONBLOCK)
        guard fd >= 0 else { return fd }
        var t = termios()
        tcgetattr(fd, &t)
        cfmakeraw(&t)
        t.c_oflag |= tcflag_t(OPOST | ONLCR)
        tcsetattr(fd, TCSANOW, &t)
        return fd
    }

    @Test("bytes reach the file while the writer still runs, and all of them once it stops")
    func liveDelivery() throws {
        let directory = try makeTestDirectory("pump")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("results.log").path
        let pump = try SerialPump(file: path)
        #expect(pump.terminal.hasPrefix("/dev/pts/"))
        let port = Self.openLikeBochs(pump.terminal)
        #expect(port >= 0, "the terminal opens like a Bochs port: \(String(cString: strerror(errno)))")
        defer { close(port) }

        // One line, then nothing more: with mode=file it would sit in Bochs' stdio buffer.
        let line = Array("GMLAB-RESULT {\"id\":\"selftest/pass\"}\r\n".utf8)
        #expect(line.withUnsafeBytes { write(port, $0.baseAddress, $0.count) } == line.count)
        var tailer = LineTailer(path: path)
        var seen: [String] = []
        // Polled on this thread, not with Task.sleep: parallel suites can keep the cooperative
        // pool busy for seconds, which would time the pool, not the pump.
        let start = ContinuousClock.now
        while seen.isEmpty, ContinuousClock.now - start < .seconds(30) {
            usleep(20_000)
            seen = tailer.readNewLines()
        }
        #expect(seen == [#"GMLAB-RESULT {"id":"selftest/pass"}"#], "the line is in the file before the writer ends")

        // A burst larger than the terminal's buffer, then stop: nothing is lost.
        var burst: [UInt8] = []
        for i in 0..<4000 { burst += Array("line \(i)\n".utf8) }
        var written = 0
        while written < burst.count {
            let n = burst[written...].withUnsafeBytes { write(port, $0.baseAddress, $0.count) }
            if n > 0 { written += n } else { usleep(5000) }
        }
        close(port)
        pump.stop()
        let lines = tailer.readRemainingLines()
        #expect(lines.count == 4000)
        #expect(lines.first == "line 0" && lines.last == "line 3999")
        pump.stop()  // idempotent
    }
}

@Suite("Domain names")
struct DomainNameTests {
    @Test("names carry the pid, a clean run id and a counter; the pid parses back")
    func names() {
        let a = DomainName.next(runID: "2026-11-25/run#1")
        let b = DomainName.next(runID: "2026-11-25/run#1")
        #expect(a != b)
        #expect(a.hasPrefix("gmlab-\(getpid())-2026x11x25xrunx1-"))
        #expect(DomainName.ownerPID(of: a) == getpid())
        #expect(DomainName.ownerPID(of: "gmlab-123-x-1") == 123)
        #expect(DomainName.ownerPID(of: "other-123-x-1") == nil)
        #expect(DomainName.ownerPID(of: "gmlab-abc-x-1") == nil)
        #expect(DomainName.make(pid: 7, runID: "", index: 2) == "gmlab-7-run-2")
    }

    @Test("the spec accepts generated names")
    func validNames() throws {
        let directory = URL(fileURLWithPath: "/tmp/x")
        let spec = DomainSpec(
            name: DomainName.next(runID: "r"), kernel: "/k", serial: .init(directory: directory),
            metadata: .init(runID: "r", labVersion: "t"))
        try spec.validate()
    }
}

@Suite("Tiny guests")
struct TinyGuestTests {
    @Test("boot sectors are 512 bytes with the 0x55AA signature")
    func bootSectors() {
        for sector in [TinyGuest.exitBootSector(code: 0x2a), TinyGuest.svmProbeBootSector()] {
            #expect(sector.count == 512)
            #expect(sector[510] == 0x55 && sector[511] == 0xAA)
        }
        // The same bytes scripts/setup-host uses: mov al,0x2a ; out 0xf4,al ; cli ; hlt
        #expect(Array(TinyGuest.exitBootSector(code: 0x2a).prefix(6)) == [0xB0, 0x2A, 0xE6, 0xF4, 0xFA, 0xF4])
    }

    @Test("multiboot header: magic, a.out-kludge flag, checksum, entry after the header")
    func multibootHeader() {
        let image = TinyGuest.multiboot(writes: [(0x3f8, "x\n")], ending: .powerOff)
        func u32(_ offset: Int) -> UInt32 {
            image[offset..<offset + 4].enumerated().reduce(0) { $0 | UInt32($1.element) << (8 * $1.offset) }
        }
        #expect(u32(0) == 0x1BAD_B002)
        #expect(u32(4) == 0x0001_0000)
        #expect(u32(0) &+ u32(4) &+ u32(8) == 0)
        #expect(u32(28) == 0x10_0020)
        // The code right after the header: mov dx, 0x3fb (LCR) ; mov al, 3 (8N1) ; out dx, al
        #expect(Array(image[32..<39]) == [0x66, 0xBA, 0xFB, 0x03, 0xB0, 0x03, 0xEE])
        // ... and somewhere: mov dx, 0x3f8 ; mov al, 'x' ; out dx, al
        let code = Array(image[32...])
        let write: [UInt8] = [0x66, 0xBA, 0xF8, 0x03, 0xB0, 0x78, 0xEE]
        #expect((0...(code.count - write.count)).contains { Array(code[$0..<$0 + write.count]) == write })
    }
}

@Suite("Probe parsing (no tools run)")
struct ProbeParsingTests {
    @Test("nested virtualization from cpuinfo flags and module parameters")
    func nested() throws {
        let sys = try makeTestDirectory("sys")
        defer { try? FileManager.default.removeItem(at: sys) }
        let params = sys.appendingPathComponent("kvm_amd/parameters")
        try FileManager.default.createDirectory(at: params, withIntermediateDirectories: true)
        try Data("1\n".utf8).write(to: params.appendingPathComponent("nested"))
        let yes = HostProbes.nestedVirtualization(
            cpuinfo: "processor\t: 0\nflags\t\t: fpu svm npt\n", sysModule: sys.path)
        #expect(yes.value?.nestedSVM == true)
        #expect(yes.value?.nestedVMX == false)
        #expect(yes.status == .ok)

        let no = HostProbes.nestedVirtualization(cpuinfo: "flags\t\t: fpu sse2\n", sysModule: sys.path)
        #expect(no.value?.nestedSVM == false)
        #expect(no.status == .warning)
        #expect(no.fix != nil)
    }

    @Test("memory and CPU from /proc text")
    func procText() {
        let memory = HostProbes.availableMemory(meminfo: "MemTotal: 100 kB\nMemAvailable:    2097152 kB\n")
        #expect(memory.value == 2 << 30)
        #expect(memory.status == .ok)
        #expect(HostProbes.availableMemory(meminfo: "MemAvailable: 1024 kB\n").status == .problem)
        #expect(HostProbes.availableMemory(meminfo: "nothing").status == .problem)
        let cpu = HostProbes.hostCPU(
            cpuinfo: "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\nprocessor\t: 1\n")
        #expect(cpu.value == HostProbes.HostCPU(vendor: "AuthenticAMD", model: "AMD EPYC 7B13", logicalCPUs: 2))
    }
}

@Suite("Command (the one subprocess runner)")
struct CommandTests {
    @Test("a tool that hangs is killed at its timeout")
    func timeout() async {
        let start = ContinuousClock.now
        let outcome = await Command.run("/bin/sleep", ["30"], timeout: .milliseconds(500))
        #expect(outcome.ending == .timedOut(.milliseconds(500)))
        // Killed well before the tool's own 30 s: a generous bound, since a loaded 2-core host
        // (other test suites blocking Swift's cooperative threads) delays the timer by seconds.
        #expect(ContinuousClock.now - start < .seconds(20))
    }

    @Test("exit codes, output and missing tools")
    func outcomes() async {
        let outcome = await Command.run("/bin/sh", ["-c", "echo out; echo err >&2; exit 3"], timeout: .seconds(10))
        #expect(outcome.ending == .exited(3))
        #expect(outcome.standardOutput == "out\n")
        #expect(outcome.standardError == "err\n")
        #expect(await Command.run("gmlab-no-such-tool", [], timeout: .seconds(5)).ending == .notFound)
    }
}

@Suite("Errors")
struct ErrorTextTests {
    @Test("a daemon that does not answer says how to start it, and why")
    func daemonMessage() {
        let text =
            "\(LibvirtError.daemonNotAnswering(uri: "qemu:///system", libvirtMessage: "Failed to connect socket"))"
        #expect(text.contains("sudo scripts/setup-host"))
        #expect(text.contains("Failed to connect socket"))
        #expect(text.contains("/dev/kvm"))
    }

    @Test("opening a URI with no daemon behind it throws daemonNotAnswering with libvirt's text")
    func openFailure() {
        do {
            _ = try LibvirtConnection(uri: "qemu+unix:///system?socket=/nonexistent/gmlab.sock")
            Issue.record("connection to a missing socket succeeded")
        } catch {
            guard case let .daemonNotAnswering(_, message) = error else {
                Issue.record("wrong error \(error)")
                return
            }
            #expect(message.contains("/nonexistent/gmlab.sock"))
        }
    }
}
