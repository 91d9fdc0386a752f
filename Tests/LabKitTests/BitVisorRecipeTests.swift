import Foundation
import LabVirt
import Testing

@testable import LabKit

/// The BitVisor image recipe's pure parts, on synthetic trees the tests make (no BitVisor
/// checkout needed; the build and boot of a real one are in LabIntegrationTests, run when
/// BITVISOR_SRC is set): the configuration writer, the injection of the lab's files into a
/// copied tree, the checkout's content key and provenance, and the boot media.
@Suite struct BitVisorRecipeTests {
    /// A fresh temporary directory holding `files` (relative path → text).
    static func tree(_ files: [String: String], in name: String = "tree") throws -> String {
        let dir = FileManager.default.temporaryDirectory
            .appendingPathComponent("gmlab-bvt-\(UUID().uuidString.prefix(8))").appendingPathComponent(name).path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for (path, text) in files { try write(text, dir + "/" + path) }
        return dir
    }

    static func write(_ text: String, _ path: String) throws {
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    static func read(_ path: String) -> String? { try? String(contentsOfFile: path, encoding: .utf8) }

    static func hasTool(_ name: String) -> Bool {
        (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":").contains {
            FileManager.default.isExecutableFile(atPath: "\($0)/\(name)")
        }
    }

    // MARK: - Configuration writer

    @Test func dotConfigTurnsEachRequestedOptionOnOrOff() {
        let text = BitVisorConfiguration.dotConfig()
        let lines = Set(text.split(separator: "\n").map(String.init))
        for o in BitVisorConfiguration.enabled { #expect(lines.contains("CONFIG_\(o)=y"), "\(o)") }
        for o in BitVisorConfiguration.disabled { #expect(lines.contains("# CONFIG_\(o) is not set"), "\(o)") }
        #expect(Set(BitVisorConfiguration.enabled).isDisjoint(with: BitVisorConfiguration.disabled))
        #expect(BitVisorConfiguration.enabled.contains("64") && BitVisorConfiguration.enabled.contains("TTY_SERIAL"))
    }

    @Test func unmetOptionsNamesWhatTheNormalisedConfigurationDropped() {
        let good =
            BitVisorConfiguration.enabled.map { "CONFIG_\($0)=y" }.joined(separator: "\n")
            + "\nCONFIG_ARCH_DFLT_X86=y\n# CONFIG_STORAGE is not set\n"
        #expect(BitVisorConfiguration.unmetOptions(normalised: good).isEmpty)
        // kconfig drops a symbol its Kconfig does not know, and keeps a default the lab turned off
        let bad =
            good.replacingOccurrences(of: "CONFIG_STATUS=y\n", with: "")
            + "CONFIG_USB_DRIVER=y\n"
        #expect(
            BitVisorConfiguration.unmetOptions(normalised: bad) == [
                "CONFIG_STATUS is not set (the lab needs it on)", "CONFIG_USB_DRIVER=y (the lab needs it off)",
            ])
    }

    static let template = """
        struct config_data config = {
        \t.vmm = {
        \t\t.f11panic = 1,
        \t\t.shell = 1,
        \t\t.dbgsh = 1,
        \t\t.iccard = {
        \t\t\t.enable = 0,
        \t\t\t.status = 7,
        \t\t},
        \t},
        \t.other = 5,
        };

        """

    @Test func defconfigAppendsTheOverridesAndKeepsTheTemplate() throws {
        let text = try BitVisorConfiguration.defconfig(template: Self.template)
        let body = String(Self.template[..<Self.template.range(of: "};", options: .backwards)!.lowerBound])
        #expect(text.hasPrefix(body), "the template is kept as it is")
        #expect(text.hasSuffix("\t.vmm.shell = 0,\n\t.vmm.status = 1,\n};\n"), "\(text)")
        // a last member without a trailing comma gets one
        let noComma = try BitVisorConfiguration.defconfig(template: "struct c x = {\n\t.a = 1\n};\n.vmm")
        #expect(noComma.contains("\t.a = 1\n,\n"))
        #expect(throws: BitVisorError.self) { try BitVisorConfiguration.defconfig(template: "int x;") }
        #expect(throws: BitVisorError.self) {
            try BitVisorConfiguration.defconfig(template: "struct c x = { .a = 1 };")
        }
    }

    /// What the writer relies on, checked with the compiler BitVisor is built with: a later
    /// designated initializer of one member wins and leaves the template's other members
    /// (including a nested one named like the override) as they were.
    @Test(.enabled(if: hasTool("gcc"), "gcc not found in PATH: cannot compile the defconfig check"))
    func defconfigOverridesWinInC() async throws {
        let dir = try Self.tree([:])
        let defconfig = try BitVisorConfiguration.defconfig(template: Self.template)
        try Self.write(
            """
            #include <stdio.h>
            struct iccard { int enable, status; };
            struct vmm { int f11panic, shell, dbgsh, status; struct iccard iccard; };
            struct config_data { struct vmm vmm; int other; };
            \(defconfig)
            int main(void)
            {
            \tprintf("%d %d %d %d %d %d\\n", config.vmm.shell, config.vmm.status, config.vmm.dbgsh,
            \t       config.vmm.f11panic, config.vmm.iccard.status, config.other);
            \treturn 0;
            }
            """, dir + "/t.c")
        try await Command.output("gcc", ["-Wall", "-o", dir + "/t", dir + "/t.c"])
        #expect(try await Command.output(dir + "/t") == "0 1 1 1 7 5")
    }

    // MARK: - Injection into a copied tree

    /// A synthetic `Sources/Hypervisor`: services, a compat layer with its lists, lab headers.
    static func labSources(leftOut: String? = nil) throws -> String {
        try tree(
            [
                "services/method_a.c": "/* a */\n",
                "services/method_b.c": "/* b */\n",
                "services/gmlab.c": "/* reads the lab's own vcpu */\n",
                "services/method_x.h": "/* shared */\n",
                "compat/bitvisor/current.h": "/* compat current */\n",
                "compat/bitvisor/gmlab_prelude.h": "/* prelude */\n",
                "compat/bitvisor/gmlab_bitvisor.c": "/* compat impl */\n",
                "compat/bitvisor/left-out.tsv": leftOut
                    ?? "# comment\n\ngmlab.info\tservices/gmlab.c\tself-report\ngml.linear.probe\t-\tneeds \"our\" walker\n",
                "compat/bitvisor/lab-headers.txt":
                    "# lab headers\ncore/include/*.h\ninclude/svc_regs.h\ninclude/absent.h\n",
                "compat/bitvisor/README.md": "not copied\n",
                "core/include/gml_errors.h": "/* errors */\n",
                "core/include/gml_methods.h": "/* methods */\n",
                "include/svc_regs.h": "/* svc */\n",
                "include/types.h": "/* the lab's own machine-side types: never copied */\n",
            ], in: "Hypervisor")
    }

    /// A made-up Makefile in the layout of BitVisor's core/x86/Makefile (configuration macros,
    /// include flags, object list).
    static let x86Makefile = """
        CONSTANTS-$(CONFIG_EXAMPLE_LAYOUT) += -DEXAMPLE_LAYOUT
        CONSTANTS-$(CONFIG_EXAMPLE_LOG) += -DEXAMPLE_LOG
        # a comment between the groups
        CFLAGS += -Iexample/include
        CFLAGS += $(EXAMPLE_FLAGS)
        # objects
        objs-y += first.o
        objs-y += second.o

        """

    @Test func injectionPlacesTheLabsFilesInItsOwnDirectory() throws {
        let lab = try Self.labSources()
        let user = try Self.tree(["svc.c": "/* user */\n", "svc.h": "/* user h */\n", "other.c": "/* not named */\n"])
        let copy = try Self.tree(["core/x86/Makefile": Self.x86Makefile, "core/x86/mm.c": "/* BitVisor's */\n"])
        let plan = try BitVisorInjection.plan(hypervisorSources: lab, userServices: [user + "/svc.c"])
        try plan.apply(to: copy)
        let g = copy + "/core/x86/gmlab"

        // compat first, then the services that can exist on BitVisor; lab headers under lab/
        #expect(plan.objects == ["gmlab_bitvisor.o", "method_a.o", "method_b.o"])
        for f in [
            "current.h", "gmlab_prelude.h", "gmlab_bitvisor.c", "method_a.c", "method_b.c", "method_x.h",
            "lab/gml_errors.h", "lab/gml_methods.h", "lab/svc_regs.h", "u1/svc.c", "u1/svc.h",
        ] {
            #expect(FileManager.default.fileExists(atPath: g + "/" + f), "\(f) missing")
        }
        for f in ["gmlab.c", "README.md", "left-out.tsv", "lab/types.h", "lab/absent.h", "u1/other.c"] {
            #expect(!FileManager.default.fileExists(atPath: g + "/" + f), "\(f) should not be there")
        }
        #expect(Self.read(g + "/method_a.c") == "/* a */\n")
        #expect(Self.read(copy + "/core/x86/mm.c") == "/* BitVisor's */\n")

        // the lab's Makefile repeats core/x86's configuration and adds its flags and objects
        let mk = try #require(Self.read(g + "/Makefile"))
        for line in [
            "CONSTANTS-$(CONFIG_EXAMPLE_LAYOUT) += -DEXAMPLE_LAYOUT", "CFLAGS += $(EXAMPLE_FLAGS)",
            "CFLAGS += -Icore/include -iquote core/x86/gmlab -iquote core/x86/gmlab/lab -include core/x86/gmlab/gmlab_prelude.h",
            "objs-y += gmlab_bitvisor.o", "objs-y += method_b.o", "subdirs-y += u1",
        ] {
            #expect(mk.contains(line + "\n"), "\(line) not in\n\(mk)")
        }
        #expect(!mk.contains("first.o") && !mk.contains("# objects"))
        let umk = try #require(Self.read(g + "/u1/Makefile"))
        #expect(
            umk.contains("objs-y += svc.o\n") && !umk.contains("other.o")
                && umk.contains("-include core/x86/gmlab/gmlab_prelude.h"))

        // BitVisor's Makefile gains exactly the subdirectory line
        let x86 = try #require(Self.read(copy + "/core/x86/Makefile"))
        #expect(x86.hasPrefix(Self.x86Makefile))
        #expect(x86.components(separatedBy: "subdirs-y += gmlab").count == 2)
        #expect(try BitVisorInjection.addSubdirectory(toMakefile: x86) == x86)

        // the registration-level left-outs become the compat layer's table, escaped for C
        let header = try #require(Self.read(g + "/gmlab_left_out.h"))
        #expect(header.contains(#"{ "gml.linear.probe", "needs \"our\" walker" },"#))
        #expect(!header.contains("gmlab.info"))
        #expect(plan.leftOut.map(\.name) == ["gmlab.info", "gml.linear.probe"])
        #expect(plan.leftOut.first?.file == "services/gmlab.c" && plan.leftOut.last?.file == nil)

        // compiler messages name the user's and the lab's files again
        #expect(
            plan.originalPaths(in: "core/x86/gmlab/u1/svc.c:3:1: error: x\ncore/x86/gmlab/method_a.c:1: note")
                == "\(user)/svc.c:3:1: error: x\n\(lab)/services/method_a.c:1: note")

        // a second injection into the same copy is refused rather than mixed
        #expect(throws: BitVisorError.self) { try plan.apply(to: copy) }
    }

    @Test func injectionRefusesWhatItCannotPlaceCleanly() throws {
        let noCompat = try Self.tree(["services/a.c": "x"])
        #expect(try BitVisorInjection.plan(hypervisorSources: noCompat).isEmpty)
        #expect(throws: BitVisorError.self) {
            try BitVisorInjection.plan(hypervisorSources: noCompat, userServices: ["/abs/s.c"])
        }
        let lab = try Self.labSources()
        #expect(throws: BitVisorError.self) {
            try BitVisorInjection.plan(hypervisorSources: lab, userServices: ["rel.c"])
        }
        // a service named like a compat file would overwrite it
        try Self.write("x", lab + "/services/current.h")
        #expect(throws: BitVisorError.self) { try BitVisorInjection.plan(hypervisorSources: lab) }
        // a malformed left-out list names its line
        let badList = try Self.labSources(leftOut: "# ok\ngmlab.info services/gmlab.c spaces instead of tabs\n")
        do {
            _ = try BitVisorInjection.plan(hypervisorSources: badList)
            Issue.record("a malformed left-out.tsv was accepted")
        } catch {
            #expect("\(error)".contains("left-out.tsv:2:"), "\(error)")
        }
        #expect(throws: BitVisorError.self) { try BitVisorInjection.addSubdirectory(toMakefile: "all:\n\ttrue\n") }
        #expect(
            BitVisorInjection.configurationLines(ofX86Makefile: Self.x86Makefile) == [
                "CONSTANTS-$(CONFIG_EXAMPLE_LAYOUT) += -DEXAMPLE_LAYOUT",
                "CONSTANTS-$(CONFIG_EXAMPLE_LOG) += -DEXAMPLE_LOG",
                "CFLAGS += -Iexample/include", "CFLAGS += $(EXAMPLE_FLAGS)",
            ])
    }

    // MARK: - Content key and provenance

    static let checkoutFiles = [
        "Makefile": "all:\n", "Kconfig": "config 64\n", "scripts/kconfig/kconfig.py": "print()\n",
        "defconfig.tmpl": "struct x = { .vmm = 0, };\n", "core/x86/Makefile": "objs-y += a.o\n",
        "core/x86/a.c": "int a;\n", "ip/test/inputs/data.bin": "test input\n", "tools/run.sh": "#!/bin/sh\n",
    ]

    /// A synthetic checkout with an executable, a symlink and a `.git` directory.
    static func checkout() throws -> String {
        let dir = try tree(checkoutFiles, in: "bitvisor")
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: dir + "/tools/run.sh")
        try FileManager.default.createSymbolicLink(atPath: dir + "/core/link.h", withDestinationPath: "x86/a.c")
        try write("ref: refs/heads/main\n", dir + "/.git/HEAD")
        return dir
    }

    /// What BitVisor's build leaves in a tree.
    static func addBuildOutputs(_ dir: String) throws {
        for f in [
            "core/x86/a.o", "core/x86/a.d", "core/x86/.flags", "core/x86/.depends", "core/x86/.objects",
            "process/.boptions", "process/lib/output.a", "process/log.bin", "process/log.bin.s",
            "process/log.bin.debug", "bitvisor.elf", "bitvisor.map", "output.o", ".config", "defconfig",
        ] {
            try write("output \(f)\n", dir + "/" + f)
        }
    }

    @Test func buildOutputsAreRecognisedByNameAndSibling() {
        let out = BitVisorCheckout.isBuildOutput
        #expect(out("core/x86/a.o", []) && out("core/x86/a.d", []) && out("x/output.a", []))
        #expect(out("core/.flags", []) && out("process/.boptions", []) && out(".depends", []))
        #expect(out("bitvisor.elf", []) && out(".config", []) && out("defconfig", []))
        #expect(out("process/log.bin.s", []) && out("process/log.bin.debug", []))
        #expect(out("process/log.bin", ["log.bin.s"]))
        #expect(!out("ip/test/data.bin", ["other.bin.s"]))
        #expect(!out("sub/bitvisor.elf", []) && !out("sub/defconfig", []) && !out("defconfig.tmpl", []))
        #expect(!out("core/x86/a.c", []) && !out("core/x86/asm.s", []) && !out("Makefile", []))
    }

    @Test func entriesAreTheSourcesWithoutOutputsOrGit() throws {
        let dir = try Self.checkout()
        try Self.addBuildOutputs(dir)
        let c = try BitVisorCheckout(path: dir)
        let entries = try c.entries()
        #expect(entries.map(\.path) == (Array(Self.checkoutFiles.keys) + ["core/link.h"]).sorted())
        #expect(entries.first { $0.path == "tools/run.sh" }?.executable == true)
        #expect(entries.first { $0.path == "core/x86/a.c" }?.executable == false)
        #expect(entries.first { $0.path == "core/link.h" }?.symlinkTarget == "x86/a.c")
    }

    @Test func contentKeyFollowsContentOnly() async throws {
        let dir = try Self.checkout()
        let c = try BitVisorCheckout(path: dir)
        let base = try await c.contentDigest()
        #expect(base.hasPrefix("sha256:"))

        // the same content elsewhere, with build outputs, later timestamps: the same key
        let other = try Self.checkout()
        try Self.addBuildOutputs(other)
        try FileManager.default.setAttributes(
            [.modificationDate: Date().addingTimeInterval(3600)], ofItemAtPath: other + "/core/x86/a.c")
        #expect(try await BitVisorCheckout(path: other).contentDigest() == base)

        // every kind of source change changes it
        var keys: Set<String> = [base]
        func changed(_ what: String, _ change: () throws -> Void) async throws {
            try change()
            let k = try await c.contentDigest()
            #expect(!keys.contains(k), "\(what) did not change the key")
            keys.insert(k)
        }
        try await changed("an edit") { try Self.write("int a = 1;\n", dir + "/core/x86/a.c") }
        try await changed("an untracked file") { try Self.write("new\n", dir + "/core/x86/new.c") }
        try await changed("a mode") {
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: dir + "/core/x86/a.c")
        }
        try await changed("a link target") {
            try FileManager.default.removeItem(atPath: dir + "/core/link.h")
            try FileManager.default.createSymbolicLink(atPath: dir + "/core/link.h", withDestinationPath: "x86/new.c")
        }
        try await changed("a deletion") { try FileManager.default.removeItem(atPath: dir + "/core/x86/new.c") }
        try await changed("a rename") {
            try FileManager.default.moveItem(atPath: dir + "/tools/run.sh", toPath: dir + "/tools/go.sh")
        }
    }

    @Test func aDirectoryThatIsNoCheckoutSaysWhatIsMissing() throws {
        let dir = try Self.tree(["Makefile": "all:\n"])
        do {
            _ = try BitVisorCheckout(path: dir)
            Issue.record("accepted a directory without Kconfig")
        } catch {
            let text = "\(error)"
            #expect(
                text.contains("not a BitVisor checkout") && text.contains("Kconfig")
                    && text.contains("core/x86/Makefile"))
        }
        #expect(throws: BitVisorError.self) { try BitVisorCheckout(path: dir + "/nonexistent") }
    }

    @Test(.enabled(if: hasTool("git"), "git not found in PATH: cannot make a repository to read provenance from"))
    func provenanceRecordsTheCommitOfTheCheckoutItself() async throws {
        let dir = try Self.checkout()
        try FileManager.default.removeItem(atPath: dir + "/.git")
        let c = try BitVisorCheckout(path: dir)
        #expect(await c.provenance() == .init(commit: nil, localChanges: nil))

        let git = ["-C", dir, "-c", "user.name=t", "-c", "user.email=t@localhost"]
        try await Command.output("git", git + ["init", "-q"])
        try await Command.output("git", git + ["add", "-A"])
        try await Command.output("git", git + ["commit", "-q", "-m", "snapshot"])
        let head = try await Command.output("git", git + ["rev-parse", "HEAD"])
        #expect(await c.provenance() == .init(commit: head, localChanges: false))
        try Self.addBuildOutputs(dir)  // BitVisor has no .gitignore: outputs show as untracked
        #expect(await c.provenance() == .init(commit: head, localChanges: false))
        try Self.write("int a = 2;\n", dir + "/core/x86/a.c")
        #expect(await c.provenance() == .init(commit: head, localChanges: true))

        // a checkout inside someone else's repository has no commit of its own
        let inner = dir + "/vendor/bitvisor"
        for (p, t) in Self.checkoutFiles { try Self.write(t, inner + "/" + p) }
        #expect(await (try BitVisorCheckout(path: inner)).provenance().commit == nil)
    }

    @Test func porcelainWithOnlyOutputsIsNoChange() {
        let outputs = "?? core/x86/a.o\n?? core/x86/.flags\n?? process/log.bin\n?? process/log.bin.s\n?? bitvisor.elf\n"
        #expect(!BitVisorCheckout.hasSourceChanges(porcelain: outputs))
        #expect(BitVisorCheckout.hasSourceChanges(porcelain: outputs + " M core/x86/a.c\n"))
        #expect(BitVisorCheckout.hasSourceChanges(porcelain: "?? ip/data.bin\n"))
        #expect(BitVisorCheckout.hasSourceChanges(porcelain: "R  a.c -> b.c\n"))
    }

    // MARK: - Boot media

    @Test func guestCommandLineMovesTheConsoleAndTheResults() {
        let f = BitVisorBootMedia.guestCommandLine
        #expect(f("console=ttyS0 nokaslr panic=-1 quiet") == "console=ttyS1 nokaslr panic=-1 quiet gmlab.results=ttyS2")
        #expect(f("console=ttyS0,115200n8 no5lvl") == "console=ttyS1,115200n8 no5lvl gmlab.results=ttyS2")
        #expect(f("nokaslr") == "console=ttyS1 nokaslr gmlab.results=ttyS2")
        #expect(f("console=tty0 gmlab.results=ttyS1 quiet") == "console=tty0 quiet gmlab.results=ttyS2")
        #expect(BitVisorBootMedia.serialPorts == (hypervisorLog: 0, console: 1, results: 2))
    }

    @Test func loaderConfigHandsTheGuestDiskToBitVisor() throws {
        let lines = BitVisorBootMedia.loaderConfig().split(separator: "\n").map {
            $0.trimmingCharacters(in: .whitespaces)
        }
        let save = try #require(lines.firstIndex(of: "set bvroot=$root"))
        let root = try #require(lines.firstIndex(of: "set root=(hd0)"))
        let boot = try #require(lines.firstIndex(of: "multiboot ($bvroot)/boot/bitvisor.elf"))
        #expect(save < root && root < boot)
        #expect(lines.contains("set timeout=0"))
        let guest = try BitVisorBootMedia.guestConfig(commandLine: "console=ttyS1 gmlab.results=ttyS2")
        #expect(guest.contains("linux /boot/vmlinuz console=ttyS1 gmlab.results=ttyS2\n"))
        #expect(guest.contains("initrd /boot/initrd.img\n"))
        #expect(throws: BitVisorError.self) { try BitVisorBootMedia.guestConfig(commandLine: "init=/bin/sh;reboot") }
        #expect(throws: BitVisorError.self) { try BitVisorBootMedia.guestConfig(commandLine: "a=$x") }
    }

    @Test(
        .enabled(
            if: hasTool("grub-mkrescue") && hasTool("xorriso"),
            "grub-mkrescue or xorriso not found in PATH (Debian: grub-pc-bin xorriso mtools): cannot make boot images"
        ))
    func bootImagesAreBIOSBootableAndHoldTheirFiles() async throws {
        let dir = try Self.tree(["vmlinuz": "kernel bytes\n", "initrd.img": "initrd bytes\n", "bitvisor.elf": "elf\n"])
        try await BitVisorBootMedia.makeGuestDisk(
            kernel: dir + "/vmlinuz", initrd: dir + "/initrd.img", commandLine: "console=ttyS1 quiet",
            output: dir + "/guest.img", work: dir)
        try await BitVisorBootMedia.makeLoaderCD(elf: dir + "/bitvisor.elf", output: dir + "/loader.iso", work: dir)
        for image in ["guest.img", "loader.iso"] {
            let data = try Data(contentsOf: URL(fileURLWithPath: dir + "/" + image))
            // an MBR boot signature: the guest disk boots as a hard disk through it
            #expect(data.count > 1 << 20 && data[510] == 0x55 && data[511] == 0xAA, "\(image)")
        }
        let listing = try await Command.output(
            "xorriso", ["-indev", dir + "/guest.img", "-find", "/boot", "-type", "f"])
        #expect(listing.contains("/boot/vmlinuz") && listing.contains("/boot/initrd.img"))
        #expect(listing.contains("/boot/grub/grub.cfg"))
        #expect(!FileManager.default.fileExists(atPath: dir + "/iso-root"), "scratch tree left behind")
    }

    @Test func bootProgressSaysWhereABitVisorVMStopped() {
        typealias P = BitVisorBootMedia.BootProgress
        let started = "Starting BitVisor...\nProcessor 0 (BSP)\nUsing SVM.\n"
        let mbr = started + "Starting a virtual machine.\nLoading MBR.\n"
        #expect(P(hypervisorLog: "", console: "") == .noHypervisor)
        #expect(P(hypervisorLog: started, console: "") == .hypervisorStarting)
        #expect(P(hypervisorLog: mbr, console: "") == .afterLoadingMBR)
        #expect(P(hypervisorLog: mbr, console: " \n") == .afterLoadingMBR)
        #expect(P(hypervisorLog: mbr, console: "[    0.000000] Linux version 6.1\n") == .guestBooting)
        #expect(P(hypervisorLog: mbr, console: "x\nGMLAB-GUEST: userspace up\n") == .userspace)
        let panicked = mbr + "panic(CPU0): unsupported exitcode\nCPU0: CR0 80000019\nUnrecoverable error.\n"
        #expect(P(hypervisorLog: panicked, console: "") == .hypervisorPanic("panic(CPU0): unsupported exitcode"))
        // a panic wins over anything the guest wrote before it
        #expect(P(hypervisorLog: panicked, console: "GMLAB-GUEST: userspace up\n").explanation.contains("panicked"))
        #expect(P.afterLoadingMBR.explanation.contains("Loading MBR."))
    }
}
