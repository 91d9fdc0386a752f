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
    @Flag(name: .long, help: "Print the plan as JSON (cells with status and cases, notes, jobs) on standard output.")
    var json = false

    func run() async throws {
        let session = try common.session()
        var request = matrix.request()
        request.startBoxes = false
        let plan = try await LabRunner(session: session).plan(request, progress: RunProgress(enabled: true))
        if json {
            print(Self.json(plan).prettyText)
            return
        }
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

    /// `lab list --json`: `{"format": 1, "cells": [{"id", "runnable", "skipReason"?, "cases":
    /// [{"id", "suite", "description", "timeoutSeconds"}], "skippedCases": [{"id", "reason"}]}],
    /// "notes": […], "jobs": {"jobs", "limitedBy"}}`.
    static func json(_ plan: RunPlan) -> JSONValue {
        let cells: [JSONValue] = plan.selection.cells.map { selected in
            var object: [String: JSONValue] = [
                "id": .string(selected.cell.id),
                "runnable": .bool(selected.cell.status.skipReason == nil),
                "cases": .array(
                    selected.cases.map {
                        .object([
                            "id": .string($0.id), "suite": .string($0.info.suite),
                            "description": .string($0.info.description), "timeoutSeconds": .number($0.timeoutSeconds),
                        ])
                    }),
                "skippedCases": .array(
                    selected.skippedCases.map { .object(["id": .string($0.info.id), "reason": .string($0.reason)]) }),
            ]
            if let reason = selected.cell.status.skipReason { object["skipReason"] = .string(reason) }
            return .object(object)
        }
        return .object([
            "format": .number(1), "cells": .array(cells),
            "notes": .array((plan.matrix.notes + plan.selection.notes).map(JSONValue.string)),
            "jobs": .object(["jobs": .number(Double(plan.jobs.jobs)), "limitedBy": .string(plan.jobs.limitedBy)]),
        ])
    }
}
