import Foundation
import FoundationXML
import LabModel
import LabVirt
import Testing

@testable import LabKit

/// User case directories end to end (docs/user-cases.md): the shipped example
/// (Sources/Guest/usercases/seed-example: two services in the hypervisor, C programs, a script run as nobody, a
/// kernel module) passes under backend svm, while a directory whose service does not compile and
/// one whose description is wrong are reported as errors naming file and line — in the same run,
/// the same VM, next to a lab case that still passes. One VM (TCG), about a minute.
@Suite(.serialized) struct UserCasesIntegrationTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path

    /// Two broken case directories in a temporary directory.
    static func brokenDirectories() throws -> (service: String, description: String) {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent(
            "gmlab-it-usercases-\(UUID().uuidString.prefix(8))"
        ).path
        let service = root + "/bad-service"
        let description = root + "/bad-description"
        for dir in [service, description] {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        }
        try #"""
        {
          "schema": 1,
          "services": ["broken.c"],
          "cases": [ { "name": "uses-broken", "description": "relies on a service that does not compile", "run": ["true"] } ]
        }
        """#.write(toFile: service + "/cases.json", atomically: true, encoding: .utf8)
        try """
        #include "vmmcall.h"
        #include "initfunc.h"
        static void f(void) { int x = ; }
        static void init(void) { vmmcall_register("bad.f", f); }
        INITFUNC("vmmcal0", init);
        """.write(toFile: service + "/broken.c", atomically: true, encoding: .utf8)
        try """
        {
          "schema": 1,
          "cases": [
            { "name": "x", "descripton": "typo", "run": ["true"] }
          ]
        }
        """.write(toFile: description + "/cases.json", atomically: true, encoding: .utf8)
        return (service, description)
    }

    @Test func exampleDirectoryPassesAndBrokenOnesAreReportedBesideALabCase() async throws {
        guard getuid() == 0 else {
            Issue.record("integration tests drive libvirtd on qemu:///system and must run as root (sudo make test)")
            return
        }
        let broken = try Self.brokenDirectories()
        defer { try? FileManager.default.removeItem(atPath: (broken.service as NSString).deletingLastPathComponent) }
        let example = Self.repository + "/Sources/Guest/usercases/seed-example"
        let paths = LabPaths(repository: Self.repository, cache: LabPaths.defaultCache())
        var config = try LabConfig.load(from: URL(fileURLWithPath: paths.labJSON))
        config.timeouts.bootSeconds = 150
        let dirs = [example, broken.service, broken.description]
        let lab = LabSession(
            paths: paths, config: config, configFile: paths.labJSON,
            caseDirectories: dirs, commandLineCaseDirectories: dirs)
        let results = FileManager.default.temporaryDirectory.appendingPathComponent(
            "gmlab-it-usercases-run-\(UUID().uuidString.prefix(8))"
        ).path
        var request = RunRequest()
        request.only = ["user", "smoke/kernel-version"]
        request.overrides = ConfigOverrides(backends: ["svm"], paging: ["4-level"])  // one cell, one VM
        request.resultsDirectory = results
        let summary = try await LabRunner(session: lab).run(request)
        let records = summary.results.records
        func record(_ id: String) throws -> CaseRecord {
            try #require(records.first { $0.caseId == id }, "no record for \(id)")
        }

        // The lab's own case and every example case pass, in one VM.
        #expect(try record("smoke/kernel-version").status == .pass)
        for name in ["sum3", "linear-abc-foo", "kmod-abc-foo", "runs-as-nobody"] {
            let r = try record("user/seed-example/\(name)")
            #expect(r.status == .pass, "\(r.caseId): \(r.message)")
        }
        #expect(Set(records.compactMap(\.vmName)).count == 1)

        // The broken directories: errors carrying the compiler's and the validator's file:line.
        let service = try record("user/bad-service/uses-broken")
        #expect(service.status == .error)
        #expect(service.message.contains("a hypervisor service does not compile"), "\(service.message)")
        #expect(service.message.contains(broken.service + "/broken.c:3:"), "\(service.message)")
        let description = try record("user/bad-description/cases.json")
        #expect(description.status == .error)
        #expect(
            description.message.contains(
                broken.description
                    + #"/cases.json:4: $.cases[0]: unknown key "descripton" (did you mean "description"?)"#),
            "\(description.message)")
        #expect(description.message.contains(#"$.cases[0]: missing required key "description""#))
        #expect(summary.results.notes.contains { $0.contains(broken.service) && $0.contains("broken.c:3:") })

        // The hypervisor ran the example's services and not the broken one.
        let vm = try #require(service.vmName)
        let hvLog = try String(contentsOfFile: results + "/vms/\(vm)/hypervisor.log", encoding: .utf8)
        #expect(hvLog.contains("example.sum3") && hvLog.contains("example.abc2foo"))
        #expect(!hvLog.contains("bad.f"))

        // Reported like the lab's own: JUnit testcases with <error>, and a repro command that
        // names the case directories.
        let junit = try XMLDocument(contentsOf: URL(fileURLWithPath: results + "/junit.xml"))
        let userCases = try junit.nodes(forXPath: "//testcase[starts-with(@name, 'user/')]")
        #expect(userCases.count == 6)
        let errors = try junit.nodes(forXPath: "//testcase[starts-with(@name, 'user/bad-')]/error")
        #expect(errors.count == 2)
        #expect(service.repro?.contains("--cases " + broken.service) == true, "\(service.repro ?? "nil")")
        try? FileManager.default.removeItem(atPath: results)
    }
}
