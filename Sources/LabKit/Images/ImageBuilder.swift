import Foundation
import LabVirt

/// The images one matrix cell boots, with their provenance. Paths point into the cache.
public struct ImageSet: Codable, Sendable, Equatable {
    public var kernelVersion: String  // e.g. 6.1.0-56-amd64
    public var kernelPackageVersion: String  // Debian package version of linux-image-<version>
    public var kernel: String  // bzImage (vmlinuz)
    public var vmlinux: String?  // uncompressed kernel, when the recipe extracted it
    public var initramfs: String  // base initramfs (busybox, agent, tests, modules)
    public var casesCatalog: String  // cases.json listed from the test programs
    public var hypervisor: String?  // hv.elf, nil when its build failed
    public var mkbundle: String?
    public var hypervisorBuildError: String?  // why `hypervisor` is nil
    /// Content digests (`sha256:…`) by image name: kernel, initramfs, hypervisor.
    public var digests: [String: String]
    /// Set when user case directories went into `initramfs`, `casesCatalog` and `hypervisor`.
    public var userCases: UserCaseSummary? = nil
    /// The user case directories' hypervisor services that compiled (absolute paths): they go
    /// into BitVisor as well.
    public var userServices: [String]? = nil
    /// Backend `bitvisor`: the image built from the run's checkout (`PlanBasis`), or why there
    /// is none (`bitvisorError`: the checkout is not one; a failed build is in `bitvisor.error`).
    public var bitvisor: BitVisorBuild? = nil
    public var bitvisorError: String? = nil
}

/// Builds the guest kernel, the guest payloads + initramfs and the hypervisor image through the
/// recipes in `images/` and the Makefiles under `Sources/`, caching each by the digest of
/// everything that goes into it. A second build with nothing changed only re-hashes sources.
public struct ImageBuilder: Sendable {
    public let paths: LabPaths
    public let log: @Sendable (String) -> Void
    /// User case directories (absolute paths) built into every image set (UserCases/).
    public var userCaseDirectories: [String]

    public init(
        paths: LabPaths, userCaseDirectories: [String] = [], log: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.paths = paths
        self.userCaseDirectories = userCaseDirectories
        self.log = log
    }

    /// `kernel` is "debian" (the current linux-image-amd64) or an exact version.
    public func build(kernel: String) async throws -> ImageSet {
        let version = try await resolveKernel(kernel)
        let compiler = try await toolVersion("gcc")
        let kernelDir = try await buildKernel(version: version)
        let guestDir = try await buildGuest(kernelVersion: version, kernelDir: kernelDir, compiler: compiler)
        var set = ImageSet(
            kernelVersion: version,
            kernelPackageVersion: read(kernelDir + "/package-version") ?? "unknown",
            kernel: kernelDir + "/vmlinuz",
            vmlinux: FileManager.default.fileExists(atPath: kernelDir + "/vmlinux") ? kernelDir + "/vmlinux" : nil,
            initramfs: guestDir + "/initramfs.cpio.gz",
            casesCatalog: guestDir + "/cases.json",
            hypervisor: nil, mkbundle: nil, hypervisorBuildError: nil,
            digests: [:])
        set.digests["kernel"] = try await cachedDigest(set.kernel)
        set.digests["initramfs"] = try await cachedDigest(set.initramfs)
        if !userCaseDirectories.isEmpty {
            // Adds the overlay, the catalog entries and the hypervisor (with the user's services).
            try await UserCaseBuilder(builder: self, directories: userCaseDirectories)
                .apply(to: &set, kernelDir: kernelDir, compiler: compiler)
            return set
        }
        do {
            let hvDir = try await buildHypervisor(compiler: compiler)
            set.hypervisor = hvDir + "/hv.elf"
            set.mkbundle = hvDir + "/mkbundle"
            set.digests["hypervisor"] = try await cachedDigest(hvDir + "/hv.elf")
        } catch {
            // The `none` backend still runs; cells that need the hypervisor report this error.
            set.hypervisorBuildError = "\(error)"
            log("hypervisor build failed; cells with a hypervisor backend will report it:\n\(error)")
        }
        return set
    }

    // MARK: - Kernel

    /// Resolves "debian" through the linux-image-amd64 meta-package (Debian replaces kernel ABI
    /// versions over time; never hard-code one).
    public func resolveKernel(_ kernel: String) async throws -> String {
        guard kernel == "debian" else { return kernel }
        // apt-cache takes about a second here; its answer only changes when the package lists
        // do (`apt-get update`), so remember it against their modification time.
        let lists =
            (try? FileManager.default.attributesOfItem(atPath: "/var/lib/apt/lists")[.modificationDate] as? Date)?
            .timeIntervalSince1970 ?? 0
        let memo = paths.cache + "/kernel/debian-resolved-\(Int(lists))"
        if let known = read(memo), !known.isEmpty { return known }
        let version = try await resolveFromApt()
        try? FileManager.default.createDirectory(atPath: paths.cache + "/kernel", withIntermediateDirectories: true)
        try? version.write(toFile: memo, atomically: true, encoding: .utf8)
        return version
    }

    private func resolveFromApt() async throws -> String {
        let deps = try await Command.output("apt-cache", ["depends", "linux-image-amd64"])
        for line in deps.split(separator: "\n") {
            let t = line.trimmingCharacters(in: .whitespaces)
            if t.hasPrefix("Depends: linux-image-") {
                return String(t.dropFirst("Depends: linux-image-".count))
            }
        }
        throw LabError.imageBuild(
            component: "guest kernel",
            detail:
                "apt-cache depends linux-image-amd64 names no linux-image-<version> (run `apt-get update`?):\n\(deps)")
    }

    func buildKernel(version: String) async throws -> String {
        let dir = paths.cache + "/kernel/" + version
        if read(dir + "/version") == version { return dir }
        log("fetching Debian kernel \(version)")
        return try await buildAtomically(into: dir, component: "guest kernel \(version)") { tmp, logFile in
            try await Command.logged(paths.imagesRecipes + "/kernel.sh", [tmp, version], logFile: logFile)
        }
    }

    // MARK: - Guest payloads and initramfs

    func buildGuest(kernelVersion: String, kernelDir: String, compiler: String) async throws -> String {
        let key = try await Digest.tree(
            [paths.guestSources, paths.imagesRecipes], relativeTo: paths.repository,
            extra: ["kernel \(kernelVersion)", compiler, try await toolVersion("busybox")])
        let dir = paths.cache + "/guest/" + shortKey(key)
        if FileManager.default.fileExists(atPath: dir + "/initramfs.cpio.gz") { return dir }
        log("building guest payloads and initramfs")
        return try await buildAtomically(into: dir, component: "guest payloads / initramfs") { tmp, logFile in
            try await Command.logged(
                "make", ["-C", paths.guestSources, "O=\(tmp)/build", "KVER=\(kernelVersion)", "-j2"],
                logFile: logFile)
            try await Command.logged(
                paths.imagesRecipes + "/initramfs.sh", [tmp, kernelDir, tmp + "/build"],
                logFile: logFile + ".initramfs")
        }
    }

    // MARK: - Hypervisor

    /// `extraServices`: absolute paths of service sources from user case directories (the
    /// hypervisor Makefile's EXTRA_SERVICES); they and the headers beside them join the key.
    func buildHypervisor(compiler: String, extraServices: [String] = []) async throws -> String {
        let extraHeaders = Set(extraServices.map { ($0 as NSString).deletingLastPathComponent }).sorted().flatMap {
            dir in
            ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasSuffix(".h") }.sorted()
                .map { dir + "/" + $0 }
        }
        let key = try await Digest.tree(
            [paths.hypervisorSources] + extraServices + extraHeaders, relativeTo: paths.repository,
            extra: [compiler] + extraServices)
        let dir = paths.cache + "/hv/" + shortKey(key)
        if FileManager.default.fileExists(atPath: dir + "/hv.elf") { return dir }
        log("building the hypervisor")
        return try await buildAtomically(into: dir, component: "hypervisor") { tmp, logFile in
            try await Command.logged(
                "make",
                ["-C", paths.hypervisorSources, "O=\(tmp)", "-j2"]
                    + (extraServices.isEmpty ? [] : ["EXTRA_SERVICES=" + extraServices.joined(separator: " ")]),
                logFile: logFile)
        }
    }

    // MARK: - Helpers

    /// Builds into a fresh temporary directory beside `dir` and renames it into place, so a
    /// crashed or concurrent build never leaves a half-written cache entry.
    func buildAtomically(
        into dir: String, component: String,
        _ body: (_ tmp: String, _ logFile: String) async throws -> Void
    ) async throws -> String {
        let fm = FileManager.default
        let parent = (dir as NSString).deletingLastPathComponent
        try fm.createDirectory(atPath: parent, withIntermediateDirectories: true)
        try fm.createDirectory(atPath: paths.cache + "/logs", withIntermediateDirectories: true)
        let tmp = dir + ".tmp-\(getpid())"
        try? fm.removeItem(atPath: tmp)
        try fm.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        let logFile =
            paths.cache + "/logs/" + (dir as NSString).lastPathComponent + "-"
            + component.replacingOccurrences(of: " ", with: "_").replacingOccurrences(of: "/", with: "_") + ".log"
        do {
            try await body(tmp, logFile)
        } catch {
            try? fm.removeItem(atPath: tmp)
            throw LabError.imageBuild(component: component, detail: "\(error)")
        }
        if fm.fileExists(atPath: dir) {
            try? fm.removeItem(atPath: tmp)
            return dir
        }  // a concurrent build won
        try fm.moveItem(atPath: tmp, toPath: dir)
        return dir
    }

    /// Digest of a cache file, remembered beside it (cache entries never change once renamed in).
    func cachedDigest(_ path: String) async throws -> String {
        let memo = path + ".sha256"
        if let d = read(memo), d.hasPrefix("sha256:") { return d }
        let d = try await Digest.file(path)
        try? d.write(toFile: memo, atomically: true, encoding: .utf8)
        return d
    }

    private func toolVersion(_ tool: String) async throws -> String {
        let out = (try? await Command.output(tool, tool == "busybox" ? [] : ["--version"])) ?? "\(tool): not found"
        return out.split(separator: "\n").first.map(String.init) ?? tool
    }

    func shortKey(_ digest: String) -> String {
        String(digest.replacingOccurrences(of: "sha256:", with: "").prefix(20))
    }

    func read(_ path: String) -> String? {
        (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
