import Foundation
import LabVirt

/// A VM's boot images (`initrd.img`: the shared initramfs with the VM's plan appended;
/// `bundle.img`: the guest kernel, that initrd and its command line bundled for the
/// hypervisor) are ~99 % of a VM directory and all but the plan is shared. After the VM ends
/// they are replaced by `boot-images.txt`, which names the shared images by digest and how the
/// VM's images were made from them; the plan (`plan.cpio`) and every log stay. `lab run
/// --keep-images` keeps the images themselves.
enum BootImages {
    static let removable = ["initrd.img", "bundle.img", "guest.img"]
    static let referenceFile = "boot-images.txt"

    /// Removes the images in `vmDir` and writes the reference; returns the bytes freed.
    @discardableResult
    static func replaceWithReferences(in vmDir: String, images: ImageSet) -> Int64 {
        let fm = FileManager.default
        var lines = [
            "This VM's boot images were removed after the run (lab run --keep-images keeps them);",
            "they are rebuilt from these shared images (cached by digest) and the plan kept here.",
            "",
            "kernel      \(images.digests["kernel"] ?? "?")  \(images.kernelVersion)",
            "initramfs   \(images.digests["initramfs"] ?? "?")",
        ]
        if let hypervisor = images.digests["hypervisor"] { lines.append("hypervisor  \(hypervisor)") }
        lines.append("")
        var freed: Int64 = 0
        for name in removable {
            let path = vmDir + "/" + name
            guard let size = (try? fm.attributesOfItem(atPath: path))?[.size] as? NSNumber else { continue }
            let how =
                switch name {
                case "initrd.img": "the initramfs, zero-padded to 4 bytes, followed by plan.cpio"
                case "guest.img":
                    "BitVisor's guest disk: grub-mkrescue of <kernel>, initrd.img and grub.cfg (BitVisorBootMedia.makeGuestDisk)"
                default: "mkbundle --kernel <kernel> --initrd initrd.img --cmdline <the cell's guest command line>"
                }
            guard (try? fm.removeItem(atPath: path)) != nil else { continue }
            freed += size.int64Value
            lines.append("\(name) (\(size.int64Value) bytes, removed): \(how)")
        }
        try? (lines.joined(separator: "\n") + "\n").write(
            toFile: vmDir + "/" + referenceFile, atomically: true, encoding: .utf8)
        return freed
    }
}
