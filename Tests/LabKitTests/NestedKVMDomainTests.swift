import Foundation
import FoundationXML
import LabModel
import LabVirt
import Testing

@testable import LabKit

/// Nested KVM cannot run on the build machines (their /dev/kvm does not boot guests), so the
/// domain a KVM cell would get is checked against what libvirt documents
/// (https://libvirt.org/formatdomain.html#cpu-model-and-topology):
/// - `<domain type='kvm'>`;
/// - `<cpu mode='host-passthrough'>`: the guest sees the host CPU, no `<model>`;
/// - `<feature policy='require' name='vmx'/>` (Intel) or `name='svm'` (AMD): libvirt refuses
///   to start the domain when the host cannot give the guest that feature (nested disabled);
/// - none of the TCG cell's bits (qemu64 model, `npt` feature, `mode='custom'`);
/// and, where libvirt's `virt-xml-validate` is installed (it needs xmllint, Debian's
/// libxml2-utils), against libvirt's own RNG schema.
@Suite("Nested KVM domains (generated, not run)")
struct NestedKVMDomainTests {
    func spec(for cell: MatrixCell) -> DomainSpec {
        DomainSpec(
            name: "gmlab-42-run1-1", memoryMiB: cell.memoryMiB, vcpus: cell.vcpus,
            accelerator: cell.host == .kvm ? .kvm : .tcg, cpu: LibvirtLauncher.cpu(for: cell),
            kernel: "/cache/hv/hv.elf", initrd: "/results/vms/x/bundle.img", cmdline: "",
            serial: .init(console: "/r/console.log", results: "/r/results.log", hypervisorLog: "/r/hypervisor.log"),
            metadata: .init(runID: "run1", ownerPID: 42, labVersion: "test"))
    }

    func cell(_ backend: Backend, _ host: HostKind) -> MatrixCell {
        MatrixCell(backend: backend, host: host, kernel: .debianCurrent, memoryMiB: 1024, vcpus: 1)
    }

    func parse(_ xml: String) throws -> XMLElement {
        try #require(try XMLDocument(xmlString: xml, options: []).rootElement())
    }

    @Test(
        "vmx-kvm and svm-kvm cells: type kvm, host-passthrough, the vendor's feature required, no TCG bits",
        arguments: [(Backend.vmx, "vmx"), (Backend.svm, "svm")])
    func nestedCells(backend: Backend, feature: String) throws {
        let xml = try spec(for: cell(backend, .kvm)).xml()
        let root = try parse(xml)
        #expect(root.attribute(forName: "type")?.stringValue == "kvm")
        let cpus = try root.nodes(forXPath: "/domain/cpu").compactMap { $0 as? XMLElement }
        let cpu = try #require(cpus.first)
        #expect(cpus.count == 1)
        #expect(cpu.attribute(forName: "mode")?.stringValue == "host-passthrough")
        #expect(try root.nodes(forXPath: "/domain/cpu/model").isEmpty, "host-passthrough takes no model")
        let features = try root.nodes(forXPath: "/domain/cpu/feature").compactMap { $0 as? XMLElement }
        #expect(features.map { $0.attribute(forName: "name")?.stringValue } == [feature])
        #expect(features.first?.attribute(forName: "policy")?.stringValue == "require")
        #expect(
            !xml.contains("qemu64") && !xml.contains("npt") && !xml.contains("mode=\"custom\""),
            "no TCG-only CPU bits:\n\(xml)")
    }

    @Test("none-kvm: host-passthrough without required features; TCG cells keep qemu64+svm+npt")
    func otherCells() throws {
        let none = try parse(try spec(for: cell(.none, .kvm)).xml())
        #expect(none.attribute(forName: "type")?.stringValue == "kvm")
        #expect(try none.nodes(forXPath: "/domain/cpu/feature").isEmpty)
        let tcg = try parse(try spec(for: cell(.svm, .tcg)).xml())
        #expect(tcg.attribute(forName: "type")?.stringValue == "qemu")
        #expect(try tcg.nodes(forXPath: "/domain/cpu/model").first?.stringValue == "qemu64")
    }

    @Test("host-passthrough under TCG is refused before libvirt sees it")
    func passthroughNeedsKVM() {
        var tcgSpec = spec(for: cell(.vmx, .kvm))
        tcgSpec.accelerator = .tcg
        #expect(throws: DomainSpecError.self) { try tcgSpec.xml() }
    }

    @Test(
        "the nested domains validate against libvirt's domain schema (virt-xml-validate)",
        .enabled(
            if: Command.findInPath("virt-xml-validate") != nil && Command.findInPath("xmllint") != nil,
            "needs virt-xml-validate (libvirt-clients) and xmllint (libxml2-utils)"))
    func libvirtSchema() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gmlab-nested-xml-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        for backend in [Backend.vmx, .svm, .none] {
            let file = directory.appendingPathComponent("\(backend.rawValue)-kvm.xml")
            try spec(for: cell(backend, .kvm)).xml().write(to: file, atomically: true, encoding: .utf8)
            let outcome = await Command.run(
                "/usr/bin/virt-xml-validate", [file.path, "domain"], timeout: .seconds(30))
            #expect(outcome.exitCode == 0, "\(backend.rawValue)-kvm: \(outcome.standardError)\(outcome.standardOutput)")
        }
    }
}
