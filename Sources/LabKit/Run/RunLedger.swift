import Foundation
import LabModel
import LabVirt

/// What a run has finished so far, so that results are written even when the run is stopped:
/// on SIGINT/SIGTERM/SIGHUP the executor's interruption handler writes results.json, junit.xml
/// and the reports from here, every planned case without a record marked `interrupted`.
public final class RunLedger: @unchecked Sendable {
    private let lock = NSLock()
    private var records: [CaseRecord] = []
    private let cells: [CellOutcome]
    /// Planned cases of the cells that run, by cell id, in plan order.
    private let planned: [(cell: String, cases: [String])]
    private let provenance: Provenance
    private let catalog: [CaseInfo]
    private let notes: [String]
    /// The shard this run is (`--shard`), written into interrupted results too.
    var shard: ShardInfo?

    init(
        cells: [CellOutcome], planned: [(cell: String, cases: [String])], provenance: Provenance,
        catalog: [CaseInfo], notes: [String]
    ) {
        self.cells = cells
        self.planned = planned
        self.provenance = provenance
        self.catalog = catalog
        self.notes = notes
    }

    /// Records a cell runner finished — as each RESULT arrives, and again complete when the VM
    /// ends (a later record of the same case and cell replaces the earlier). Once a stopping
    /// signal has arrived they are dropped: the VMs are being destroyed, so what fails now fails
    /// because of the interruption.
    func add(_ new: [CaseRecord], interrupting: Bool = DomainReaper.shared.interruptingSignal != nil) {
        guard !interrupting else { return }
        lock.withLock {
            for record in new {
                if let index = records.firstIndex(where: { $0.caseId == record.caseId && $0.cellId == record.cellId }) {
                    records[index] = record
                } else {
                    records.append(record)
                }
            }
        }
    }

    /// Drops a cell's records (its machine was lost and it runs again): an interruption from
    /// here on marks its cases interrupted, not failed by the loss.
    func retract(cell: String) {
        lock.withLock { records.removeAll { $0.cellId == cell } }
    }

    /// The results as they stand, the unfinished cases marked `interrupted` by `signalName`.
    public func interruptedResults(signalName: String, at time: Date = Date()) -> RunResults {
        let finished = lock.withLock { records }
        var all = finished
        for (cell, cases) in planned {
            let done = Set(finished.filter { $0.cellId == cell }.map(\.caseId))
            for caseId in cases where !done.contains(caseId) {
                all.append(
                    CaseRecord(
                        caseId: caseId, cellId: cell, status: .interrupted,
                        message: "interrupted (\(signalName)) before the case finished"))
            }
        }
        var provenance = provenance
        provenance.endTime = time
        var results = RunResults(
            provenance: provenance, cells: cells, records: all, cases: catalog,
            notes: notes + ["the run was interrupted (\(signalName)); cases marked interrupted did not finish"])
        results.shard = shard
        return results
    }
}
