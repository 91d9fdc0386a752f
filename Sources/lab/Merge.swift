import ArgumentParser
import Foundation
import LabKit
import LabModel

struct Merge: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Combine results directories (the shards of `lab run --shard I/N`) into one.",
        discussion: """
            Reads each DIR/results.json, checks that shards come from one split (same shard count \
            and plan; every shard present once — a shard that could not start keeps its error \
            record), refuses inputs that record the same case of the same cell twice, and writes \
            OUT/results.json, junit.xml, results.tap, report.txt and report.html as one run would, \
            with every VM's logs copied to OUT/vms/. Provenance: earliest start, latest end, the \
            union of images and machines; values that differ between shards are kept and noted. \
            Exits like `lab run` with the merged verdict, so a CI merge job fails when a case did.

            \(LabExitStatus.help)

            Example (CI):
              lab run --shard 1/2 --results out/1     (job 1)
              lab run --shard 2/2 --results out/2     (job 2)
              lab merge results/all out/1 out/2       (after both)
            """
    )

    @Argument(help: ArgumentHelp("The results directory to write.", valueName: "out"))
    var output: String
    @Argument(help: ArgumentHelp("Results directories to merge.", valueName: "dir"))
    var directories: [String]
    @OptionGroup var colour: ColourOptions
    @Flag(name: .long, help: "Print TAP version 13 on standard output instead of the text summary.")
    var tap = false

    func validate() throws {
        if directories.isEmpty { throw ValidationError("name at least one results directory to merge") }
    }

    func run() async throws {
        let summary = try ResultsMerger().merge(into: output, from: directories)
        if tap {
            print(TAPReport.render(summary.results), terminator: "")
        } else {
            print(TextReport.render(summary.results, color: colour.enabled(for: STDOUT_FILENO)))
            print("merged \(directories.count) result\(directories.count == 1 ? "" : "s") into \(summary.directory)")
        }
        let status = summary.results.exitStatus
        if status != .passed { throw ExitCode(status.rawValue) }
    }
}
