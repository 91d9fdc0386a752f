import Foundation
import LabModel
import Testing

@testable import LabKit

/// The real BitVisor, built from the checkout `BITVISOR_SRC` names (the lab never fetches it):
/// the image recipe with the lab's services and compatibility layer. Skipped without
/// `BITVISOR_SRC`. The build takes ~10 s of CPU (more on a loaded machine) the first time,
/// then is a cache hit.
@Suite(.serialized) struct BitVisorIntegrationTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path
    static let source = ProcessInfo.processInfo.environment["BITVISOR_SRC"]
    static let skipReason: Comment =
        "BITVISOR_SRC is not set: set it to a BitVisor checkout (a clone of https://github.com/matsu/bitvisor) to build and boot the real BitVisor"

    static func builder() throws -> BitVisorBuilder {
        let paths = try LabPaths.discover(from: repository)
        return BitVisorBuilder(images: ImageBuilder(paths: paths, log: { print("build: \($0)") }))
    }

    @Test(.enabled(if: source != nil, skipReason)) func buildsTheCheckoutWithTheLabsServices() async throws {
        let checkout = try BitVisorCheckout(path: Self.source!)
        let build = try await Self.builder().build(checkout: checkout)
        print("BitVisor build: \(build.elf ?? "none") key \(build.key) commit \(build.provenance.commit ?? "none")")
        #expect(build.error == nil, "\(build.error ?? "")")
        guard let elf = build.elf else { return }
        // A multiboot image: the magic 0x1BADB002 within the first 8 KiB.
        let head = try Data(contentsOf: URL(fileURLWithPath: elf)).prefix(8192)
        let magic: [UInt8] = [0x02, 0xb0, 0xad, 0x1b]
        #expect(head.firstRange(of: Data(magic)) != nil, "no multiboot header in \(elf)")
        // The second build is a cache hit with the same key.
        let again = try await Self.builder().build(checkout: checkout)
        #expect(again.key == build.key && again.elf == build.elf)
    }

    /// A user case directory's seed-style services build into BitVisor unchanged (the shipped
    /// example), and a service that does not compile gives the compiler's message naming the
    /// user's own file, not the lab's copy of it.
    @Test(.enabled(if: source != nil, skipReason)) func userServicesBuildInAndErrorsNameTheirFiles() async throws {
        let checkout = try BitVisorCheckout(path: Self.source!)
        let example = Self.repository + "/Sources/Guest/usercases/seed-example/services"
        let good = try await Self.builder().build(
            checkout: checkout, userServices: [example + "/sum3.c", example + "/abc2foo.c"])
        #expect(good.error == nil, "\(good.error ?? "")")
        if let elf = good.elf {
            let image = try Data(contentsOf: URL(fileURLWithPath: elf))
            for name in ["example.sum3", "example.abc2foo", "gml.linear.pagewise", "seed.phys"] {
                #expect(image.firstRange(of: Data(name.utf8)) != nil, "\(name) is not in \(elf)")
            }
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
            "gmlab-bv-bad-\(UUID().uuidString.prefix(8))"
        )
        .path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try """
        #include "vmmcall.h"
        #include "initfunc.h"
        static void f(void) { int x = ; }
        static void init(void) { vmmcall_register("bad.f", f); }
        INITFUNC("vmmcal0", init);
        """.write(toFile: dir + "/broken.c", atomically: true, encoding: .utf8)
        let bad = try await Self.builder().build(checkout: checkout, userServices: [dir + "/broken.c"])
        #expect(bad.elf == nil)
        let message = bad.error ?? ""
        #expect(message.contains(dir + "/broken.c:3:") && message.contains("error:"), "\(message)")
        #expect(!message.contains("core/x86/gmlab/u1/"), "\(message)")
    }

    /// Boots BitVisor under QEMU TCG (SVM + NPT) from the loader CD, which boots the guest disk
    /// holding the lab's kernel and initramfs: BitVisor's log on COM1, the guest console on
    /// COM2, the agent's results on COM3, a smoke case passes, the guest powers off. Plain
    /// QEMU (the libvirt launcher is the backend's next step); ~30-60 s.
    @Test(.enabled(if: source != nil, skipReason)) func bootsTheGuestFromDiskAndRunsASmokeCase() async throws {
        let builder = try Self.builder()
        let build = try await builder.build(checkout: try BitVisorCheckout(path: Self.source!))
        guard let loader = build.loaderCD else {
            Issue.record("BitVisor did not build: \(build.error ?? "?")")
            return
        }
        let images = try await builder.images.build(kernel: "debian")
        let vm = FileManager.default.temporaryDirectory.appendingPathComponent(
            "gmlab-bv-\(UUID().uuidString.prefix(8))"
        )
        .path
        try FileManager.default.createDirectory(atPath: vm, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: vm) }
        // The agent knows the backends none/svm/vmx; "svm" selects vmmcall, which BitVisor answers.
        let media = try await BootMediaBuilder.prepare(
            vmDir: vm, images: images, backend: "none", guestCmdline: "console=ttyS0 nokaslr panic=-1 quiet no5lvl",
            plan: "backend svm\nsmoke/kernel-version 60\nsmoke/cpu-vendor 60\n")
        let cmdline = BitVisorBootMedia.guestCommandLine(from: media.cmdline)
        try await BitVisorBootMedia.makeGuestDisk(
            kernel: media.kernel, initrd: media.initrd, commandLine: cmdline, output: vm + "/guest.img", work: vm)
        let ports = ["hypervisor.log", "console.log", "results.log"].map { vm + "/" + $0 }
        let qemu = Process()
        qemu.executableURL = URL(fileURLWithPath: "/usr/bin/qemu-system-x86_64")
        qemu.arguments =
            [
                "-machine", "pc", "-accel", "tcg", "-cpu", "qemu64,+svm,+npt", "-m", "1024", "-smp", "1",
                "-display", "none", "-no-reboot", "-boot", "d", "-cdrom", loader,
                "-drive", "file=\(vm)/guest.img,format=raw,if=ide", "-monitor", "none",
            ] + ports.flatMap { ["-serial", "file:" + $0] }
        try qemu.run()
        let deadline = Date().addingTimeInterval(300)
        while qemu.isRunning && Date() < deadline { try await Task.sleep(for: .milliseconds(200)) }
        let timedOut = qemu.isRunning
        if timedOut { qemu.terminate() }
        qemu.waitUntilExit()
        let text = ports.map { (try? String(contentsOfFile: $0, encoding: .utf8)) ?? "" }
        #expect(!timedOut, "QEMU still ran after 300 s; logs:\n\(text.joined(separator: "\n----\n"))")
        #expect(text[0].contains("Starting BitVisor") && text[0].contains("Using SVM."), "\(text[0])")
        #expect(text[0].contains("Loading MBR."))
        #expect(text[1].contains("GMLAB-GUEST: userspace up"), "console: \(text[1])")
        #expect(text[2].contains(#""id":"smoke/kernel-version","status":"pass""#), "results: \(text[2])")
        #expect(text[2].contains(#"{"event":"done"}"#))
        // The guest's streams stay off BitVisor's port.
        #expect(!text[0].contains("GMLAB-"))
    }

    /// The `bitvisor` backend through the lab's pipeline (`lab run --backend svm,bitvisor --only
    /// regs`): BitVisorLauncher boots it through libvirt, every regs case passes on both, the
    /// three streams are separate files (BitVisor's log holds no guest output), provenance names
    /// the checkout and its content key, and the comparison pairs the two cells. ~2 VMs.
    @Test(.enabled(if: source != nil, skipReason)) func runsTheRegsSuiteBesideOursAndComparesThem() async throws {
        guard getuid() == 0 else {
            Issue.record("integration tests drive libvirtd on qemu:///system and must run as root (sudo make test)")
            return
        }
        let paths = try LabPaths.discover(from: Self.repository)
        var config = try LabConfig.load(from: URL(fileURLWithPath: paths.labJSON))
        config.matrix.paging = [.fourLevel]
        config = config.resolvingBitVisorSource(
            flag: Self.source, environment: nil, currentDirectory: FileManager.default.currentDirectoryPath,
            configDirectory: Self.repository)
        let lab = LabSession(paths: paths, config: config, configFile: paths.labJSON)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
            "gmlab-it-bv-\(UUID().uuidString.prefix(8))"
        ).path
        var request = RunRequest()
        request.only = ["regs"]
        request.overrides = ConfigOverrides(backends: ["svm", "bitvisor"], jobs: "1")
        request.resultsDirectory = dir
        let results = try await LabRunner(session: lab).run(request).results
        let bv = results.records.filter { $0.cellId.hasPrefix("bitvisor-") }
        #expect(bv.count == 6, "\(bv.map(\.caseId))")
        for record in results.records {
            #expect(record.status == .pass, "\(record.cellId) \(record.caseId): \(record.status) \(record.message)")
        }
        #expect(
            results.provenance.bitvisor?.source == Self.source.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
        )
        #expect(results.provenance.bitvisor?.contentKey.hasPrefix("sha256:") == true)
        let comparison = try #require(BackendComparison.of(results).first)
        #expect(comparison.counts[.same] == 6, "\(comparison.counts)")
        let vm = try #require(bv.first?.logs["hypervisor"])
        let log = try String(contentsOfFile: dir + "/" + vm, encoding: .utf8)
        #expect(log.contains("Starting BitVisor") && !log.contains("GMLAB-"), "\(log.suffix(2000))")
        let domain = try String(
            contentsOfFile: dir + "/" + (vm as NSString).deletingLastPathComponent + "/domain.xml", encoding: .utf8)
        #expect(domain.contains("<boot dev=\"cdrom\"") && !domain.contains("<kernel>"), "\(domain)")
    }
}
