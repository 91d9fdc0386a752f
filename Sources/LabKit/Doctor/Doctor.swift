import Foundation
import LabModel
import LabVirt

/// `lab doctor`: what this host can run and why, each problem with its fix, and which cells of
/// the configured matrix are runnable here.
public struct Doctor: Sendable {
    public let session: LabSession
    public init(session: LabSession) { self.session = session }

    public struct Report: Sendable {
        public var probes: [ProbeReport]
        public var capabilities: HostCapabilities
        /// What the hypervisor sources declare and the host kinds the lab has launchers for.
        public var implemented: Implemented
        public var matrix: MatrixPlan
        public var jobs: JobPlan
        public var images: [String]
        public var cacheDirectory: String
        public var configFile: String
        /// Why nested KVM is (un)available and what a host needs (NestedKVMAdvice).
        public var nestedKVM: [String] = []
        /// lab.json `machines`, each as its daemon answered (empty without machines).
        public var machines: [String] = []
        /// Backend `bitvisor`: the checkout the lab would build, or why its cells are skipped.
        public var bitvisor: String = Implemented.noBitVisorCheckout
        /// The KVM box (`--host box`): whether this machine can boot it, and what it would run.
        public var box: String = ""

        public var hasProblems: Bool { probes.contains { $0.status == .problem } }

        /// `lab doctor --json`: the same facts for scripts.
        public func json() throws -> String {
            var cells: [JSONValue] = []
            for cell in matrix.cells {
                var object: [String: JSONValue] = [
                    "id": .string(cell.id), "runnable": .bool(cell.status == .runnable),
                ]
                if let reason = cell.status.skipReason { object["skipReason"] = .string(reason) }
                cells.append(.object(object))
            }
            let probes: [JSONValue] = probes.map { probe in
                var object: [String: JSONValue] = [
                    "name": .string(probe.name), "status": .string(probe.status.rawValue),
                    "value": .string(probe.value), "explanation": .string(probe.explanation),
                ]
                if let fix = probe.fix { object["fix"] = .string(fix) }
                return .object(object)
            }
            let document: JSONValue = .object([
                "format": .number(1),
                "ready": .bool(!hasProblems),
                "probes": .array(probes),
                "backendsImplemented": .array(implemented.backends.map(\.rawValue).sorted().map(JSONValue.string)),
                "nestedKVM": .array(nestedKVM.map(JSONValue.string)),
                "machines": .array(machines.map(JSONValue.string)),
                "bitvisor": .string(bitvisor),
                "box": .string(box),
                "images": .array(images.map(JSONValue.string)),
                "cacheDirectory": .string(cacheDirectory),
                "configFile": .string(configFile),
                "cells": .array(cells),
                "notes": .array(matrix.notes.map(JSONValue.string)),
                "jobs": .object(["jobs": .number(Double(jobs.jobs)), "limitedBy": .string(jobs.limitedBy)]),
            ])
            return document.prettyText
        }

        public func render(color: Bool) -> String {
            func mark(_ s: ProbeStatus) -> String {
                let (sym, code) = s == .ok ? ("ok  ", "32") : s == .warning ? ("warn", "33") : ("FAIL", "31")
                return color ? "\u{1b}[\(code)m\(sym)\u{1b}[0m" : sym
            }
            var out = ["Host"]
            for p in probes {
                out.append("  \(mark(p.status))  \(p.name): \(p.value)")
                out.append("        \(p.explanation)")
                if let fix = p.fix, p.status != .ok { out.append("        fix: \(fix)") }
            }
            out.append("")
            let missingHosts = HostKind.allCases.filter { !implemented.hostKinds.contains($0) }
            out.append(
                "Hypervisor backends implemented: "
                    + implemented.backends.map(\.rawValue).sorted().joined(separator: ", ")
                    + missingHosts.map {
                        "; \($0.displayName) host driver: not implemented yet (its cells are skipped)"
                    }
                    .joined())
            out += nestedKVM
            out.append("BitVisor (backend bitvisor): \(bitvisor)")
            out.append("KVM box (--host box): \(box)")
            out.append("")
            out.append("Images (cache \(cacheDirectory))")
            out += images.map { "  " + $0 }
            out.append("")
            if !machines.isEmpty {
                out.append("Machines (lab.json machines; the matrix is judged against all of them)")
                out += machines.map { "  " + $0 }
                out.append("")
            }
            out.append("Matrix from \(configFile)")
            for cell in matrix.cells {
                out.append("  \(cell.id): " + (cell.status.skipReason.map { "skipped — \($0)" } ?? "runnable"))
            }
            for note in matrix.notes { out.append("  note: \(note)") }
            out.append("Parallel VMs: \(jobs.jobs) (limit: \(jobs.limitedBy))")
            return out.joined(separator: "\n")
        }
    }

    public func run() async throws -> Report {
        let probes = await HostProbes.all()
        var machineLines: [String] = []
        var caps = try await HostSurvey(paths: session.paths).capabilities(fresh: true)
        // lab.json machines: each asked what it runs (libvirt), the matrix judged against them all.
        if let machines = session.config.machines {
            let (union, findings) = await MachinePlanning.findings(machines, local: caps)
            caps = union
            machineLines = findings.map { finding in
                finding.text
                    + (finding.reachable
                        ? ""
                        : "; fix: start libvirtd there (listening on the URI's transport), or remove it from lab.json")
            }
        }
        // No image is built here: what the hypervisor sources declare stands for what they build.
        var implemented = await Implemented.declared(hypervisorSources: session.paths.hypervisorSources)
        var bitvisor = Implemented.noBitVisorCheckout
        if let source = session.config.bitvisorSource {
            implemented.backends.insert(.bitvisor)
            do {
                let checkout = try BitVisorCheckout(path: source)
                let commit = await checkout.provenance().commit
                bitvisor =
                    "checkout \(checkout.path)\(commit.map { " (commit \($0))" } ?? " (not a git work tree)"): "
                    + "`lab run` and `lab bench` copy and build it (cached by its content)"
            } catch {
                bitvisor = "\(error) — its cells will report this as an error"
            }
        }
        let matrix = MatrixPlan(matrix: session.config.matrix, capabilities: caps, implemented: implemented)
        let jobs = plannedJobs(requested: session.config.jobs, cells: matrix.runnableCells, capabilities: caps)
        var images: [String] = []
        let builder = session.builder()
        for kernel in session.config.matrix.kernels {
            let version = (try? await builder.resolveKernel(kernel.description)) ?? "unresolved"
            let cached = FileManager.default.fileExists(atPath: session.paths.cache + "/kernel/\(version)/version")
            images.append(
                "guest kernel \(kernel) → \(version): " + (cached ? "cached" : "not built yet (`lab build` fetches it)")
            )
        }
        var report = Report(
            probes: probes, capabilities: caps, implemented: implemented, matrix: matrix, jobs: jobs, images: images,
            cacheDirectory: session.paths.cache, configFile: session.configFile,
            nestedKVM: NestedKVMAdvice.lines(.measure(kvmBootsGuest: caps.kvmBootsGuest)), machines: machineLines,
            bitvisor: bitvisor)
        report.box = Self.boxLine(inLabJSON: session.config.machines?.contains(where: \.box) ?? false)
        return report
    }

    /// What the doctor says of the KVM box: it is not booted here (that takes a run), so the
    /// tools it needs and what it is built to offer.
    static func boxLine(inLabJSON: Bool) -> String {
        if let missing = KVMBox.missingTools() { return "cannot boot here: needs \(missing)" }
        let c = KVMBox.machineCapabilities
        return "can boot here (an L1 KVM host under QEMU TCG, libvirtd on a 127.0.0.1 port); built to run kvm cells "
            + "with nested SVM, \(c.cpus) vCPU, \(c.memoryMiB) MiB, one VM at once — far slower than TCG, so `auto` "
            + "never picks it; "
            + (inLabJSON
                ? "lab.json lists it: its kvm cells run there"
                : "lab.json does not list it: `--host box` runs kvm cells there")
    }
}
