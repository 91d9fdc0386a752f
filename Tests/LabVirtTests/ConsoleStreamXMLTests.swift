import Foundation
import FoundationXML
import Testing

@testable import LabVirt

/// `serialTransport = .consoleStreams`: pty serials the lab reads through the libvirt
/// connection; the domain then names no path of the lab's filesystem for its streams.
@Suite struct ConsoleStreamXMLTests {
    func spec(_ transport: DomainSpec.SerialTransport) -> DomainSpec {
        var spec = DomainSpec(
            name: "gmlab-42-run1-3", kernel: "/pool/gmlab-aa-vmlinuz", initrd: "/pool/gmlab-bb-initrd.img",
            cmdline: "console=ttyS0",
            serial: .init(
                console: "/lab/results/c.log", results: "/lab/results/r.log", hypervisorLog: "/lab/results/h.log"),
            metadata: .init(runID: "run1", ownerPID: 42, labVersion: "0.1.0"))
        spec.serialTransport = transport
        return spec
    }

    @Test func ptySerialsNameNoLocalFile() throws {
        let xml = try spec(.consoleStreams).xml()
        let root = try #require(try XMLDocument(xmlString: xml).rootElement())
        let serials = try root.nodes(forXPath: "/domain/devices/serial").compactMap { $0 as? XMLElement }
        #expect(serials.count == 3)
        for (port, serial) in serials.enumerated() {
            #expect(serial.attribute(forName: "type")?.stringValue == "pty")
            #expect(try serial.nodes(forXPath: "source").isEmpty)
            #expect(try serial.nodes(forXPath: "target/@port").first?.stringValue == String(port))
        }
        #expect(!xml.contains("/lab/results"))
        // Files stay the default (the local daemon, sharing the lab's filesystem).
        #expect(try spec(.files).xml().contains("/lab/results/c.log"))
    }
}
