import ArgumentParser
import Foundation
import LabKit
import LabModel

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the test matrix: build images, boot VMs through libvirt, run the cases, write results.",
        discussion: """
            Expands the matrix from lab.json (backend × host × kernel × memory × vCPUs × paging), skips the \
            cells this host cannot run (each with its reason), boots one VM per cell (many cases \
            share a boot; if a VM dies, the cases after the one that killed it run again in a fresh \
            VM), and writes results/<run-id>/: junit.xml, results.json (with provenance), report.txt, \
            report.html and every VM's logs under vms/ (the shared boot images are referenced by \
            digest, not copied: --keep-images keeps them); results/latest points at the newest run. \
            Results are written even when the run is interrupted (the unfinished cases marked \
            interrupted) or cannot start (one error record with the message).

            \(LabExitStatus.help)

            Examples:
              lab run --only smoke                         just the smoke suite
              lab run --backend svm --only 'hv/*'          the hv suite under SVM
              lab run --skip 'none-*'                      leave the none cells out
              lab run --paging 5-level --only 'linear/*'   linear suite, 5-level paging
              lab run --backend svm --policy strict        the hypervisor's strict access policy
              lab run --shard 2/4                          the second quarter of the work (CI; then lab merge)
              lab run --machine qemu+ssh://kvm1/system     the cells on another libvirt host (README "Remote machines")
            """
    )

    @OptionGroup var common: CommonOptions
    @OptionGroup var colour: ColourOptions
    @OptionGroup var matrix: MatrixOptions
    @Option(
        name: .long,
        help: ArgumentHelp("Results directory (default: results/<run-id> in the repository).", valueName: "dir"),
        completion: .directory)
    var results: String?
    @Option(
        name: .long,
        help: ArgumentHelp(
            "The hypervisor's access policy (bitvisor, strict); replaces lab.json's hypervisor.policy.",
            valueName: "policy"),
        completion: LabCompletion.policies)
    var policy: String?
    @Flag(name: .long, help: "Print no progress lines, only the summary.")
    var quiet = false
    @Flag(
        name: .customLong("keep-images"),
        help:
            "Keep each VM's boot images (initrd.img, bundle.img) in its directory; by default they are referenced by digest."
    )
    var keepImages = false
    @Flag(
        name: .long, help: "Print TAP version 13 on standard output instead of the text summary (also in results.tap).")
    var tap = false
    @Option(
        name: .long,
        help: ArgumentHelp(
            "Run shard I of N: a deterministic 1/N of the work units (cell × suite), the same on every machine; "
                + "combine the shards' results with `lab merge`.",
            valueName: "I/N"))
    var shard: String?
    @Option(
        name: .long,
        help: ArgumentHelp(
            "Run on these machines: names from lab.json's machines, local, or libvirt URIs "
                + "(qemu+ssh://host/system, qemu+tcp://127.0.0.1:16509/system); repeatable. Replaces lab.json's machines.",
            valueName: "machine"))
    var machine: [String] = []

    func validate() throws {
        if let shard {
            do { _ = try ShardSpec(parsing: shard) } catch { throw ValidationError(error.message) }
        }
    }

    func run() async throws {
        let session: LabSession
        do {
            session = try common.session()
        } catch {
            // Bad lab.json (or no repository): still leave a results file that says why.
            let directory =
                results ?? (try? LabPaths.discover()).map { $0.repository + "/results/" + RunPlan.makeRunID(Date()) }
            if let directory { LabRunner.writeLabFailure(error, directory: directory, progress: RunProgress()) }
            throw error
        }
        var request = matrix.request()
        request.resultsDirectory = results
        request.overrides.policy = policy
        request.showProgress = !quiet
        request.keepImages = keepImages
        request.colour = colour.color
        request.shard = try shard.map { try ShardSpec(parsing: $0) }
        request.machines += machine
        let summary = try await LabRunner(session: session).run(request)
        if tap {
            print(TAPReport.render(summary.results), terminator: "")
            FileHandle.standardError.write(Data("results: \(summary.directory)\n".utf8))
        } else {
            print(TextReport.render(summary.results, color: colour.enabled(for: STDOUT_FILENO)))
            print("results: \(summary.directory)")
        }
        let status = summary.results.exitStatus
        if status != .passed { throw ExitCode(status.rawValue) }
    }
}
