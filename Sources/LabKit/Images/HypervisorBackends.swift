import Foundation
import LabModel
import LabVirt

/// Which hypervisor backends (svm, vmx) are implemented is the hypervisor build's answer, not the
/// lab's: Sources/Hypervisor/Makefile lists them in `BACKENDS`, writes them to `$O/backends`
/// beside hv.elf, and prints them with `make -s print-backends`.
public enum HypervisorBackends {
    /// Parses the `backends` file: backend names separated by white space.
    public static func parse(_ text: String, source: String) throws -> Set<Backend> {
        var backends: Set<Backend> = []
        for word in text.split(whereSeparator: \.isWhitespace) {
            guard let backend = Backend(rawValue: String(word)), backend != .none else {
                throw LabError.imageBuild(
                    component: "hypervisor",
                    detail: "\(source) names \"\(word)\", which is not a hypervisor backend (expected svm or vmx)")
            }
            backends.insert(backend)
        }
        return backends
    }

    /// What the hypervisor sources declare (`make -s -C Sources/Hypervisor print-backends`),
    /// for planning before any image is built (`lab doctor`). Empty when make fails.
    public static func declared(hypervisorSources: String) async -> Set<Backend> {
        guard let output = try? await Command.output("make", ["-s", "-C", hypervisorSources, "print-backends"]) else {
            return []
        }
        return (try? parse(output, source: "make print-backends")) ?? []
    }

    /// The backends every image of a run implements (a cell runs on each kernel's image).
    public static func implemented(by images: [ImageSet]) -> Set<Backend> {
        guard let first = images.first else { return [] }
        return images.dropFirst().reduce(first.hypervisorBackends) { $0.intersection($1.hypervisorBackends) }
    }
}

extension ImageSet {
    /// The backends this image's hypervisor implements, from `backends` beside hv.elf; empty
    /// when there is no hypervisor (its build failed) or the file is missing or unreadable.
    public var hypervisorBackends: Set<Backend> {
        guard let hypervisor else { return [] }
        let file = (hypervisor as NSString).deletingLastPathComponent + "/backends"
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { return [] }
        return (try? HypervisorBackends.parse(text, source: file)) ?? []
    }
}
