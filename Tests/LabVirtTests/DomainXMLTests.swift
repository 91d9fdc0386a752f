import Foundation
import FoundationXML
import Testing

@testable import LabVirt

private func baseSpec(
    accelerator: DomainSpec.Accelerator = .tcg, cpu: DomainSpec.CPU = .tcgSVM,
    kernel: String = "/images/hv.elf", initrd: String? = "/images/bundle.bin",
    cmdline: String = "console=ttyS0", gdbPort: UInt16? = nil
) -> DomainSpec {
    DomainSpec(
        name: "gmlab-42-run1-3",
        uuid: UUID(
            uuid: (0x0F, 0x1E, 0x2D, 0x3C, 0x4B, 0x5A, 0x69, 0x78, 0x87, 0x96, 0xA5, 0xB4, 0xC3, 0xD2, 0xE1, 0xF0)),
        memoryMiB: 1024, vcpus: 2, accelerator: accelerator, cpu: cpu, kernel: kernel, initrd: initrd,
        cmdline: cmdline, serial: .init(console: "/out/c.log", results: "/out/r.log", hypervisorLog: "/out/h.log"),
        gdbPort: gdbPort, metadata: .init(runID: "run1", ownerPID: 42, labVersion: "0.1.0"))
}

private func parse(_ spec: DomainSpec) throws -> XMLElement {
    let document = try XMLDocument(xmlString: try spec.xml(), options: [])
    return try #require(document.rootElement())
}

private func one(_ root: XMLElement, _ xpath: String) throws -> XMLElement {
    let nodes = try root.nodes(forXPath: xpath)
    #expect(nodes.count == 1, "expected exactly one \(xpath), found \(nodes.count)")
    return try #require(nodes.first as? XMLElement)
}

private func all(_ root: XMLElement, _ xpath: String) throws -> [XMLElement] {
    try root.nodes(forXPath: xpath).compactMap { $0 as? XMLElement }
}

/// Children found by qualified name, for namespaced elements XPath would need a prefix map for.
private func child(_ element: XMLElement, _ qualifiedName: String) -> XMLElement? {
    element.children?.compactMap { $0 as? XMLElement }.first { $0.name == qualifiedName }
}

@Suite("Domain XML")
struct DomainXMLTests {
    @Test("TCG with custom qemu64 + svm/npt: every element that matters")
    func tcgCustom() throws {
        let root = try parse(baseSpec())
        #expect(root.name == "domain")
        #expect(root.attribute(forName: "type")?.stringValue == "qemu")
        #expect(try one(root, "/domain/name").stringValue == "gmlab-42-run1-3")
        #expect(try one(root, "/domain/uuid").stringValue == "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0")
        let memory = try one(root, "/domain/memory")
        #expect(memory.stringValue == "1024")
        #expect(memory.attribute(forName: "unit")?.stringValue == "MiB")
        #expect(try one(root, "/domain/vcpu").stringValue == "2")

        let type = try one(root, "/domain/os/type")
        #expect(type.stringValue == "hvm")
        #expect(type.attribute(forName: "machine")?.stringValue == "pc")
        #expect(type.attribute(forName: "arch")?.stringValue == "x86_64")
        #expect(try one(root, "/domain/os/kernel").stringValue == "/images/hv.elf")
        #expect(try one(root, "/domain/os/initrd").stringValue == "/images/bundle.bin")
        #expect(try one(root, "/domain/os/cmdline").stringValue == "console=ttyS0")

        _ = try one(root, "/domain/features/acpi")
        for event in ["on_poweroff", "on_reboot", "on_crash"] {
            #expect(try one(root, "/domain/\(event)").stringValue == "destroy", "\(event)")
        }

        let cpu = try one(root, "/domain/cpu")
        #expect(cpu.attribute(forName: "mode")?.stringValue == "custom")
        #expect(try one(root, "/domain/cpu/model").stringValue == "qemu64")
        let features = try all(root, "/domain/cpu/feature")
        #expect(features.map { $0.attribute(forName: "name")?.stringValue } == ["svm", "npt"])
        #expect(features.allSatisfy { $0.attribute(forName: "policy")?.stringValue == "require" })

        let serials = try all(root, "/domain/devices/serial")
        #expect(serials.count == 3)
        for (index, (serial, path)) in zip(serials, ["/out/c.log", "/out/r.log", "/out/h.log"]).enumerated() {
            #expect(serial.attribute(forName: "type")?.stringValue == "file")
            let source = try #require(child(serial, "source"))
            #expect(source.attribute(forName: "path")?.stringValue == path)
            #expect(source.attribute(forName: "append")?.stringValue == "off")
            #expect(child(serial, "target")?.attribute(forName: "port")?.stringValue == String(index))
        }

        #expect(try one(root, "/domain/devices/memballoon").attribute(forName: "model")?.stringValue == "none")
        #expect(
            try one(root, "/domain/devices/controller[@type='usb']").attribute(forName: "model")?.stringValue == "none")
        #expect(try all(root, "/domain/devices/interface").isEmpty, "no network")
        #expect(try all(root, "/domain/devices/graphics").isEmpty, "no graphics")
        #expect(try all(root, "/domain/devices/rng").isEmpty, "no RNG")

        let seclabel = try one(root, "/domain/seclabel")
        #expect(seclabel.attribute(forName: "type")?.stringValue == "static")
        #expect(seclabel.attribute(forName: "model")?.stringValue == "dac")
        #expect(seclabel.attribute(forName: "relabel")?.stringValue == "no")
        #expect(try one(root, "/domain/seclabel/label").stringValue == "+0:+0")

        let metadata = try one(root, "/domain/metadata")
        let lab = try #require(child(metadata, "gmlab:lab"))
        #expect(lab.uri == DomainSpec.metadataNamespace)
        #expect(child(lab, "gmlab:run-id")?.stringValue == "run1")
        #expect(child(lab, "gmlab:owner-pid")?.stringValue == "42")
        #expect(child(lab, "gmlab:lab-version")?.stringValue == "0.1.0")

        #expect(child(root, "qemu:commandline") == nil, "no gdb stub unless asked")
    }

    @Test("KVM with host-passthrough and nested VMX / SVM required")
    func kvmHostPassthrough() throws {
        for (vendor, flag) in [(DomainSpec.CPUVendor.intel, "vmx"), (.amd, "svm")] {
            let root = try parse(baseSpec(accelerator: .kvm, cpu: .nestedHostPassthrough(vendor: vendor)))
            #expect(root.attribute(forName: "type")?.stringValue == "kvm")
            let cpu = try one(root, "/domain/cpu")
            #expect(cpu.attribute(forName: "mode")?.stringValue == "host-passthrough")
            #expect(try all(root, "/domain/cpu/model").isEmpty)
            let feature = try one(root, "/domain/cpu/feature")
            #expect(feature.attribute(forName: "policy")?.stringValue == "require")
            #expect(feature.attribute(forName: "name")?.stringValue == flag)
        }
    }

    @Test("KVM with a custom model keeps type kvm and the model")
    func kvmCustom() throws {
        let root = try parse(baseSpec(accelerator: .kvm, cpu: .custom(model: "EPYC", requiredFeatures: [])))
        #expect(root.attribute(forName: "type")?.stringValue == "kvm")
        #expect(try one(root, "/domain/cpu/model").stringValue == "EPYC")
        #expect(try all(root, "/domain/cpu/feature").isEmpty)
    }

    @Test("gdb stub: qemu:commandline with -gdb tcp:127.0.0.1:PORT in libvirt's qemu namespace")
    func gdbStub() throws {
        let root = try parse(baseSpec(gdbPort: 1234))
        let commandLine = try #require(child(root, "qemu:commandline"))
        #expect(commandLine.uri == DomainSpec.qemuNamespace)
        let args = commandLine.children?.compactMap { ($0 as? XMLElement)?.attribute(forName: "value")?.stringValue }
        #expect(args == ["-gdb", "tcp:127.0.0.1:1234"])
        #expect(try spec(gdbPort: 1234).contains("xmlns:qemu=\"http://libvirt.org/schemas/domain/qemu/1.0\""))
    }

    private func spec(gdbPort: UInt16?) throws -> String { try baseSpec(gdbPort: gdbPort).xml() }

    @Test("hostile strings in paths and cmdline are escaped and survive a round trip")
    func hostileStrings() throws {
        let cmdline = #"console=ttyS0 a="x<y>&z" b='q' </cmdline><evil/>"#
        let kernel = #"/tmp/we"ird'<&>/hv.elf"#
        let text = try baseSpec(kernel: kernel, cmdline: cmdline).xml()
        #expect(!text.contains("<evil/>"))
        #expect(!text.contains("x<y>"))
        #expect(text.contains("&amp;"))
        #expect(text.contains("&lt;"))
        let root = try parse(baseSpec(kernel: kernel, cmdline: cmdline))
        #expect(try one(root, "/domain/os/cmdline").stringValue == cmdline)
        #expect(try one(root, "/domain/os/kernel").stringValue == kernel)
        #expect(try all(root, "//evil").isEmpty)

        var spec = baseSpec()
        spec.serial.console = #"/out/"quoted" & <angled>.log"#
        let serial = try #require(try all(try parse(spec), "/domain/devices/serial/source").first)
        #expect(serial.attribute(forName: "path")?.stringValue == spec.serial.console)
    }

    @Test("bad specs are rejected with the field and the reason")
    func validation() throws {
        var spec = baseSpec()
        spec.kernel = "relative/hv.elf"
        #expect(throws: DomainSpecError.self) { try spec.xml() }
        do { _ = try spec.xml() } catch {
            #expect("\(error)".contains("kernel"))
            #expect("\(error)".contains("absolute"))
        }

        spec = baseSpec(accelerator: .tcg, cpu: .hostPassthrough(requiredFeatures: []))
        do {
            _ = try spec.xml()
            Issue.record("host-passthrough under TCG accepted")
        } catch {
            #expect("\(error)".contains("kvm"))
        }

        spec = baseSpec(cmdline: "a\u{1}b")
        do {
            _ = try spec.xml()
            Issue.record("control character accepted")
        } catch {
            #expect("\(error)".contains("cmdline"))
        }

        spec = baseSpec()
        spec.name = "gmlab/../x"
        do {
            _ = try spec.xml()
            Issue.record("bad name accepted")
        } catch { #expect("\(error)".contains("name")) }

        spec = baseSpec(cpu: .custom(model: "qemu64", requiredFeatures: ["svm' or '1"]))
        do {
            _ = try spec.xml()
            Issue.record("bad feature accepted")
        } catch { #expect("\(error)".contains("cpu.requiredFeatures")) }

        spec = baseSpec()
        spec.serial.results = spec.serial.console
        do {
            _ = try spec.xml()
            Issue.record("shared serial file accepted")
        } catch { #expect("\(error)".contains("serial")) }

        spec = baseSpec()
        spec.memoryMiB = 0
        do {
            _ = try spec.xml()
            Issue.record("0 MiB accepted")
        } catch { #expect("\(error)".contains("memoryMiB")) }
    }

    @Test("without an initrd there is no <initrd> element")
    func noInitrd() throws {
        let root = try parse(baseSpec(initrd: nil))
        #expect(try all(root, "/domain/os/initrd").isEmpty)
    }
}

/// The real BitVisor's domain: BIOS boot from the loader CD with the guest disk as the first IDE
/// hard disk, no direct-loader elements, and BitVisor's log on COM1.
@Suite struct BIOSBootDomainTests {
    static func spec() -> DomainSpec {
        var spec = baseSpec(kernel: "/unused/vmlinuz", initrd: nil, cmdline: "console=ttyS1")
        spec.biosBoot = .init(cdrom: "/cache/bitvisor/k/loader.iso", disk: "/out/vm/guest.img")
        spec.serialOrder = [.hypervisorLog, .console, .results]
        return spec
    }

    @Test func bootsTheCDWithoutKernelElements() throws {
        let root = try parse(Self.spec())
        #expect(try one(root, "/domain/os/boot").attribute(forName: "dev")?.stringValue == "cdrom")
        #expect(try all(root, "/domain/os/kernel").isEmpty)
        #expect(try all(root, "/domain/os/initrd").isEmpty)
        #expect(try all(root, "/domain/os/cmdline").isEmpty)
        let cdrom = try one(root, "/domain/devices/disk[@device='cdrom']")
        #expect(try one(cdrom, "source").attribute(forName: "file")?.stringValue == "/cache/bitvisor/k/loader.iso")
        #expect(try one(cdrom, "target").attribute(forName: "bus")?.stringValue == "ide")
        #expect(try all(cdrom, "readonly").count == 1)
        let disk = try one(root, "/domain/devices/disk[@device='disk']")
        #expect(try one(disk, "source").attribute(forName: "file")?.stringValue == "/out/vm/guest.img")
        // hda: the primary master, BIOS drive 0x80, the (hd0) BitVisor boots
        #expect(try one(disk, "target").attribute(forName: "dev")?.stringValue == "hda")
        #expect(try one(disk, "driver").attribute(forName: "type")?.stringValue == "raw")
    }

    @Test func serialPortsFollowTheOrder() throws {
        let root = try parse(Self.spec())
        let ports = try all(root, "/domain/devices/serial").map {
            (
                try one($0, "target").attribute(forName: "port")?.stringValue ?? "",
                try one($0, "source").attribute(forName: "path")?.stringValue ?? ""
            )
        }
        #expect(ports.map(\.0) == ["0", "1", "2"])
        #expect(ports.map(\.1) == ["/out/h.log", "/out/c.log", "/out/r.log"])
        // The lab's own cells keep console, results, hypervisor log.
        let plain = try all(try parse(baseSpec()), "/domain/devices/serial").map {
            try one($0, "source").attribute(forName: "path")?.stringValue ?? ""
        }
        #expect(plain == ["/out/c.log", "/out/r.log", "/out/h.log"])
    }

    @Test func rejectsRelativeDisksAndRepeatedStreams() {
        var spec = Self.spec()
        spec.biosBoot = .init(cdrom: "loader.iso", disk: "/out/vm/guest.img")
        #expect(throws: DomainSpecError.self) { try spec.validate() }
        spec = Self.spec()
        spec.serialOrder = [.console, .console, .results]
        #expect(throws: DomainSpecError.self) { try spec.validate() }
        // BIOS boot does not need a kernel path.
        spec = Self.spec()
        spec.kernel = ""
        #expect(throws: Never.self) { try spec.validate() }
    }
}
