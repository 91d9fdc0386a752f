import Foundation
@testable import LabVirt

/// One libvirt connection for the integration tests (as the lab has one per process).
let sharedConnection: Result<LibvirtConnection, LibvirtError> = {
    do throws(LibvirtError) { return .success(try LibvirtConnection()) } catch { return .failure(error) }
}()

func connection() throws -> LibvirtConnection { try sharedConnection.get() }

/// A fresh directory under /tmp for one test's files.
func makeTestDirectory(_ label: String) throws -> URL {
    let url = URL(fileURLWithPath: NSTemporaryDirectory())
        .appendingPathComponent("gmlab-virt-tests-\(getpid())-\(label)-\(UUID().uuidString.prefix(8))")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// A spec for a tiny multiboot guest written into `directory`.
func tinyGuestSpec(
    in directory: URL, ending: TinyGuest.Ending, console: String = "hello console",
    results: String = "hello results", hypervisorLog: String = "hello hv"
) throws -> DomainSpec {
    let image = TinyGuest.multiboot(
        writes: [(0x3f8, console + "\n"), (0x2f8, results + "\n"), (0x3e8, hypervisorLog + "\n")],
        ending: ending)
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let kernel = directory.appendingPathComponent("guest.mb")
    try Data(image).write(to: kernel)
    return DomainSpec(
        name: DomainName.next(runID: "test"), memoryMiB: 32, accelerator: .tcg, cpu: .tcgSVM,
        kernel: kernel.path, serial: .init(directory: directory),
        metadata: .init(runID: "test", labVersion: "test"))
}

func readFile(_ path: String) -> String {
    (try? String(contentsOfFile: path, encoding: .utf8)) ?? "<missing \(path)>"
}
