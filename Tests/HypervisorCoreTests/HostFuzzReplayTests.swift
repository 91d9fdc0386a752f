// The host fuzzer's replay set (Sources/Hypervisor/hostfuzz: seed corpus and every input the
// fuzzer found so far) runs as an ordinary test: the real hypercall dispatch, services and core
// under ASan and UBSan against the modelled machine, every invariant checked after every call.
// A failure prints the fuzzer's report (which invariant, the calls that led there).
import Foundation
import Testing

@Suite struct HostFuzzReplayTests {
    static let hostfuzzDir = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Sources/Hypervisor/hostfuzz")
    /// Build products outside the source tree (.build/ is ignored), reused between runs.
    static let buildDir = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent(".build/hostfuzz")

    static func run(_ args: [String], in dir: URL? = nil) -> (Int32, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = args
        if let dir { p.currentDirectoryURL = dir }
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        do { try p.run() } catch { return (-1, "\(args[0]): \(error)") }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// A clang that links a program with ASan + UBSan through lld (what the replay binary
    /// needs; the fuzzer itself also needs libFuzzer), or nil.
    static let clang: String? = {
        let candidates = ["/opt/swift/usr/bin/clang", "clang"]
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("gml-hostfuzz-probe-\(getpid())")
        try? FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: tmp) }
        let src = tmp.appendingPathComponent("probe.c")
        guard (try? "int main(void) { return 0; }\n".write(to: src, atomically: true, encoding: .utf8)) != nil
        else { return nil }
        for cc in candidates {
            let (rc, _) = run([
                cc, "-fsanitize=address,undefined", "-fuse-ld=lld", src.path, "-o",
                tmp.appendingPathComponent("probe").path,
            ])
            if rc == 0 && run([tmp.appendingPathComponent("probe").path]).0 == 0 { return cc }
        }
        return nil
    }()
    static let haveMake = run(["make", "--version"]).0 == 0

    @Test(
        .enabled(
            if: clang != nil,
            "no clang that links -fsanitize=address,undefined with -fuse-ld=lld (tried /opt/swift/usr/bin/clang and clang on PATH)"
        ),
        .enabled(if: haveMake, "make is not installed"))
    func replaySetPasses() throws {
        let clang = try #require(Self.clang)
        let corpus = try FileManager.default.contentsOfDirectory(
            atPath: Self.hostfuzzDir.appendingPathComponent("corpus").path)
        #expect(corpus.count >= 10, "seed corpus missing in \(Self.hostfuzzDir.path)/corpus")
        let (rc, out) = Self.run([
            "make", "-C", Self.hostfuzzDir.path, "replay", "CLANG=\(clang)", "O=\(Self.buildDir.path)",
        ])
        // The summary line proves the runner ran every file (not just that make succeeded).
        let summary = out.split(separator: "\n").last { $0.hasPrefix("hostfuzz-replay: ") && $0.contains(" inputs, ") }
        #expect(summary != nil, "no replay summary; make output:\n\(out.suffix(4000))")
        let failures = out.split(separator: "\n").filter {
            $0.contains("INVARIANT FAILURE") || $0.contains("ERROR: AddressSanitizer")
                || $0.contains("runtime error:") || $0.hasPrefix("hostfuzz-replay: FAIL")
        }
        #expect(
            rc == 0 && failures.isEmpty,
            "host fuzzer replay failed (rc \(rc)):\n\(failures.joined(separator: "\n"))\n\(out.suffix(6000))")
    }
}
