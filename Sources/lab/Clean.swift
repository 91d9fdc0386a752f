import ArgumentParser
import Foundation
import LabKit
import LabModel

struct Clean: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Remove old runs from results/ (keep the newest N, or those since a date), and unused cache images.",
        discussion: """
            A run is a directory with a results.json (repro-… ones too), dated by its start time. \
            With --keep N the newest N stay; with --older-than DATE runs that started before DATE \
            go; with both, a run goes only when both say so. results/latest is repointed at the \
            newest run kept. With --cache, cache entries (~/.cache/guestmemlab or $LAB_CACHE: \
            kernel, guest, hv, user) whose images no kept run recorded are removed too; the newest \
            entry of each kind always stays. --dry-run shows what would go.

            Examples:
              lab clean --keep 10                     the ten newest runs stay
              lab clean --older-than 2026-11-01       runs from before November go
              lab clean --keep 3 --cache --dry-run    what a deep clean would remove
            """
    )

    @Option(name: .long, help: ArgumentHelp("Keep the newest N runs.", valueName: "N"))
    var keep: Int?
    @Option(
        name: .customLong("older-than"),
        help: ArgumentHelp("Remove runs that started before this date (YYYY-MM-DD or ISO 8601).", valueName: "date"))
    var olderThan: String?
    @Flag(name: .long, help: "Also remove cache images that no kept run used.")
    var cache = false
    @Flag(name: .customLong("dry-run"), help: "Only print what would be removed.")
    var dryRun = false
    @Option(
        name: .long,
        help: ArgumentHelp("The results directory (default: results/ in the repository).", valueName: "dir"),
        completion: .directory)
    var results: String?

    func validate() throws {
        if keep == nil && olderThan == nil {
            throw ValidationError("say what to keep: --keep N and/or --older-than DATE")
        }
        if let keep, keep < 0 { throw ValidationError("--keep: expected 0 or more, got \(keep)") }
        if let olderThan, Self.date(olderThan) == nil {
            throw ValidationError(
                "--older-than: expected a date like 2026-11-01 or 2026-11-01T12:00:00Z, got \(olderThan)")
        }
    }

    static func date(_ text: String) -> Date? {
        if let date = try? Date(text, strategy: Date.ISO8601FormatStyle()) { return date }
        return try? Date(text, strategy: Date.ISO8601FormatStyle().year().month().day())
    }

    func run() async throws {
        let paths = try LabPaths.discover()
        let directory = results ?? paths.repository + "/results"
        let cleaner = Cleaner(resultsDirectory: directory, cache: cache ? paths.cache : nil)
        let plan = cleaner.plan(.init(keepNewest: keep, olderThan: olderThan.flatMap(Self.date)))
        var freed: Int64 = 0
        for run in plan.remove {
            let size = Cleaner.size(of: run.path)
            freed += size
            print("\(dryRun ? "would remove" : "remove") \(run.path)  (\(Self.megabytes(size)))")
        }
        for entry in plan.cacheEntries {
            let size = Cleaner.size(of: entry)
            freed += size
            print("\(dryRun ? "would remove" : "remove") cache \(entry)  (\(Self.megabytes(size)))")
        }
        if !dryRun { try cleaner.apply(plan) }
        print(
            "\(plan.remove.count) run\(plan.remove.count == 1 ? "" : "s") and \(plan.cacheEntries.count) cache "
                + "entr\(plan.cacheEntries.count == 1 ? "y" : "ies") \(dryRun ? "would free" : "freed") "
                + "\(Self.megabytes(freed)); \(plan.keep.count) run\(plan.keep.count == 1 ? "" : "s") kept")
    }

    static func megabytes(_ bytes: Int64) -> String { String(format: "%.1f MB", Double(bytes) / 1_000_000) }
}
