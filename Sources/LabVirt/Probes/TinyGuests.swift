import Foundation

/// Tiny x86 guests generated in code, so probes and tests need no kernel, no assembler and no
/// files in the repository: a 512-byte boot sector (BIOS real mode) and a multiboot image
/// (32-bit protected mode, loaded by QEMU's `-kernel` / libvirt's `<kernel>`).
public enum TinyGuest {
    /// Port of QEMU's `isa-debug-exit` device in our probes; QEMU exits with (value << 1) | 1.
    public static let debugExitPort: UInt16 = 0xf4

    /// A boot sector that writes `code` to the debug-exit port: QEMU exits with status
    /// `(code << 1) | 1`. Used to prove an accelerator really runs guest code.
    public static func exitBootSector(code: UInt8) -> [UInt8] {
        var x = X86Code(bits: 16)
        x.emit(0xB0, code)  // mov al, code
        x.emit(0xE6, UInt8(debugExitPort))  // out 0xf4, al
        x.haltForever()
        return x.bootSector()
    }

    /// Exit codes of `svmProbeBootSector()`, as QEMU reports them.
    public enum SVMProbeExit: Int32, Sendable {
        case svmWithNPT = 33  // 0x10: CPUID 8000_0001 ECX[2] and 8000_000A EDX[0]
        case svmWithoutNPT = 35  // 0x11
        case noSVM = 37  // 0x12: no SVM bit, or extended leaves stop below 8000_000A
    }

    /// A boot sector that asks CPUID whether the CPU offers SVM (leaf 0x8000_0001 ECX bit 2)
    /// and nested paging (leaf 0x8000_000A EDX bit 0), and exits through isa-debug-exit with
    /// a code from `SVMProbeExit`.
    public static func svmProbeBootSector() -> [UInt8] {
        var x = X86Code(bits: 16)
        x.emit(0x66, 0xB8)
        x.emit32(0x8000_0000)  // mov eax, 0x80000000
        x.emit(0x0F, 0xA2)  // cpuid
        x.emit(0x66, 0x3D)
        x.emit32(0x8000_000A)  // cmp eax, 0x8000000A
        x.jump(0x72, to: "nosvm")  // jb nosvm
        x.emit(0x66, 0xB8)
        x.emit32(0x8000_0001)  // mov eax, 0x80000001
        x.emit(0x0F, 0xA2)  // cpuid
        x.emit(0xF6, 0xC1, 0x04)  // test cl, 4   (SVM)
        x.jump(0x74, to: "nosvm")  // jz nosvm
        x.emit(0x66, 0xB8)
        x.emit32(0x8000_000A)  // mov eax, 0x8000000A
        x.emit(0x0F, 0xA2)  // cpuid
        x.emit(0xF6, 0xC2, 0x01)  // test dl, 1   (NP)
        x.jump(0x74, to: "nonpt")  // jz nonpt
        x.emit(0xB0, 0x10)  // mov al, 0x10
        x.jump(0xEB, to: "out")
        x.label("nonpt")
        x.emit(0xB0, 0x11)  // mov al, 0x11
        x.jump(0xEB, to: "out")
        x.label("nosvm")
        x.emit(0xB0, 0x12)  // mov al, 0x12
        x.label("out")
        x.emit(0xE6, UInt8(debugExitPort))  // out 0xf4, al
        x.haltForever()
        return x.bootSector()
    }

    /// What the multiboot guest does after printing.
    public enum Ending: Sendable {
        /// ACPI S5 through the PIIX4 PM1a control register (QEMU `pc`): the domain powers off.
        case powerOff
        /// `cli; hlt` forever: only a destroy ends it.
        case hang
        /// Loads an empty IDT and raises an exception: triple fault, the machine resets.
        case tripleFault
    }

    /// A multiboot (a.out-kludge) image that writes `lines` to the given serial ports
    /// (e.g. [0x3f8: "hello\n"]) in order of port, then ends as `ending` says.
    /// Boots under QEMU's direct loader and under GRUB (Bochs, see LabVirt/Bochs).
    public static func multiboot(writes: [(port: UInt16, text: String)], ending: Ending) -> [UInt8] {
        let loadAddress: UInt32 = 0x10_0000
        let headerSize = 32
        var x = X86Code(bits: 32)
        // Written like a real 16550 driver, because Bochs emulates the UART faithfully (QEMU's
        // file-backed one takes anything): 8 data bits (LCR after reset is 5 bits: Bochs masks
        // the characters), wait for THRE before each byte (Bochs drops bytes written over a full
        // holding register), and for TEMT after the last (or a power-off loses the tail).
        func waitLineStatus(_ port: UInt16, _ bit: UInt8) {
            x.emit(0x66, 0xBA)
            x.emit16(port + 5)  // mov dx, port+5 (LSR)
            x.emit(0xEC, 0xA8, bit, 0x74, 0xFB)  // 1: in al, dx ; test al, bit ; jz 1b
        }
        for (port, text) in writes {
            x.emit(0x66, 0xBA)
            x.emit16(port + 3)  // mov dx, port+3 (LCR)
            x.emit(0xB0, 0x03, 0xEE)  // mov al, 3 (8N1) ; out dx, al
            for byte in Array(text.utf8) {
                waitLineStatus(port, 0x20)  // THRE
                x.emit(0x66, 0xBA)
                x.emit16(port)  // mov dx, port
                x.emit(0xB0, byte, 0xEE)  // mov al, byte ; out dx, al
            }
            waitLineStatus(port, 0x40)  // TEMT
        }
        switch ending {
        case .powerOff:
            // SeaBIOS puts the PIIX4 PM block at 0x600 (PM1a_CNT = 0x604); very old QEMU/Bochs
            // BIOSes used 0xb000. SLP_EN (bit 13) with SLP_TYP 0 is S5 in QEMU's PIIX4.
            for port: UInt16 in [0x604, 0xB004] {
                x.emit(0x66, 0xBA)
                x.emit16(port)  // mov dx, port
                x.emit(0x66, 0xB8)
                x.emit16(0x2000)  // mov ax, 0x2000
                x.emit(0x66, 0xEF)  // out dx, ax
            }
            x.haltForever()
        case .hang:
            x.haltForever()
        case .tripleFault:
            x.emit(0x0F, 0x01, 0x1D)  // lidt [abs32 idtr]
            x.absolute32(to: "idtr", base: loadAddress + UInt32(headerSize))
            x.emit(0xCC)  // int3 -> #GP -> #DF -> triple fault
            x.haltForever()
            x.label("idtr")
            x.emit(0, 0, 0, 0, 0, 0)  // limit 0, base 0
        }
        let code = x.finish()

        var image: [UInt8] = []
        func put32(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { image.append(contentsOf: $0) } }
        let magic: UInt32 = 0x1BAD_B002
        let flags: UInt32 = 0x0001_0000  // bit 16: the address fields are valid
        put32(magic)
        put32(flags)
        put32(0 &- (magic &+ flags))
        put32(loadAddress)  // header_addr
        put32(loadAddress)  // load_addr
        put32(0)  // load_end_addr: whole file
        put32(0)  // bss_end_addr: none
        put32(loadAddress + UInt32(headerSize))  // entry_addr: right after the header
        image += code
        image += [UInt8](repeating: 0, count: max(0, 8192 - image.count))
        return image
    }
}

/// A minimal x86 byte emitter with rel8 jumps and absolute-address fix-ups by label.
struct X86Code {
    let bits: Int
    private(set) var bytes: [UInt8] = []
    private var labels: [String: Int] = [:]
    private var rel8Fixups: [(at: Int, label: String)] = []
    private var abs32Fixups: [(at: Int, label: String, base: UInt32)] = []

    init(bits: Int) { self.bits = bits }

    mutating func emit(_ values: UInt8...) { bytes += values }
    mutating func emit16(_ value: UInt16) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
    mutating func emit32(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
    mutating func label(_ name: String) { labels[name] = bytes.count }

    /// A short jump or jcc with an 8-bit displacement (`opcode` 0xEB, 0x74, 0x72, ...).
    mutating func jump(_ opcode: UInt8, to label: String) {
        bytes.append(opcode)
        rel8Fixups.append((bytes.count, label))
        bytes.append(0)
    }

    /// A 32-bit absolute address of `label`, the code being loaded at `base`.
    mutating func absolute32(to label: String, base: UInt32) {
        abs32Fixups.append((bytes.count, label, base))
        emit32(0)
    }

    /// cli; hlt; jmp back to hlt.
    mutating func haltForever() { emit(0xFA, 0xF4, 0xEB, 0xFD) }

    func finish() -> [UInt8] {
        var out = bytes
        for fixup in rel8Fixups {
            guard let target = labels[fixup.label] else {
                preconditionFailure("jump to undefined label \(fixup.label)")
            }
            let displacement = target - (fixup.at + 1)
            precondition((-128...127).contains(displacement), "jump to \(fixup.label) out of rel8 range")
            out[fixup.at] = UInt8(bitPattern: Int8(displacement))
        }
        for fixup in abs32Fixups {
            guard let label = labels[fixup.label] else {
                preconditionFailure("address of undefined label \(fixup.label)")
            }
            let address = fixup.base + UInt32(label)
            withUnsafeBytes(of: address.littleEndian) { out.replaceSubrange(fixup.at..<fixup.at + 4, with: $0) }
        }
        return out
    }

    /// Pads to 510 bytes and adds the 0x55AA boot signature.
    func bootSector() -> [UInt8] {
        var out = finish()
        precondition(out.count <= 510, "boot sector code is \(out.count) bytes, more than 510")
        out += [UInt8](repeating: 0, count: 510 - out.count)
        return out + [0x55, 0xAA]
    }
}
