import Foundation
import LabVirt

/// Serial streams that reached virtlogd's size limit while a VM ran: found by the backups
/// virtlogd leaves beside the file (`console.log.0`, `.1`, …), which are kept with the VM's
/// logs and named in each of its records (`CaseRecord.truncatedLogs`).
enum LogRollover {
    /// `logs` (role → path relative to `resultsDirectory`) with each backup added as
    /// `ROLE.N` → `PATH.N`, and for each rolled-over role what happened.
    static func inspect(
        logs: [String: String], resultsDirectory: String, limits: VirtlogdLimits
    ) -> (logs: [String: String], truncated: [String: String]) {
        var all = logs
        var truncated: [String: String] = [:]
        let fm = FileManager.default
        for (role, path) in logs.sorted(by: { $0.key < $1.key }) {
            var backups: [Int] = []
            // Backups are numbered from 0 without gaps; look a little past the limit in case the
            // daemon's configuration changed while the VM ran.
            for index in 0..<max(limits.maxBackups, 1) + 4 {
                guard fm.fileExists(atPath: resultsDirectory + "/" + path + ".\(index)") else { break }
                backups.append(index)
            }
            guard let oldest = backups.last else { continue }
            for index in backups { all["\(role).\(index)"] = path + ".\(index)" }
            let name = (path as NSString).lastPathComponent
            let order = backups.reversed().map { "\(name).\($0)" } + [name]
            var text =
                "reached virtlogd's max_size (\(limits.sizeText)) \(backups.count) time\(backups.count == 1 ? "" : "s"):"
                + " the stream is split over " + order.joined(separator: ", ") + " (oldest first)"
            if oldest + 1 >= limits.maxBackups {
                text +=
                    "; virtlogd keeps \(limits.maxBackups) backup\(limits.maxBackups == 1 ? "" : "s"),"
                    + " so the beginning of the stream may be lost"
            }
            truncated[role] = text
        }
        return (all, truncated)
    }
}
