import Foundation
import Testing

/// The machine-readable outputs of the `lab` executable: `--version`, `list --json`,
/// `doctor --json` (no VM is started; list builds or reuses the cached images).
@Suite(.serialized) struct CLITests {
    func lab(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try InterruptedRunTests.labExecutable())
        process.currentDirectoryURL = URL(fileURLWithPath: LabRunIntegrationTests.repository)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    @Test func versionNamesReleaseAndCommit() throws {
        let (status, output) = try lab(["--version"])
        #expect(status == 0)
        #expect(output.hasPrefix("lab "))
        #expect(output.contains("commit "))
    }

    @Test func listJSONHasCellsWithCases() throws {
        let (status, output) = try lab(["list", "--json", "--backend", "none", "--only", "smoke"])
        #expect(status == 0)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any])
        let cells = try #require(object["cells"] as? [[String: Any]])
        #expect(!cells.isEmpty)
        for cell in cells {
            #expect((cell["id"] as? String)?.hasPrefix("none-") == true)
            let cases = try #require(cell["cases"] as? [[String: Any]])
            #expect(cases.allSatisfy { ($0["id"] as? String)?.hasPrefix("smoke/") == true })
        }
        #expect((object["jobs"] as? [String: Any])?["jobs"] is NSNumber)
    }

    @Test func doctorJSONSaysWhetherTheHostIsReady() throws {
        let (status, output) = try lab(["doctor", "--json"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any])
        let ready = try #require(object["ready"] as? Bool)
        // Exit status 2 exactly when the host is not ready.
        #expect(status == (ready ? 0 : 2))
        #expect(!((object["probes"] as? [Any]) ?? []).isEmpty)
        #expect(object["cells"] is [Any])
    }
}
