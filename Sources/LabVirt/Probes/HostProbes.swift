import Foundation

/// Facts about the host for `lab doctor` and for planning the matrix. Things that can be tried
/// are tried (KVM and TCG-SVM boot real code), never guessed from the presence of a file.
/// Every probe has a timeout; none can hang the doctor.
public enum HostProbes {
    public static let qemuBinary = "qemu-system-x86_64"

    // MARK: QEMU and libvirt

    /// `qemu-system-x86_64 --version` → "7.2.22".
    public static func qemuVersion(timeout: Duration = .seconds(10)) async -> ProbeResult<String> {
        let name = "QEMU version"
        let outcome = await Command.run(qemuBinary, ["--version"], timeout: timeout)
        guard outcome.exitCode == 0,
            let version = firstMatch(#"QEMU emulator version ([0-9][0-9.]*)"#, in: outcome.standardOutput)
        else {
            return ProbeResult(
                name: name, value: nil, status: .problem,
                explanation: "\(qemuBinary) --version \(outcome.endingText)",
                fix: "install QEMU: `sudo scripts/setup-host` (Debian package qemu-system-x86)")
        }
        return ProbeResult(
            name: name, value: version, status: .ok,
            explanation: outcome.standardOutput.split(separator: "\n").first.map(String.init) ?? version)
    }

    /// Opens qemu:///system (on a separate thread, abandoned after `timeout`) and reads the
    /// library, daemon and hypervisor versions. nil value: libvirtd does not answer.
    public static func libvirt(
        uri: String = LibvirtConnection.systemURI,
        timeout: Duration = .seconds(15)
    ) async -> ProbeResult<LibvirtVersions> {
        let name = "libvirtd answers"
        let library = LibvirtConnection.libraryVersion()
        let result: Result<LibvirtVersions, LibvirtError> =
            await withTimeout(timeout) {
                do throws(LibvirtError) {
                    let connection = try LibvirtConnection(uri: uri)
                    defer { connection.close() }
                    return .success(try connection.versions())
                } catch {
                    return .failure(error)
                }
            } ?? .failure(.timedOut(operation: "connect to \(uri)", seconds: timeout.seconds))
        switch result {
        case let .success(versions):
            return ProbeResult(
                name: name, value: versions, status: .ok,
                explanation: "libvirt library \(versions.library), daemon \(versions.daemon), "
                    + "\(versions.hypervisorType) \(versions.hypervisor) at \(uri)")
        case let .failure(error):
            return ProbeResult(
                name: name, value: nil, status: .problem,
                explanation: "libvirt library \(library) is linked, but: \(error)",
                fix: "run `sudo scripts/setup-host` (starts virtlogd and libvirtd the way this host needs)")
        }
    }

    // MARK: Accelerators

    /// Does KVM really boot a guest? Runs QEMU with `-accel kvm -cpu host` on a boot sector
    /// that exits through isa-debug-exit with a known code.
    public static func kvmBootsGuest(timeout: Duration = .seconds(20)) async -> ProbeResult<Bool> {
        let name = "KVM boots a guest"
        guard FileManager.default.fileExists(atPath: "/dev/kvm") else {
            return ProbeResult(
                name: name, value: false, status: .warning,
                explanation: "no /dev/kvm: KVM is not available; the lab uses TCG (emulation)",
                fix: "none needed for TCG cells; KVM cells need a host with hardware virtualization")
        }
        let code: UInt8 = 0x2a
        let outcome = await bootSector(
            TinyGuest.exitBootSector(code: code),
            qemuArguments: ["-accel", "kvm", "-cpu", "host"], timeout: timeout)
        let expected = Int32(code) << 1 | 1
        if outcome.exitCode == expected {
            return ProbeResult(
                name: name, value: true, status: .ok,
                explanation:
                    "a boot sector under -accel kvm -cpu host ran and exited with the expected code \(expected)")
        }
        let stderr = lastLines(outcome.standardError, 3)
        return ProbeResult(
            name: name, value: false, status: .warning,
            explanation: "/dev/kvm exists but KVM does not boot a guest: QEMU -accel kvm -cpu host "
                + "\(outcome.endingText) instead of exiting with \(expected)"
                + (stderr.isEmpty ? "" : " (\(stderr))")
                + ". KVM matrix cells are skipped; TCG cells run.",
            fix: "none needed for TCG cells; KVM cells need a host whose KVM works (not a paravirtual /dev/kvm)")
    }

    /// What QEMU's TCG offers a guest asked for `qemu64,+svm,+npt`.
    public enum TCGSVMSupport: String, Sendable {
        case svmWithNPT = "SVM with nested paging"
        case svmWithoutNPT = "SVM without nested paging"
        case noSVM = "no SVM"
    }

    /// Does QEMU TCG emulate SVM with NPT? A boot sector under `-accel tcg -cpu qemu64,+svm,+npt`
    /// reads CPUID 0x8000_0001 ECX[2] (SVM) and 0x8000_000A EDX[0] (NP) and exits with a code.
    public static func tcgSVM(timeout: Duration = .seconds(20)) async -> ProbeResult<TCGSVMSupport> {
        let name = "QEMU TCG emulates SVM+NPT"
        let outcome = await bootSector(
            TinyGuest.svmProbeBootSector(),
            qemuArguments: ["-accel", "tcg", "-cpu", "qemu64,+svm,+npt"], timeout: timeout)
        guard let code = outcome.exitCode, let exit = TinyGuest.SVMProbeExit(rawValue: code) else {
            return ProbeResult(
                name: name, value: nil, status: .problem,
                explanation: "the CPUID boot sector under TCG \(outcome.endingText): "
                    + (lastLines(outcome.standardError, 3).isEmpty ? "no output" : lastLines(outcome.standardError, 3)),
                fix:
                    "check QEMU: `sudo scripts/setup-host`; run `qemu-system-x86_64 -accel tcg -cpu qemu64,+svm,+npt` by hand"
            )
        }
        switch exit {
        case .svmWithNPT:
            return ProbeResult(
                name: name, value: .svmWithNPT, status: .ok,
                explanation:
                    "the guest's CPUID shows SVM (8000_0001 ECX[2]) and nested paging (8000_000A EDX[0]): the SVM backend runs under TCG"
            )
        case .svmWithoutNPT:
            return ProbeResult(
                name: name, value: .svmWithoutNPT, status: .problem,
                explanation: "the guest sees SVM but not nested paging; the SVM backend needs NPT",
                fix: "use a QEMU that emulates NPT under TCG (QEMU 7.2 in Debian 12 does)")
        case .noSVM:
            return ProbeResult(
                name: name, value: .noSVM, status: .problem,
                explanation: "the guest does not see SVM with -cpu qemu64,+svm,+npt",
                fix: "use a QEMU whose TCG emulates SVM (QEMU 7.2 in Debian 12 does)")
        }
    }

    /// Nested virtualization for KVM guests: CPU flags and the kvm modules' `nested` parameter.
    public struct NestedVirtualization: Sendable, Equatable {
        public let cpuHasSVM: Bool
        public let cpuHasVMX: Bool
        /// /sys/module/kvm_amd/parameters/nested; nil when the module is not loaded.
        public let kvmAMDNested: Bool?
        /// /sys/module/kvm_intel/parameters/nested; nil when the module is not loaded.
        public let kvmIntelNested: Bool?

        public var nestedSVM: Bool { cpuHasSVM && kvmAMDNested == true }
        public var nestedVMX: Bool { cpuHasVMX && kvmIntelNested == true }
    }

    public static func nestedVirtualization(
        cpuinfo: String? = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
        sysModule: String = "/sys/module"
    ) -> ProbeResult<NestedVirtualization> {
        let name = "nested SVM / VMX under KVM"
        let flags = Set(
            (cpuinfo ?? "").split(separator: "\n")
                .first(where: { $0.hasPrefix("flags") })?
                .split(separator: ":").last?.split(separator: " ").map(String.init) ?? [])
        func parameter(_ module: String) -> Bool? {
            guard let text = try? String(contentsOfFile: "\(sysModule)/\(module)/parameters/nested", encoding: .utf8)
            else { return nil }
            let value = text.trimmingCharacters(in: .whitespacesAndNewlines)
            return value == "1" || value == "Y"
        }
        let value = NestedVirtualization(
            cpuHasSVM: flags.contains("svm"), cpuHasVMX: flags.contains("vmx"),
            kvmAMDNested: parameter("kvm_amd"), kvmIntelNested: parameter("kvm_intel"))
        func describe(_ flag: String, _ has: Bool, _ module: String, _ nested: Bool?) -> String {
            guard has else { return "CPU has no \(flag)" }
            switch nested {
            case .none: return "CPU has \(flag), \(module) not loaded"
            case .some(true): return "CPU has \(flag), \(module) nested=on"
            case .some(false): return "CPU has \(flag), \(module) nested=off"
            }
        }
        let text =
            describe("svm", value.cpuHasSVM, "kvm_amd", value.kvmAMDNested) + "; "
            + describe("vmx", value.cpuHasVMX, "kvm_intel", value.kvmIntelNested)
        if value.nestedSVM || value.nestedVMX {
            return ProbeResult(
                name: name, value: value, status: .ok,
                explanation: text + ": KVM guests can run the hypervisor on real \(value.nestedSVM ? "SVM" : "VMX")")
        }
        var fix = "none needed: SVM runs under TCG, VMX under Bochs"
        if value.cpuHasSVM && value.kvmAMDNested == false {
            fix = "enable it: `modprobe -r kvm_amd && modprobe kvm_amd nested=1`"
        }
        if value.cpuHasVMX && value.kvmIntelNested == false {
            fix = "enable it: `modprobe -r kvm_intel && modprobe kvm_intel nested=1`"
        }
        return ProbeResult(
            name: name, value: value, status: .warning,
            explanation: text + ": no nested virtualization under KVM", fix: fix)
    }

    // MARK: Bochs

    public struct BochsInfo: Sendable, Equatable {
        public let path: String
        public let version: String?
        public let cpuModels: [String]
        /// The model with VMX and EPT that the VMX backend uses.
        public static let vmxModel = "corei7_skylake_x"
        public var hasVMXModel: Bool { cpuModels.contains(Self.vmxModel) }
    }

    /// Is Bochs installed, and does it offer a CPU model with VMX (corei7_skylake_x)?
    /// This only lists the models; `bochsBootsGuest()` (LabVirt/Bochs) boots one.
    public static func bochs(timeout: Duration = .seconds(10)) async -> ProbeResult<BochsInfo> {
        let name = "Bochs with VMX"
        guard let path = Command.findInPath("bochs") else {
            return ProbeResult(
                name: name, value: nil, status: .warning,
                explanation: "bochs is not in PATH: the VMX backend cannot run (QEMU TCG has no VMX)",
                fix: "`sudo scripts/setup-host` installs Debian's bochs 2.7")
        }
        let outcome = await Command.run(path, ["-help", "cpu"], timeout: timeout)
        let output = outcome.standardOutput + "\n" + outcome.standardError
        let version = firstMatch(#"Bochs x86 Emulator ([0-9][0-9.]*)"#, in: output)
        var models: [String] = []
        if let listStart = output.range(of: "Supported CPU models:") {
            for line in output[listStart.upperBound...].split(separator: "\n") {
                let word = line.trimmingCharacters(in: .whitespaces)
                if word.isEmpty { continue }
                guard word.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else { break }
                models.append(word)
            }
        }
        let info = BochsInfo(path: path, version: version, cpuModels: models)
        guard info.hasVMXModel else {
            return ProbeResult(
                name: name, value: info, status: .warning,
                explanation:
                    "\(path) (\(version ?? "version unknown")) lists no \(BochsInfo.vmxModel) CPU model (\(outcome.endingText)); the VMX backend cannot run",
                fix: "install Debian 12's bochs 2.7 (`sudo scripts/setup-host`)")
        }
        return ProbeResult(
            name: name, value: info, status: .ok,
            explanation:
                "\(path), Bochs \(version ?? "version unknown"), CPU model \(BochsInfo.vmxModel) (VMX with EPT) available"
        )
    }

    // MARK: Host

    public struct HostCPU: Sendable, Equatable {
        public let vendor: String
        public let model: String
        /// Logical CPUs the kernel shows (processor lines in /proc/cpuinfo).
        public let logicalCPUs: Int
        /// The first CPU's `flags` (e.g. `la57`, `pdpe1gb`, `svm`).
        public var flags: Set<String> = []
    }

    public static func hostCPU(
        cpuinfo: String? = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)
    ) -> ProbeResult<HostCPU> {
        let name = "host CPU"
        guard let cpuinfo else {
            return ProbeResult(
                name: name, value: nil, status: .problem,
                explanation: "cannot read /proc/cpuinfo", fix: "run on Linux with /proc mounted")
        }
        func field(_ key: String) -> String? {
            cpuinfo.split(separator: "\n").first(where: { $0.hasPrefix(key) })?
                .split(separator: ":", maxSplits: 1).last?.trimmingCharacters(in: .whitespaces)
        }
        let count = cpuinfo.split(separator: "\n").filter { $0.hasPrefix("processor") }.count
        let cpu = HostCPU(
            vendor: field("vendor_id") ?? "unknown", model: field("model name") ?? "unknown",
            logicalCPUs: count, flags: Set((field("flags") ?? "").split(separator: " ").map(String.init)))
        return ProbeResult(
            name: name, value: cpu, status: .ok,
            explanation: "\(cpu.model) (\(cpu.vendor)), \(count) logical CPU(s)")
    }

    /// MemAvailable from /proc/meminfo, in bytes.
    public static func availableMemory(
        meminfo: String? = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8),
        neededPerVM: UInt64 = 1 << 30
    ) -> ProbeResult<UInt64> {
        let name = "available memory"
        guard let line = meminfo?.split(separator: "\n").first(where: { $0.hasPrefix("MemAvailable:") }),
            let kib = UInt64(line.split(separator: " ").dropFirst().first ?? "")
        else {
            return ProbeResult(
                name: name, value: nil, status: .problem,
                explanation: "no MemAvailable in /proc/meminfo", fix: "run on Linux 3.14 or later")
        }
        let bytes = kib * 1024
        let gib = String(format: "%.1f GiB", Double(bytes) / Double(1 << 30))
        if bytes < neededPerVM {
            return ProbeResult(
                name: name, value: bytes, status: .problem,
                explanation: "\(gib) available, less than one VM needs (\(neededPerVM >> 20) MiB)",
                fix: "free memory or lower the VM memory in lab.json")
        }
        return ProbeResult(
            name: name, value: bytes, status: .ok,
            explanation: "\(gib) available: room for \(bytes / neededPerVM) VM(s) of \(neededPerVM >> 20) MiB")
    }

    // MARK: All

    /// Every probe, rendered for `lab doctor`, in a stable order. The QEMU runs are sequential
    /// so they do not compete for the (few) cores with each other's timeouts.
    public static func all() async -> [ProbeReport] {
        var reports: [ProbeReport] = []
        reports.append(hostCPU().report { "\($0.model), \($0.logicalCPUs) CPU(s)" })
        reports.append(availableMemory().report { String(format: "%.1f GiB", Double($0) / Double(1 << 30)) })
        reports.append(await qemuVersion().report { $0 })
        reports.append(
            await libvirt().report {
                "library \($0.library), daemon \($0.daemon), \($0.hypervisorType) \($0.hypervisor)"
            })
        reports.append(await kvmBootsGuest().report { $0 ? "yes" : "no" })
        reports.append(
            nestedVirtualization().report { "SVM \($0.nestedSVM ? "yes" : "no"), VMX \($0.nestedVMX ? "yes" : "no")" })
        reports.append(await tcgSVM().report { $0.rawValue })
        reports.append(await bochs().report { "\($0.version ?? "?"), VMX model \($0.hasVMXModel ? "yes" : "no")" })
        reports.append(
            await bochsBootsGuest().report {
                "VMX \($0.vmx ? "yes" : "no"), EPT \($0.ept ? "yes" : "no"), \(String(format: "%.1f", $0.seconds)) s"
            })
        if reports.first(where: { $0.name == "libvirtd answers" })?.status == .ok {
            reports.append(
                await libvirtBootsGuest().report {
                    String(format: "created in %.1f s, ran %.1f s", $0.creationTime.seconds, $0.runTime.seconds)
                })
        }
        return reports
    }

    // MARK: Helpers

    /// Runs QEMU on a boot sector (floppy), with isa-debug-exit at 0xf4, no display, no reboot.
    static func bootSector(_ sector: [UInt8], qemuArguments: [String], timeout: Duration) async -> Command.Outcome {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("gmlab-probe-\(getpid())-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: directory) }
        let image = directory.appendingPathComponent("boot.img")
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try Data(sector).write(to: image)
        } catch {
            return Command.Outcome(
                ending: .launchFailed("cannot write \(image.path): \(error)"),
                standardOutput: "", standardError: "")
        }
        return await Command.run(
            qemuBinary,
            qemuArguments + [
                "-display", "none", "-no-reboot", "-m", "16",
                "-device", "isa-debug-exit,iobase=0x\(String(TinyGuest.debugExitPort, radix: 16)),iosize=1",
                "-drive", "file=\(image.path),format=raw,if=floppy",
            ], timeout: timeout)
    }

    static func firstMatch(_ pattern: String, in text: String) -> String? {
        guard let regex = try? NSRegularExpression(pattern: pattern),
            let match = regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)),
            let range = Range(match.range(at: 1), in: text)
        else { return nil }
        return String(text[range])
    }

    static func lastLines(_ text: String, _ count: Int) -> String {
        text.split(separator: "\n").suffix(count).joined(separator: " / ")
    }

    /// Runs a blocking body on its own thread; nil when it did not return within `timeout`
    /// (the thread is abandoned: a hung libvirtd must not hang the doctor).
    static func withTimeout<T: Sendable>(_ timeout: Duration, _ body: @escaping @Sendable () -> T) async -> T? {
        let box = ResultBox<T>()
        return await withCheckedContinuation { continuation in
            let thread = Thread {
                let value = body()
                if box.claim() { continuation.resume(returning: value) }
            }
            thread.start()
            DispatchQueue.global().asyncAfter(deadline: .now() + timeout.seconds) {
                if box.claim() { continuation.resume(returning: nil) }
            }
        }
    }

    private final class ResultBox<T>: @unchecked Sendable {
        private let lock = NSLock()
        private var claimed = false
        func claim() -> Bool {
            lock.withLock {
                defer { claimed = true }
                return !claimed
            }
        }
    }
}

extension Duration {
    /// The duration in seconds, as a Double (the one conversion the lab uses).
    public var seconds: Double {
        let (s, attoseconds) = components
        return Double(s) + Double(attoseconds) / 1e18
    }
}
