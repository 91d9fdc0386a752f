import Foundation

/// Everything the lab decides about one Bochs VM: `bochsrc()` turns it into Bochs' configuration
/// file; `validate()` rejects what Bochs would reject later, or silently misread.
///
/// libvirt has no Bochs driver, so a Bochs VM is a child process of the lab (see
/// `BochsSession`). Bochs cannot load a kernel itself: it boots a GRUB CD (`GrubBootCD`) that
/// loads the hypervisor and its bundle (or a Linux kernel directly, for backend `none`).
/// Facts about Debian's bochs 2.7 this relies on are in shared/docs/host-notes.md.
public struct BochsMachine: Sendable, Equatable {
    /// The model with VMX and EPT (Skylake-X); a stock Debian kernel runs KVM on it.
    public static let vmxCPUModel = "corei7_skylake_x"
    /// Bochs runs at roughly 80 M instructions/s on one core here. With `clock: sync=none` the
    /// guest's clock advances by instructions / ips, so this keeps guest seconds close to wall
    /// seconds (the agent's per-case timeouts are guest seconds).
    public static let defaultInstructionsPerSecond = 80_000_000

    /// The lab's name for the VM (`DomainName.next(runID:)`).
    public var name: String
    public var memoryMiB: Int
    public var cpuModel: String
    public var instructionsPerSecond: Int
    /// What GRUB boots.
    public var boot: GrubBootCD.Entry
    /// The three streams: COM1, COM2, COM3 (same ports and file names as libvirt VMs).
    public var serial: SerialFiles
    /// The VM's own directory (results/…/vms/<name>): bochsrc, bochs.log, grub.cfg and the CD.
    public var directory: String

    public init(
        name: String, memoryMiB: Int, cpuModel: String = BochsMachine.vmxCPUModel,
        instructionsPerSecond: Int = BochsMachine.defaultInstructionsPerSecond,
        boot: GrubBootCD.Entry, serial: SerialFiles, directory: String
    ) {
        self.name = name
        self.memoryMiB = memoryMiB
        self.cpuModel = cpuModel
        self.instructionsPerSecond = instructionsPerSecond
        self.boot = boot
        self.serial = serial
        self.directory = directory
    }

    // MARK: Files in `directory`

    public var bochsrcPath: String { directory + "/bochsrc" }
    /// Bochs' own log (its PANIC line says how the machine ended).
    public var logPath: String { directory + "/bochs.log" }
    /// Bochs' stdout and stderr (start-up messages, ALSA noise, a failed exec's error).
    public var outputPath: String { directory + "/bochs.out" }
    /// Debian's bochs is built with the internal debugger, which stops at a prompt at start-up:
    /// this file's commands (`c`, then `q`) run instead.
    public var debuggerCommandsPath: String { directory + "/bochs-debugger.rc" }
    public var isoPath: String { directory + "/boot.iso" }
    /// A copy of the CD's grub.cfg, kept with the results (the CD itself is removed after the run).
    public var grubConfigPath: String { directory + "/grub.cfg" }

    /// `c`ontinue the simulation; `q`uit if it ever stops without Bochs exiting.
    public static let debuggerCommands = "c\nq\n"

    /// Throws the first problem found, naming the field and the bad value.
    public func validate() throws(BochsError) {
        let nameAllowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-_."))
        guard !name.isEmpty, name.unicodeScalars.allSatisfy({ $0.isASCII && nameAllowed.contains($0) }) else {
            throw .invalid(
                field: "name", value: name, reason: "must be non-empty ASCII letters, digits, '-', '_' or '.'")
        }
        // Bochs 2.7 with the i440FX maps at most 2 GiB below the PCI hole plus the rest above
        // 4 GiB; it refuses more than its compile-time limit, and GRUB + Linux need 32 MiB.
        guard (32...8192).contains(memoryMiB) else {
            throw .invalid(
                field: "memoryMiB", value: String(memoryMiB), reason: "must be between 32 and 8192 for Bochs")
        }
        guard !cpuModel.isEmpty, cpuModel.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) else {
            throw .invalid(
                field: "cpuModel", value: cpuModel,
                reason: "must be a Bochs CPU model name (`bochs --help cpu` lists them)")
        }
        guard (1_000_000...4_000_000_000).contains(instructionsPerSecond) else {
            throw .invalid(
                field: "instructionsPerSecond", value: String(instructionsPerSecond),
                reason: "must be between 1e6 and 4e9")
        }
        try Self.checkPath(directory, field: "directory")
        for (field, path) in [
            ("serial.console", serial.console), ("serial.results", serial.results),
            ("serial.hypervisorLog", serial.hypervisorLog),
        ] {
            try Self.checkPath(path, field: field)
        }
        guard Set(serial.all).count == 3 else {
            throw .invalid(
                field: "serial", value: serial.all.joined(separator: ", "),
                reason: "the three streams need three different files")
        }
        try boot.validate()
    }

    /// The bochsrc. Every path is absolute, so Bochs' working directory does not matter.
    /// `terminals`: the pseudo-terminals the lab drains into the stream files (`SerialPump`),
    /// COM1..COM3 in `SerialFiles` order; without them the ports write the files directly
    /// (`mode=file`: buffered by Bochs, fine for a run by hand, too late for the lab's deadlines).
    public func bochsrc(
        share: String = BochsInstallation.defaultShareDirectory, terminals: SerialFiles? = nil
    ) throws(BochsError) -> String {
        try validate()
        try Self.checkPath(share, field: "share")
        if let terminals { for path in terminals.all { try Self.checkPath(path, field: "serial terminal") } }
        func quoted(_ path: String) -> String { "\"\(path)\"" }
        func port(_ file: String, _ terminal: String?) -> String {
            terminal.map { "mode=term, dev=\(quoted($0))" } ?? "mode=file, dev=\(quoted(file))"
        }
        var portsNote = ""
        if terminals != nil {
            portsNote =
                "\n# The ports are terminals the lab drained into the three files (SerialPump);"
                + "\n# by hand, use mode=file, dev=\"<file>\" instead."
        }
        return """
            # Generated by the lab (LabVirt/Bochs/BochsMachine.swift) for VM \(name).
            # Run by hand: bochs -q -f \(bochsrcPath) -rc \(debuggerCommandsPath)
            memory: guest=\(memoryMiB), host=\(memoryMiB)
            # reset_on_triple_fault=0: a triple fault ends Bochs (a PANIC) instead of rebooting into GRUB.
            cpu: model=\(cpuModel), count=1, ips=\(instructionsPerSecond), reset_on_triple_fault=0
            # sync=none: emulated time follows executed instructions, the fastest setting.
            clock: sync=none, time0=local
            romimage: file=\(quoted(share + "/BIOS-bochs-latest"))
            vgaromimage: file=\(quoted(share + "/VGABIOS-lgpl-latest"))
            # Debian's build has no `nogui`; rfb with timeout=0 runs headless without waiting for a
            # viewer. (The lab starts Bochs in its own network namespace when it can, so this VNC
            # port is not reachable and parallel VMs do not compete for 5900.)
            display_library: rfb, options="timeout=0"
            # The i440FX has the PIIX4 ACPI block a guest powers off through.
            pci: enabled=1, chipset=i440fx
            ata0: enabled=1, ioaddr1=0x1f0, ioaddr2=0x3f0, irq=14
            ata0-master: type=cdrom, path=\(quoted(isoPath)), status=inserted
            boot: cdrom
            # The lab's three streams: COM1 guest console, COM2 agent results, COM3 hypervisor log.\(portsNote)
            com1: enabled=1, \(port(serial.console, terminals?.console))
            com2: enabled=1, \(port(serial.results, terminals?.results))
            com3: enabled=1, \(port(serial.hypervisorLog, terminals?.hypervisorLog))
            mouse: enabled=0
            speaker: enabled=0
            log: \(quoted(logPath))
            # A guest power-off is a PANIC in Bochs ("ACPI control: soft power off"): it must end the
            # process, not wait at a prompt. BochsLog reads the last PANIC to say how the VM ended.
            panic: action=fatal
            error: action=report
            info: action=report
            debug: action=ignore

            """
    }

    private static func checkPath(_ value: String, field: String) throws(BochsError) {
        guard value.hasPrefix("/") else {
            throw .invalid(field: field, value: value, reason: "must be an absolute path")
        }
        // bochsrc values are double-quoted, one per line: these would end or break the quoting.
        if let bad = value.unicodeScalars.first(where: { $0.value < 0x20 || $0 == "\"" || $0 == "," }) {
            throw .invalid(
                field: field, value: value,
                reason:
                    "contains \(bad == "\"" ? "a double quote" : bad == "," ? "a comma" : "a control character"), which a bochsrc cannot carry"
            )
        }
    }
}

/// Where Debian's bochs is and what it needs beside it.
public struct BochsInstallation: Sendable, Equatable {
    /// BIOS and VGA BIOS images (Debian: bochsbios, vgabios).
    public static let defaultShareDirectory = "/usr/share/bochs"

    public var bochs: String
    public var share: String
    /// util-linux `setpriv`: the exec wrapper that sets the parent-death signal.
    public var setpriv: String
    /// util-linux `unshare`, when the lab may use it (root): runs Bochs in a private network
    /// namespace so its VNC server is unreachable and never collides with another VM's.
    public var unshare: String?
    public var grubMkrescue: String

    /// Finds the tools in PATH; throws naming what is missing and how to get it.
    public static func find(share: String = defaultShareDirectory) throws(BochsError) -> BochsInstallation {
        func need(_ tool: String, _ package: String) throws(BochsError) -> String {
            guard let path = Command.findInPath(tool) else {
                throw .toolMissing(tool: tool, fix: "install Debian's \(package) (`sudo scripts/setup-host`)")
            }
            return path
        }
        let bochs = try need("bochs", "bochs")
        let setpriv = try need("setpriv", "util-linux")
        let grub = try need("grub-mkrescue", "grub-pc-bin, grub-common, xorriso and mtools")
        for file in ["BIOS-bochs-latest", "VGABIOS-lgpl-latest"]
        where !FileManager.default.fileExists(atPath: share + "/" + file) {
            throw .toolMissing(
                tool: share + "/" + file, fix: "install Debian's bochsbios and vgabios (`sudo scripts/setup-host`)")
        }
        let unshare = geteuid() == 0 ? Command.findInPath("unshare") : nil
        return BochsInstallation(bochs: bochs, share: share, setpriv: setpriv, unshare: unshare, grubMkrescue: grub)
    }
}

public enum BochsError: Error, Sendable, Equatable, CustomStringConvertible {
    case invalid(field: String, value: String, reason: String)
    case toolMissing(tool: String, fix: String)
    case bootCD(detail: String)
    case spawn(detail: String)
    case unsupported(String)

    public var description: String {
        switch self {
        case let .invalid(field, value, reason): return "bochs machine: \(field) = \"\(value)\": \(reason)"
        case let .toolMissing(tool, fix): return "bochs host: \(tool) not found; \(fix)"
        case let .bootCD(detail): return "bochs boot CD: \(detail)"
        case let .spawn(detail): return "bochs: could not start: \(detail)"
        case let .unsupported(what): return "bochs: \(what)"
        }
    }
}
