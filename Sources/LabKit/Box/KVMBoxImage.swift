import Foundation
import LabVirt

/// The KVM host in a box (docs/kvm-box.md): an L1 Linux under QEMU TCG with SVM that loads
/// `kvm_amd nested=1` and runs L2 — the lab's hypervisor and guest — under
/// `qemu-system-x86_64 -accel kvm -cpu host`. This is L1's image: the guest kernel's bzImage and
/// the base archive from `images/kvm-box.sh`, cached by content.
public struct KVMBoxImage: Sendable, Equatable, Codable {
    /// The L1 kernel: the lab's guest kernel, uncompressed (`vmlinux`, which QEMU boots through
    /// its PVH entry: ~10 s less under TCG than the bzImage decompressing itself), else the bzImage.
    public var kernel: String
    public var kernelVersion: String
    /// `box.cpio`: busybox, /init, QEMU with its libraries and firmware, kvm and virtio modules.
    public var archive: String
    /// The cache key: the recipe, L1's /init, every host file that went in, the kernel version.
    public var key: String
}

/// Why the box could not be built or run.
public enum KVMBoxError: Error, CustomStringConvertible, Sendable {
    /// A tool the box needs is missing on this machine (the message names it and its package).
    case missingTool(String)
    case spawn(String)
    case invalid(String)

    public var description: String {
        switch self {
        case .missingTool(let what): return "the KVM box needs \(what)"
        case .spawn(let detail): return "could not start the KVM box: \(detail)"
        case .invalid(let detail): return "KVM box: \(detail)"
        }
    }
}

extension ImageBuilder {
    /// Builds (or finds in the cache) the box's L1 image for the guest kernel `kernelVersion`
    /// (an exact version; `resolveKernel` turns "debian" into one). The key covers the host
    /// files the recipe copies (`kvm-box.sh --inputs`: QEMU, its libraries, firmware, busybox),
    /// so a QEMU upgrade makes a new image.
    public func buildKVMBox(kernelVersion: String) async throws -> KVMBoxImage {
        let kernelDir = try await buildKernel(version: kernelVersion)
        let recipe = paths.imagesRecipes + "/kvm-box.sh"
        let inputs: [String]
        do {
            inputs = try await Command.output(recipe, ["--inputs"]).split(separator: "\n").map(String.init)
        } catch let error as CommandError {
            throw KVMBoxError.missingTool(error.outputTail)
        }
        let key = try await Digest.tree(
            [recipe, paths.imagesRecipes + "/kvm-box-init.sh", paths.imagesRecipes + "/stock-modules.sh"] + inputs,
            relativeTo: paths.repository,
            extra: ["kvm-box", "kernel \(kernelVersion)"] + inputs)
        let dir = paths.cache + "/kvm-box/" + shortKey(key)
        let vmlinux = kernelDir + "/vmlinux"
        let image = KVMBoxImage(
            kernel: FileManager.default.fileExists(atPath: vmlinux) ? vmlinux : kernelDir + "/vmlinuz",
            kernelVersion: kernelVersion, archive: dir + "/box.cpio", key: key)
        if FileManager.default.fileExists(atPath: image.archive) { return image }
        log("building the KVM box (L1 image)")
        _ = try await buildAtomically(into: dir, component: "KVM box") { tmp, logFile in
            try await Command.logged(recipe, [tmp, kernelDir], logFile: logFile)
        }
        return image
    }
}
