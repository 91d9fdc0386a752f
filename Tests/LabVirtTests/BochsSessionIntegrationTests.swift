import Foundation
import Testing

@testable import LabVirt

/// Real Bochs (Debian's bochs 2.7), real GRUB CDs, tiny multiboot guests generated in code.
/// Each VM takes ~1-2 s (Bochs' BIOS and GRUB); needs bochs, grub-pc-bin, xorriso, mtools.
@Suite("Bochs sessions", .serialized)
struct BochsSessionIntegrationTests {
    static let root = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent(
        "gmlab-bochs-tests-\(getpid())")

    init() {
        // Each test's files stay until the test process exits, then go (a failed test's files
        // are printed with its expectations; rerun with GMLAB_KEEP_TEST_FILES=1 to keep them).
        Self.cleanup
    }

    static let cleanup: Void = {
        if ProcessInfo.processInfo.environment["GMLAB_KEEP_TEST_FILES"] == nil {
            atexit { try? FileManager.default.removeItem(atPath: BochsSessionIntegrationTests.root.path) }
        }
    }()

    func machine(_ label: String, ending: TinyGuest.Ending, console: String = "hello console") throws -> BochsMachine {
        // Under the suite's own directory (removed when the test process ends, see `cleanup`).
        let directory = Self.root.appendingPathComponent("\(label)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let image = TinyGuest.multiboot(
            writes: [(0x3f8, console + "\n"), (0x2f8, "hello results\n"), (0x3e8, "hello hv\n")], ending: ending)
        let kernel = directory.appendingPathComponent("guest.mb")
        try Data(image).write(to: kernel)
        let module = directory.appendingPathComponent("module.img")
        try Data(repeating: 0x5a, count: 4096).write(to: module)
        return BochsMachine(
            name: DomainName.next(runID: "bochstest"), memoryMiB: 32,
            boot: .multiboot(kernel: kernel.path, modules: [module.path], commandLine: ""),
            serial: .init(directory: directory), directory: directory.path)
    }

    /// Bochs and every process of its group are gone (kill(-pgid, 0) fails with ESRCH).
    func processGroupIsGone(_ pid: Int32) -> Bool {
        kill(-pid, 0) != 0 && errno == ESRCH
    }

    @Test("a guest that powers off: lines land in the right files, reason powered off, files kept, CD removed")
    func poweredOff() async throws {
        let machine = try machine("poweroff", ending: .powerOff)
        let session = try await BochsSession.start(machine: machine)
        print(
            "bochs pid \(session.pid), CD built in \(session.bootCDTime): \(session.commandLine.joined(separator: " "))"
        )
        #expect(DomainReaper.shared.registeredNames.contains(machine.name))
        let collected = LinesBox()
        let exit = await session.waitUntilExit(timeout: .seconds(60)) { tick in
            collected.append(tick.newLines)
            return .continue
        }
        print("exit: \(exit.reason) after \(exit.elapsed)")
        #expect(exit.reason == .poweredOff)
        #expect(readFile(machine.serial.console) == "hello console\n")
        #expect(readFile(machine.serial.results) == "hello results\n")
        #expect(readFile(machine.serial.hypervisorLog) == "hello hv\n")
        #expect(
            collected.lines == [
                StreamLine(stream: .console, text: "hello console"),
                StreamLine(stream: .results, text: "hello results"),
                StreamLine(stream: .hypervisorLog, text: "hello hv"),
            ])
        #expect(readFile(machine.logPath).contains(">>PANIC<< ACPI control: soft power off"))
        #expect(readFile(machine.grubConfigPath).contains("multiboot /hv.elf"))
        #expect(readFile(machine.bochsrcPath).contains("cpu: model=corei7_skylake_x"))
        #expect(!FileManager.default.fileExists(atPath: machine.isoPath), "the CD image is removed after the run")
        #expect(processGroupIsGone(session.pid))
        #expect(!DomainReaper.shared.registeredNames.contains(machine.name))
        #expect(await session.destroy() == false, "destroy is idempotent")
    }

    @Test("a hanging guest is killed at its deadline, promptly, with the streams kept")
    func hangTimesOut() async throws {
        let machine = try machine("hang", ending: .hang, console: "still here")
        let session = try await BochsSession.start(machine: machine)
        // Bochs' BIOS and GRUB take about a second before the guest writes.
        let deadline = ContinuousClock.now + .seconds(6)
        let exit = await session.waitUntilExit(deadline: deadline)
        print("exit: \(exit.reason) after \(exit.elapsed)")
        #expect(exit.reason == .timedOut)
        #expect(ContinuousClock.now - deadline < .seconds(2), "killed promptly at the deadline")
        #expect(readFile(machine.serial.console) == "still here\n")
        #expect(processGroupIsGone(session.pid), "no bochs process survives")
    }

    @Test("onTick stops the VM when it sees a line; a triple fault ends Bochs as a crash")
    func stopAndTripleFault() async throws {
        let hang = try machine("stop", ending: .hang, console: "stop me")
        let session = try await BochsSession.start(machine: hang)
        let exit = await session.waitUntilExit(timeout: .seconds(60)) { tick in
            tick.newLines.contains(StreamLine(stream: .console, text: "stop me")) ? .stop(reason: "saw it") : .continue
        }
        #expect(exit.reason == .stoppedByCaller("saw it"))
        #expect(processGroupIsGone(session.pid))

        let fault = try machine("triple", ending: .tripleFault)
        let crashed = try await BochsSession.start(machine: fault)
        let faultExit = await crashed.waitUntilExit(timeout: .seconds(60))
        print("triple fault: \(faultExit.reason) after \(faultExit.elapsed)")
        #expect(faultExit.reason == .crashed, "reset_on_triple_fault=0: no reboot into GRUB")
        #expect(readFile(fault.serial.console) == "hello console\n")
    }

    @Test("the reaper's destroyAll (the SIGINT/SIGTERM path) kills a running Bochs")
    func reaperKills() async throws {
        let machine = try machine("reaper", ending: .hang)
        let reaper = DomainReaper()  // not .shared: other suites' VMs run meanwhile
        let session = try await BochsSession.start(machine: machine, reaper: reaper)
        try await Task.sleep(for: .milliseconds(500))
        let destroyed = reaper.destroyAll()
        #expect(destroyed.contains(machine.name))
        let exit = await session.waitUntilExit(timeout: .seconds(10))
        #expect(exit.reason == .destroyedExternally)
        #expect(processGroupIsGone(session.pid))
    }

    @Test("lab doctor's Bochs probe boots a guest that sees VMX with EPT, and leaves nothing behind")
    func doctorProbe() async throws {
        let result = await HostProbes.bochsBootsGuest()
        print("bochs probe: \(result.explanation)")
        let boot = try #require(result.value, "\(result.explanation)")
        #expect(boot.vmx && boot.ept, "corei7_skylake_x offers VMX with EPT")
        #expect(result.status == .ok)
        #expect(boot.seconds < 30)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: NSTemporaryDirectory())
            .filter { $0.hasPrefix("gmlab-bochs-probe-\(getpid())-") }
        #expect(leftovers.isEmpty, "the probe removes its directory: \(leftovers)")
    }

    @Test("the probe guest's bytes: CPUID leaf 1, the two VMX capability MSRs, three answers")
    func probeImage() {
        let image = TinyGuest.vmxProbeMultiboot()
        #expect(image.count == 8192)
        #expect(Array(image[0..<4]) == [0x02, 0xB0, 0xAD, 0x1B], "multiboot magic")
        let text = String(decoding: image, as: UTF8.self)
        for answer in ["GMLAB-PROBE vmx=1 ept=1\n", "GMLAB-PROBE vmx=1 ept=0\n", "GMLAB-PROBE vmx=0 ept=0\n"] {
            #expect(text.contains(answer))
        }
        func contains(_ bytes: [UInt8]) -> Bool {
            image.indices.dropLast(bytes.count).contains { Array(image[$0..<$0 + bytes.count]) == bytes }
        }
        #expect(contains([0xB9, 0x82, 0x04, 0x00, 0x00, 0x0F, 0x32]), "rdmsr IA32_VMX_PROCBASED_CTLS")
        #expect(contains([0xB9, 0x8B, 0x04, 0x00, 0x00, 0x0F, 0x32]), "rdmsr IA32_VMX_PROCBASED_CTLS2")
    }

    @Test("starting paused (a debugger session) is refused with an explanation")
    func pausedRefused() async throws {
        let machine = try machine("paused", ending: .hang)
        await #expect(throws: BochsError.self) { try await BochsSession.start(machine: machine, startPaused: true) }
    }
}
