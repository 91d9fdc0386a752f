import ArgumentParser
import Foundation
import LabKit
import LabModel

struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the expanded matrix and the case ids that `lab run` would run, without running anything.",
        discussion: """
            Builds the images if needed (the case list comes from the guest test programs), probes \
            the host, and prints every matrix cell — runnable, or skipped with the reason — with the \
            cases selected for it. Takes the same matrix options and filters as `lab run`.
            """
    )

    @OptionGroup var common: CommonOptions
    @OptionGroup var matrix: MatrixOptions
    @Flag(name: .long, help: "Also print each case's description.")
    var descriptions = false

    func run() async throws {
        let session = try common.session()
        let plan = try await LabRunner(session: session).plan(matrix.request(), progress: RunProgress(enabled: true))
        for selected in plan.selection.cells {
            let status = selected.cell.status.skipReason.map { "skipped: \($0)" } ?? "runnable"
            print("\(selected.cell.id)  [\(status)]")
            for c in selected.cases {
                print("  \(c.id)" + (descriptions ? "  — \(c.info.description)" : ""))
            }
            for c in selected.skippedCases {
                print("  \(c.info.id)  (skipped: \(c.reason))")
            }
        }
        for note in plan.matrix.notes + plan.selection.notes { print("note: \(note)") }
        print("jobs: \(plan.jobs.jobs) (limit: \(plan.jobs.limitedBy))")
    }
}
