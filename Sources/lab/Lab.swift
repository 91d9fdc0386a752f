import ArgumentParser
import LabKit

@main
struct Lab: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lab",
        abstract: "GuestMemLab: conformance and benchmarks for how a thin hypervisor reads and writes guest memory.",
        discussion: """
            Typical use, from the repository:
              lab doctor        what this host can run, and how to fix what it cannot
              lab build         build guest kernel, initramfs, hypervisor (cached)
              lab list          the expanded matrix and the case ids, runs nothing
              lab run           run the matrix from lab.json -> results/<run-id>/
              lab report DIR    a results directory as a summary (text or HTML)
              lab repro CASE    boot one case in one matrix cell again, to debug it
              lab bench         measure the transfer methods and baselines
              lab box           the hypervisor under a real KVM host in a box (docs/kvm-box.md)
            Run as root (the lab drives libvirtd on qemu:///system). `make run` / `make test` \
            set the host up first (scripts/setup-host).
            """,
        subcommands: [Doctor.self, Build.self, List.self, Run.self, Report.self, Repro.self, Bench.self, Box.self]
    )
}
