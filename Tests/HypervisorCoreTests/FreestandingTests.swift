// The contract with the image build: every core/*.c compiles freestanding (no libc headers,
// general registers only, warnings as errors) and needs nothing from outside but memcpy/memset
// and other core files. Guards against a libc call or a host header slipping into core/.
import Foundation
import Testing

@Suite struct FreestandingTests {
    static let coreDir = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Sources/Hypervisor/core")

    static func run(_ args: [String]) throws -> (Int32, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = args
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    @Test func coreCompilesFreestandingAndLinksOnlyAgainstMemcpyMemset() throws {
        let (rc0, gccInclude) = try Self.run(["gcc", "-print-file-name=include"])
        try #require(rc0 == 0, "gcc not available: \(gccInclude)")
        let sources = try FileManager.default.contentsOfDirectory(atPath: Self.coreDir.path)
            .filter { $0.hasSuffix(".c") }.sorted()
        #expect(sources.count >= 5, "core sources not found in \(Self.coreDir.path)")
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("gml-core-\(getpid())")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: tmp) }
        var defined = Set<String>()
        var undefined = Set<String>()
        for src in sources {
            let obj = tmp.appendingPathComponent(src + ".o").path
            let (rc, out) = try Self.run([
                "gcc", "-std=gnu11", "-O2", "-Wall", "-Wextra", "-Werror", "-ffreestanding",
                "-mgeneral-regs-only", "-mno-red-zone", "-fno-pic", "-nostdlib", "-nostdinc",
                "-isystem", gccInclude.trimmingCharacters(in: .whitespacesAndNewlines),
                "-I", Self.coreDir.appendingPathComponent("include").path,
                "-c", Self.coreDir.appendingPathComponent(src).path, "-o", obj,
            ])
            #expect(rc == 0, "\(src) does not compile freestanding:\n\(out)")
            guard rc == 0 else { continue }
            let (_, syms) = try Self.run(["nm", obj])
            for line in syms.split(separator: "\n") {
                let f = line.split(separator: " ")
                if f.count == 2 && f[0] == "U" { undefined.insert(String(f[1])) }
                if f.count == 3 && f[1] == "T" { defined.insert(String(f[2])) }
            }
        }
        let external = undefined.subtracting(defined)
        #expect(external.isSubset(of: ["memcpy", "memset"]), "core needs \(external.sorted())")
    }
}
