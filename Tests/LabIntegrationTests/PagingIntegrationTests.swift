import Foundation
import LabModel
import LabVirt
import Testing

@testable import LabKit

/// The paging axis end to end (real VMs under QEMU TCG, root and libvirtd as for
/// LabRunIntegrationTests): the 5-level cell's guest really runs 5-level paging and the
/// hypervisor's walk moves data above 2^47; the 4-level cell, on the same LA57 CPU, runs 4 levels.
@Suite(.serialized) struct PagingIntegrationTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path

    @Test func eachCellRunsThePagingItsIdSays() async throws {
        guard getuid() == 0 else {
            Issue.record("integration tests drive libvirtd on qemu:///system and must run as root (sudo make test)")
            return
        }
        let paths = LabPaths(repository: Self.repository, cache: LabPaths.defaultCache())
        var config = try LabConfig.load(from: URL(fileURLWithPath: paths.labJSON))
        config.timeouts.bootSeconds = 150
        let lab = LabSession(paths: paths, config: config, configFile: paths.labJSON)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
            "gmlab-it-paging-\(UUID().uuidString.prefix(8))"
        ).path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var request = RunRequest()
        request.only = ["linear/*/paging-mode", "smoke/kernel-version"]
        request.overrides = ConfigOverrides(backends: ["none", "svm"], hosts: ["tcg"], paging: ["5-level", "4-level"])
        request.resultsDirectory = dir
        let results = try await LabRunner(session: lab).run(request).results

        #expect(
            results.cells.map(\.id) == [
                "none-tcg-debian-1024m-1cpu-5lvl", "none-tcg-debian-1024m-1cpu-4lvl",
                "svm-tcg-debian-1024m-1cpu-5lvl", "svm-tcg-debian-1024m-1cpu-4lvl",
            ])
        func records(_ cell: String, _ prefix: String) -> [CaseRecord] {
            results.records.filter { $0.cellId == cell && $0.caseId.hasPrefix(prefix) }
        }
        // Both kernels boot in both modes, with and without the hypervisor.
        for cell in results.cells {
            #expect(records(cell.id, "smoke/kernel-version").map(\.status) == [.pass], "\(cell.id)")
        }
        let fiveLevel = records("svm-tcg-debian-1024m-1cpu-5lvl", "linear/")
        #expect(fiveLevel.count == 2)  // bytewise and pagewise
        for r in fiveLevel {
            #expect(r.status == .pass, "\(r.caseId): \(r.message)")
            #expect(r.values["paging_levels"] == .number(5))
            if case .number(let address)? = r.values["high_address"] {
                #expect(address >= 0x8000_0000_0000)
            } else {
                Issue.record("\(r.caseId): no high_address: \(r.values)")
            }
        }
        let fourLevel = records("svm-tcg-debian-1024m-1cpu-4lvl", "linear/")
        #expect(fourLevel.count == 2)
        for r in fourLevel {
            // The case skips its 5-level part, saying why; the CPU had LA57, the kernel declined it.
            #expect(r.status == .skip && r.message.contains("no5lvl"), "\(r.caseId): \(r.status) \(r.message)")
            #expect(r.values["paging_levels"] == .number(4) && r.values["cpu_la57"] == .number(1), "\(r.values)")
        }

        let machines = try RunResults.load(from: URL(fileURLWithPath: dir)).provenance.machines
        #expect(machines["svm-tcg-debian-1024m-1cpu-5lvl"]?.paging == .fiveLevel)
        #expect(machines["svm-tcg-debian-1024m-1cpu-4lvl"]?.paging == .fourLevel)
        #expect(machines["svm-tcg-debian-1024m-1cpu-4lvl"]?.guestCmdline?.hasSuffix(" no5lvl") == true)
        #expect(machines["svm-tcg-debian-1024m-1cpu-5lvl"]?.guestCmdline?.contains("no5lvl") == false)
        #expect(machines.values.allSatisfy { $0.cpuModel == "qemu64,+svm,+npt,+la57,+pdpe1gb,+smap,+smep" })
    }
}
