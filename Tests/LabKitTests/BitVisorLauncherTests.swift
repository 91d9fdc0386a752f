import Foundation
import FoundationXML
import LabModel
import LabVirt
import Testing

@testable import LabKit

/// The `bitvisor` launcher's choices and the tracker's view of a BitVisor VM (no VM needed).
@Suite struct BitVisorLauncherTests {
    static let cell = MatrixCell(backend: .bitvisor, host: .tcg, kernel: .debianCurrent, memoryMiB: 1024, vcpus: 1)

    @Test func runsOnlyBitVisorCellsAndTheOthersDoNot() {
        let launcher = BitVisorLauncher()
        var svm = Self.cell
        svm.backend = .svm
        #expect(launcher.runs(Self.cell) && !launcher.runs(svm))
        #expect(!LibvirtLauncher().runs(Self.cell) && LibvirtLauncher().runs(svm))
        #expect(!BochsLauncher().runs(Self.cell))
        #expect(Launchers.launcher(for: Self.cell) is BitVisorLauncher)
        #expect(Launchers.launcher(for: svm) is LibvirtLauncher)
    }

    @Test func guestConsoleOffCOM1AndNoHypervisorOptions() {
        let launcher = BitVisorLauncher()
        #expect(
            launcher.guestCmdline(for: Self.cell, configured: "console=ttyS0 nokaslr panic=-1 quiet")
                == "console=ttyS1 nokaslr panic=-1 quiet no5lvl gmlab.results=ttyS2")
        // BitVisor's configuration is compiled in: no gmlab.policy= for it.
        #expect(launcher.hypervisorCmdline(for: Self.cell, policy: .strict) == nil)
        #expect(launcher.cpuDescription(for: Self.cell) == "qemu64,+svm,+npt,+pdpe1gb,+smap,+smep")
        #expect(BitVisorLauncher.serialOrder == [.hypervisorLog, .console, .results])
    }

    @Test func whyThereIsNothingToBoot() throws {
        var images = ImageSet(
            kernelVersion: "6.1", kernelPackageVersion: "1", kernel: "/k", vmlinux: nil, initramfs: "/i",
            casesCatalog: "/c", hypervisor: nil, mkbundle: nil, hypervisorBuildError: nil, digests: [:])
        #expect(BitVisorLauncher.unavailable(images)?.contains("no BitVisor checkout given") == true)
        images.bitvisorError = "/x is not a BitVisor checkout: missing Makefile"
        #expect(BitVisorLauncher.unavailable(images)?.contains("/x is not a BitVisor checkout") == true)
        images.bitvisor = BitVisorBuild(
            elf: nil, error: "core/x86/gmlab/u1/broken.c:3: error: expected expression", checkout: "/bv",
            checkoutDigest: "sha256:1", provenance: .init(commit: "abc", localChanges: false), key: "sha256:2",
            digest: nil, loaderCD: nil, services: [], userServices: [], leftOut: [])
        let why = try #require(BitVisorLauncher.unavailable(images))
        #expect(why.contains("BitVisor from /bv did not build") && why.contains("error: expected expression"))
        images.bitvisor?.loaderCD = "/cache/loader.iso"
        #expect(BitVisorLauncher.unavailable(images) == nil)
        let provenance = BitVisorLauncher.provenance(of: try #require(images.bitvisor))
        #expect(provenance.commit == "abc" && provenance.contentKey == "sha256:2" && provenance.source == "/bv")
    }

    static let build = BitVisorBuild(
        elf: "/cache/bv/bitvisor.elf", error: nil, checkout: "/bv", checkoutDigest: "sha256:1",
        provenance: .init(commit: "abc", localChanges: false), key: "sha256:2", digest: "sha256:3",
        loaderCD: "/cache/bv/loader.iso", services: [], userServices: [], leftOut: [])

    static func request(_ cell: MatrixCell, directory: String) -> VMRequest {
        let images = ImageSet(
            kernelVersion: "6.1", kernelPackageVersion: "1", kernel: "/k", vmlinux: nil, initramfs: "/i",
            casesCatalog: "/c", hypervisor: nil, mkbundle: nil, hypervisorBuildError: nil, digests: [:])
        return VMRequest(
            name: "gmlab-1-run-1", cell: cell, directory: directory, images: images, configuredCmdline: "quiet",
            agentPlan: "", policy: .strict, gdbPort: nil, runID: "run", labVersion: "test")
    }

    @Test func remoteMachinesRunBitVisorCellsUnderTCGAndKVMButNotBochs() {
        let remote = RemoteLibvirtLauncher(
            machine: MachineConfig(name: "box", uri: try! MachineURI(parsing: "qemu+tcp://127.0.0.1:16509/system")))
        var kvm = Self.cell
        kvm.host = .kvm
        var bochs = Self.cell
        bochs.host = .bochs
        #expect(remote.runs(Self.cell) && remote.runs(kvm) && !remote.runs(bochs))
        #expect(BitVisorLauncher().runs(kvm) && !BitVisorLauncher().runs(bochs))
        #expect(remote.bootFactor(for: kvm) == 2 && remote.bootFactor(for: Self.cell) == 2)
        // In the KVM box, KVM runs under TCG: BitVisor's BIOS boot takes minutes there.
        let box = RemoteLibvirtLauncher(
            machine: MachineConfig(
                name: "box", uri: try! MachineURI(parsing: "qemu+tcp://127.0.0.1:16509/system"), box: true))
        #expect(box.bootFactor(for: kvm) == 5 && box.bootFactor(for: Self.cell) == 2)
        var svm = Self.cell
        svm.backend = .svm
        #expect(remote.bootFactor(for: svm) == 1)
        // The same choices as the local BitVisor launcher: one home, BitVisorVM.
        for cell in [Self.cell, kvm] {
            #expect(remote.cpuDescription(for: cell) == BitVisorLauncher().cpuDescription(for: cell))
            #expect(
                remote.guestCmdline(for: cell, configured: "console=ttyS0 quiet")
                    == BitVisorLauncher().guestCmdline(for: cell, configured: "console=ttyS0 quiet"))
        }
        #expect(
            remote.guestCmdline(for: kvm, configured: "console=ttyS0 quiet")
                == "console=ttyS1 quiet no5lvl gmlab.results=ttyS2")
        #expect(remote.guestCmdline(for: svm, configured: "console=ttyS0 quiet") == "console=ttyS0 quiet no5lvl")
        #expect(remote.cpuDescription(for: kvm) == "host-passthrough,+svm,+npt")
        #expect(remote.cpuDescription(for: svm) == "qemu64,+svm,+npt,+la57,+pdpe1gb,+smap,+smep")
        // The guest disk carries the VM's plan: deleted after the run like its initramfs; the
        // loader CD is the build's, kept for later runs.
        #expect(
            RemoteLibvirtLauncher.isPerVM(
                RemoteLibvirtLauncher.volumeName(digest: "sha256:ab", file: "/r/vm/guest.img")))
        #expect(
            !RemoteLibvirtLauncher.isPerVM(RemoteLibvirtLauncher.volumeName(digest: "sha256:ab", file: "/c/loader.iso"))
        )
    }

    /// Nothing of a remote BitVisor VM depends on a path of the lab's own filesystem: its domain
    /// names the two pool volumes and nothing else, its serials are ptys in BitVisor's order.
    @Test func aRemoteBitVisorDomainNamesOnlyPoolVolumes() throws {
        let directory = "/lab/results/vms/gmlab-1-run-1"
        var kvm = Self.cell
        kvm.host = .kvm
        for cell in [Self.cell, kvm] {
            let media = BitVisorVM.Media(
                build: Self.build, loaderCD: "/cache/bv/loader.iso", guestDisk: directory + "/guest.img",
                cmdline: "console=ttyS1 gmlab.results=ttyS2")
            let cdrom = "/var/lib/libvirt/gmlab/gmlab-0123-loader.iso"
            let disk = "/var/lib/libvirt/gmlab/gmlab-4567-guest.img"
            let spec = BitVisorVM.domainSpec(
                Self.request(cell, directory: directory), media: media, cdrom: cdrom, disk: disk,
                transport: .consoleStreams)
            let xml = try spec.xml()
            let document = try XMLDocument(xmlString: xml)
            let attributes = try document.nodes(forXPath: "//@*").compactMap(\.stringValue)
            let texts = try document.nodes(forXPath: "//text()").compactMap {
                $0.stringValue?.trimmingCharacters(in: .whitespacesAndNewlines)
            }
            let absolute = Set((attributes + texts).filter { $0.hasPrefix("/") })
            #expect(absolute == [cdrom, disk], "\(cell.id): \(absolute)")
            #expect(try document.nodes(forXPath: "/domain/os/kernel").isEmpty)
            #expect(try document.nodes(forXPath: "/domain/os/boot/@dev").first?.stringValue == "cdrom")
            let serials = try document.nodes(forXPath: "/domain/devices/serial/@type").compactMap(\.stringValue)
            #expect(serials == ["pty", "pty", "pty"])
            // The consoles are copied into the lab's stream files in BitVisor's port order.
            #expect(
                spec.serialPathsByPort == [
                    directory + "/hypervisor.log", directory + "/console.log", directory + "/results.log",
                ])
            let type = try document.nodes(forXPath: "/domain/@type").first?.stringValue
            #expect(type == (cell.host == .kvm ? "kvm" : "qemu"))
        }
        // The local BitVisor VM writes its serial files itself, in the same order.
        let local = BitVisorVM.domainSpec(
            Self.request(Self.cell, directory: directory),
            media: .init(build: Self.build, loaderCD: "/c/l.iso", guestDisk: directory + "/guest.img", cmdline: ""),
            cdrom: "/c/l.iso", disk: directory + "/guest.img", transport: .files)
        let sources = try XMLDocument(xmlString: try local.xml()).nodes(forXPath: "/domain/devices/serial/source/@path")
        #expect(sources.compactMap(\.stringValue) == local.serialPathsByPort)
    }

    static func tracker() -> CaseTracker {
        let json = #"{"info":{"id":"t/a","suite":"t","description":"d","needs":[]},"timeoutSeconds":10}"#
        let planned = try! JSONDecoder().decode(SelectedCase.self, from: Data(json.utf8))
        return CaseTracker(planned: [planned], deadlines: .init(boot: .seconds(30)))
    }

    @Test func aBitVisorPanicStopsTheVMAtOnce() {
        var t = Self.tracker()
        t.consume(hypervisorLog: ["Starting BitVisor...", "Loading MBR."], at: .seconds(3))
        t.consume(
            results: [
                #"GMLAB-AGENT {"event":"start","kernel":"6.1","vendor":"AuthenticAMD","cases":1}"#, "GMLAB-BEGIN t/a",
            ],
            at: .seconds(20))
        #expect(t.check(at: .seconds(21)) == nil)
        t.consume(hypervisorLog: ["panic(CPU0): int_fatal 0x0E Page-Fault Exception (#PF)"], at: .seconds(22))
        let reason = t.check(at: .seconds(22))
        #expect(reason?.contains("panic(CPU0): int_fatal 0x0E") == true, "\(reason ?? "nil")")
        let outcome = t.outcome(exit: "destroyed")
        #expect(outcome.finished.first?.status == .error)
        #expect(outcome.finished.first?.message.contains("the VM died during this case") == true)
    }

    @Test func aBootThatStopsAfterLoadingMBRSaysSo() {
        var t = Self.tracker()
        t.consume(hypervisorLog: ["Starting BitVisor...", "Using SVM.", "Loading MBR."], at: .seconds(3))
        let reason = t.check(at: .seconds(31)) ?? ""
        #expect(reason.contains("did not start the test agent within 30 s"), "\(reason)")
        #expect(reason.contains("\"Loading MBR.\") and the guest wrote nothing since"), "\(reason)")
        // That hang is intermittent: the outcome asks for one fresh VM.
        #expect(t.outcome(exit: "destroyed").retryBoot?.contains("Loading MBR.") == true)
        // The lab's own hypervisor's VMs say nothing about BitVisor and are not retried.
        var plain = Self.tracker()
        #expect(!(plain.check(at: .seconds(31)) ?? "").contains("BitVisor"))
        #expect(plain.outcome(exit: "destroyed").retryBoot == nil)
        // A panic, or a boot that stopped elsewhere, is not retried either.
        var panicked = Self.tracker()
        panicked.consume(hypervisorLog: ["Starting BitVisor...", "panic(CPU0): boom"], at: .seconds(3))
        _ = panicked.check(at: .seconds(3))
        #expect(panicked.outcome(exit: "destroyed").retryBoot == nil)
        var early = Self.tracker()
        early.consume(hypervisorLog: ["Starting BitVisor..."], at: .seconds(3))
        _ = early.check(at: .seconds(31))
        #expect(early.outcome(exit: "destroyed").retryBoot == nil)
    }
}
