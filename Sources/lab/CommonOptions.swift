import ArgumentParser
import Foundation
import LabKit
import LabModel

/// `--color` / `--no-color` on every command that colours; without either, colour when the
/// output is a terminal, `NO_COLOR` is unset or empty, and `TERM` is not `dumb`.
struct ColourOptions: ParsableArguments {
    @Flag(
        name: .customLong("color"), inversion: .prefixedNo,
        help: "Colour the output (default: on a terminal, unless NO_COLOR is set or TERM=dumb).")
    var color: Bool?

    func enabled(for descriptor: Int32) -> Bool {
        Colour.enabled(explicit: color, isTerminal: isatty(descriptor) != 0)
    }
}

/// Options every command that reads lab.json shares.
struct CommonOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp("Configuration file (default: lab.json at the repository root).", valueName: "file"),
        completion: LabCompletion.jsonFile)
    var config: String?
    @Option(
        name: .long,
        help: ArgumentHelp(
            "A directory of your own cases (cases.json, services, programs; docs/user-cases.md), added to lab.json's caseDirectories; repeatable.",
            valueName: "dir"),
        completion: .directory)
    var cases: [String] = []
    @Option(
        name: .long,
        help: ArgumentHelp(
            "A BitVisor checkout for backend bitvisor (else BITVISOR_SRC, else lab.json bitvisor.source); with one, bitvisor joins the backends.",
            valueName: "dir"))
    var bitvisor: String?

    func session() throws -> LabSession {
        try LabSession.open(configFile: config, caseDirectories: cases, bitvisor: bitvisor)
    }
}

/// Matrix overrides and case filters (`run`, `list`, `bench`).
struct MatrixOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "Replace the backends axis (none, svm, vmx, bitvisor); repeat or comma-separate.", valueName: "backend"),
        completion: LabCompletion.backends)
    var backend: [String] = []
    @Option(
        name: .long,
        help: ArgumentHelp(
            "Replace the hosts axis (auto, kvm, tcg, bochs; box = kvm on the KVM box, docs/kvm-box.md).",
            valueName: "host"),
        completion: LabCompletion.hosts)
    var host: [String] = []
    @Option(
        name: .long,
        help: ArgumentHelp(
            "Replace the kernels axis (debian, or an exact version such as 6.1.0-56-amd64).", valueName: "kernel"),
        completion: LabCompletion.kernels)
    var kernel: [String] = []
    @Option(name: .long, help: ArgumentHelp("Replace the guest memory axis, in MiB.", valueName: "MiB"))
    var memory: [String] = []
    @Option(name: .long, help: ArgumentHelp("Replace the vCPUs axis.", valueName: "count"))
    var vcpus: [String] = []
    @Option(
        name: .long, help: ArgumentHelp("Replace the guest paging axis (4-level, 5-level).", valueName: "mode"),
        completion: LabCompletion.paging)
    var paging: [String] = []
    @Option(
        name: .long, help: ArgumentHelp("Replace the suites to run (smoke, hv, selftest, …).", valueName: "suite"),
        completion: LabCompletion.suites)
    var suite: [String] = []
    @Option(
        name: .long,
        help: ArgumentHelp(
            "VMs run in parallel: auto (what the host's cores and memory allow) or a number.", valueName: "N"))
    var jobs: String?
    @Option(
        name: .long,
        help: ArgumentHelp(
            "Run only what matches: a case id, a suite or a matrix cell id (globs allowed, e.g. 'linear/*'); repeatable.",
            valueName: "pattern"),
        completion: LabCompletion.patterns)
    var only: [String] = []
    @Option(
        name: .long,
        help: ArgumentHelp(
            "Leave out what matches: a case id, a suite or a matrix cell id (globs allowed); repeatable.",
            valueName: "pattern"),
        completion: LabCompletion.patterns)
    var skip: [String] = []

    var overrides: ConfigOverrides {
        let hosts = BoxHostShortcut.apply(hosts: host).hosts
        return ConfigOverrides(
            backends: backend.isEmpty ? nil : backend, hosts: hosts.isEmpty ? nil : hosts,
            kernels: kernel.isEmpty ? nil : kernel, memoryMiB: memory.isEmpty ? nil : memory,
            vcpus: vcpus.isEmpty ? nil : vcpus, paging: paging.isEmpty ? nil : paging,
            suites: suite.isEmpty ? nil : suite, jobs: jobs)
    }

    func request() -> RunRequest {
        var r = RunRequest()
        r.overrides = overrides
        r.only = only
        r.skip = skip
        // `--host box`: the KVM cells run on the box (and only there).
        if BoxHostShortcut.apply(hosts: host).box { r.machines = [BoxHostShortcut.name] }
        return r
    }
}
