import ArgumentParser
import Foundation
import LabModel

struct Report: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Render a results directory as a readable summary (terminal text or HTML).",
        discussion: """
            Reads DIR/results.json (written by `lab run`) and prints totals, each matrix cell, and \
            every failure with its message, its logs and the command that reproduces it. \
            With --html FILE, writes the self-contained HTML page there instead (`lab run` \
            already leaves one at DIR/report.html).
            """
    )

    @Argument(help: ArgumentHelp("A results directory written by `lab run`.", valueName: "dir"), completion: .directory)
    var directory: String
    @Option(
        name: .long, help: ArgumentHelp("Write the HTML report to this file.", valueName: "file"),
        completion: .file(extensions: ["html"]))
    var html: String?
    @OptionGroup var colour: ColourOptions

    func run() async throws {
        let results = try RunResults.load(from: URL(fileURLWithPath: directory))
        if let html {
            // Log links are relative to the results directory: from the page's own directory.
            let base = HTMLReport.logBase(resultsDirectory: directory, page: html)
            try HTMLReport.render(results, logBase: base).write(toFile: html, atomically: true, encoding: .utf8)
            print("wrote \(html)")
        } else {
            print(TextReport.render(results, color: colour.enabled(for: STDOUT_FILENO)))
        }
    }
}
