import Foundation
import Testing

@testable import LabVirt

/// What the lab hands Bochs and GRUB, and how it reads Bochs' end, without running Bochs.
@Suite("Bochs configuration")
struct BochsConfigTests {
    static let directory = "/results/run1/vms/gmlab-1-run1-1"

    static func machine(
        memoryMiB: Int = 1024, commandLine: String = "gmlab.selftest=none",
        serial: SerialFiles = .init(directory: URL(fileURLWithPath: directory))
    ) -> BochsMachine {
        BochsMachine(
            name: "gmlab-1-run1-1", memoryMiB: memoryMiB,
            boot: .multiboot(
                kernel: "/cache/hv/hv.elf", modules: ["/results/run1/vms/gmlab-1-run1-1/bundle.img"],
                commandLine: commandLine),
            serial: serial, directory: directory)
    }

    @Test("bochsrc: VMX CPU, memory, fast clock, headless display, CD boot, three streams, log, fatal panics")
    func bochsrc() throws {
        let text = try Self.machine().bochsrc(share: "/usr/share/bochs")
        let lines = Set(text.split(separator: "\n").map(String.init).filter { !$0.hasPrefix("#") })
        let d = Self.directory
        for expected in [
            "memory: guest=1024, host=1024",
            "cpu: model=corei7_skylake_x, count=1, ips=80000000, reset_on_triple_fault=0",
            "clock: sync=none, time0=local",
            "romimage: file=\"/usr/share/bochs/BIOS-bochs-latest\"",
            "vgaromimage: file=\"/usr/share/bochs/VGABIOS-lgpl-latest\"",
            "display_library: rfb, options=\"timeout=0\"",
            "pci: enabled=1, chipset=i440fx",
            "ata0-master: type=cdrom, path=\"\(d)/boot.iso\", status=inserted",
            "boot: cdrom",
            "com1: enabled=1, mode=file, dev=\"\(d)/console.log\"",
            "com2: enabled=1, mode=file, dev=\"\(d)/results.log\"",
            "com3: enabled=1, mode=file, dev=\"\(d)/hypervisor.log\"",
            "log: \"\(d)/bochs.log\"",
            "panic: action=fatal",
        ] {
            #expect(lines.contains(expected), "bochsrc has `\(expected)`:\n\(text)")
        }
        #expect(!lines.contains { $0.contains("nogui") }, "Debian's bochs has no nogui display")
        #expect(BochsMachine.debuggerCommands == "c\nq\n")
        let m = Self.machine()
        #expect(
            [m.bochsrcPath, m.logPath, m.isoPath, m.grubConfigPath, m.outputPath, m.debuggerCommandsPath]
                .allSatisfy { $0.hasPrefix(d + "/") }, "everything of a VM stays in its directory")
    }

    @Test("bochsrc with the lab's terminals: each port a terminal, the files named in a comment only")
    func bochsrcTerminals() throws {
        let terminals = SerialFiles(console: "/dev/pts/7", results: "/dev/pts/8", hypervisorLog: "/dev/pts/9")
        let text = try Self.machine().bochsrc(share: "/usr/share/bochs", terminals: terminals)
        let lines = text.split(separator: "\n").map(String.init).filter { !$0.hasPrefix("#") }
        #expect(lines.contains("com1: enabled=1, mode=term, dev=\"/dev/pts/7\""))
        #expect(lines.contains("com2: enabled=1, mode=term, dev=\"/dev/pts/8\""))
        #expect(lines.contains("com3: enabled=1, mode=term, dev=\"/dev/pts/9\""))
        #expect(!lines.contains { $0.contains("mode=file") })
        do {
            _ = try Self.machine().bochsrc(
                terminals: SerialFiles(console: "pts/7", results: "/dev/pts/8", hypervisorLog: "/dev/pts/9"))
            Issue.record("a relative terminal path was accepted")
        } catch {
            #expect(error.description.contains("serial terminal"))
        }
    }

    @Test("bad machines are rejected naming the field and the value")
    func validation() {
        func problem(_ machine: BochsMachine) -> String? {
            do {
                try machine.validate()
                return nil
            } catch { return error.description }
        }
        #expect(problem(Self.machine()) == nil)
        #expect(problem(Self.machine(memoryMiB: 16))?.contains("memoryMiB = \"16\"") == true)
        var m = Self.machine()
        m.cpuModel = "core i7"
        #expect(problem(m)?.contains("cpuModel = \"core i7\"") == true)
        m = Self.machine()
        m.directory = "relative/dir"
        #expect(problem(m)?.contains("must be an absolute path") == true)
        m = Self.machine(serial: .init(console: "/a/c.log", results: "/a/c.log", hypervisorLog: "/a/h.log"))
        #expect(problem(m)?.contains("three different files") == true)
        m = Self.machine(serial: .init(console: "/a/c\".log", results: "/a/r.log", hypervisorLog: "/a/h.log"))
        #expect(problem(m)?.contains("double quote") == true)
        m = Self.machine(serial: .init(console: "/a/c,1.log", results: "/a/r.log", hypervisorLog: "/a/h.log"))
        #expect(problem(m)?.contains("a comma") == true, "Bochs splits option values at commas")
        m = Self.machine(commandLine: "a=$(reboot)")
        #expect(problem(m)?.contains("word \"a=$(reboot)\" contains \"$\"") == true)
        m = Self.machine()
        m.boot = .linux(kernel: "vmlinuz", initrd: nil, commandLine: "")
        #expect(problem(m)?.contains("boot = \"vmlinuz\": must be an absolute path") == true)
    }

    @Test("grub.cfg for the hypervisor: multiboot /hv.elf, module /bundle.img, boot, timeout 0, no serial terminal")
    func grubMultiboot() throws {
        let entry = GrubBootCD.Entry.multiboot(
            kernel: "/x/hv.elf", modules: ["/y/b.img", "/y/extra"], commandLine: "  gmlab.selftest=hv-fault ")
        #expect(
            try GrubBootCD.config(for: entry) == """
                # Generated by the lab (LabVirt/Bochs/GrubBootCD.swift).
                set timeout=0
                set default=0
                menuentry "gmlab" {
                  multiboot /hv.elf gmlab.selftest=hv-fault
                  module /bundle.img
                  module /module1.img
                  boot
                }

                """)
        #expect(entry.files.map(\.host) == ["/x/hv.elf", "/y/b.img", "/y/extra"])
        #expect(entry.files.map(\.onCD) == ["hv.elf", "bundle.img", "module1.img"])
    }

    @Test("grub.cfg for backend none: linux /vmlinuz with the guest command line, initrd /initrd.img")
    func grubLinux() throws {
        let entry = GrubBootCD.Entry.linux(
            kernel: "/k/vmlinuz", initrd: "/v/initrd.img", commandLine: "console=ttyS0 nokaslr panic=-1 quiet")
        let text = try GrubBootCD.config(for: entry)
        #expect(
            text.contains("\n  linux /vmlinuz console=ttyS0 nokaslr panic=-1 quiet\n  initrd /initrd.img\n  boot\n"))
        #expect(!text.contains("serial") && !text.contains("terminal"), "GRUB must not write to COM1")
        let noInitrd = try GrubBootCD.config(for: .linux(kernel: "/k/vmlinuz", initrd: nil, commandLine: ""))
        #expect(noInitrd.contains("  linux /vmlinuz\n  boot\n"))
    }

    @Test(
        "command-line words GRUB would interpret are refused",
        arguments: ["a;b", "x=\"q\"", "$v", "a#b", "{x}", "a\\b", "a*"])
    func grubRefuses(word: String) {
        #expect(throws: BochsError.self) {
            try GrubBootCD.config(for: .multiboot(kernel: "/hv", modules: [], commandLine: word))
        }
    }

    @Test("Bochs' end is read from its last PANIC, not from its exit status")
    func exitReasons() {
        let powerOff = """
            00000004662i[BIOS  ] $Revision: 14314 $
            00332884391p[ACPI  ] >>PANIC<< ACPI control: soft power off
            00332884391i[CPU0  ] CPU is in protected mode (active)
            """
        #expect(BochsLog.lastPanic(in: powerOff) == "ACPI control: soft power off")
        #expect(BochsLog.exitReason(termination: .exited(1), log: powerOff) == .poweredOff)
        let port8900 = "00000001p[UNMP  ] >>PANIC<< Shutdown port: shutdown requested\n"
        #expect(BochsLog.exitReason(termination: .exited(1), log: port8900) == .poweredOff)
        let tripleFault = "00000001p[CPU0  ] >>PANIC<< exception(): 3rd (13) exception with no resolution\n"
        #expect(BochsLog.exitReason(termination: .exited(1), log: tripleFault) == .crashed)
        let other = "00000001p[MEM0  ] >>PANIC<< ROM: couldn't open ROM image file '/nope'.\n"
        #expect(
            BochsLog.exitReason(termination: .exited(1), log: other)
                == .unknown("bochs exited with status 1: ROM: couldn't open ROM image file '/nope'."))
        #expect(BochsLog.exitReason(termination: .signaled(9), log: "booting\n") == .destroyedExternally)
        #expect(
            BochsLog.exitReason(termination: .exited(0), log: "")
                == .unknown("bochs exited with status 0 without a PANIC in its log"))
    }

    @Test("the reaper kills registered child-process VMs with libvirt's domains, and forgets unregistered ones")
    func reaperKillActions() {
        let reaper = DomainReaper()
        let killed = KillCounter()
        reaper.register("gmlab-1-b-2") { killed.kill("gmlab-1-b-2") }
        reaper.register("gmlab-1-b-1") { killed.kill("gmlab-1-b-1") }
        reaper.register("gmlab-1-b-3") { false }  // already gone: not reported
        reaper.register("gmlab-1-b-4") { killed.kill("gmlab-1-b-4") }
        reaper.unregister("gmlab-1-b-4")
        #expect(reaper.registeredNames == ["gmlab-1-b-1", "gmlab-1-b-2", "gmlab-1-b-3"])
        #expect(reaper.destroyAll() == ["gmlab-1-b-1", "gmlab-1-b-2"])
        #expect(killed.names == ["gmlab-1-b-1", "gmlab-1-b-2"])
        #expect(reaper.registeredNames.isEmpty)
        #expect(reaper.destroyAll().isEmpty)
    }
}

final class KillCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var killed: [String] = []
    func kill(_ name: String) -> Bool {
        lock.withLock { killed.append(name) }
        return true
    }
    var names: [String] { lock.withLock { killed } }
}
