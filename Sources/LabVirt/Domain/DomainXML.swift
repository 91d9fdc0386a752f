import Foundation
import FoundationXML

/// Renders a `DomainSpec` as libvirt domain XML with FoundationXML (so every string is
/// escaped by the XML library, never by hand).
///
/// Choices, each from a measured pitfall (docs/host-notes.md):
/// - `<features><acpi/>`: without ACPI a guest power-off does not end the domain.
/// - on_poweroff / on_reboot / on_crash = destroy: a guest reboot or crash ends the VM
///   instead of looping.
/// - no network, graphics, USB, balloon or video; machine type `pc` (PIIX4 power-off port).
/// - static DAC seclabel root:root with relabel='no': QEMU runs as root and libvirt does not
///   chown our kernels and logs, so they may live in any directory.
/// - serial `type='file'` with append='off': each run starts with empty stream files.
extension DomainSpec {
    /// libvirt's namespace for `<qemu:commandline>`.
    public static let qemuNamespace = "http://libvirt.org/schemas/domain/qemu/1.0"
    /// Our namespace for `<metadata>`.
    public static let metadataNamespace = "urn:x-guestmemlab:domain:1"

    public func xml() throws(DomainSpecError) -> String {
        try validate()
        let domain = XMLElement(name: "domain")
        domain.addAttribute(attr("type", accelerator == .kvm ? "kvm" : "qemu"))
        if gdbPort != nil {
            domain.addNamespace(xmlNode(XMLNode.namespace(withName: "qemu", stringValue: Self.qemuNamespace)))
        }
        domain.addChild(text("name", name))
        domain.addChild(text("uuid", uuid.uuidString.lowercased()))

        let lab = XMLElement(name: "gmlab:lab")
        lab.addNamespace(xmlNode(XMLNode.namespace(withName: "gmlab", stringValue: Self.metadataNamespace)))
        lab.addChild(text("gmlab:run-id", metadata.runID))
        lab.addChild(text("gmlab:owner-pid", String(metadata.ownerPID)))
        lab.addChild(text("gmlab:lab-version", metadata.labVersion))
        domain.addChild(element("metadata", children: [lab]))

        domain.addChild(text("memory", String(memoryMiB), attributes: ["unit": "MiB"]))
        domain.addChild(text("vcpu", String(vcpus), attributes: ["placement": "static"]))

        var os: [XMLElement] = [text("type", "hvm", attributes: ["arch": "x86_64", "machine": "pc"])]
        if biosBoot != nil {
            os.append(element("boot", attributes: ["dev": "cdrom"]))
        } else {
            os.append(text("kernel", kernel))
            if let initrd { os.append(text("initrd", initrd)) }
            os.append(text("cmdline", cmdline))
        }
        domain.addChild(element("os", children: os))

        domain.addChild(element("features", children: [element("acpi")]))
        domain.addChild(cpuElement())
        domain.addChild(element("clock", attributes: ["offset": "utc"]))
        for event in ["on_poweroff", "on_reboot", "on_crash"] {
            domain.addChild(text(event, "destroy"))
        }

        var devices: [XMLElement] = []
        if let biosBoot {
            // IDE, not virtio: the BIOS boots it and BitVisor passes it through untouched.
            devices.append(
                element(
                    "disk", attributes: ["type": "file", "device": "cdrom"],
                    children: [
                        element("driver", attributes: ["name": "qemu", "type": "raw"]),
                        element("source", attributes: ["file": biosBoot.cdrom]),
                        element("target", attributes: ["dev": "hdc", "bus": "ide"]),
                        element("readonly"),
                    ]))
            devices.append(
                element(
                    "disk", attributes: ["type": "file", "device": "disk"],
                    children: [
                        element("driver", attributes: ["name": "qemu", "type": "raw"]),
                        element("source", attributes: ["file": biosBoot.disk]),
                        element("target", attributes: ["dev": "hda", "bus": "ide"]),
                    ]))
        }
        for (port, path) in serialPathsByPort.enumerated() {
            if serialTransport == .consoleStreams {
                // A pty: its bytes reach the lab through virDomainOpenConsole("serial<port>").
                devices.append(
                    element(
                        "serial", attributes: ["type": "pty"],
                        children: [element("target", attributes: ["port": String(port)])]))
                continue
            }
            devices.append(
                element(
                    "serial", attributes: ["type": "file"],
                    children: [
                        element("source", attributes: ["path": path, "append": "off"]),
                        element("target", attributes: ["port": String(port)]),
                    ]))
        }
        devices.append(element("controller", attributes: ["type": "usb", "model": "none"]))
        devices.append(element("video", children: [element("model", attributes: ["type": "none"])]))
        devices.append(element("memballoon", attributes: ["model": "none"]))
        domain.addChild(element("devices", children: devices))

        domain.addChild(
            element(
                "seclabel", attributes: ["type": "static", "model": "dac", "relabel": "no"],
                children: [text("label", "+0:+0")]))

        if let gdbPort {
            domain.addChild(
                element(
                    "qemu:commandline",
                    children: [
                        element("qemu:arg", attributes: ["value": "-gdb"]),
                        element("qemu:arg", attributes: ["value": "tcp:127.0.0.1:\(gdbPort)"]),
                    ]))
        }
        return domain.xmlString(options: [.nodePrettyPrint]) + "\n"
    }

    private func cpuElement() -> XMLElement {
        switch cpu {
        case let .custom(model, features):
            return element(
                "cpu", attributes: ["mode": "custom", "match": "exact", "check": "none"],
                children: [text("model", model, attributes: ["fallback": "forbid"])]
                    + features.map { element("feature", attributes: ["policy": "require", "name": $0]) })
        case let .hostPassthrough(features):
            return element(
                "cpu", attributes: ["mode": "host-passthrough", "check": "none", "migratable": "off"],
                children: features.map { element("feature", attributes: ["policy": "require", "name": $0]) })
        }
    }
}

// Small builders; attribute order follows the dictionary keys sorted, so output is stable.
private func attr(_ name: String, _ value: String) -> XMLNode {
    xmlNode(XMLNode.attribute(withName: name, stringValue: value))
}

/// Foundation's attribute and namespace factories return `Any`; they always make an XMLNode.
private func xmlNode(_ made: Any) -> XMLNode {
    guard let node = made as? XMLNode else { preconditionFailure("Foundation made \(type(of: made)), not an XMLNode") }
    return node
}

private func element(_ name: String, attributes: [String: String] = [:], children: [XMLElement] = []) -> XMLElement {
    let node = XMLElement(name: name)
    for (key, value) in attributes.sorted(by: { $0.key < $1.key }) { node.addAttribute(attr(key, value)) }
    for child in children { node.addChild(child) }
    return node
}

private func text(_ name: String, _ value: String, attributes: [String: String] = [:]) -> XMLElement {
    let node = element(name, attributes: attributes)
    node.stringValue = value
    return node
}
