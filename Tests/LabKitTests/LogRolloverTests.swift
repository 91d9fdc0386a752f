import Foundation
import LabModel
import LabVirt
import Testing

@testable import LabKit

/// Streams that reached virtlogd's max_size: found by the backups, kept, named in the record.
@Suite struct LogRolloverTests {
    @Test func limitsFromTheRunningDaemonsConfiguration() throws {
        #expect(
            VirtlogdLimits.parse("# c\nmax_size = 67108864\n max_backups=5 # five\n", source: nil).maxSize == 64 << 20)
        #expect(VirtlogdLimits.parse("max_backups=5 # five\n", source: nil).maxBackups == 5)
        #expect(VirtlogdLimits.parse("", source: nil) == .defaults)
        // A fake /proc: root's virtlogd started with -f CONF, and a user's one to be ignored.
        let dir = try scratchDirectory("virtlogd")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let conf = dir + "/gmlab.conf"
        try "max_size = 1048576\nmax_backups = 2\n".write(toFile: conf, atomically: true, encoding: .utf8)
        func process(_ pid: Int, uid: Int, _ arguments: [String]) throws {
            let path = dir + "/proc/\(pid)"
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            try Data(arguments.joined(separator: "\0").utf8 + [0]).write(to: URL(fileURLWithPath: path + "/cmdline"))
            try "Name:\tvirtlogd\nUid:\t\(uid)\t\(uid)\t\(uid)\t\(uid)\n".write(
                toFile: path + "/status", atomically: true, encoding: .utf8)
        }
        try process(10, uid: 1000, ["/usr/sbin/virtlogd", "-f", "/home/u/other.conf"])
        try process(20, uid: 0, ["virtlogd", "-d", "-f", conf])
        let limits = VirtlogdLimits.current(proc: dir + "/proc")
        #expect(limits == VirtlogdLimits(maxSize: 1 << 20, maxBackups: 2, source: conf))
        #expect(limits.sizeText == "1 MiB")
    }

    func vmDirectory(backups: Int) throws -> String {
        let dir = try scratchDirectory("rollover")
        try FileManager.default.createDirectory(atPath: dir + "/vms/vm1", withIntermediateDirectories: true)
        for name in ["console.log", "results.log", "hypervisor.log"] {
            FileManager.default.createFile(atPath: dir + "/vms/vm1/" + name, contents: Data("x\n".utf8))
        }
        for index in 0..<backups {
            FileManager.default.createFile(atPath: dir + "/vms/vm1/console.log.\(index)", contents: Data())
        }
        return dir
    }

    let logs = [
        "console": "vms/vm1/console.log", "results": "vms/vm1/results.log", "hypervisor": "vms/vm1/hypervisor.log",
    ]
    let limits = VirtlogdLimits(maxSize: 64 << 20, maxBackups: 3, source: nil)

    @Test func nothingRolledOver() throws {
        let dir = try vmDirectory(backups: 0)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let found = LogRollover.inspect(logs: logs, resultsDirectory: dir, limits: limits)
        #expect(found.logs == logs && found.truncated.isEmpty)
    }

    @Test func rolledOverStreamIsNamedWithItsParts() throws {
        let dir = try vmDirectory(backups: 2)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let found = LogRollover.inspect(logs: logs, resultsDirectory: dir, limits: limits)
        #expect(found.logs["console.0"] == "vms/vm1/console.log.0")
        #expect(found.logs["console.1"] == "vms/vm1/console.log.1")
        #expect(found.logs.count == 5)
        #expect(
            found.truncated == [
                "console":
                    "reached virtlogd's max_size (64 MiB) 2 times: the stream is split over console.log.1, console.log.0, console.log (oldest first)"
            ])
    }

    @Test func allBackupsUsedMeansTheBeginningMayBeLost() throws {
        let dir = try vmDirectory(backups: 3)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let text = try #require(
            LogRollover.inspect(logs: logs, resultsDirectory: dir, limits: limits).truncated["console"])
        #expect(text.hasSuffix("virtlogd keeps 3 backups, so the beginning of the stream may be lost"), "\(text)")
    }

    @Test func reportsSayWhichStreamWasTruncated() {
        var record = CaseRecord(
            caseId: "smoke/a", cellId: "c", status: .fail, vmName: "vm1",
            logs: ["console": "vms/vm1/console.log", "console.0": "vms/vm1/console.log.0"])
        record.truncatedLogs = ["console": "reached virtlogd's max_size (2 MiB) 1 time"]
        let results = RunResults(provenance: Provenance(startTime: Date()), cells: [], records: [record])
        #expect(
            TextReport.render(results).contains("console log TRUNCATED: reached virtlogd's max_size (2 MiB) 1 time"))
        let html = HTMLReport.render(results)
        #expect(html.contains("— <strong>truncated</strong>: reached virtlogd&#39;s max_size (2 MiB) 1 time"))
        #expect(html.contains("<code>console</code></a> (<strong title="))
    }
}
