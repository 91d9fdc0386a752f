import ArgumentParser
import Foundation
import LabKit
import LabModel

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure the guest-memory transfer methods and their baselines; write bench.json/csv/md/html.",
        discussion: """
            Boots one VM per bench backend (lab.json "bench".backends, default none and svm), \
            one after the other, and runs the guest program bench/: every method (registers, \
            guest-physical from the kernel — contiguous and page list —, guest-physical from user \
            space via pagemap, guest-linear byte-wise and page-wise) in both directions at every \
            power-of-two size, with the baselines: the guest's memcpy, a null hypercall through \
            our hypervisor, and a null hypercall handled in the kernel by KVM running inside the
            backend-none guest. Writes, next to the run's results.json and VM logs:
            bench.json (raw samples, summaries, provenance), bench.csv, bench.md, bench.html. \
            Settings come from lab.json's "bench" section; the options below replace them. \
            Sizes accept 8, 4K, 64KiB, 16M. Exits 1 if a bench case could not measure.

            Examples:
              lab bench                                     the default run (under 10 minutes)
              lab bench --max-size 1M --repetitions 5       a quicker, rougher run
              lab bench --method linear-page,linear-byte --direction read
              lab bench --compare results/<old-run>/bench.json
              lab bench --from results/<run> --compare OLD.json   re-render, no VMs
            """
    )

    @OptionGroup var common: CommonOptions
    @OptionGroup var matrix: MatrixOptions
    @Option(
        name: .customLong("min-size"), help: ArgumentHelp("Smallest transfer size (power of two).", valueName: "bytes"))
    var minSize: String?
    @Option(
        name: .customLong("max-size"),
        help: ArgumentHelp("Largest transfer size (power of two, at most 16M).", valueName: "bytes"))
    var maxSize: String?
    @Option(name: .long, help: ArgumentHelp("Samples per point (3–1000).", valueName: "N"))
    var repetitions: String?
    @Option(name: .long, help: ArgumentHelp("Unrecorded warm-up samples per point (0–100).", valueName: "N"))
    var warmup: String?
    @Option(
        name: .long,
        help: ArgumentHelp(
            "Methods to measure: regs, phys-kernel, phys-kernel-list, phys-user, linear-byte, linear-page, linear-page-refuse, linear-page-faultin, linear-page-mlock; repeat or comma-separate.",
            valueName: "method"),
        completion: LabCompletion.methods)
    var method: [String] = []
    @Option(
        name: .long,
        help: ArgumentHelp(
            "Directions: read (guest → hypervisor), write (hypervisor → guest).", valueName: "direction"),
        completion: LabCompletion.directions
    )
    var direction: [String] = []
    @Option(
        name: .customLong("byte-wise-max"),
        help: ArgumentHelp("Largest size for the byte-wise linear method.", valueName: "bytes"))
    var byteWiseMax: String?
    @Option(
        name: .customLong("registers-max"),
        help: ArgumentHelp("Largest size for the register method.", valueName: "bytes"))
    var registersMax: String?
    @Option(
        name: .long,
        help: ArgumentHelp(
            "Compare with an earlier bench.json (or its directory): what got faster or slower, with significance.",
            valueName: "old.json"),
        completion: .file(extensions: ["json"]))
    var compare: String?
    @Option(
        name: .long,
        help: ArgumentHelp(
            "Do not measure: re-render the reports of this bench directory (with --compare).", valueName: "dir"),
        completion: .directory)
    var from: String?
    @Option(
        name: .long,
        help: ArgumentHelp("Results directory (default: results/<run-id> in the repository).", valueName: "dir"),
        completion: .directory)
    var results: String?
    @Flag(name: .long, help: "Print no progress lines, only the summary.")
    var quiet = false

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Measure on these machines: names from lab.json's machines, local, or libvirt URIs; repeatable.",
            valueName: "machine"))
    var machine: [String] = []

    func validate() throws {
        if !matrix.suite.isEmpty {
            throw ValidationError("--suite: lab bench always runs the bench suite; choose methods with --method")
        }
    }

    func run() async throws {
        let outcome: BenchOutcome
        if let from {
            outcome = try BenchRunner.rerender(directory: from, compareWith: compare)
        } else {
            let session = try common.session()
            var request = BenchRequest()
            request.overrides = matrix.overrides
            request.only = matrix.only
            request.skip = matrix.skip
            request.bench = BenchOverrides(
                minSize: minSize, maxSize: maxSize, repetitions: repetitions, warmup: warmup,
                methods: method.isEmpty ? nil : method, directions: direction.isEmpty ? nil : direction,
                byteWiseMaxSize: byteWiseMax, registersMaxSize: registersMax)
            request.compareWith = compare
            request.resultsDirectory = results
            request.showProgress = !quiet
            request.machines = matrix.request().machines + machine
            outcome = try await BenchRunner(session: session).run(request)
        }
        print(Self.summary(outcome.document))
        if let comparison = outcome.comparison { print(comparison.text()) }
        print("bench: \(outcome.directory)/\(BenchDocument.FileName.html) (also bench.json, bench.csv, bench.md)")
        if !outcome.document.problems.isEmpty { throw ExitCode(1) }
    }

    /// Targets and the cases that did not measure, for the terminal.
    static func summary(_ doc: BenchDocument) -> String {
        var lines = [
            "lab bench: \(doc.points.count) points, \(doc.scalars.count) baselines, \(String(format: "%.0f", doc.wallSeconds)) s"
        ]
        for t in doc.targets {
            lines.append(
                "  \(t.verdict.padding(toLength: 12, withPad: " ", startingAt: 0)) \(t.description): "
                    + "\(t.value.map(BenchTarget.format) ?? "–") (\(t.thresholdText)) — \(t.detail)")
        }
        for o in doc.problems { lines.append("  \(o.status.rawValue): \(o.cellId) \(o.caseId): \(o.message)") }
        return lines.joined(separator: "\n")
    }
}
