import Foundation
import LabModel
import LabVirt

/// Host kinds `tcg` and `kvm` on this machine's libvirtd (qemu:///system): each VM a transient
/// domain (`VMSession`) booting the kernel, or the hypervisor with its bundle, through QEMU's
/// direct loader. Owns the run's libvirt connection; opening it destroys the VMs of dead lab
/// runs (`DomainReaper.sweepOrphans`).
public final class LibvirtLauncher: Launcher, @unchecked Sendable {
    public let hostKinds: Set<HostKind> = [.tcg, .kvm]
    public let name = "libvirt"
    public let emulator = VMSession.emulator
    public let uri: String

    private let lock = NSLock()
    private var connection: LibvirtConnection?

    public init(uri: String = LibvirtConnection.systemURI) { self.uri = uri }

    public func bootFactor(for cell: MatrixCell) -> Int { 1 }

    /// The CPU a cell's guest sees. Under TCG: qemu64 with SVM and nested paging (the SVM backend
    /// needs them; backend `none` gets the same CPU so that the two are comparable), plus what
    /// the linear walk must handle: LA57 (5-level paging; also in 4-level cells, where the guest
    /// declines it with `no5lvl`), 1 GiB pages, SMAP and SMEP. Under KVM: the host CPU with nested
    /// virtualization, LA57 required in 5-level cells (MatrixPlan skips them without it).
    public static func cpu(for cell: MatrixCell) -> DomainSpec.CPU {
        switch cell.host {
        case .kvm:
            var features = cell.backend == .vmx ? ["vmx"] : cell.backend == .svm ? ["svm"] : []
            if cell.paging == .fiveLevel { features.append("la57") }
            return .hostPassthrough(requiredFeatures: features)
        default:
            return .custom(model: "qemu64", requiredFeatures: ["svm", "npt", "la57", "pdpe1gb", "smap", "smep"])
        }
    }

    public func cpuDescription(for cell: MatrixCell) -> String {
        switch Self.cpu(for: cell) {
        case let .custom(model, features): return ([model] + features.map { "+" + $0 }).joined(separator: ",")
        case let .hostPassthrough(features):
            return (["host-passthrough"] + features.map { "+" + $0 }).joined(separator: ",")
        }
    }

    public func open(say: @escaping @Sendable (String) -> Void) async throws {
        let connection = try LibvirtConnection(uri: uri)
        lock.withLock { self.connection = connection }
        let swept = try DomainReaper.sweepOrphans(connection: connection)
        if !swept.isEmpty { say("destroyed VMs left by dead lab runs: \(swept.joined(separator: ", "))") }
    }

    public var connectionLoss: String? { lock.withLock { connection }?.lossDescription }

    /// The connection `open` made (for a launcher that shares this one's, `BitVisorLauncher`).
    func openedConnection() throws -> LibvirtConnection {
        guard let connection = lock.withLock({ connection }) else {
            throw LabError.launcher("the libvirt launcher was not opened before its first VM")
        }
        return connection
    }

    public func prepare(_ request: VMRequest) async throws -> PreparedVM {
        let connection = try openedConnection()
        let media = try await bootMedia(for: request)
        let cell = request.cell
        let spec = DomainSpec(
            name: request.name, memoryMiB: cell.memoryMiB, vcpus: cell.vcpus,
            accelerator: cell.host == .kvm ? .kvm : .tcg, cpu: Self.cpu(for: cell),
            kernel: media.kernel, initrd: media.initrd, cmdline: media.cmdline,
            serial: .init(directory: URL(fileURLWithPath: request.directory)), gdbPort: request.gdbPort,
            metadata: .init(runID: request.runID, labVersion: request.labVersion))
        try spec.xml().write(toFile: request.directory + "/domain.xml", atomically: true, encoding: .utf8)
        let startPaused = request.gdbPort != nil
        return PreparedVM { try await VMSession.start(spec: spec, connection: connection, startPaused: startPaused) }
    }

    public func record(into provenance: inout Provenance) async {
        let versions = try? lock.withLock { connection }?.versions()
        provenance.libvirtLibraryVersion = versions.map { "\($0.library)" }
        provenance.libvirtDaemonVersion = versions.map { "\($0.daemon)" }
        let qemu = try? await Command.output(HostProbes.qemuBinary, ["--version"])
        // "7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)": the reports say "QEMU" themselves.
        provenance.qemuVersion = qemu?.split(separator: "\n").first.map {
            String($0).replacingOccurrences(of: "QEMU emulator version ", with: "")
        }
    }

    public func close() {
        lock.withLock {
            connection?.close()
            connection = nil
        }
    }
}
