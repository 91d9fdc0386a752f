import Foundation

extension TinyGuest {
    /// A multiboot image that asks the CPU for VMX (CPUID.1:ECX[5]) and EPT (the allowed-1
    /// "enable EPT" bit of IA32_VMX_PROCBASED_CTLS2, MSR 0x48B, read only when
    /// IA32_VMX_PROCBASED_CTLS, MSR 0x482, allows secondary controls), writes
    /// `GMLAB-PROBE vmx=<0|1> ept=<0|1>` to COM1 and powers the machine off (PIIX4 S5).
    public static func vmxProbeMultiboot() -> [UInt8] {
        let loadAddress: UInt32 = 0x10_0000
        let headerSize: UInt32 = 32
        let base = loadAddress + headerSize
        var x = X86Code(bits: 32)
        x.emit(0xFC)  // cld
        x.emit(0xB8)
        x.emit32(1)  // mov eax, 1
        x.emit(0x31, 0xC9)  // xor ecx, ecx
        x.emit(0x0F, 0xA2)  // cpuid
        x.emit(0xF7, 0xC1)
        x.emit32(0x20)  // test ecx, 1<<5 (VMX)
        x.jump(0x74, to: "novmx")
        x.emit(0xB9)
        x.emit32(0x482)  // mov ecx, IA32_VMX_PROCBASED_CTLS
        x.emit(0x0F, 0x32)  // rdmsr
        x.emit(0xF7, 0xC2)
        x.emit32(0x8000_0000)  // test edx, 1<<31 (secondary controls)
        x.jump(0x74, to: "noept")
        x.emit(0xB9)
        x.emit32(0x48B)  // mov ecx, IA32_VMX_PROCBASED_CTLS2
        x.emit(0x0F, 0x32)  // rdmsr
        x.emit(0xF7, 0xC2)
        x.emit32(0x2)  // test edx, 1<<1 (enable EPT)
        x.jump(0x74, to: "noept")
        x.emit(0xBE)
        x.absolute32(to: "vmx1ept1", base: base)  // mov esi, string
        x.jump(0xEB, to: "print")
        x.label("noept")
        x.emit(0xBE)
        x.absolute32(to: "vmx1ept0", base: base)
        x.jump(0xEB, to: "print")
        x.label("novmx")
        x.emit(0xBE)
        x.absolute32(to: "vmx0ept0", base: base)
        x.label("print")
        x.emit(0x66, 0xBA)
        x.emit16(0x3FB)  // mov dx, COM1 LCR
        x.emit(0xB0, 0x03, 0xEE)  // 8N1 (Bochs honours the word length)
        x.label("next")
        x.emit(0xAC)  // lodsb
        x.emit(0x84, 0xC0)  // test al, al
        x.jump(0x74, to: "drained")
        x.emit(0x88, 0xC3)  // mov bl, al
        x.emit(0x66, 0xBA)
        x.emit16(0x3FD)  // mov dx, COM1 LSR
        x.emit(0xEC, 0xA8, 0x20, 0x74, 0xFB)  // 1: in al, dx ; test al, THRE ; jz 1b
        x.emit(0x88, 0xD8)  // mov al, bl
        x.emit(0x66, 0xBA)
        x.emit16(0x3F8)  // mov dx, COM1
        x.emit(0xEE)  // out dx, al
        x.jump(0xEB, to: "next")
        x.label("drained")
        x.emit(0x66, 0xBA)
        x.emit16(0x3FD)
        x.emit(0xEC, 0xA8, 0x40, 0x74, 0xFB)  // wait for TEMT: the last byte is out
        for port: UInt16 in [0x604, 0xB004] {  // S5 at QEMU's and Bochs' PM1a_CNT
            x.emit(0x66, 0xBA)
            x.emit16(port)
            x.emit(0x66, 0xB8)
            x.emit16(0x2000)
            x.emit(0x66, 0xEF)
        }
        x.haltForever()
        for (label, text) in [("vmx1ept1", "vmx=1 ept=1"), ("vmx1ept0", "vmx=1 ept=0"), ("vmx0ept0", "vmx=0 ept=0")] {
            x.label(label)
            x.emitBytes(Array("GMLAB-PROBE \(text)\n".utf8) + [0])
        }
        return multibootImage(code: x.finish(), loadAddress: loadAddress)
    }

    /// The a.out-kludge multiboot header (flags bit 16: address fields valid) and `code` at
    /// load address + 32, padded to 8 KiB.
    static func multibootImage(code: [UInt8], loadAddress: UInt32) -> [UInt8] {
        var image: [UInt8] = []
        func put32(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { image.append(contentsOf: $0) } }
        let magic: UInt32 = 0x1BAD_B002
        let flags: UInt32 = 0x0001_0000
        put32(magic)
        put32(flags)
        put32(0 &- (magic &+ flags))
        put32(loadAddress)
        put32(loadAddress)
        put32(0)
        put32(0)
        put32(loadAddress + 32)
        image += code
        image += [UInt8](repeating: 0, count: max(0, 8192 - image.count))
        return image
    }
}

extension X86Code {
    mutating func emitBytes(_ values: [UInt8]) { for value in values { emit(value) } }
}

extension HostProbes {
    /// What the Bochs boot probe saw.
    public struct BochsBoot: Sendable, Equatable {
        public let vmx: Bool
        public let ept: Bool
        /// From starting Bochs to its exit (BIOS, GRUB, the probe).
        public let seconds: Double
        public var runsVMXBackend: Bool { vmx && ept }
    }

    /// Does Bochs really boot a guest, and does that guest see VMX with EPT? Boots a GRUB CD
    /// with `TinyGuest.vmxProbeMultiboot()` through `BochsSession` (the lab's own driver, so
    /// this also proves the driver: CD, bochsrc, streams, power-off detection).
    public static func bochsBootsGuest(timeout: Duration = .seconds(90)) async -> ProbeResult<BochsBoot> {
        let name = "Bochs boots a VMX guest"
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("gmlab-bochs-probe-\(getpid())-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let kernel = directory + "/probe.mb"
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try Data(TinyGuest.vmxProbeMultiboot()).write(to: URL(fileURLWithPath: kernel))
        } catch {
            return ProbeResult(
                name: name, value: nil, status: .problem, explanation: "cannot write \(kernel): \(error)",
                fix: "check that the temporary directory is writable")
        }
        let machine = BochsMachine(
            name: DomainName.next(runID: "probe"), memoryMiB: 32,
            boot: .multiboot(kernel: kernel, modules: [], commandLine: ""),
            serial: .init(directory: URL(fileURLWithPath: directory)), directory: directory)
        let session: BochsSession
        do {
            session = try await BochsSession.start(machine: machine)
        } catch {
            return ProbeResult(
                name: name, value: nil, status: .warning,
                explanation: "the lab could not start Bochs: \(error); VMX cells cannot run on host bochs",
                fix: "`sudo scripts/setup-host` installs bochs, bochsbios, vgabios, grub-pc-bin, xorriso and mtools")
        }
        let exit = await session.waitUntilExit(timeout: timeout)
        let seconds = exit.elapsed.seconds
        let console = (try? String(contentsOfFile: machine.serial.console, encoding: .utf8)) ?? ""
        guard let line = console.split(separator: "\n").first(where: { $0.hasPrefix("GMLAB-PROBE ") }) else {
            let panic =
                BochsLog.lastPanic(in: BochsLog.tail(of: machine.logPath)).map { "; last Bochs PANIC: \($0)" } ?? ""
            return ProbeResult(
                name: name, value: nil, status: .warning,
                explanation:
                    "Bochs ran (\(exit.reason) after \(String(format: "%.1f", seconds)) s) but the probe guest wrote nothing to COM1\(panic); VMX cells cannot run on host bochs",
                fix: "run it by hand: keep the files (see LabVirt/Bochs/BochsProbe.swift) and read bochs.log")
        }
        let boot = BochsBoot(vmx: line.contains("vmx=1"), ept: line.contains("ept=1"), seconds: seconds)
        let summary =
            "a multiboot guest booted from a GRUB CD in \(String(format: "%.1f", seconds)) s (\(exit.reason)) and saw \(line.dropFirst("GMLAB-PROBE ".count))"
        guard boot.runsVMXBackend, exit.reason == .poweredOff else {
            return ProbeResult(
                name: name, value: boot, status: .warning,
                explanation: summary + (exit.reason == .poweredOff ? "" : ", but did not power off")
                    + ": the VMX backend needs VMX with EPT; VMX cells cannot run on host bochs",
                fix: "use Debian 12's bochs 2.7 (CPU model \(BochsMachine.vmxCPUModel))")
        }
        return ProbeResult(
            name: name, value: boot, status: .ok,
            explanation: summary + " under CPU model \(BochsMachine.vmxCPUModel): the VMX backend runs on host bochs")
    }
}
