import ArgumentParser
import Foundation
import LabKit
import LabModel

struct Doctor: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Say what this host can run and why, with a fix for each problem.",
        discussion: """
            Tries things rather than guessing: QEMU and libvirt versions and whether libvirtd \
            answers; whether KVM really boots a guest (a boot sector under -accel kvm, not the mere \
            presence of /dev/kvm); nested SVM/VMX; whether QEMU TCG emulates SVM with nested paging \
            (a boot sector reading CPUID under TCG); Bochs and its VMX CPU model. Then shows which \
            cells of the configured matrix are runnable here, and how many VMs run at once. \
            Exits 2 when something the lab needs is missing (the host is not ready).
            """
    )

    @OptionGroup var common: CommonOptions
    @OptionGroup var colour: ColourOptions
    @Flag(
        name: .long, help: "Print the findings as JSON (probes, cells, jobs; \"ready\" is false when the host is not).")
    var json = false

    func run() async throws {
        let report = try await LabKit.Doctor(session: try common.session()).run()
        print(json ? try report.json() : report.render(color: colour.enabled(for: STDOUT_FILENO)))
        if report.hasProblems { throw ExitCode(LabExitStatus.labError.rawValue) }
    }
}
