import Foundation
import LabModel
import LabVirt
import Testing

@testable import LabKit

/// User case directories (docs/user-cases.md): the description's validation and its
/// messages, and the spec the guest runner reads — checked against the real runner, built here.
@Suite struct UserCaseTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path
    static let example = repository + "/Sources/Guest/usercases/seed-example"

    /// A case directory in a fresh temporary directory: `files` by relative path.
    static func directory(_ name: String = "my-cases", _ files: [String: String]) throws -> String {
        let dir = FileManager.default.temporaryDirectory
            .appendingPathComponent("gmlab-uc-\(UUID().uuidString.prefix(8))").appendingPathComponent(name).path
        for (path, text) in files {
            let full = dir + "/" + path
            try FileManager.default.createDirectory(
                atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try text.write(toFile: full, atomically: true, encoding: .utf8)
        }
        return dir
    }

    /// The issues of a description expected to be rejected, as printed (file:line: path: message),
    /// with the directory cut off.
    static func issues(
        _ json: String, files: [String: String] = [:], name: String = "my-cases",
        commands: Set<String>? = ["true", "sh", "echo"]
    ) throws -> [String] {
        let dir = try directory(name, files.merging([UserCaseDescription.fileName: json]) { a, _ in a })
        do {
            _ = try UserCaseDescription.load(directory: dir, commands: commands)
        } catch {
            return "\(error)".replacingOccurrences(of: dir + "/", with: "").split(separator: "\n").map(String.init)
        }
        Issue.record("expected \(json) to be rejected")
        return []
    }

    static let minimalCase = #"{ "name": "a", "description": "d", "run": ["true"] }"#

    // MARK: - The shipped example

    @Test func exampleDirectoryParses() throws {
        let d = try UserCaseDescription.load(directory: Self.example)
        #expect(d.prefix == "seed-example")
        #expect(d.services == ["services/sum3.c", "services/abc2foo.c"])
        #expect(d.modules == ["modules/abc2foo_kmod.c"])
        #expect(d.programs.map(\.name) == ["sum3", "abc2foo", "whoami.sh", "kmod-abc2foo.sh"])
        #expect(d.programs.map(\.kind) == [.c, .c, .script, .script])
        #expect(
            d.cases.map(\.id) == [
                "user/seed-example/sum3", "user/seed-example/linear-abc-foo",
                "user/seed-example/kmod-abc-foo", "user/seed-example/runs-as-nobody",
            ])
        let sum3 = d.cases[0]
        #expect(sum3.run == ["sum3", "1", "2", "39"])
        #expect(sum3.needs == [.hypervisor])
        #expect(sum3.timeoutSeconds == 30)
        #expect(sum3.expect == .init(exitStatus: 0, stdoutMatches: ["^ret: 42$"]))
        #expect(sum3.program(in: d)?.path == "programs/sum3.c")
        #expect(d.cases[3].user == .nobody)
        #expect(d.cases[3].timeoutSeconds == nil)
    }

    @Test func defaultsAndPrefixFromTheDirectoryName() throws {
        let dir = try Self.directory(
            "net-tests", [UserCaseDescription.fileName: #"{"schema":1,"cases":[\#(Self.minimalCase)]}"#])
        let d = try UserCaseDescription.load(directory: dir)
        #expect(d.prefix == "net-tests")
        #expect(d.cases[0].id == "user/net-tests/a")
        #expect(d.cases[0].user == .root)
        #expect(d.cases[0].expect == .init(exitStatus: 0))
        #expect(d.cases[0].needs.isEmpty)
    }

    // MARK: - Errors name the file, the line and the JSON path

    @Test func syntaxErrorHasLineAndColumn() throws {
        let lines = try Self.issues("{\n  \"schema\": 1,\n  \"cases\": [,]\n}")
        #expect(lines.count == 1)
        #expect(lines[0].hasPrefix("cases.json:3: column 13: "), "\(lines)")
    }

    @Test func unknownAndMissingKeysWithSuggestionAndLine() throws {
        let lines = try Self.issues(
            """
            {
              "schema": 1,
              "cases": [
                { "name": "x", "descripton": "typo", "run": ["true"], "user": "admin" }
              ],
              "programz": []
            }
            """)
        #expect(
            lines == [
                #"cases.json:6: $: unknown key "programz" (did you mean "programs"?)"#,
                #"cases.json:4: $.cases[0]: unknown key "descripton" (did you mean "description"?)"#,
                #"cases.json:4: $.cases[0]: missing required key "description""#,
                #"cases.json:4: $.cases[0].user: "admin" is not a user; expected root or nobody"#,
            ])
    }

    @Test func missingDescriptionFileAndDirectory() throws {
        let dir = try Self.directory("my-cases", ["README": "no description here"])
        #expect(throws: UserCaseError.self) { _ = try UserCaseDescription.load(directory: dir) }
        do { _ = try UserCaseDescription.load(directory: dir) } catch {
            #expect(
                "\(error)"
                    == "\(dir)/cases.json: missing: a case directory holds its description in cases.json (docs/user-cases.md)"
            )
        }
        do { _ = try UserCaseDescription.load(directory: dir + "/nope") } catch {
            #expect("\(error)" == "\(dir)/nope: no such directory")
        }
    }

    @Test func filesMustExistInsideTheDirectoryWithTheRightKind() throws {
        let lines = try Self.issues(
            """
            {"schema": 1,
             "services": ["svc/missing.c", "../outside.c", "notes.txt", "svc"],
             "programs": ["prog.bin", "has space.sh", "run.sh", "sub/run.sh"],
             "modules": ["svc/ok.c", "svc/ok.c"],
             "cases": [\(Self.minimalCase)]}
            """,
            files: [
                "notes.txt": "x", "svc/ok.c": "", "prog.bin": "\u{7f}ELF", "run.sh": "#!/bin/sh\n",
                "sub/run.sh": "#!/bin/sh\n",
            ])
        #expect(lines.count == 8, "\(lines)")
        #expect(
            lines.dropFirst().map { $0 } == [
                #"cases.json:2: $.services[1]: "../outside.c" must be a path inside the case directory (relative, without "..")"#,
                #"cases.json:2: $.services[2]: "notes.txt" is not a hypervisor service source (expected a .c file)"#,
                #"cases.json:2: $.services[3]: "svc" is not a hypervisor service source (expected a .c file)"#,
                #"cases.json:4: $.modules[1]: "svc/ok.c" is already listed at $.modules[0]"#,
                // the path checks run over the whole list first, then each program's kind
                #"cases.json:3: $.programs[1]: "has space.sh": file paths may only use letters, digits, "-", "_", ".", "+" and "/" (they go through make and the guest's shell)"#,
                ##"cases.json:3: $.programs[0]: prog.bin is neither a C source (.c) nor a script starting with "#!" (e.g. #!/bin/sh)"##,
                #"cases.json:3: $.programs[3]: sub/run.sh and run.sh would both be the program "run.sh""#,
            ])
        #expect(lines[0].hasPrefix(#"cases.json:2: $.services[0]: "svc/missing.c": no such file in /"#))
    }

    @Test func caseFieldsAreChecked() throws {
        let lines = try Self.issues(
            """
            {"schema": 2, "cases": [
              {"name": "Bad Name", "description": "two\\nlines", "run": []},
              {"name": "a", "description": "d", "run": ["nosuchcmd", 3], "needs": ["hypervisor", "gpu"],
               "timeoutSeconds": 0, "expect": {"exitStatus": 256, "stdoutMatches": ["(unclosed"], "stdoutContains": ""}},
              {"name": "a", "description": "d", "run": ["ech0"]},
              {"name": "b", "description": "d", "run": ["true"], "expect": {"exitStatus": "any", "stdout": "x"}}
            ]}
            """)
        #expect(lines.contains(#"cases.json:1: $.schema: expected 1, got 2"#), "\(lines)")
        #expect(
            lines.contains(
                #"cases.json:2: $.cases[0].name: "Bad Name" is not a case name; expected lowercase letters, digits, "-", "_" and ".", starting with a letter or digit"#
            ))
        #expect(lines.contains(#"cases.json:2: $.cases[0].description: must be one line"#))
        #expect(
            lines.contains(
                #"cases.json:2: $.cases[0].run: expected the command as a non-empty array [program, arguments…], got an array"#
            ))
        #expect(lines.contains(#"cases.json:3: $.cases[1].run[1]: expected an argument (a string), got 3"#))
        #expect(
            lines.contains(
                #"cases.json:3: $.cases[1].needs[1]: "gpu" is not a need; expected one of hypervisor, none, svm, vmx, bitvisor, kvm, tcg, bochs, smp, kmod, fast-host"#
            ))
        #expect(
            lines.contains(
                #"cases.json:4: $.cases[1].timeoutSeconds: expected seconds (a number above 0, at most 86400), got 0"#))
        #expect(
            lines.contains(
                #"cases.json:4: $.cases[1].expect.exitStatus: expected an exit status 0-255 or "any", got 256"#))
        #expect(
            lines.contains {
                $0.hasPrefix(
                    #"cases.json:4: $.cases[1].expect.stdoutMatches[0]: "(unclosed" is not a POSIX extended regular expression: "#
                )
            })
        #expect(lines.contains(#"cases.json:4: $.cases[1].expect.stdoutContains: expected a non-empty string, got """#))
        #expect(
            lines.contains(
                #"cases.json:5: $.cases[2].run[0]: "ech0" is not a program of this directory, an absolute path or a busybox command (did you mean "echo"?)"#
            ))
        #expect(
            lines.contains(
                #"cases.json:6: $.cases[3].expect: unknown key "stdout"; expected keys: exitStatus, stdoutContains, stdoutMatches"#
            ))
        // A valid case after a broken one with the same name is not reported twice; "a" is
        // dropped at [1] (broken), so [2] is the first valid "a" and not a duplicate.
        #expect(!lines.contains { $0.contains("is used twice") })
    }

    @Test func duplicateNamesAndBadPrefix() throws {
        let dup = try Self.issues(
            #"{"schema":1,"prefix":"My_Cases","cases":[\#(Self.minimalCase),\#n\#(Self.minimalCase)]}"#)
        #expect(
            dup == [
                #"cases.json:1: $.prefix: "My_Cases" is not a prefix; expected lowercase letters, digits, "-", "_" and ".", starting with a letter or digit"#,
                #"cases.json:2: $.cases[1].name: "a" is used twice (also on line 1)"#,
            ])
        let unnamed = try Self.issues(#"{"schema":1,"cases":[\#(Self.minimalCase)]}"#, name: "My Cases")
        #expect(
            unnamed == [
                #"cases.json:1: $: the directory's name "My Cases" cannot be the id prefix (lowercase letters, digits, "-", "_", "."); set "prefix""#
            ])
    }

    @Test func fallbackPrefixOfAnUnreadableDirectory() {
        #expect(UserCaseBuilder.fallbackPrefix("/x/My Cases") == "my-cases")
        #expect(UserCaseBuilder.fallbackPrefix("/x/_tmp") == "dir-_tmp")
        #expect(UserCaseDescription.isName(UserCaseBuilder.fallbackPrefix("/x/Ünïcode dir")))
    }

    // MARK: - The runner's spec, read by the real runner

    @Test func specStringsEscapeWhatTheRunnerDecodes() {
        #expect(UserCaseBuilder.specString("plain") == #""plain""#)
        #expect(UserCaseBuilder.specString("a\"b\\c\nd\te\u{1}é") == #""a\"b\\c\nd\te\u0001é""#)
    }

    @Test func runnerExecutesSpecWrittenByTheLab() async throws {
        let build = FileManager.default.temporaryDirectory.appendingPathComponent(
            "gmlab-uc-runner-\(UUID().uuidString.prefix(8))"
        ).path
        defer { try? FileManager.default.removeItem(atPath: build) }
        try await Command.output("make", ["-C", Self.repository + "/Sources/Guest/usercases", "O=\(build)", "runner"])

        let tricky = "quote \" backslash \\ tab\tend é"
        let pass = CaseInfo(id: "user/t/pass", suite: "user", description: "passes \"quoted\"")
        let fail = CaseInfo(id: "user/t/fail", suite: "user", description: "fails")
        let broken = CaseInfo(id: "user/t/broken", suite: "user", description: "broken")
        let skipped = CaseInfo(id: "user/t/needs-hv", suite: "user", description: "needs hv", needs: [.hypervisor])
        var spec = UserCaseBuilder.specBlock(
            info: pass, dir: "/", broken: nil,
            run: ["sh", "-c", "printf '%s\\nline2\\n' \"$1\"; exit 3", "sh", tricky],
            user: .root, expect: .init(exitStatus: 3, stdoutContains: [tricky], stdoutMatches: ["^line2$"]))
        spec += UserCaseBuilder.specBlock(
            info: fail, dir: "/", broken: nil, run: ["echo", "hello"], user: .root,
            expect: .init(exitStatus: 1, stdoutContains: ["bye"], stdoutMatches: ["^h.*o$"]))
        spec += UserCaseBuilder.specBlock(
            info: broken, dir: nil, broken: "x.c:3: error: boom\nsecond line", run: [], user: .root, expect: .init())
        spec += UserCaseBuilder.specBlock(
            info: skipped, dir: "/", broken: nil, run: ["true"], user: .root, expect: .init())
        try spec.write(toFile: build + "/spec", atomically: true, encoding: .utf8)
        let env = ["GMLAB_USER_SPEC": build + "/spec", "GMLAB_BACKEND": "none"]

        let list = try await Command.output(build + "/runner", ["--list"], environment: env).split(separator: "\n").map(
            String.init)
        #expect(list.count == 4)
        #expect(list[0] == #"{"id":"user/t/pass","suite":"user","description":"passes \"quoted\"","needs":[]}"#)
        #expect(list[3] == #"{"id":"user/t/needs-hv","suite":"user","description":"needs hv","needs":["hypervisor"]}"#)
        // The catalog parser reads these lines as the lab's own programs' --list output.
        let catalog = try CaseCatalog.parse(Data(("[" + list.joined(separator: ",") + "]").utf8))
        #expect(catalog.cases == [pass, fail, broken, skipped])

        func run(_ id: String) async throws -> JSONValue {
            let out = try await Command.output(build + "/runner", ["--run", id], environment: env)
            #expect(out.hasPrefix("GMLAB-RESULT "), "\(out)")
            return try JSONDecoder().decode(JSONValue.self, from: Data(out.dropFirst("GMLAB-RESULT ".count).utf8))
        }
        let p = try await run("user/t/pass")
        #expect(p["status"] == .string("pass"), "\(p)")
        #expect(p["values"]?["exit_status"] == .number(3))
        let f = try await run("user/t/fail")
        #expect(f["status"] == .string("fail"))
        #expect(f["message"]?.stringValue == #"exit status 0, expected 1; stdout lacks "bye" — stdout: hello"# + "\n")
        let b = try await run("user/t/broken")
        #expect(b["status"] == .string("error"))
        #expect(b["message"]?.stringValue == "x.c:3: error: boom\nsecond line")
        let s = try await run("user/t/needs-hv")
        #expect(s["status"] == .string("skip"))
        #expect(s["message"]?.stringValue == "no hypervisor")
    }
}
