import Foundation
import LabModel

/// What the shell completion of `lab` offers for suites, case ids and cell ids: fast (no
/// build, no host probe), from what is already on disk.
/// - case ids: the newest guest catalog in the cache (`guest/*/cases.json`, the last `lab build`)
///   and the cases of `results/latest` (user cases included);
/// - suites: those of the case ids, and lab.json's `matrix.suites`;
/// - kernels: `debian` and the versions in the cache;
/// - cell ids: lab.json's matrix with `auto` taken both ways (KVM, and the emulator that stands
///   in for it), so every id a run on any host could have is offered.
public struct CompletionCandidates: Sendable {
    public var paths: LabPaths
    /// The configuration file (`--config` on the command line being completed, else lab.json).
    public var configFile: String

    public init(paths: LabPaths, configFile: String? = nil) {
        self.paths = paths
        self.configFile = configFile ?? paths.labJSON
    }

    /// From the words of the command line being completed: the repository from the working
    /// directory, `--config FILE` / `--config=FILE` when given. Nil outside a repository.
    public static func forCommandLine(_ words: [String]) -> CompletionCandidates? {
        guard let paths = try? LabPaths.discover() else { return nil }
        var config: String?
        for (index, word) in words.enumerated() {
            if word == "--config", index + 1 < words.count {
                config = words[index + 1]
            } else if word.hasPrefix("--config=") {
                config = String(word.dropFirst("--config=".count))
            }
        }
        return CompletionCandidates(paths: paths, configFile: config)
    }

    var config: LabConfig? { try? LabConfig.load(from: URL(fileURLWithPath: configFile)) }

    /// Case ids, sorted, each once.
    public func caseIds() -> [String] {
        var ids: Set<String> = []
        let guest = URL(fileURLWithPath: paths.cache).appendingPathComponent("guest")
        let catalogs = ((try? FileManager.default.contentsOfDirectory(atPath: guest.path)) ?? []).map {
            guest.appendingPathComponent($0).appendingPathComponent("cases.json")
        }
        let newest = catalogs.compactMap { url -> (URL, Date)? in
            guard let attributes = try? FileManager.default.attributesOfItem(atPath: url.path),
                let date = attributes[.modificationDate] as? Date
            else { return nil }
            return (url, date)
        }.max { $0.1 < $1.1 }?.0
        // Read leniently (only the ids): the cache is shared by every checkout on the machine, and
        // a newer lab's catalog may use words this one's strict reader refuses.
        if let newest, let data = try? Data(contentsOf: newest),
            let entries = try? JSONSerialization.jsonObject(with: data) as? [[String: Any]]
        {
            ids.formUnion(entries.compactMap { $0["id"] as? String })
        }
        let latest = URL(fileURLWithPath: paths.repository).appendingPathComponent("results/latest")
        if let results = try? RunResults.load(from: latest) {
            ids.formUnion(results.cases.map(\.id))
            ids.formUnion(results.records.map(\.caseId).filter { $0 != RunResults.labErrorCaseId })
        }
        return ids.sorted()
    }

    /// Suite names, sorted, each once.
    public func suites() -> [String] {
        var names = Set(caseIds().compactMap { $0.split(separator: "/").first.map(String.init) })
        names.formUnion(config?.matrix.suites ?? [])
        return names.sorted()
    }

    /// Cell ids of lab.json's matrix, sorted.
    public func cellIds() -> [String] {
        guard let matrix = config?.matrix else { return [] }
        var ids: Set<String> = []
        for kvm in [true, false] {
            let capabilities = HostCapabilities(
                kvmBootsGuest: kvm, nestedSVM: kvm, nestedVMX: kvm, tcgEmulatesSVM: true, bochsEmulatesVMX: true,
                cores: 1, availableMemoryMiB: 1 << 20)
            let plan = MatrixPlan(
                matrix: matrix, capabilities: capabilities,
                implemented: Implemented(backends: Set(Backend.allCases), hostKinds: Set(HostKind.allCases)))
            ids.formUnion(plan.cells.map(\.id))
        }
        return ids.sorted()
    }

    /// `debian` and the exact kernel versions already in the cache (`kernel/<version>`).
    public func kernels() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: paths.cache + "/kernel")) ?? []
        return ["debian"] + names.filter { KernelSpec(name: $0) != nil && $0 != "debian" }.sorted()
    }

    /// What `--only` and `--skip` take: case ids, `suite/*` globs and cell ids.
    public func patterns() -> [String] {
        caseIds() + suites().map { $0 + "/*" } + cellIds()
    }
}
