import ArgumentParser
import Foundation
import LabKit
import LabModel

struct Repro: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Boot exactly one case in one matrix cell again, to reproduce or debug it.",
        discussion: """
            With --from DIR (a results directory of an earlier run) the cell and the image digests \
            come from that run: the images are rebuilt from today's sources and must match the \
            recorded digests (else it says what differs and which commit to check out). Without \
            --from, the cell comes from lab.json (--cell picks one when several are runnable). \
            Every failure in a report carries the exact repro command.

            The VM's logs are kept in results/repro-<id>/vms/<vm>/ (console.log, results.log, \
            hypervisor.log, qemu.log, domain.xml). With --gdb the VM starts paused with QEMU's gdb \
            stub open; the command prints how to attach, and no deadline applies.
            """
    )

    @Argument(
        help: ArgumentHelp("The case id, e.g. smoke/hypervisor-lookup.", valueName: "case-id"),
        completion: LabCompletion.caseIds)
    var caseId: String
    @Option(
        name: .long, help: ArgumentHelp("Matrix cell id, e.g. svm-tcg-debian-1024m-1cpu-5lvl.", valueName: "cell"),
        completion: LabCompletion.cellIds)
    var cell: String?
    @Option(
        name: .long, help: ArgumentHelp("Results directory of the run to reproduce.", valueName: "dir"),
        completion: .directory)
    var from: String?
    @Flag(name: .long, help: "Start the VM paused with QEMU's gdb stub open, and print how to attach.")
    var gdb = false
    @Option(name: .long, help: ArgumentHelp("TCP port of the gdb stub (on 127.0.0.1).", valueName: "port"))
    var gdbPort: UInt16 = 1234
    @Flag(name: .long, help: "Run even if the rebuilt images differ from the ones the run recorded.")
    var allowDifferentImages = false
    @Option(
        name: .long, help: ArgumentHelp("Results directory for this repro.", valueName: "dir"), completion: .directory)
    var results: String?
    @OptionGroup var colour: ColourOptions
    @OptionGroup var common: CommonOptions

    func run() async throws {
        var request = ReproRequest(caseId: caseId)
        request.cell = cell
        request.from = from
        request.gdbPort = gdb ? gdbPort : nil
        request.allowDifferentImages = allowDifferentImages
        request.resultsDirectory = results
        let summary = try await ReproRunner(session: try common.session()).run(request)
        print(TextReport.render(summary.results, color: colour.enabled(for: STDOUT_FILENO)))
        for record in summary.results.records {
            for (name, path) in record.logs.sorted(by: { $0.key < $1.key }) {
                print("  \(name): \(summary.directory)/\(path)")
            }
        }
        if !summary.results.succeeded { throw ExitCode(1) }
    }
}
