import Foundation
import LabModel

/// `lab merge OUT DIR…`: reads each DIR's results.json, merges them (`ResultsMerge`: checks the
/// shards belong together and none is missing), copies each DIR's VM logs (`vms/<vm>/`) into
/// OUT so the records' log paths stay valid, and writes OUT's results.json, junit.xml, TAP, text
/// and HTML reports.
public struct ResultsMerger: Sendable {
    public init() {}

    public func merge(
        into output: String, from directories: [String], commandLine: [String] = CommandLine.arguments
    ) throws -> RunSummary {
        let outURL = URL(fileURLWithPath: output).standardizedFileURL
        var inputs: [ResultsMerge.Input] = []
        for directory in directories {
            let url = URL(fileURLWithPath: directory).standardizedFileURL
            guard url.path != outURL.path else {
                throw ShardError("the output directory \(output) is also an input: write the merge elsewhere")
            }
            inputs.append(.init(directory: directory, results: try RunResults.load(from: url)))
        }
        // VM directory names carry their run id, so shards never collide; if two inputs still
        // name the same VM (the same run given twice is refused by the merge), rename the later.
        var taken: Set<String> = []
        var copies: [(from: URL, to: String)] = []
        for index in inputs.indices {
            let vms = URL(fileURLWithPath: inputs[index].directory).appendingPathComponent("vms")
            let names = (try? FileManager.default.contentsOfDirectory(atPath: vms.path))?.sorted() ?? []
            for name in names {
                var target = name
                var suffix = 2
                while taken.contains(target) {
                    target = "\(name)-\(suffix)"
                    suffix += 1
                }
                taken.insert(target)
                copies.append((vms.appendingPathComponent(name), target))
                if target != name {
                    for r in inputs[index].results.records.indices {
                        inputs[index].results.records[r].logs = inputs[index].results.records[r].logs.mapValues {
                            $0.hasPrefix("vms/\(name)/") ? "vms/\(target)/" + $0.dropFirst("vms/\(name)/".count) : $0
                        }
                    }
                }
            }
        }
        let results = try ResultsMerge.merge(inputs, commandLine: commandLine)
        let fm = FileManager.default
        try fm.createDirectory(at: outURL, withIntermediateDirectories: true)
        if !copies.isEmpty {
            let vmsOut = outURL.appendingPathComponent("vms")
            try fm.createDirectory(at: vmsOut, withIntermediateDirectories: true)
            for (from, name) in copies {
                let to = vmsOut.appendingPathComponent(name)
                if fm.fileExists(atPath: to.path) { try fm.removeItem(at: to) }
                try fm.copyItem(at: from, to: to)
            }
        }
        let files = try results.write(to: outURL).map(\.path)
        return RunSummary(directory: output, results: results, files: files)
    }
}
