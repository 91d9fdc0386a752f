import ArgumentParser
import LabKit

@main
struct Lab: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lab",
        abstract: "GuestMemLab: conformance and benchmarks for how a thin hypervisor reads and writes guest memory.",
        discussion: """
            Typical use, from the repository:
              lab doctor          what this host can run, and how to fix what it cannot
              lab build           build the guest kernel, initramfs and hypervisor images (cached)
              lab list            the expanded matrix and the case ids, without running anything
              lab run             run the matrix from lab.json; results in results/<run-id>/
              lab report DIR      read a results directory as a summary (terminal or HTML)
              lab repro CASE-ID   boot one case in one matrix cell again, e.g. to debug it
              lab bench           measure the transfer methods and baselines (bench.html)
            Run as root (the lab drives libvirtd on qemu:///system). `make run` / `make test`
            set the host up first (scripts/setup-host).
            """,
        subcommands: [Doctor.self, Build.self, List.self, Run.self, Report.self, Repro.self, Bench.self]
    )
}
