import Foundation
import LabVirt

/// One BitVisor image the lab built from a user's checkout, or why it could not.
public struct BitVisorBuild: Codable, Sendable, Equatable {
    /// `bitvisor.elf` in the cache (a multiboot image GRUB loads); nil when the build failed.
    public var elf: String?
    /// Why there is no image: the compiler's messages (paths turned back into the user's and
    /// the lab's files), or the step that failed. The lab reports it as an error case.
    public var error: String?
    /// The checkout as named, its content key and where its content came from.
    public var checkout: String
    public var checkoutDigest: String
    public var provenance: BitVisorCheckout.Provenance
    /// The cache key: the checkout's content, the lab's files added to it, the recipe, the compiler.
    public var key: String
    /// `sha256:` of `elf`.
    public var digest: String?
    /// The GRUB CD that multiboots `elf` and hands it the guest disk (BitVisorBootMedia).
    public var loaderCD: String?
    /// The lab's service files built in (`services/…`), the user's (absolute paths).
    public var services: [String]
    public var userServices: [String]
    /// Lab services that do not exist on BitVisor, with the reason.
    public var leftOut: [BitVisorLeftOutService]
}

/// The BitVisor image recipe: copy the user's checkout into the cache, write the lab's build
/// configuration, add the lab's services and compatibility layer to the copy, build
/// `bitvisor.elf`. Cached by content (`BitVisorBuild.key`): a second build of an unchanged
/// checkout only re-hashes it. Failures are not cached, so a fixed checkout (or host) is tried
/// again at once.
public struct BitVisorBuilder: Sendable {
    public let images: ImageBuilder
    public var paths: LabPaths { images.paths }

    public init(images: ImageBuilder) { self.images = images }

    /// Bump when the recipe itself changes what it builds.
    static let recipeVersion = "bitvisor recipe v2"

    public func build(checkout: BitVisorCheckout, userServices: [String] = []) async throws -> BitVisorBuild {
        let plan = try BitVisorInjection.plan(hypervisorSources: paths.hypervisorSources, userServices: userServices)
        let checkoutDigest = try await checkout.contentDigest()
        let provenance = await checkout.provenance()
        let compiler =
            (try? await Command.output("gcc", ["--version"]))?.split(separator: "\n").first.map(String.init)
            ?? "gcc: not found"
        let labDigest = try await Digest.tree(
            plan.files.map(\.source).sorted(), relativeTo: paths.repository,
            extra: plan.files.map { "\($0.destination) <- \(($0.source as NSString).lastPathComponent)" })
        let key = try await BitVisorCheckout.digest(
            of: [
                Self.recipeVersion, checkoutDigest, labDigest, compiler, BitVisorConfiguration.dotConfig(),
                BitVisorConfiguration.runtimeOverrides.map { "\($0.member)=\($0.value)" }.joined(separator: ","),
            ].joined(separator: "\n"))
        var result = BitVisorBuild(
            elf: nil, error: nil, checkout: checkout.path, checkoutDigest: checkoutDigest, provenance: provenance,
            key: key, digest: nil, loaderCD: nil,
            services: plan.files.filter { $0.role == .service && $0.source.hasSuffix(".c") }.map {
                "services/" + ($0.source as NSString).lastPathComponent
            },
            userServices: userServices, leftOut: plan.leftOut)

        let dir = paths.cache + "/bitvisor/" + images.shortKey(key)
        if FileManager.default.fileExists(atPath: dir + "/loader.iso") {
            result.elf = dir + "/bitvisor.elf"
            result.loaderCD = dir + "/loader.iso"
            result.digest = try await images.cachedDigest(dir + "/bitvisor.elf")
            return result
        }
        images.log("building BitVisor from \(checkout.path)\(provenance.commit.map { " (commit \($0))" } ?? "")")
        do {
            _ = try await images.buildAtomically(into: dir, component: "BitVisor") { tmp, logFile in
                try await buildTree(checkout: checkout, plan: plan, work: tmp, logFile: logFile)
                try await BitVisorBootMedia.makeLoaderCD(
                    elf: tmp + "/bitvisor.elf", output: tmp + "/loader.iso", work: tmp)
                try JSONEncoder().encode(result).write(to: URL(fileURLWithPath: tmp + "/build.json"))
            }
        } catch {
            result.error = Self.diagnostics(of: error, plan: plan)
            return result
        }
        result.elf = dir + "/bitvisor.elf"
        result.loaderCD = dir + "/loader.iso"
        result.digest = try await images.cachedDigest(dir + "/bitvisor.elf")
        return result
    }

    /// The recipe's steps in `work`: `work/src` is the copy (removed after a successful build),
    /// `work/bitvisor.elf` the result.
    func buildTree(checkout: BitVisorCheckout, plan: BitVisorInjection, work: String, logFile: String) async throws {
        let src = work + "/src"
        try FileManager.default.createDirectory(atPath: src, withIntermediateDirectories: true)
        // 1. the copy: exactly the files the content key covers (no build outputs, no .git)
        let list = work + "/files.lst"
        try Data(try checkout.entries().map(\.path).joined(separator: "\0").utf8).write(
            to: URL(fileURLWithPath: list))
        try await Command.output(
            "sh",
            ["-c", "cd \"$1\" && tar --null -T \"$2\" -cf - | tar -C \"$3\" -xf -", "sh", checkout.path, list, src])
        // 2. configuration: .config normalised by the checkout's own Kconfig script, defconfig
        try BitVisorConfiguration.dotConfig().write(toFile: src + "/.config", atomically: true, encoding: .utf8)
        try await Command.logged(
            "python3", ["scripts/kconfig/kconfig.py", "Kconfig", ".config", "/dev/null", "/dev/null", ".config"],
            logFile: logFile + ".kconfig", workingDirectory: src, environment: ["CC": "gcc"])
        let unmet = BitVisorConfiguration.unmetOptions(
            normalised: try String(contentsOfFile: src + "/.config", encoding: .utf8))
        guard unmet.isEmpty else {
            throw BitVisorError.configuration(
                "this checkout's Kconfig does not give the configuration the lab needs:\n"
                    + unmet.joined(separator: "\n"))
        }
        try BitVisorConfiguration.defconfig(
            template: try String(contentsOfFile: src + "/defconfig.tmpl", encoding: .utf8)
        ).write(toFile: src + "/defconfig", atomically: true, encoding: .utf8)
        // 3. the lab's services and compatibility layer
        try plan.apply(to: src)
        // 4. build
        let jobs = max(1, ProcessInfo.processInfo.activeProcessorCount)
        try await Command.logged("make", ["-C", src, "-j\(jobs)"], logFile: logFile)
        try FileManager.default.moveItem(atPath: src + "/bitvisor.elf", toPath: work + "/bitvisor.elf")
        try? FileManager.default.removeItem(atPath: src)
        try? FileManager.default.removeItem(atPath: list)
    }

    /// The compiler's (or script's) messages of a failed build, with the copy's paths turned
    /// back into the lab's and the user's files; else the tail of the log.
    static func diagnostics(of error: Error, plan: BitVisorInjection) -> String {
        let text = "\(error)"
        let logFile = text.range(of: #"full log: (\S+)"#, options: .regularExpression)
            .map { String(text[$0].dropFirst("full log: ".count)) }
        guard let logFile, let log = try? String(contentsOfFile: logFile, encoding: .utf8) else {
            return plan.originalPaths(in: text)
        }
        let interesting = log.split(separator: "\n").filter { line in
            !line.hasPrefix("make") && !line.hasPrefix("  CC ") && !line.hasPrefix("  LD ")
                && (line.contains("error:") || line.contains("undefined reference")
                    || line.contains("multiple definition") || line.contains("In file included from")
                    || line.contains("first defined here") || line.contains("Error:"))
        }
        let body = interesting.isEmpty ? Command.tail(log, lines: 25) : interesting.prefix(40).joined(separator: "\n")
        return plan.originalPaths(in: body) + "\n(full log: \(logFile))"
    }
}
