import Foundation
import LabKit

/// `lab --version`: the lab's release and, from the repository it runs in, its commit.
enum LabVersion {
    static let release = "0.11.0"

    static func text() async -> String {
        var line = "lab \(release)"
        if let paths = try? LabPaths.discover(), let commit = git(["-C", paths.repository, "rev-parse", "HEAD"]) {
            let dirty = git(["-C", paths.repository, "status", "--porcelain", "--untracked-files=no"]) ?? ""
            line += " (commit \(commit)\(dirty.isEmpty ? "" : "-dirty"))"
        }
        return line
    }

    private static func git(_ arguments: [String]) -> String? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["git"] + arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return nil }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { return nil }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
