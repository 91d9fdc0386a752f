import Foundation

/// The build and run-time configuration the lab gives BitVisor (measured in
/// ../shared/docs/bitvisor-notes.md "Source and build"): a minimal pass-through VMM that boots
/// Linux under QEMU TCG with SVM and nested paging, logs on COM1, and never waits for a key.
///
/// Build time: `.config` (Kconfig symbols), written by `dotConfig()` and then normalised by the
/// checkout's own `scripts/kconfig/kconfig.py` (dependencies and defaults filled in);
/// `unmetOptions(normalised:)` then says which requested symbols did not survive.
/// Run time: `defconfig` (a C initializer of `struct config_data` compiled into the image), the
/// checkout's `defconfig.tmpl` with `runtimeOverrides` appended as designated initializers.
public enum BitVisorConfiguration {
    /// Symbols turned on (without `CONFIG_`). 64-bit code; shadow paging set up but unused once
    /// nested paging is active; no VT-d; the serial log (COM1); the debug shell and `get_status`
    /// services; ACPI DSDT parsing (power-off); assertions, ACPI PM timer, backtraces.
    public static let enabled = [
        "64", "CPU_MMU_SPT_3", "CPU_MMU_SPT_USE_PAE", "DISABLE_VTD", "TTY_SERIAL", "DBGSH", "STATUS",
        "ACPI_DSDT", "ENABLE_ASSERT", "ACPI_TIME_SOURCE", "BACKTRACE",
    ]

    /// Symbols turned off: TPM measurement, network/FireWire logging, storage and USB drivers,
    /// encryption, VPN, ID management, networking, PCI monitor, device tree. None is needed to
    /// pass a Linux guest through, and several probe hardware QEMU does not have.
    public static let disabled = [
        "TCG_BIOS", "TTY_X540", "LOG_TO_IEEE1394", "ATA_DRIVER", "NVME_DRIVER", "STORAGE", "STORAGE_IO", "CRYPTO",
        "VPN", "USB_DRIVER", "IEEE1394_CONCEALER", "IDMAN", "NET_DRIVER", "IP", "PCI_MONITOR", "DEVICETREE",
    ]

    /// Run-time settings (`struct config_data` members): no interactive shell after a panic
    /// (it would wait for keyboard input and hold the VM until its deadline), and the
    /// `get_status` service answering.
    public static let runtimeOverrides: [(member: String, value: String)] = [
        (".vmm.shell", "0"), (".vmm.status", "1"),
    ]

    /// `.config` before normalisation, in Kconfig's own syntax.
    public static func dotConfig() -> String {
        var lines = ["# Written by GuestMemLab (LabKit/Images/BitVisor/BitVisorConfiguration.swift)"]
        lines += enabled.map { "CONFIG_\($0)=y" }
        lines += disabled.map { "# CONFIG_\($0) is not set" }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The requested symbols a normalised `.config` does not honour: an enabled one not `=y`
    /// (absent from this checkout's Kconfig, renamed, or its dependencies unmet), a disabled
    /// one `=y`. Empty when the configuration is what the lab asked for.
    public static func unmetOptions(normalised: String) -> [String] {
        var values: [String: String] = [:]
        for line in normalised.split(separator: "\n") {
            let t = line.trimmingCharacters(in: .whitespaces)
            guard t.hasPrefix("CONFIG_"), let eq = t.firstIndex(of: "=") else { continue }
            values[String(t[t.index(t.startIndex, offsetBy: 7)..<eq])] = String(t[t.index(after: eq)...])
        }
        return enabled.filter { values[$0] != "y" }.map { "CONFIG_\($0) is not set (the lab needs it on)" }
            + disabled.filter { values[$0] == "y" }.map { "CONFIG_\($0)=y (the lab needs it off)" }
    }

    /// `defconfig` from the checkout's `defconfig.tmpl`: the template unchanged, with the
    /// overrides inserted before the initializer's closing `};`. In C a later designated
    /// initializer of the same member wins and leaves the other members as the template set
    /// them, so nothing of the template needs to be parsed or rewritten.
    public static func defconfig(template: String) throws -> String {
        guard let close = template.range(of: "};", options: .backwards) else {
            throw BitVisorError.configuration(
                "defconfig.tmpl has no closing \"};\": not the struct config_data initializer the lab expects")
        }
        guard template.contains(".vmm") else {
            throw BitVisorError.configuration(
                "defconfig.tmpl sets no .vmm members: not the struct config_data initializer the lab expects")
        }
        let inserted =
            "\t/* GuestMemLab's run-time settings (LabKit/Images/BitVisor/BitVisorConfiguration.swift) */\n"
            + runtimeOverrides.map { "\t\($0.member) = \($0.value),\n" }.joined()
        // The template's last member may lack a trailing comma.
        let before = template[..<close.lowerBound].last { !$0.isWhitespace }
        let comma = before == "," || before == "{" ? "" : ","
        var text = template
        text.insert(contentsOf: comma + "\n" + inserted, at: close.lowerBound)
        return text
    }
}
