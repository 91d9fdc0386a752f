import ArgumentParser
import Foundation
import LabKit
import LabModel

struct Build: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Build the images every matrix cell boots (cached by content).",
        discussion: """
            Builds, for each guest kernel named in lab.json: the stock Debian kernel (resolved from \
            linux-image-amd64 and cached by version), the guest payloads and the initramfs (busybox, \
            agent, test programs, kernel module), and the hypervisor image. Each is cached under \
            ~/.cache/guestmemlab (or $LAB_CACHE) by the digest of everything that goes into it, so a \
            second build with nothing changed takes about a second. Prints the images and digests.
            """
    )

    @OptionGroup var common: CommonOptions

    func run() async throws {
        let lab = try common.session()
        for kernel in lab.config.matrix.kernels {
            let images = try await lab.builder(progress: RunProgress()).build(kernel: kernel.description)
            print("kernel \(images.kernelVersion) (Debian package \(images.kernelPackageVersion))")
            print("  kernel      \(images.kernel)  \(images.digests["kernel"] ?? "")")
            print("  initramfs   \(images.initramfs)  \(images.digests["initramfs"] ?? "")")
            for problem in images.userCases?.problems ?? [] { print("  warning: \(problem)") }
            if let hv = images.hypervisor {
                print("  hypervisor  \(hv)  \(images.digests["hypervisor"] ?? "")")
            } else {
                print("  hypervisor  NOT BUILT: \(images.hypervisorBuildError ?? "unknown error")")
                throw ExitCode(LabExitStatus.labError.rawValue)
            }
        }
    }
}
