import Foundation
import Testing
@testable import LabVirt

/// Real libvirt, real TCG VMs (tiny multiboot guests generated in code). Needs libvirtd:
/// `sudo scripts/setup-host`.
@Suite("VM sessions against qemu:///system", .serialized)
struct VMSessionIntegrationTests {
    @Test("a guest that powers off: lines land in the right files, reason is powered off")
    func poweredOffGuest() async throws {
        let connection = try connection()
        let directory = try makeTestDirectory("poweroff")
        let spec = try tinyGuestSpec(in: directory, ending: .powerOff)
        let session = try await VMSession.start(spec: spec, connection: connection)
        print("domain \(session.name) created in \(session.creationTime)")
        let collected = LinesBox()
        let exit = await session.waitUntilExit(timeout: .seconds(8)) { tick in
            collected.append(tick.newLines)
            return .continue
        }
        print("exit: \(exit.reason) after \(exit.elapsed); events \(exit.events.map(\.text))")
        #expect(exit.reason == .poweredOff)
        #expect(readFile(spec.serial.console) == "hello console\n")
        #expect(readFile(spec.serial.results) == "hello results\n")
        #expect(readFile(spec.serial.hypervisorLog) == "hello hv\n")
        #expect(collected.lines == [
            StreamLine(stream: .console, text: "hello console"),
            StreamLine(stream: .results, text: "hello results"),
            StreamLine(stream: .hypervisorLog, text: "hello hv"),
        ])
        #expect(try connection.state(ofDomain: spec.name) == nil)
    }
}

final class LinesBox: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [StreamLine] = []
    func append(_ lines: [StreamLine]) { lock.withLock { storage += lines } }
    var lines: [StreamLine] { lock.withLock { storage } }
}
