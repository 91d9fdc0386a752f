import Foundation
import Testing

/// The machine-readable outputs of the `lab` executable: `--version`, `list --json`,
/// `doctor --json` (no VM is started; list builds or reuses the cached images).
@Suite(.serialized) struct CLITests {
    func lab(_ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
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

    // MARK: Shell completion

    static let subcommands = ["doctor", "build", "list", "run", "report", "merge", "repro", "bench", "box", "clean"]

    @Test func completionScriptsNameTheSubcommands() throws {
        for shell in ["bash", "zsh", "fish"] {
            let (status, script) = try lab(["--generate-completion-script", shell])
            #expect(status == 0, "\(shell)")
            for name in Self.subcommands {
                #expect(script.contains(name), "the \(shell) script does not name \(name)")
            }
        }
        let (_, bash) = try lab(["--generate-completion-script", "bash"])
        #expect(bash.contains("compgen -W 'doctor build list run report merge repro bench box clean help'"))
    }

    /// The values computed at TAB time: `lab ---completion …` as the generated scripts call it.
    @Test func customCompletionOffersSuitesCellsAndCases() throws {
        let (status, patterns) = try lab(
            ["---completion", "run", "--", "--only", "3", "0", "lab", "run", "--only", ""],
            environment: ["SAP_SHELL": "bash"])
        #expect(status == 0)
        let words = patterns.split(separator: "\n").map(String.init)
        #expect(words.contains("smoke/*"), "\(words)")
        #expect(words.contains { $0.hasPrefix("svm-tcg-") && $0.hasSuffix("-4lvl") }, "\(words)")
        let (_, cells) = try lab(
            ["---completion", "repro", "--", "--cell", "4", "0", "lab", "repro", "smoke/a", "--cell", ""],
            environment: ["SAP_SHELL": "bash"])
        #expect(!cells.isEmpty && cells.split(separator: "\n").allSatisfy { $0.contains("cpu-") }, "\(cells)")
    }

    /// The bash script, sourced into bash and asked as bash's `complete -F` would ask it.
    @Test func bashCompletesSubcommandsAndBackends() throws {
        guard FileManager.default.isExecutableFile(atPath: "/bin/bash") else {
            Issue.record("/bin/bash is missing: cannot try the bash completion script")
            return
        }
        let (_, script) = try lab(["--generate-completion-script", "bash"])
        let dir = LabRunIntegrationTests.temporaryDirectory("completion")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try script.write(toFile: dir + "/lab.bash", atomically: true, encoding: .utf8)
        let driver = #"""
            source "$1/lab.bash"
            comp() {
                COMP_LINE="$1"; COMP_POINT=${#COMP_LINE}; read -ra COMP_WORDS <<< "$COMP_LINE"
                [[ "$COMP_LINE" == *" " ]] && COMP_WORDS+=("")
                COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMPREPLY=()
                _lab lab "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
                echo "${COMPREPLY[*]}"
            }
            comp "lab re"
            comp "lab run --backend "
            comp "lab run --paging 5"
            """#
        try driver.write(toFile: dir + "/driver.sh", atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [dir + "/driver.sh", dir]
        process.currentDirectoryURL = URL(fileURLWithPath: LabRunIntegrationTests.repository)
        // The script runs `lab` (its first word) for custom values: this build's.
        let bin = URL(fileURLWithPath: try InterruptedRunTests.labExecutable()).deletingLastPathComponent().path
        process.environment = ProcessInfo.processInfo.environment.merging(
            ["PATH": bin + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")]) { _, new in new }
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let lines = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            .split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        process.waitUntilExit()
        #expect(lines.count >= 3, "\(lines)")
        guard lines.count >= 3 else { return }
        #expect(lines[0] == "report repro", "\(lines[0])")
        #expect(lines[1] == "none svm vmx bitvisor", "\(lines[1])")
        #expect(lines[2] == "5-level", "\(lines[2])")
    }
}
