import Foundation
import LabModel
import Testing

/// Checks a real run's results.json against docs/schemas/results.schema.json.
enum ResultsSchemaCheck {
    static let schema = URL(fileURLWithPath: LabRunIntegrationTests.repository)
        .appendingPathComponent("docs/schemas/results.schema.json")

    /// Records an issue for each problem of `directory`/results.json.
    static func expectValid(_ directory: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let data = try Data(
            contentsOf: URL(fileURLWithPath: directory).appendingPathComponent(RunResults.FileName.json))
        let problems = try JSONSchema(contentsOf: schema).problems(in: data)
        #expect(
            problems.isEmpty, "results.json does not follow the schema: \(problems)", sourceLocation: sourceLocation)
    }
}
