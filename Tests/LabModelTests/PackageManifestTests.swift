import Foundation
import Testing

/// Package.swift declares only what the sources use: every package dependency provides a
/// product some target depends on, and every such product's module is imported by that
/// target's sources (issue 11: swift-log was declared and never imported).
@Suite struct PackageManifestTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static func matches(_ pattern: String, in text: String) throws -> [[String]] {
        let regex = try NSRegularExpression(pattern: pattern)
        return regex.matches(in: text, range: NSRange(text.startIndex..., in: text)).map { match in
            (1..<match.numberOfRanges).compactMap { Range(match.range(at: $0), in: text).map { String(text[$0]) } }
        }
    }

    /// Source text of the target whose `.target(name: …, … path: …)` names `path`.
    static func sources(under path: String) -> String {
        let root = repository.appendingPathComponent(path)
        guard let walker = FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil) else { return "" }
        var text = ""
        for case let url as URL in walker where url.pathExtension == "swift" {
            text += (try? String(contentsOf: url, encoding: .utf8)) ?? ""
        }
        return text
    }

    @Test func everyDeclaredDependencyIsImported() throws {
        let manifest = try String(
            contentsOf: Self.repository.appendingPathComponent("Package.swift"), encoding: .utf8)
        let packages = try Self.matches(#"\.package\(url: "[^"]*/([^"/]+)""#, in: manifest).map { $0[0] }
        #expect(!packages.isEmpty)
        // Each target block: its name, its dependencies text and its path.
        let targets = try Self.matches(
            #"\.(?:target|executableTarget|testTarget)\(\s*name: "([^"]+)",(?s:(.*?))path: "([^"]+)""#, in: manifest)
        #expect(targets.count >= 5, "\(targets.map { $0[0] })")
        var used: Set<String> = []
        for target in targets {
            let products = try Self.matches(#"\.product\(name: "([^"]+)", package: "([^"]+)"\)"#, in: target[1])
            let text = Self.sources(under: target[2])
            for product in products {
                used.insert(product[1])
                let imported = text.contains("import \(product[0])")
                #expect(
                    imported,
                    "\(target[0]) depends on \(product[0]) (package \(product[1])) but no source in \(target[2]) imports it"
                )
            }
        }
        for package in packages {
            #expect(used.contains(package), "package \(package) is declared in Package.swift but no target uses it")
        }
    }
}
