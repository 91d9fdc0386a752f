import Foundation
import LabVirt

/// What one VM boots: the kernel, an initramfs carrying this VM's plan, the command line, and —
/// with a hypervisor backend — the hypervisor image with a bundle as its multiboot module.
public struct BootMedia: Sendable, Equatable {
    public var kernel: String
    public var initrd: String
    public var cmdline: String
}

public enum BootMediaBuilder {
    /// Writes the per-VM files into `vmDir` and returns what to boot. `plan` is the agent's plan
    /// (docs/architecture.md "Guest agent protocol"). The plan travels as a second
    /// cpio archive appended to the base initramfs (the kernel unpacks concatenated archives).
    /// `hypervisorCmdline` is the hypervisor's own command line (its `gmlab.*` options; the
    /// multiboot command line: libvirt's `<cmdline>`, GRUB's `multiboot` line).
    public static func prepare(
        vmDir: String, images: ImageSet, backend: String, guestCmdline: String, plan: String,
        hypervisorCmdline: String = ""
    ) async throws -> BootMedia {
        let fm = FileManager.default
        let staging = vmDir + "/plan-root"
        try fm.createDirectory(atPath: staging + "/gmlab", withIntermediateDirectories: true)
        try plan.write(toFile: staging + "/gmlab/plan", atomically: true, encoding: .utf8)
        let planCpio = vmDir + "/plan.cpio"
        // `cpio -o` reads the file list on stdin; a shell keeps that to one line.
        try await Command.output(
            "sh",
            [
                "-c", "cd \"$1\" && printf 'gmlab\\ngmlab/plan\\n' | cpio -o -H newc --quiet > \"$2\"",
                "sh", staging, planCpio,
            ])
        let initrd = vmDir + "/initrd.img"
        var data = try Data(contentsOf: URL(fileURLWithPath: images.initramfs))
        // Pad to 4 bytes: the kernel expects each appended archive to start aligned.
        while data.count % 4 != 0 { data.append(0) }
        data.append(try Data(contentsOf: URL(fileURLWithPath: planCpio)))
        try data.write(to: URL(fileURLWithPath: initrd))
        try? fm.removeItem(atPath: staging)

        guard backend != "none" else {
            return BootMedia(kernel: images.kernel, initrd: initrd, cmdline: guestCmdline)
        }
        guard let hv = images.hypervisor, let mkbundle = images.mkbundle else {
            throw LabError.imageBuild(
                component: "hypervisor",
                detail: images.hypervisorBuildError ?? "no hypervisor image was built")
        }
        let bundle = vmDir + "/bundle.img"
        try await Command.output(
            mkbundle, [bundle, "--kernel", images.kernel, "--initrd", initrd, "--cmdline", guestCmdline])
        return BootMedia(kernel: hv, initrd: bundle, cmdline: hypervisorCmdline)
    }
}
