import Foundation
import LabVirt

/// The boot chain BitVisor needs (issue 10 "The boot chain"): BIOS boot from disk, not QEMU's
/// direct kernel loader.
///
/// 1. The *loader CD* (`grub-mkrescue`, one per BitVisor image, cached beside it): GRUB's menu
///    entry saves the CD as `$bvroot`, sets `root=(hd0)` and multiboots
///    `($bvroot)/boot/bitvisor.elf`. GRUB hands the root device to the kernel as the multiboot
///    boot device, and BitVisor boots the guest from that BIOS drive ("Loading MBR.").
/// 2. The *guest disk* (`grub-mkrescue` again, one per VM because the initrd carries the VM's
///    plan): GRUB with the lab's guest kernel and initramfs, booted through its MBR, as a raw
///    IDE disk. Same kernel and initramfs as every other cell.
///
/// Serial ports: BitVisor writes its log to COM1 and swallows the guest's accesses there, so a
/// BitVisor VM's three streams sit on other ports than the lab's other cells (`serialPorts`):
/// the guest console on COM2 (`console=ttyS1`) and the results stream on COM3
/// (`gmlab.results=ttyS2`, which the initramfs's /init reads), `guestCommandLine(from:)`.
///
/// QEMU, as verified by hand (libvirt: `<boot dev='cdrom'/>`, the CD as an IDE cdrom, the disk
/// as a raw IDE disk, no `<kernel>`):
///
///     qemu-system-x86_64 -machine pc -accel tcg -cpu qemu64,+svm,+npt -m 1024 -smp 1 -no-reboot \
///         -boot d -cdrom loader.iso -drive file=guest.img,format=raw,if=ide \
///         -serial file:hypervisor.log -serial file:console.log -serial file:results.log
public enum BitVisorBootMedia {
    /// Which serial port (0 = COM1 at 0x3f8, 1 = COM2 at 0x2f8, 2 = COM3 at 0x3e8) carries which
    /// stream in a BitVisor VM. The lab's other cells: console 0, results 1, hypervisor log 2.
    public static let serialPorts = (hypervisorLog: 0, console: 1, results: 2)

    /// The guest's serial devices for those ports.
    public static let consoleDevice = "ttyS1"
    public static let resultsDevice = "ttyS2"

    /// The guest command line of a BitVisor cell from the lab's (`guest.cmdline`, plus what the
    /// cell adds such as `no5lvl`): every `console=ttyS0…` moves to ttyS1 (its options kept),
    /// a console is added when none is named, and `gmlab.results=ttyS2` is appended (an earlier
    /// `gmlab.results=` is dropped).
    public static func guestCommandLine(from base: String) -> String {
        var words = base.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        words.removeAll { $0.hasPrefix("gmlab.results=") }
        var hasConsole = false
        for i in words.indices where words[i].hasPrefix("console=") {
            hasConsole = true
            if words[i].hasPrefix("console=ttyS0") {
                words[i] = "console=" + consoleDevice + words[i].dropFirst("console=ttyS0".count)
            }
        }
        if !hasConsole { words.insert("console=" + consoleDevice, at: 0) }
        words.append("gmlab.results=" + resultsDevice)
        return words.joined(separator: " ")
    }

    /// How far a BitVisor VM got, read from its streams: for the launcher to end a VM whose
    /// BitVisor panicked at once (BitVisor then stops without powering off, so the VM would sit
    /// until its deadline), and to say at a deadline where the boot stopped.
    public enum BootProgress: Sendable, Equatable {
        /// Nothing from BitVisor: GRUB on the loader CD did not start it.
        case noHypervisor
        /// BitVisor panicked; the line says why ("panic(CPU0): unsupported exitcode").
        case hypervisorPanic(String)
        /// BitVisor started but did not reach "Loading MBR." (its own start-up).
        case hypervisorStarting
        /// BitVisor loaded the guest disk's MBR and the guest printed nothing yet (GRUB on the
        /// guest disk, loading the kernel through the BIOS, or the kernel before its console).
        case afterLoadingMBR
        /// The guest console is writing, userspace not up yet.
        case guestBooting
        /// `/init` said "userspace up".
        case userspace

        public init(hypervisorLog: String, console: String) {
            if let panic = hypervisorLog.split(separator: "\n").first(where: { $0.contains("panic(") }) {
                self = .hypervisorPanic(String(panic).trimmingCharacters(in: .whitespaces))
            } else if console.contains("GMLAB-GUEST: userspace up") {
                self = .userspace
            } else if !console.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                self = .guestBooting
            } else if hypervisorLog.contains("Loading MBR.") {
                self = .afterLoadingMBR
            } else if hypervisorLog.contains("Starting BitVisor") {
                self = .hypervisorStarting
            } else {
                self = .noHypervisor
            }
        }

        /// A sentence for a timeout or error record.
        public var explanation: String {
            switch self {
            case .noHypervisor:
                return "BitVisor never wrote to its log (COM1): GRUB on the loader CD did not start it"
            case .hypervisorPanic(let line):
                return "BitVisor panicked (\(line)); it stops without powering the VM off"
            case .hypervisorStarting:
                return "BitVisor started but never reached \"Loading MBR.\" (its own start-up stopped)"
            case .afterLoadingMBR:
                return
                    "BitVisor loaded the guest disk's MBR (\"Loading MBR.\") and the guest wrote nothing since: stuck in GRUB on the guest disk, loading the kernel through the BIOS, or in the kernel before its console"
            case .guestBooting:
                return "the guest kernel was booting (console output) but userspace never came up"
            case .userspace:
                return "the guest reached userspace"
            }
        }
    }

    /// grub.cfg of the loader CD.
    public static func loaderConfig() -> String {
        """
        # Generated by the lab (LabKit/Images/BitVisor/BitVisorBootMedia.swift).
        # BitVisor boots the guest from the BIOS drive GRUB names as the multiboot boot device,
        # which is $root when multiboot runs: the guest disk, (hd0).
        set timeout=0
        set default=0
        menuentry "bitvisor" {
          set bvroot=$root
          set root=(hd0)
          multiboot ($bvroot)/boot/bitvisor.elf
          boot
        }

        """
    }

    /// grub.cfg of the guest disk. The command line goes into grub.cfg as it is, so it may hold
    /// only characters GRUB's script language takes literally.
    public static func guestConfig(commandLine: String) throws -> String {
        for word in commandLine.split(separator: " ") {
            if let bad = word.unicodeScalars.first(where: { !literal.contains($0) }) {
                throw BitVisorError.configuration(
                    "guest command line word \"\(word)\" contains \"\(bad.escaped(asASCII: true))\", which grub.cfg would not pass on literally (allowed: letters, digits and =.,:/_+-@%~)"
                )
            }
        }
        return """
            # Generated by the lab (LabKit/Images/BitVisor/BitVisorBootMedia.swift).
            set timeout=0
            set default=0
            menuentry "gmlab-guest" {
              linux /boot/vmlinuz \(commandLine)
              initrd /boot/initrd.img
              boot
            }

            """
    }

    static let literal = CharacterSet(
        charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789=.,:/_+-@%~")

    /// Writes the loader CD for `elf` to `output` (`work` is scratch space, removed after).
    public static func makeLoaderCD(elf: String, output: String, work: String) async throws {
        try await makeISO(
            files: [(elf, "boot/bitvisor.elf")], config: loaderConfig(), output: output, work: work)
    }

    /// Writes a guest disk booting `kernel` with `initrd` and `commandLine` to `output`.
    public static func makeGuestDisk(
        kernel: String, initrd: String, commandLine: String, output: String, work: String
    ) async throws {
        try await makeISO(
            files: [(kernel, "boot/vmlinuz"), (initrd, "boot/initrd.img")],
            config: try guestConfig(commandLine: commandLine), output: output, work: work)
    }

    /// A GRUB (i386-pc) image holding `files` (host path → path in the image) and grub.cfg. The
    /// result boots from CD (El Torito) and, through its MBR, as a hard disk.
    static func makeISO(files: [(String, String)], config: String, output: String, work: String) async throws {
        let fm = FileManager.default
        let root = work + "/iso-root"
        try? fm.removeItem(atPath: root)
        try fm.createDirectory(atPath: root + "/boot/grub", withIntermediateDirectories: true)
        defer { try? fm.removeItem(atPath: root) }
        for (host, inImage) in files {
            // a hard link where the file system allows it (the kernel and initrd are tens of MiB)
            do { try fm.linkItem(atPath: host, toPath: root + "/" + inImage) } catch {
                try fm.copyItem(atPath: host, toPath: root + "/" + inImage)
            }
        }
        try config.write(toFile: root + "/boot/grub/grub.cfg", atomically: true, encoding: .utf8)
        do {
            try await Command.output("grub-mkrescue", ["-o", output, root])
        } catch {
            throw LabError.imageBuild(
                component: "BitVisor boot image",
                detail:
                    "grub-mkrescue failed (it needs the Debian packages grub-pc-bin, xorriso and mtools: scripts/setup-host installs them): \(error)"
            )
        }
    }
}
