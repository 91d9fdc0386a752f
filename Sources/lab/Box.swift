import ArgumentParser
import Foundation
import LabKit
import LabModel

struct Box: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the hypervisor under a real KVM host in a box (an L1 KVM host under QEMU TCG).",
        discussion: """
            Builds (cached by content) an L1 image — the guest kernel, busybox, this machine's \
            qemu-system-x86_64 and the kvm_amd module — boots it under QEMU TCG with SVM, loads \
            kvm_amd nested=1 there, and runs the lab's hypervisor and guest in it under \
            `qemu-system-x86_64 -accel kvm -cpu host` (KVM's CPUID signature visible), with the \
            cell's plan. The box's known TCG stall is retried and reported as an infrastructure \
            flake. Each attempt's logs (L1 console, L3 console, results stream, hypervisor log, \
            QEMU's output, a summary) are kept in the results directory. See docs/kvm-box.md.
            """
    )

    @OptionGroup var common: CommonOptions
    @Option(
        name: .long, help: ArgumentHelp("Suites to run (default: smoke,hv).", valueName: "suite"),
        completion: LabCompletion.suites)
    var suite: [String] = []
    @Option(
        name: .long, help: ArgumentHelp("Run only matching cases (globs, as lab run).", valueName: "pattern"),
        completion: LabCompletion.patterns)
    var only: [String] = []
    @Option(
        name: .long, help: ArgumentHelp("Leave out matching cases.", valueName: "pattern"),
        completion: LabCompletion.patterns)
    var skip: [String] = []
    @Option(
        name: .long,
        help: ArgumentHelp(
            "Boot this hypervisor image in L2 instead of the one lab build makes (e.g. an older commit's hv.elf).",
            valueName: "hv.elf"),
        completion: .file(extensions: ["elf"]))
    var hypervisor: String?
    @Option(name: .long, help: ArgumentHelp("Attempts after a stall of the box (default 2).", valueName: "N"))
    var retries = 2
    @Option(
        name: .long,
        help: ArgumentHelp("Results directory (default results/box-<time>).", valueName: "dir"),
        completion: .directory)
    var results: String?

    func run() async throws {
        let lab = try common.session()
        let builder = ImageBuilder(paths: lab.paths, userCaseDirectories: lab.caseDirectories) { print($0) }
        let kernel = lab.config.matrix.kernels.first?.description ?? "debian"
        let images = try await builder.build(kernel: kernel)
        let buildStarted = ContinuousClock.now
        let box = try await builder.buildKVMBox(kernelVersion: images.kernelVersion)
        print("box image \(box.archive) (\(box.key)), \(ContinuousClock.now - buildStarted)")
        guard let hv = hypervisor.map({ URL(fileURLWithPath: $0).standardizedFileURL.path }) ?? images.hypervisor
        else {
            throw ValidationError(
                "the hypervisor did not build: \(images.hypervisorBuildError ?? "unknown error")")
        }
        let catalog = try CaseCatalog.load(from: URL(fileURLWithPath: images.casesCatalog))
        let selection = try KVMBox.cell(
            config: lab.config, catalog: catalog, suites: suite.isEmpty ? ["smoke", "hv"] : suite, only: only,
            skip: skip)
        let configured = lab.config.guest.cmdline
        let directory =
            results.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
            ?? lab.paths.repository + "/results/box-" + Self.stamp()
        var request = KVMBoxRequest(
            box: box, images: images, hypervisor: hv, selection: selection,
            guestCmdline: configured.split(separator: " ").contains("no5lvl") ? configured : configured + " no5lvl",
            bootSeconds: lab.config.timeouts.bootSeconds, directory: directory
        ) { print($0) }
        request.retries = retries
        request.policy = lab.config.policy
        print("cell \(selection.cell.id): \(selection.cases.count) cases, hypervisor \(hv)")
        let run = try await KVMBox.run(request)

        var failed = false
        for attempt in run.attempts {
            let t = attempt.timings
            func f(_ v: Double?) -> String { v.map { String(format: "%.1f", $0) } ?? "-" }
            print(
                "attempt \(attempt.number): \(attempt.outcome); L1 userspace \(f(t.l1Userspace)) s, L2 start "
                    + "\(f(t.l2Started)) s, L3 userspace \(f(t.l2Userspace)) s, agent done \(f(t.agentDone)) s, "
                    + "total \(f(t.total)) s (+\(f(t.preparation)) s preparation)")
        }
        let final = run.final
        if !run.flakes.isEmpty { print("infrastructure flakes (the box's stall, retried): \(run.flakes.count)") }
        print(final.kvmModule ?? "no kvm_amd line from L1")
        print(final.outerHypervisor ?? "the hypervisor logged no outer hypervisor")
        if let fatal = final.hypervisorFatal {
            print("hypervisor: \(fatal)")
            failed = true
        }
        for r in final.results { print("  \(r.status.rawValue.uppercased()) \(r.id): \(r.message)") }
        let ran = Set(final.results.map(\.id))
        for c in selection.cases where !ran.contains(c.id) { print("  NOT RUN \(c.id)") }
        for p in final.agentProblems + final.streamProblems { print("  problem: \(p)") }
        failed =
            failed || final.outcome != .completed || !final.agentDone || ran.count != selection.cases.count
            || final.results.contains { $0.status != .pass && $0.status != .skip } || !final.streamProblems.isEmpty
        print("logs: \(directory)")
        if failed { throw ExitCode(1) }
    }

    static func stamp() -> String {
        let f = DateFormatter()
        f.dateFormat = "yyyyMMdd'T'HHmmss"
        f.timeZone = TimeZone(identifier: "UTC")
        return f.string(from: Date())
    }
}
