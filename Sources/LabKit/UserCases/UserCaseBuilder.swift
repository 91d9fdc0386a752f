import Foundation
import LabModel
import LabVirt

/// What the user case directories added to an image set: problems to show up front (each also
/// reported as a case error in every cell), and the timeouts their descriptions ask for.
public struct UserCaseSummary: Codable, Sendable, Equatable {
    public var directories: [String]
    public var problems: [String]
    /// Case id → seconds, from `timeoutSeconds` (lab.json's `timeouts.perCase` still wins).
    public var timeouts: [String: Double]
}

/// Builds user case directories (docs/user-cases.md) into an image set:
///
/// 1. reads each directory's cases.json (a bad one makes the directory one error case,
///    `user/<prefix>/cases.json`);
/// 2. compiles each directory's hypervisor services alone (`make extra-objs`); a directory whose
///    services do not compile is left out of the hypervisor image and its cases become errors
///    carrying the compiler's messages; the image is then built with the services that did;
/// 3. builds each directory's programs and modules (Sources/Guest/usercases/Makefile);
/// 4. writes the runner's spec, an overlay archive (runner as /gmlab/tests/user, spec,
///    /gmlab/user/<prefix>/{bin,modules}) appended to the base initramfs, and the catalog with the
///    user cases added (program "user").
///
/// A broken directory never fails the build: its cases still appear, as errors with the reason,
/// and the lab's own cases run as usual. Everything is cached by the content of what goes in.
struct UserCaseBuilder {
    let builder: ImageBuilder
    let directories: [String]
    var paths: LabPaths { builder.paths }
    var usercasesSources: String { paths.guestSources + "/usercases" }

    /// One directory as far as it got: its description, or why it cannot run at all.
    struct Directory {
        var path: String
        var prefix: String
        var description: UserCaseDescription?
        /// Set when the directory cannot run: every case reports it as its error.
        var problem: String?
    }

    /// Adds the user cases to `images` (base initramfs and catalog already built).
    func apply(to images: inout ImageSet, kernelDir: String, compiler: String) async throws {
        let applets = Set(
            ((try? await Command.output("busybox", ["--list"])) ?? "").split(separator: "\n").map(String.init))
        var dirs = load(commands: applets.isEmpty ? nil : applets)

        let key = try await Digest.tree(
            directories + [
                paths.hypervisorSources, usercasesSources, paths.guestSources + "/lib", paths.guestSources + "/kmod",
            ],
            relativeTo: paths.repository,
            extra: [
                "user cases v1", images.digests["initramfs"] ?? "", images.kernelVersion, compiler,
                applets.sorted().joined(separator: " "),
            ] + directories)
        let out = paths.cache + "/user/" + builder.shortKey(key)
        let servicesFile = out + "/services.txt"
        let summaryFile = out + "/summary.json"

        if !FileManager.default.fileExists(atPath: summaryFile) {
            builder.log("building user cases from \(directories.count) director\(directories.count == 1 ? "y" : "ies")")
            _ = try await builder.buildAtomically(into: out, component: "user cases") { tmp, logFile in
                try await checkServices(&dirs, work: tmp + "/hv-check", logFile: logFile)
                let services = try await linkServices(&dirs, compiler: compiler)
                try services.joined(separator: "\n").write(
                    toFile: tmp + "/services.txt", atomically: true, encoding: .utf8)
                try await buildGuestSide(&dirs, work: tmp, kernelVersion: images.kernelVersion, logFile: logFile)
                try await writeOverlay(
                    dirs, work: tmp, baseInitramfs: images.initramfs, baseCatalog: images.casesCatalog)
                let summary = UserCaseSummary(
                    directories: directories,
                    problems: dirs.compactMap { d in
                        d.problem.map {
                            "user case directory \(d.path): " + $0.replacingOccurrences(of: "\n", with: "\n      ")
                        }
                    },
                    timeouts: dirs.reduce(into: [:]) { t, d in
                        for c in d.description?.cases ?? [] { if let s = c.timeoutSeconds { t[c.id] = s } }
                    })
                try JSONEncoder().encode(summary).write(to: URL(fileURLWithPath: tmp + "/summary.json"))
            }
        }
        images.initramfs = out + "/initramfs.cpio.gz"
        images.casesCatalog = out + "/cases.json"
        images.digests["initramfs"] = try await builder.cachedDigest(images.initramfs)
        images.userCases = try JSONDecoder().decode(
            UserCaseSummary.self, from: Data(contentsOf: URL(fileURLWithPath: summaryFile)))
        // The problems are not logged here: `lab run`/`lab list` print them as notes, `lab build` itself.

        // The hypervisor with the services that built (cached by content: normally a cache hit).
        let services = (builder.read(servicesFile) ?? "").split(separator: "\n").map(String.init)
        images.userServices = services
        do {
            let hvDir = try await builder.buildHypervisor(compiler: compiler, extraServices: services)
            images.hypervisor = hvDir + "/hv.elf"
            images.mkbundle = hvDir + "/mkbundle"
            images.digests["hypervisor"] = try await builder.cachedDigest(hvDir + "/hv.elf")
        } catch {
            images.hypervisorBuildError = "\(error)"
            builder.log("hypervisor build failed; cells with a hypervisor backend will report it:\n\(error)")
        }
    }

    // MARK: - Descriptions

    func load(commands: Set<String>?) -> [Directory] {
        var result: [Directory] = []
        var byPrefix: [String: String] = [:]
        for path in directories {
            var dir = Directory(path: path, prefix: Self.fallbackPrefix(path))
            do {
                let description = try UserCaseDescription.load(directory: path, commands: commands)
                dir.description = description
                dir.prefix = description.prefix
            } catch {
                dir.problem = "bad description:\n\(error)"
            }
            if let other = byPrefix[dir.prefix] {
                dir.problem =
                    "the id prefix \"\(dir.prefix)\" is also used by \(other); set a different \"prefix\" in one \(UserCaseDescription.fileName)"
                dir.description = nil
                dir.prefix += "-\(result.count + 1)"  // keeps this error case's id unique
            }
            byPrefix[dir.prefix] = path
            result.append(dir)
        }
        return result
    }

    /// The prefix of a directory whose description could not be read: its name made valid.
    static func fallbackPrefix(_ path: String) -> String {
        let name = (path as NSString).lastPathComponent.lowercased()
        let cleaned = String(
            name.unicodeScalars.map {
                UserCaseDescription.isName(String($0)) || "-_.".unicodeScalars.contains($0) ? Character($0) : "-"
            })
        return UserCaseDescription.isName(cleaned) ? cleaned : "dir-" + cleaned
    }

    func servicesOf(_ dirs: [Directory]) -> [String] {
        dirs.filter { $0.problem == nil }.flatMap { d in (d.description?.services ?? []).map { d.path + "/" + $0 } }
    }

    // MARK: - Hypervisor services

    /// Compiles each directory's services alone against the hypervisor's headers.
    func checkServices(_ dirs: inout [Directory], work: String, logFile: String) async throws {
        for i in dirs.indices where dirs[i].problem == nil {
            guard let d = dirs[i].description, !d.services.isEmpty else { continue }
            let log = logFile + ".hv-\(dirs[i].prefix)"
            do {
                try await Command.logged(
                    "make",
                    [
                        "-C", paths.hypervisorSources, "O=\(work)/\(dirs[i].prefix)",
                        "EXTRA_SERVICES=" + d.services.map { d.directory + "/" + $0 }.joined(separator: " "),
                        "extra-objs", "-k", "-j2",
                    ], logFile: log)
            } catch {
                dirs[i].problem =
                    "a hypervisor service does not compile (the hypervisor is built without this directory's services):\n"
                    + diagnostics(of: error)
            }
        }
    }

    /// Builds the hypervisor with the services that compiled; returns those in the image. Each
    /// directory compiled alone, so a failure here is linking them together (two services
    /// defining one symbol, a missing function): the directories the linker's messages name are
    /// left out and the image built again; if that fails too (or none was named), all are.
    func linkServices(_ dirs: inout [Directory], compiler: String) async throws -> [String] {
        var services = servicesOf(dirs)
        for attempt in 1...2 where !services.isEmpty {
            do {
                _ = try await builder.buildHypervisor(compiler: compiler, extraServices: services)
                return services
            } catch {
                let message = diagnostics(of: error)
                // Without any user service it fails too: the lab's own hypervisor is broken, which
                // the image set reports (hypervisorBuildError); no user directory is to blame.
                if (try? await builder.buildHypervisor(compiler: compiler)) == nil { return [] }
                let suspects = dirs.indices.filter { i in
                    dirs[i].problem == nil && !(dirs[i].description?.services.isEmpty ?? true)
                        && (attempt == 2 || message.contains(dirs[i].path + "/"))
                }
                for i
                    in (suspects.isEmpty
                    ? dirs.indices.filter {
                        dirs[$0].problem == nil && !(dirs[$0].description?.services.isEmpty ?? true)
                    } : suspects)
                {
                    dirs[i].problem =
                        "linking this directory's services into the hypervisor failed (it is built without them):\n\(message)"
                }
                services = suspects.isEmpty ? [] : servicesOf(dirs)
            }
        }
        return services
    }

    // MARK: - Guest programs and modules

    func buildGuestSide(_ dirs: inout [Directory], work: String, kernelVersion: String, logFile: String) async throws {
        // The runner is the lab's own program: failing to build it is the lab's bug, not the user's.
        try await Command.logged(
            "make", ["-C", usercasesSources, "O=\(work)/runner-build", "runner", "-j2"],
            logFile: logFile + ".runner")
        for i in dirs.indices where dirs[i].problem == nil {
            guard let d = dirs[i].description else { continue }
            let cPrograms = d.programs.filter { $0.kind == .c }.map { d.directory + "/" + $0.path }
            let modules = d.modules.map { d.directory + "/" + $0 }
            guard !cPrograms.isEmpty || !modules.isEmpty else { continue }
            do {
                try await Command.logged(
                    "make",
                    [
                        "-C", usercasesSources, "O=\(work)/dirs/\(d.prefix)", "KVER=\(kernelVersion)",
                        "PROGRAMS=" + cPrograms.joined(separator: " "),
                        "MODULES=" + modules.joined(separator: " "),
                        "programs", "modules", "-k", "-j2",
                    ],
                    logFile: logFile + ".guest-\(d.prefix)")
            } catch {
                dirs[i].problem = "a guest program or kernel module does not build:\n" + diagnostics(of: error)
            }
        }
    }

    // MARK: - Overlay, spec and catalog

    func writeOverlay(_ dirs: [Directory], work: String, baseInitramfs: String, baseCatalog: String) async throws {
        let fm = FileManager.default
        let root = work + "/root"
        try fm.createDirectory(atPath: root + "/gmlab/tests", withIntermediateDirectories: true)
        try fm.copyItem(atPath: work + "/runner-build/runner", toPath: root + "/gmlab/tests/user")

        var spec = "# GuestMemLab user cases, written by the lab from the case directories' cases.json\n"
        var catalog: [CaseInfo] = []
        for d in dirs {
            let guestDir = "/gmlab/user/" + d.prefix
            guard let description = d.description else {
                // Nothing readable: one error case stands for the directory.
                let id = UserCaseDescription.caseId(prefix: d.prefix, name: UserCaseDescription.fileName)
                let info = CaseInfo(
                    id: id, suite: UserCaseDescription.suite, description: "the description of \(d.path)")
                catalog.append(info)
                spec += Self.specBlock(
                    info: info, dir: nil, broken: d.problem ?? "unreadable", run: [], user: .root, expect: .init())
                continue
            }
            if d.problem == nil {
                let bin = root + guestDir + "/bin"
                try fm.createDirectory(atPath: bin, withIntermediateDirectories: true)
                for p in description.programs {
                    let source = p.kind == .c ? work + "/dirs/\(d.prefix)/bin/\(p.name)" : d.path + "/" + p.path
                    try fm.copyItem(atPath: source, toPath: bin + "/" + p.name)
                    try fm.setAttributes([.posixPermissions: 0o755], ofItemAtPath: bin + "/" + p.name)
                }
                if !description.modules.isEmpty {
                    try fm.createDirectory(atPath: root + guestDir + "/modules", withIntermediateDirectories: true)
                    for m in description.modules {
                        let name = ((m as NSString).lastPathComponent as NSString).deletingPathExtension + ".ko"
                        try fm.copyItem(
                            atPath: work + "/dirs/\(d.prefix)/modules/\(name)",
                            toPath: root + guestDir + "/modules/" + name)
                    }
                }
                try fm.copyItem(
                    atPath: d.path + "/" + UserCaseDescription.fileName,
                    toPath: root + guestDir + "/" + UserCaseDescription.fileName)
            }
            for c in description.cases {
                let info = CaseInfo(
                    id: c.id, suite: UserCaseDescription.suite, description: c.description, needs: c.needs)
                catalog.append(info)
                var run = c.run
                if let program = c.program(in: description) { run[0] = guestDir + "/bin/" + program.name }
                spec += Self.specBlock(
                    info: info, dir: guestDir, broken: d.problem, run: run, user: c.user, expect: c.expect)
            }
        }
        try fm.createDirectory(atPath: root + "/gmlab/user", withIntermediateDirectories: true)
        try spec.write(toFile: root + "/gmlab/user/spec", atomically: true, encoding: .utf8)

        // Overlay: reproducible gzip'd newc cpio, padded to 512 like the base, appended to it.
        try await Command.output(
            "sh",
            [
                "-c",
                """
                set -e; cd "$1"; find . -exec touch -h -d @0 {} +
                find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet | gzip -9n > "$2"
                size=$(stat -c %s "$2"); pad=$(( (512 - size % 512) % 512 ))
                [ $pad -eq 0 ] || head -c $pad /dev/zero >> "$2"
                cat "$3" "$2" > "$4"
                """, "sh", root, work + "/overlay.cpio.gz", baseInitramfs, work + "/initramfs.cpio.gz",
            ])
        for scratch in [root, work + "/hv-check", work + "/runner-build", work + "/dirs"] {
            try? fm.removeItem(atPath: scratch)
        }

        // Catalog: the lab's cases, then the user's (program "user").
        let base = try CaseCatalog.load(from: URL(fileURLWithPath: baseCatalog))
        if let clash = base.cases.first(where: {
            $0.suite == UserCaseDescription.suite || $0.id.hasPrefix(UserCaseDescription.suite + "/")
        }) {
            throw LabError.imageBuild(
                component: "user cases",
                detail:
                    "the lab's own case \(clash.id) (suite \(clash.suite)) uses the namespace reserved for user cases")
        }
        struct Entry: Encodable {
            var program: String?
            var id: String, suite: String, description: String, needs: [String]
        }
        let baseData = try Data(contentsOf: URL(fileURLWithPath: baseCatalog))
        let baseEntries = (try JSONSerialization.jsonObject(with: baseData) as? [[String: Any]]) ?? []
        let programs = baseEntries.map { $0["program"] as? String }
        let entries =
            base.cases.enumerated().map { i, c in
                Entry(
                    program: i < programs.count ? programs[i] : nil, id: c.id, suite: c.suite,
                    description: c.description, needs: c.needs.map(\.rawValue))
            }
            + catalog.map {
                Entry(
                    program: "user", id: $0.id, suite: $0.suite, description: $0.description,
                    needs: $0.needs.map(\.rawValue))
            }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try encoder.encode(entries).write(to: URL(fileURLWithPath: work + "/cases.json"))
        _ = try CaseCatalog.load(from: URL(fileURLWithPath: work + "/cases.json"))  // what the run will read must parse
    }

    /// One case in the runner's spec format (Sources/Guest/usercases/runner.c).
    static func specBlock(
        info: CaseInfo, dir: String?, broken: String?, run: [String],
        user: UserCaseDescription.User, expect: UserCaseDescription.Expectation
    ) -> String {
        // The --list line, in the lab's programs' key order (specString escapes are valid JSON).
        let list =
            "{\"id\":\(specString(info.id)),\"suite\":\(specString(info.suite)),\"description\":\(specString(info.description)),"
            + "\"needs\":[" + info.needs.map { specString($0.rawValue) }.joined(separator: ",") + "]}"
        var lines = ["case \(specString(info.id))", "list \(list)"]
        if let broken {
            lines.append("broken \(specString(broken))")
        } else {
            lines.append("dir \(specString(dir ?? "/"))")
            lines.append("user \(user.rawValue)")
            lines += info.needs.filter { $0 == .hypervisor || $0 == .kmod }.map { "need \($0.rawValue)" }
            lines += run.map { "arg \(specString($0))" }
            lines.append("exit \(expect.exitStatus.map(String.init) ?? "any")")
            lines += expect.stdoutContains.map { "contains \(specString($0))" }
            lines += expect.stdoutMatches.map { "regex \(specString($0))" }
        }
        return (lines + ["end"]).joined(separator: "\n") + "\n"
    }

    /// A JSON string literal the runner decodes: \" \\ \n \t \r, other control bytes as \u00XX.
    static func specString(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            case _ where scalar.value < 0x20 || scalar.value == 0x7f: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// The compiler's diagnostics from a failed build (file:line: error: …), else its last lines.
    func diagnostics(of error: Error) -> String {
        // A failed image build arrives wrapped (LabError.imageBuild) with the log's path in its text.
        let text = "\(error)"
        let wrappedLog = text.range(of: #"full log: (\S+)"#, options: .regularExpression)
            .map { String(text[$0].dropFirst("full log: ".count)) }
        guard let logFile = (error as? CommandError)?.logFile ?? wrappedLog,
            let log = try? String(contentsOfFile: logFile, encoding: .utf8)
        else { return text }
        // make's own "*** [target] Error 1" lines only repeat that something failed; lines naming
        // the build's scratch files (the module wrapper that #includes the user's file) are noise.
        let interesting = log.split(separator: "\n").filter { line in
            !line.hasPrefix("make") && !(line.contains("In file included from") && line.contains(paths.cache))
                && (line.contains("error:") || line.contains("undefined reference")
                    || line.contains("multiple definition") || line.contains("In file included from")
                    || line.contains("first defined here"))
        }
        let body = interesting.isEmpty ? Command.tail(log, lines: 20) : interesting.prefix(30).joined(separator: "\n")
        return body + "\n(full log: \(logFile))"
    }
}
