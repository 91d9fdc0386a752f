import Foundation

/// What the lab adds to its copy of a BitVisor checkout: its own service sources, the
/// compatibility layer that lets them compile against BitVisor's API
/// (Sources/Hypervisor/compat/bitvisor/README.md), the lab headers they include, and user case
/// directories' services. Everything goes into one new directory, `core/x86/gmlab/`, which
/// `core/x86/Makefile` gains as a subdirectory (`subdirs-y += gmlab`, BitVisor's own way to add
/// objects to the VMM); nothing of BitVisor's is edited beyond that one line.
///
///     core/x86/gmlab/Makefile          objs-y for the compat layer and the lab's services
///     core/x86/gmlab/*.c *.h           compat layer (headers named as the seed's) + services
///     core/x86/gmlab/lab/*.h           lab headers the services include (gml_methods.h, …)
///     core/x86/gmlab/u<N>/             one user case directory's services and its headers
///     core/x86/gmlab/gmlab_left_out.h  generated: services not registered on BitVisor
///
/// A subdirectory rather than files beside BitVisor's: the services' quoted includes
/// (`"current.h"`, `"mm.h"`) must find the compat headers first (the including file's own
/// directory is searched first), file names can never clash with BitVisor's (`mm.c`, `main.c`),
/// and the flags (forced prelude, include order) apply to the lab's objects only.
public struct BitVisorInjection: Sendable, Equatable {
    /// The directory added under the checkout's root.
    public static let directory = "core/x86/gmlab"
    /// The line added to `core/x86/Makefile`.
    public static let subdirectoryLine = "subdirs-y += gmlab"

    public enum Role: String, Sendable, Equatable, Codable {
        case compat, service, labHeader, user
    }

    /// One file placed in the copy.
    public struct File: Sendable, Equatable {
        public var destination: String  // relative to the tree root
        public var source: String  // absolute
        public var role: Role
    }

    public var files: [File]
    /// Objects of `core/x86/gmlab` (compat layer, then the lab's services), in build order.
    public var objects: [String]
    /// User case directories: subdirectory name (`u1`, …) → their objects.
    public var userDirectories: [(name: String, objects: [String])]
    /// Services of the lab that do not exist on BitVisor, with the reason (compat/bitvisor/left-out.tsv).
    public var leftOut: [BitVisorLeftOutService]

    public static func == (a: BitVisorInjection, b: BitVisorInjection) -> Bool {
        a.files == b.files && a.objects == b.objects && a.leftOut == b.leftOut
            && a.userDirectories.map(\.name) == b.userDirectories.map(\.name)
            && a.userDirectories.map(\.objects) == b.userDirectories.map(\.objects)
    }

    // MARK: - Plan

    /// What goes in, from the lab's hypervisor sources (`Sources/Hypervisor`: `services/`,
    /// `compat/bitvisor/`, the headers `compat/bitvisor/lab-headers.txt` names) and the user's
    /// service files (absolute `.c` paths; the headers beside each are copied with it).
    /// Without a compat layer (`compat/bitvisor/` absent) nothing is added: plain BitVisor.
    public static func plan(hypervisorSources: String, userServices: [String] = []) throws -> BitVisorInjection {
        let fm = FileManager.default
        let compat = hypervisorSources + "/compat/bitvisor"
        var plan = BitVisorInjection(files: [], objects: [], userDirectories: [], leftOut: [])
        guard fm.fileExists(atPath: compat) else {
            guard userServices.isEmpty else {
                throw BitVisorError.injection(
                    "user services need the compatibility layer, and \(compat) does not exist")
            }
            return plan
        }
        let leftOutFile = compat + "/" + BitVisorLeftOutService.fileName
        plan.leftOut = try BitVisorLeftOutService.parse(
            (try? String(contentsOfFile: leftOutFile, encoding: .utf8)) ?? "", file: leftOutFile)
        let skippedFiles = Set(plan.leftOut.compactMap(\.file))

        func names(_ dir: String, _ suffix: String) -> [String] {
            ((try? fm.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasSuffix(suffix) }.sorted()
        }
        for name in names(compat, ".h") + names(compat, ".c") {
            plan.files.append(File(destination: directory + "/" + name, source: compat + "/" + name, role: .compat))
        }
        plan.objects += names(compat, ".c").map { String($0.dropLast(2)) + ".o" }
        let services = hypervisorSources + "/services"
        for name in names(services, ".h") {
            plan.files.append(File(destination: directory + "/" + name, source: services + "/" + name, role: .service))
        }
        for name in names(services, ".c") where !skippedFiles.contains("services/" + name) {
            plan.files.append(File(destination: directory + "/" + name, source: services + "/" + name, role: .service))
            plan.objects.append(String(name.dropLast(2)) + ".o")
        }
        let headerList = (try? String(contentsOfFile: compat + "/lab-headers.txt", encoding: .utf8)) ?? ""
        for line in headerList.split(separator: "\n") {
            let rel = line.trimmingCharacters(in: .whitespaces)
            guard !rel.isEmpty, !rel.hasPrefix("#") else { continue }
            // A glob over one directory (core/include/*.h) or one file; absent files are skipped
            // (a header a future service will include may be listed ahead of it).
            if rel.hasSuffix("/*.h") {
                let dir = hypervisorSources + "/" + String(rel.dropLast(4))
                for name in names(dir, ".h") {
                    plan.files.append(
                        File(destination: directory + "/lab/" + name, source: dir + "/" + name, role: .labHeader))
                }
            } else if fm.fileExists(atPath: hypervisorSources + "/" + rel) {
                plan.files.append(
                    File(
                        destination: directory + "/lab/" + (rel as NSString).lastPathComponent,
                        source: hypervisorSources + "/" + rel, role: .labHeader))
            }
        }

        // User services: one subdirectory per source directory, in the order first named.
        var dirs: [String] = []
        for s in userServices {
            guard s.hasPrefix("/"), s.hasSuffix(".c") else {
                throw BitVisorError.injection("user service \(s) is not an absolute path of a .c file")
            }
            let d = (s as NSString).deletingLastPathComponent
            if !dirs.contains(d) { dirs.append(d) }
        }
        for (i, d) in dirs.enumerated() {
            let sub = "u\(i + 1)"
            let sources = userServices.filter { ($0 as NSString).deletingLastPathComponent == d }
            for h in names(d, ".h") {
                plan.files.append(File(destination: "\(directory)/\(sub)/\(h)", source: d + "/" + h, role: .user))
            }
            for s in sources {
                let name = (s as NSString).lastPathComponent
                plan.files.append(File(destination: "\(directory)/\(sub)/\(name)", source: s, role: .user))
            }
            plan.userDirectories.append(
                (sub, sources.map { String(($0 as NSString).lastPathComponent.dropLast(2)) + ".o" }))
        }

        var seen: [String: String] = [:]
        for f in plan.files {
            if let other = seen[f.destination] {
                throw BitVisorError.injection("\(f.source) and \(other) would both become \(f.destination)")
            }
            seen[f.destination] = f.source
        }
        return plan
    }

    public var isEmpty: Bool { files.isEmpty }

    // MARK: - Generated files

    /// `core/x86/Makefile` with the subdirectory added (once). The file must be BitVisor's
    /// object list (`objs-y` lines), else the layout is not the one this recipe knows.
    public static func addSubdirectory(toMakefile text: String) throws -> String {
        guard text.contains("objs-y") else {
            throw BitVisorError.injection(
                "core/x86/Makefile has no objs-y lines: not the BitVisor build layout the lab knows")
        }
        if text.split(separator: "\n").contains(where: { $0.trimmingCharacters(in: .whitespaces) == subdirectoryLine })
        {
            return text
        }
        return text + (text.hasSuffix("\n") ? "" : "\n")
            + "# Added by GuestMemLab in its copy: the lab's services (core/x86/gmlab/Makefile)\n"
            + subdirectoryLine + "\n"
    }

    /// The configuration lines of `core/x86/Makefile` (`CONSTANTS-…`, `CFLAGS …`) repeated in
    /// the lab's directories: BitVisor's x86 headers depend on them (struct vcpu's layout
    /// follows CONFIG_CPU_MMU_SPT_*), and each directory's make sees only its own Makefile.
    public static func configurationLines(ofX86Makefile text: String) -> [String] {
        text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init).filter {
            $0.hasPrefix("CONSTANTS-") || $0.hasPrefix("CFLAGS")
        }
    }

    /// Flags of every lab directory: quoted includes find the compat headers, then the lab
    /// headers (before BitVisor's `include/`); the prelude comes first in every file.
    static let labFlags =
        "CFLAGS += -Icore/include -iquote \(directory) -iquote \(directory)/lab -include \(directory)/gmlab_prelude.h"

    /// `core/x86/gmlab/Makefile`.
    public func makefile(x86Configuration: [String]) -> String {
        var lines = [
            "# Generated by GuestMemLab (LabKit/Images/BitVisor/BitVisorInjection.swift) in its copy of",
            "# BitVisor: the lab's compatibility layer and services, with core/x86's configuration.",
        ]
        lines += x86Configuration
        lines.append(Self.labFlags)
        lines += objects.map { "objs-y += \($0)" }
        lines += userDirectories.map { "subdirs-y += \($0.name)" }
        return lines.joined(separator: "\n") + "\n"
    }

    /// `core/x86/gmlab/u<N>/Makefile`.
    public func userMakefile(_ index: Int, x86Configuration: [String]) -> String {
        var lines = ["# Generated by GuestMemLab: services of a user case directory."]
        lines += x86Configuration
        lines.append(Self.labFlags)
        lines += userDirectories[index].objects.map { "objs-y += \($0)" }
        return lines.joined(separator: "\n") + "\n"
    }

    /// `gmlab_left_out.h`: the services the compat layer's `vmmcall_register` declines (their
    /// file is built, the name is never registered), with the reason it logs.
    public func leftOutHeader() -> String {
        func c(_ s: String) -> String {
            "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
        }
        var lines = [
            "/* Generated by GuestMemLab from compat/bitvisor/left-out.tsv: services built into BitVisor",
            " * but never registered there (name, reason). */",
            "#ifndef GMLAB_LEFT_OUT_H",
            "#define GMLAB_LEFT_OUT_H",
            "static const char *const gmlab_left_out[][2] = {",
        ]
        lines += leftOut.filter { $0.file == nil }.map { "\t{ \(c($0.name)), \(c($0.reason)) }," }
        lines += ["\t{ 0, 0 }", "};", "#endif"]
        return lines.joined(separator: "\n") + "\n"
    }

    // MARK: - Apply

    /// Writes everything into `tree` (a copy of the checkout, never the checkout itself).
    public func apply(to tree: String) throws {
        guard !isEmpty else { return }
        let fm = FileManager.default
        let x86Makefile = tree + "/core/x86/Makefile"
        let x86Text = try String(contentsOfFile: x86Makefile, encoding: .utf8)
        let configuration = Self.configurationLines(ofX86Makefile: x86Text)
        if fm.fileExists(atPath: tree + "/" + Self.directory) {
            throw BitVisorError.injection("\(Self.directory) already exists in the checkout; the lab needs that name")
        }
        for f in files {
            let dest = tree + "/" + f.destination
            try fm.createDirectory(
                atPath: (dest as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try fm.copyItem(atPath: f.source, toPath: dest)
        }
        let dir = tree + "/" + Self.directory
        try makefile(x86Configuration: configuration).write(
            toFile: dir + "/Makefile", atomically: true, encoding: .utf8)
        for (i, u) in userDirectories.enumerated() {
            try userMakefile(i, x86Configuration: configuration).write(
                toFile: dir + "/" + u.name + "/Makefile", atomically: true, encoding: .utf8)
        }
        try leftOutHeader().write(toFile: dir + "/gmlab_left_out.h", atomically: true, encoding: .utf8)
        try Self.addSubdirectory(toMakefile: x86Text).write(toFile: x86Makefile, atomically: true, encoding: .utf8)
    }

    /// Compiler messages name the copy's paths (`core/x86/gmlab/u1/foo.c:3:1: error: …`); this
    /// turns them back into the files the user and the lab know.
    public func originalPaths(in messages: String) -> String {
        var text = messages
        // longest destinations first, so u1/foo.c is not cut by a shorter prefix
        for f in files.sorted(by: { $0.destination.count > $1.destination.count }) {
            text = text.replacingOccurrences(of: f.destination, with: f.source)
        }
        return text
    }
}

/// A lab service that does not exist on BitVisor, and why (reported by the lab for every
/// `bitvisor` cell). `file` set: the whole source file stays out (it cannot compile there);
/// nil: the file is built, only the name is never registered.
public struct BitVisorLeftOutService: Codable, Sendable, Equatable {
    public var name: String
    public var file: String?
    public var reason: String

    public static let fileName = "left-out.tsv"

    /// Lines `name<TAB>file-or-dash<TAB>reason`; `#` comments and blank lines ignored.
    public static func parse(_ text: String, file: String) throws -> [BitVisorLeftOutService] {
        var result: [BitVisorLeftOutService] = []
        for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let t = line.trimmingCharacters(in: .whitespaces)
            guard !t.isEmpty, !t.hasPrefix("#") else { continue }
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false).map {
                $0.trimmingCharacters(in: .whitespaces)
            }
            guard fields.count == 3, !fields[0].isEmpty, !fields[1].isEmpty, !fields[2].isEmpty else {
                throw BitVisorError.injection(
                    "\(file):\(n + 1): expected three tab-separated fields (service, file or -, reason)")
            }
            result.append(.init(name: fields[0], file: fields[1] == "-" ? nil : fields[1], reason: fields[2]))
        }
        return result
    }
}
