import Foundation
import LabModel
import Testing

@testable import LabKit

/// How the KVM box's runner reads its four streams and when it stops an attempt (no VM needed):
/// the box's own stall is an infrastructure flake, a hang of what runs in L2 is not.
@Suite struct KVMBoxWatchTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path

    static let catalogText = """
        [
          {"program":"hv","id":"hv/a","suite":"hv","description":"d","needs":["hypervisor"]},
          {"program":"smoke","id":"smoke/b","suite":"smoke","description":"d","needs":[]},
          {"program":"smoke","id":"smoke/only-none","suite":"smoke","description":"d","needs":["none"]},
          {"program":"linear","id":"linear/c","suite":"linear","description":"d","needs":[]}
        ]
        """

    static func selection() throws -> CellSelection {
        var config = try LabConfig.load(from: URL(fileURLWithPath: repository + "/lab.json"))
        config.timeouts.caseSeconds = 10
        let catalog = try CaseCatalog.parse(Data(catalogText.utf8))
        return try KVMBox.cell(config: config, catalog: catalog, suites: ["smoke", "hv"])
    }

    static func watch() throws -> Watch {
        let images = ImageSet(
            kernelVersion: "6.1.0-1-amd64", kernelPackageVersion: "1", kernel: "/k", vmlinux: nil, initramfs: "/i",
            casesCatalog: "/c", hypervisor: "/hv", mkbundle: "/mkbundle", hypervisorBuildError: nil, digests: [:])
        var request = KVMBoxRequest(
            box: KVMBoxImage(kernel: "/k", kernelVersion: "6.1.0-1-amd64", archive: "/box.cpio", key: "sha256:0"),
            images: images, hypervisor: "/hv", selection: try selection(), guestCmdline: "console=ttyS0",
            bootSeconds: 100, directory: "/tmp/x")
        request.l1BootSeconds = 60
        request.heartbeatGapSeconds = 30
        return Watch(request: request, say: { _ in })
    }

    /// L1 up at 5 s, L2 started at 6 s, ticking every 2 s up to `until`.
    static func booted(_ w: inout Watch, ticksUntil until: Double = 6) {
        w.consume(stream: "l1-console", lines: ["GMLAB-BOX: L1 userspace up after 3.1 s, kernel 6.1"], at: 5)
        w.consume(
            stream: "l1-console",
            lines: ["GMLAB-BOX: kvm_amd loaded: nested=1 npt=Y nrips=0 vgif=0 vls=0", "GMLAB-BOX: starting L2: …"],
            at: 6)
        var t = 8.0
        while t <= until {
            w.consume(stream: "l1-console", lines: ["GMLAB-BOX: tick \(t)"], at: t)
            t += 2
        }
    }

    @Test func theBoxCellIsSVMUnderKVMWithTheSuitesNeedsApplied() throws {
        let s = try Self.selection()
        #expect(s.cell.id.hasPrefix("svm-kvm-"))
        #expect(s.cell.id.hasSuffix("-1024m-1cpu-4lvl"))
        #expect(s.cases.map(\.id) == ["hv/a", "smoke/b"])
        #expect(s.skippedCases.map(\.info.id) == ["smoke/only-none"])
        #expect(s.agentPlan().hasPrefix("backend svm\n"))
    }

    @Test func aRunThatFinishesIsNeverStopped() throws {
        var w = try Self.watch()
        Self.booted(&w, ticksUntil: 40)
        w.consume(stream: "console", lines: ["GMLAB-GUEST: userspace up"], at: 20)
        w.consume(
            stream: "hypervisor",
            lines: [#"GMLAB-HV: outer hypervisor: CPUID 0x40000000 max leaf 0x40000001, signature "KVMKVMKVM"; …"#],
            at: 7)
        w.consume(
            stream: "results",
            lines: [
                #"GMLAB-AGENT {"event":"start","cases":2}"#, "GMLAB-BEGIN hv/a",
                #"GMLAB-RESULT {"id":"hv/a","status":"pass","message":"ok","values":{}}"#,
                #"GMLAB-AGENT {"event":"done"}"#,
            ], at: 30)
        #expect(w.check(at: 40) == nil)
        w.consume(
            stream: "l1-console",
            lines: [
                "GMLAB-BOX: L2 ended: qemu exit status 0 at 40.2 s",
                "GMLAB-BOX: stream results bytes 120 sha256 abcd",
            ], at: 41)
        #expect(w.check(at: 90) == nil, "no heartbeat is expected once L2 has ended")
        #expect(w.timings.l1Userspace == 5 && w.timings.l2Started == 6 && w.timings.l2Userspace == 20)
        #expect(w.timings.agentDone == 30 && w.timings.l2Ended == 41)
        #expect(w.l2ExitStatus == 0)
        #expect(w.kvmModule == "kvm_amd loaded: nested=1 npt=Y nrips=0 vgif=0 vls=0")
        #expect(w.outerHypervisor?.contains("KVMKVMKVM") == true)
        #expect(w.streamSummaries["results"]?.bytes == 120 && w.streamSummaries["results"]?.sha256 == "abcd")
        #expect(w.check(at: 102)?.description.contains("did not power off") == true)
    }

    @Test func aSilentL1IsTheKnownStall() throws {
        var w = try Self.watch()
        Self.booted(&w, ticksUntil: 20)
        #expect(w.check(at: 49) == nil)
        let outcome = try #require(w.check(at: 51))
        guard case .stalled(let why) = outcome else {
            Issue.record("expected a stall, got \(outcome)")
            return
        }
        #expect(why.contains("heartbeat stopped for 31 s"))
    }

    @Test(arguments: [
        ("l1-console", "[  95.1] watchdog: BUG: soft lockup - CPU#0 stuck for 72s! [qemu-system-x86:112]", "L1"),
        ("console", "Kernel panic - not syncing: IO-APIC + timer doesn't work!  Boot with apic=debug", "L3"),
    ])
    func stallSignaturesAreFlakes(stream: String, line: String, level: String) throws {
        var w = try Self.watch()
        Self.booted(&w, ticksUntil: 20)
        w.consume(stream: stream, lines: [line], at: 21)
        let outcome = try #require(w.check(at: 21))
        #expect(outcome == .stalled(w.stallSignature!))
        #expect(w.stallSignature?.hasPrefix("\(level) logged") == true)
        #expect(KVMBoxAttempt.Outcome.stalled("x").description.contains("infrastructure flake"))
    }

    @Test func aSoftLockupInTheGuestIsNotTheBoxsStall() throws {
        var w = try Self.watch()
        Self.booted(&w, ticksUntil: 40)
        w.consume(
            stream: "console", lines: ["watchdog: BUG: soft lockup - CPU#0 stuck for 22s! [gmlab-agent:70]"], at: 30)
        #expect(w.stallSignature == nil)
        #expect(w.check(at: 40) == nil)
    }

    @Test func l1ThatNeverBootsIsAFlake() throws {
        let w = try Self.watch()
        #expect(w.check(at: 59) == nil)
        guard case .stalled(let why)? = w.check(at: 61) else {
            Issue.record("expected a stall")
            return
        }
        #expect(why.contains("L1 printed nothing"))
    }

    @Test func aGuestThatNeverStartsItsAgentWhileL1TicksIsAHangNotAFlake() throws {
        var w = try Self.watch()
        Self.booted(&w, ticksUntil: 110)
        #expect(w.check(at: 105) == nil)
        #expect(w.check(at: 107) == .hung("the agent in L3 did not start within 100 s of L2's start"))
    }

    @Test func aCaseWithoutResultIsAHang() throws {
        var w = try Self.watch()
        Self.booted(&w, ticksUntil: 80)
        w.consume(
            stream: "results", lines: [#"GMLAB-AGENT {"event":"start","cases":2}"#, "GMLAB-BEGIN smoke/b"], at: 30)
        #expect(w.check(at: 69) == nil)
        #expect(w.check(at: 71) == .hung("case smoke/b gave no RESULT within its timeout + 30 s"))
    }

    @Test func aHypervisorFatalIsRecordedAndL2MayEndByItself() throws {
        var w = try Self.watch()
        Self.booted(&w, ticksUntil: 80)
        w.consume(
            stream: "hypervisor",
            lines: ["GMLAB-HV-FATAL: MSR intercept for 0x4b564d01, which the permission map does not select"], at: 10)
        #expect(w.hypervisorFatal?.contains("0x4b564d01") == true)
        #expect(w.check(at: 69) == nil, "the agent deadline does not apply after a fatal")
        #expect(w.check(at: 71) == .hung("L2 did not end within 60 s of the hypervisor's fatal error"))
    }

    @Test func resultsAndStreamsAreCheckedAgainstWhatL1Sent() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gmlab-box-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let results = """
            GMLAB-AGENT {"event":"start","cases":2}
            GMLAB-BEGIN hv/a
            GMLAB-RESULT {"id":"hv/a","status":"pass","message":"ok","values":{"cpuid_40000000_eax":0}}
            GMLAB-AGENT {"event":"error","message":"boom"}
            GMLAB-AGENT {"event":"done"}

            """
        var logs: [String: String] = [:]
        for (name, text) in [("console", "c\n"), ("results", results), ("hypervisor", "h\n")] {
            logs[name] = dir + "/\(name).log"
            try text.write(toFile: logs[name]!, atomically: true, encoding: .utf8)
        }
        let (parsed, started, done, problems) = KVMBox.parseResults(logs["results"]!)
        #expect(parsed.map(\.id) == ["hv/a"] && parsed[0].values["cpuid_40000000_eax"] == .number(0))
        #expect(started && done)
        #expect(problems.count == 1 && problems[0].contains("boom"))

        let consoleDigest = try await Digest.file(logs["console"]!)
        let resultsDigest = try await Digest.file(logs["results"]!)
        let hex = { (d: String) in String(d.dropFirst("sha256:".count)) }
        let good = await KVMBox.verifyStreams(
            logs: logs,
            summaries: [
                "console": (2, hex(consoleDigest)), "results": (results.utf8.count, hex(resultsDigest)),
                "hypervisor": (2, hex(try await Digest.file(logs["hypervisor"]!))),
            ])
        #expect(good.isEmpty, "\(good)")
        let bad = await KVMBox.verifyStreams(
            logs: logs, summaries: ["console": (3, hex(consoleDigest)), "results": (results.utf8.count, "00")])
        #expect(bad.count == 3, "\(bad)")
        #expect(bad.contains { $0.hasPrefix("console: received 2 bytes") })
        #expect(bad.contains { $0 == "hypervisor: L1 printed no summary of what it sent" })
    }
}
