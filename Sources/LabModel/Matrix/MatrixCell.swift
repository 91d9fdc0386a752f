import Foundation

/// One machine configuration of the matrix: everything that needs its own VM.
///
/// Its `id` is stable and short: `<backend>-<host>-<kernel>-<memory>m-<vcpus>cpu-<levels>lvl`,
/// e.g. `svm-tcg-debian-1024m-1cpu-5lvl` or `none-kvm-6.1.0-56-amd64-2048m-2cpu-4lvl`. The kernel
/// part is the kernel as configured (`debian`, not the version it resolved to, which goes to
/// provenance), and the host is the resolved one (never `auto`). Ids are matched by
/// `--only`/`--skip` and used as JUnit `classname`s and results directory names; they contain
/// only `[a-z0-9.+-]`. Runs before the paging axis wrote ids without the paging part; see
/// `canonicalId(_:)`.
public struct MatrixCell: Sendable, Hashable, Codable, Comparable, CustomStringConvertible {
    public var backend: Backend
    public var host: HostKind
    public var kernel: KernelSpec
    public var memoryMiB: Int
    public var vcpus: Int
    public var paging: PagingMode

    public init(
        backend: Backend, host: HostKind, kernel: KernelSpec, memoryMiB: Int, vcpus: Int,
        paging: PagingMode = .fourLevel
    ) {
        self.backend = backend
        self.host = host
        self.kernel = kernel
        self.memoryMiB = memoryMiB
        self.vcpus = vcpus
        self.paging = paging
    }

    public var id: String {
        "\(backend.rawValue)-\(host.rawValue)-\(kernel)-\(memoryMiB)m-\(vcpus)cpu-\(paging.idPart)"
    }

    public var description: String { id }

    /// `id` as this version writes it: an id from before the paging axis (ending in `cpu`, as in
    /// older results.json files and repro commands) gains `-4lvl`, the paging those runs used.
    public static func canonicalId(_ id: String) -> String {
        id.hasSuffix("cpu") ? id + "-" + PagingMode.fourLevel.idPart : id
    }

    /// Matrix order: backend, host, kernel (as written), memory, vCPUs, paging.
    public static func < (lhs: MatrixCell, rhs: MatrixCell) -> Bool {
        (lhs.backend, lhs.host, lhs.kernel.description, lhs.memoryMiB, lhs.vcpus, lhs.paging)
            < (rhs.backend, rhs.host, rhs.kernel.description, rhs.memoryMiB, rhs.vcpus, rhs.paging)
    }

    // Decoding by hand only so that cells recorded before the paging axis existed read as 4-level.
    private enum CodingKeys: String, CodingKey { case backend, host, kernel, memoryMiB, vcpus, paging }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            backend: try c.decode(Backend.self, forKey: .backend), host: try c.decode(HostKind.self, forKey: .host),
            kernel: try c.decode(KernelSpec.self, forKey: .kernel),
            memoryMiB: try c.decode(Int.self, forKey: .memoryMiB),
            vcpus: try c.decode(Int.self, forKey: .vcpus),
            paging: try c.decodeIfPresent(PagingMode.self, forKey: .paging) ?? .fourLevel)
    }
}
