import Foundation
import LabVirt

/// SHA-256 digests of files and of source trees, through coreutils' `sha256sum` (one process per
/// call, however many files): image provenance and the build cache's content keys.
public enum Digest {
    /// `sha256:<hex>` of one file.
    public static func file(_ path: String) async throws -> String {
        let out = try await Command.output("sha256sum", ["--", path])
        return "sha256:" + (out.split(separator: " ").first.map(String.init) ?? "")
    }

    /// One digest over the paths and contents of every regular file below the given roots
    /// (directories walked recursively, build outputs and dot-files skipped), plus `extra` strings
    /// (tool versions, parameters). Stable across machines for the same sources.
    public static func tree(_ roots: [String], relativeTo base: String, extra: [String] = []) async throws -> String {
        var files: [String] = []
        let fm = FileManager.default
        for root in roots {
            var isDir: ObjCBool = false
            guard fm.fileExists(atPath: root, isDirectory: &isDir) else { continue }
            if !isDir.boolValue {
                files.append(root)
                continue
            }
            let walker = fm.enumerator(atPath: root)
            while let rel = walker?.nextObject() as? String {
                let parts = rel.split(separator: "/")
                if parts.contains(where: { $0.hasPrefix(".") || $0 == "build" }) {
                    walker?.skipDescendants()
                    continue
                }
                let full = root + "/" + rel
                if fm.fileExists(atPath: full, isDirectory: &isDir), !isDir.boolValue { files.append(full) }
            }
        }
        files.sort()
        var manifest = extra.joined(separator: "\n") + "\n"
        if !files.isEmpty {
            // sha256sum prints "<hex>  <path>"; paths made relative so the key does not depend on
            // where the repository is cloned.
            let sums = try await Command.output("sha256sum", ["--"] + files)
            manifest += sums.replacingOccurrences(of: base + "/", with: "")
        }
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("gmlab-manifest-\(UUID().uuidString)")
        try manifest.write(to: tmp, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: tmp) }
        return try await file(tmp.path)
    }
}
