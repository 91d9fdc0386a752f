import Foundation
import Testing

@testable import LabModel

/// A valid lab.json used as the base of the bad-input variants.
let validConfigText = """
    {
      "schema": 1,
      "matrix": {
        "backends": ["none", "svm"],
        "hosts": ["auto"],
        "kernels": ["debian"],
        "memoryMiB": [1024],
        "vcpus": [1],
        "suites": ["smoke", "hv"]
      },
      "timeouts": { "bootSeconds": 120, "caseSeconds": 60, "perCase": { "selftest/hang": 10 } },
      "guest": { "cmdline": "console=ttyS0 nokaslr panic=-1 quiet" },
      "jobs": "auto",
      "caseDirectories": []
    }
    """

/// Parses `text` expecting failure; returns the issues as "path: message" strings.
func configIssues(_ text: String, file: String = "lab.json") -> [String] {
    do {
        _ = try LabConfig.parse(Data(text.utf8), fileName: file)
        Issue.record("expected a ConfigError")
        return []
    } catch {
        #expect(error.file == file)
        return error.issues.map(\.description)
    }
}

/// `validConfigText` with one substring replaced (which must exist).
func variant(_ old: String, _ new: String) -> String {
    precondition(validConfigText.contains(old), "test bug: \(old) not in the base config")
    return validConfigText.replacingOccurrences(of: old, with: new)
}

@Suite struct ConfigValidationTests {
    @Test func validConfigParses() throws {
        let config = try LabConfig.parse(Data(validConfigText.utf8))
        #expect(config.matrix.backends == [.none, .svm])
        #expect(config.matrix.hosts == [.auto])
        #expect(config.matrix.kernels == [.debianCurrent])
        #expect(config.matrix.memoryMiB == [1024])
        #expect(config.matrix.suites == ["smoke", "hv"])
        #expect(config.timeouts.seconds(forCase: "selftest/hang") == 10)
        #expect(config.timeouts.seconds(forCase: "smoke/other") == 60)
        #expect(config.jobs == .auto)
        #expect(config.guest.cmdline == "console=ttyS0 nokaslr panic=-1 quiet")
    }

    @Test func repositoryDefaultConfigIsValid() throws {
        let url = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath().deletingLastPathComponent()
            .appendingPathComponent("../../lab.json").standardized
        let config = try LabConfig.load(from: url)
        #expect(config.schema == 1)
        #expect(!config.matrix.backends.isEmpty)
    }

    @Test func optionalSectionsDefault() throws {
        let text = """
            {"schema": 1, "matrix": {"backends": ["svm"], "hosts": ["tcg"], "kernels": ["6.1.0-56-amd64"],
             "memoryMiB": [2048], "vcpus": [1], "suites": ["smoke"]}, "timeouts": {"bootSeconds": 90, "caseSeconds": 30}}
            """
        let config = try LabConfig.parse(Data(text.utf8))
        #expect(config.guest.cmdline == LabConfig.defaultCmdline)
        #expect(config.jobs == .auto)
        #expect(config.caseDirectories == [])
        #expect(config.timeouts.perCase.isEmpty)
        #expect(config.matrix.kernels == [.exact("6.1.0-56-amd64")])
    }

    @Test func jsonTextRoundTrips() throws {
        let config = try LabConfig.parse(Data(validConfigText.utf8))
        let again = try LabConfig.parse(Data(config.jsonText().utf8))
        #expect(again == config)
    }

    @Test func unknownBackend() {
        let issues = configIssues(variant(#""backends": ["none", "svm"]"#, #""backends": ["none", "svm", "kvm"]"#))
        #expect(issues == [#"$.matrix.backends[2]: "kvm" is not a backend; expected one of none, svm, vmx, bitvisor"#])
    }

    @Test func negativeTimeout() {
        let issues = configIssues(variant(#""caseSeconds": 60"#, #""caseSeconds": -3"#))
        #expect(issues == ["$.timeouts.caseSeconds: expected a positive number, got -3"])
    }

    @Test func unknownKeyWithSuggestion() {
        let issues = configIssues(variant(#""backends": ["none", "svm"],"#, #""backend": ["none", "svm"],"#))
        #expect(
            issues == [
                #"$.matrix: unknown key "backend" (did you mean "backends"?)"#,
                #"$.matrix: missing required key "backends""#,
            ])
    }

    @Test func unknownKeyWithoutSuggestion() {
        let issues = configIssues(variant(#""jobs": "auto","#, #""jobs": "auto", "colour": true,"#))
        #expect(
            issues == [
                #"$: unknown key "colour"; expected keys: schema, matrix, timeouts, guest, jobs, caseDirectories, bench, hypervisor, machines, bitvisor"#
            ])
    }

    @Test func missingRequiredKeys() {
        let issues = configIssues(#"{"schema": 1}"#)
        #expect(issues == [#"$: missing required key "matrix""#, #"$: missing required key "timeouts""#])
    }

    @Test func wrongTypes() {
        var text = variant(#""backends": ["none", "svm"]"#, #""backends": "svm""#)
        text = text.replacingOccurrences(of: #""memoryMiB": [1024]"#, with: #""memoryMiB": ["1024"]"#)
        text = text.replacingOccurrences(of: #""vcpus": [1]"#, with: #""vcpus": [true]"#)
        let issues = configIssues(text)
        #expect(
            issues == [
                #"$.matrix.backends: expected an array of backends, got "svm""#,
                #"$.matrix.memoryMiB[0]: expected a whole number of MiB from 256 to 1048576, got "1024""#,
                "$.matrix.vcpus[0]: expected a whole number of vCPUs from 1 to 64, got true",
            ])
    }

    @Test func fractionalMemoryIsRejected() {
        let issues = configIssues(variant(#""memoryMiB": [1024]"#, #""memoryMiB": [1024.5, 1e3]"#))
        #expect(
            issues == [
                "$.matrix.memoryMiB[0]: expected a whole number of MiB from 256 to 1048576, got 1024.5",
                "$.matrix.memoryMiB[1]: expected a whole number of MiB from 256 to 1048576, got 1e3",
            ])
    }

    @Test func emptyAxis() {
        let issues = configIssues(variant(#""kernels": ["debian"]"#, #""kernels": []"#))
        #expect(issues == ["$.matrix.kernels: empty; list at least one kernel"])
    }

    @Test func duplicateAxisValue() {
        let issues = configIssues(variant(#""backends": ["none", "svm"]"#, #""backends": ["svm", "none", "svm"]"#))
        #expect(issues == [#"$.matrix.backends[2]: "svm" is listed twice (also at [0])"#])
    }

    @Test func duplicateObjectKey() {
        let issues = configIssues(variant(#""jobs": "auto","#, #""jobs": "auto", "jobs": 2,"#))
        #expect(issues == [#"$: key "jobs" appears twice (lines 13 and 13)"#])
    }

    @Test func badKernelAndHostAndSuite() {
        var text = variant(#""kernels": ["debian"]"#, #""kernels": ["debian", "latest", "6.1.0-56-amd64"]"#)
        text = text.replacingOccurrences(of: #""hosts": ["auto"]"#, with: #""hosts": ["auto", "TCG"]"#)
        text = text.replacingOccurrences(of: #""suites": ["smoke", "hv"]"#, with: #""suites": ["smoke", "Bad Suite"]"#)
        let issues = configIssues(text)
        #expect(
            issues == [
                #"$.matrix.hosts[1]: "TCG" is not a host; expected one of auto, kvm, tcg, bochs (did you mean "tcg"?)"#,
                #"$.matrix.kernels[1]: "latest" is not a kernel; expected "debian" (the current linux-image-amd64) or a Debian kernel version such as "6.1.0-56-amd64""#,
                #"$.matrix.suites[1]: "Bad Suite" is not a suite name; expected lowercase letters, digits, "-" and "_", starting with a letter or digit"#,
            ])
    }

    @Test func badJobsSchemaGuestAndDirectories() {
        var text = variant(#""jobs": "auto""#, #""jobs": 0"#)
        text = text.replacingOccurrences(of: #""schema": 1"#, with: #""schema": 2"#)
        text = text.replacingOccurrences(
            of: #""cmdline": "console=ttyS0 nokaslr panic=-1 quiet""#, with: #""cmdline": 7"#)
        text = text.replacingOccurrences(of: #""caseDirectories": []"#, with: #""caseDirectories": ["a", "", "a"]"#)
        let issues = configIssues(text)
        #expect(
            issues == [
                "$.schema: unsupported schema 2; this lab reads schema 1",
                "$.guest.cmdline: expected the guest kernel command line as a string, got 7",
                #"$.jobs: expected "auto" or a positive integer, got 0"#,
                #"$.caseDirectories[1]: expected a directory path (a non-empty string), got """#,
                #"$.caseDirectories[2]: "a" is listed twice (also at [0])"#,
            ])
    }

    @Test func badPerCaseTimeout() {
        let issues = configIssues(variant(#""selftest/hang": 10"#, #""selftest/hang": "10", "": 5"#))
        #expect(
            issues == [
                #"$.timeouts.perCase["selftest/hang"]: expected a positive number, got "10""#,
                #"$.timeouts.perCase[""]: expected a case id (no spaces), e.g. "selftest/hang""#,
            ])
    }

    @Test func rootNotAnObject() {
        #expect(configIssues("[1, 2]") == ["$: expected an object, got an array"])
    }

    @Test func allProblemsReportedAtOnce() {
        var text = variant(#""backends": ["none", "svm"]"#, #""backends": ["kvm"]"#)
        text = text.replacingOccurrences(of: #""bootSeconds": 120"#, with: #""bootSeconds": 0"#)
        text = text.replacingOccurrences(of: #""vcpus": [1]"#, with: #""vcpus": []"#)
        text = text.replacingOccurrences(of: #""jobs": "auto""#, with: #""jobs": "many""#)
        let issues = configIssues(text)
        #expect(issues.count == 4)
        #expect(issues.contains { $0.hasPrefix("$.matrix.backends[0]:") })
        #expect(issues.contains { $0.hasPrefix("$.matrix.vcpus:") })
        #expect(issues.contains { $0.hasPrefix("$.timeouts.bootSeconds:") })
        #expect(issues.contains { $0.hasPrefix("$.jobs:") })
    }

    @Test func errorDescriptionNamesFileOnEveryLine() {
        do {
            _ = try LabConfig.parse(Data(variant(#""vcpus": [1]"#, #""vcpus": [0, 65]"#).utf8), fileName: "my.json")
            Issue.record("expected an error")
        } catch {
            #expect(
                error.description == """
                    my.json: $.matrix.vcpus[0]: expected a whole number of vCPUs from 1 to 64, got 0
                    my.json: $.matrix.vcpus[1]: expected a whole number of vCPUs from 1 to 64, got 65
                    """)
        }
    }

    @Test func malformedJSONHasLineAndColumn() {
        let text = "{\n  \"schema\": 1,\n  \"matrix\": {,\n}"
        #expect(
            configIssues(text) == [#"line 3, column 14: unexpected character ','; expected a key in double quotes"#])
    }

    @Test func trailingCommaAndComments() {
        #expect(configIssues("{\"schema\": 1,\n}") == ["line 2, column 1: trailing comma before '}'"])
        #expect(configIssues("{\n  // hi\n}") == ["line 2, column 3: comments are not allowed in JSON"])
        #expect(configIssues("") == ["line 1, column 1: the file is empty; expected a JSON object"])
        #expect(configIssues("{\"a\": \"x") == ["line 1, column 9: unexpected end of file inside a string"])
    }

    @Test func missingFileIsAConfigError() {
        do {
            _ = try LabConfig.load(from: URL(fileURLWithPath: "/nonexistent/dir/lab.json"))
            Issue.record("expected an error")
        } catch {
            #expect(error.file == "lab.json")
            #expect(error.issues.count == 1)
            #expect(error.issues[0].message.hasPrefix("cannot read /nonexistent/dir/lab.json"))
        }
    }
}

@Suite struct ConfigOverrideTests {
    let base = try! LabConfig.parse(Data(validConfigText.utf8))

    @Test func overridesReplaceAxes() throws {
        let config = try base.applying(
            ConfigOverrides(
                backends: ["svm"], hosts: ["tcg"], memoryMiB: ["2048", "512"],
                suites: ["smoke"], jobs: "2"))
        #expect(config.matrix.backends == [.svm])
        #expect(config.matrix.hosts == [.host(.tcg)])
        #expect(config.matrix.memoryMiB == [2048, 512])
        #expect(config.matrix.suites == ["smoke"])
        #expect(config.matrix.kernels == base.matrix.kernels)
        #expect(config.jobs == .fixed(2))
    }

    @Test func commaSeparatedValues() throws {
        let config = try base.applying(ConfigOverrides(backends: ["none,svm"], vcpus: ["1, 2"]))
        #expect(config.matrix.backends == [.none, .svm])
        #expect(config.matrix.vcpus == [1, 2])
    }

    @Test func badOverridesAreAllReported() {
        do {
            _ = try base.applying(
                ConfigOverrides(
                    backends: ["kvm"], kernels: ["newest"], memoryMiB: ["lots"],
                    vcpus: ["1", "1"], jobs: "-1"))
            Issue.record("expected an error")
        } catch {
            #expect(error.file == "command line")
            #expect(
                error.issues.map(\.description) == [
                    #"--backend: "kvm" is not a backend; expected one of none, svm, vmx, bitvisor"#,
                    #"--kernel: "newest" is not a kernel; expected "debian" (the current linux-image-amd64) or a Debian kernel version such as "6.1.0-56-amd64""#,
                    #"--memory: expected a whole number of MiB from 256 to 1048576, got "lots""#,
                    "--vcpus: 1 is listed twice",
                    #"--jobs: expected "auto" or a positive integer, got -1"#,
                ])
        }
    }

    @Test func emptyOverrideIsAnError() {
        do {
            _ = try base.applying(ConfigOverrides(suites: [""]))
            Issue.record("expected an error")
        } catch {
            #expect(
                error.issues.map(\.description) == [
                    #"--suite: "" is not a suite name; expected lowercase letters, digits, "-" and "_", starting with a letter or digit"#
                ])
        }
    }

    @Test func noOverridesIsIdentity() throws {
        #expect(ConfigOverrides().isEmpty)
        #expect(try base.applying(ConfigOverrides()) == base)
    }
}
