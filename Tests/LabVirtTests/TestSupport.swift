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

/// A TCP port on 127.0.0.1 that nothing listens on right now (bind to port 0, read it back).
func freeLocalPort() throws -> UInt16 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw POSIXError(.EMFILE) }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
        }
    }
    guard bound else { throw POSIXError(.EADDRINUSE) }
    return UInt16(bigEndian: address.sin_port)
}

/// True when something accepts TCP connections on 127.0.0.1:port.
func somethingListens(onPort port: UInt16) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = port.bigEndian
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
        }
    }
}
