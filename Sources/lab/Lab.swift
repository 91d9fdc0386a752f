import ArgumentParser
import Foundation
import LabKit
import LabModel

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
              lab merge OUT DIR…  combine shards' results (lab run --shard I/N) into one
              lab repro CASE    boot one case in one matrix cell again, to debug it
              lab bench         measure the transfer methods and baselines
              lab box           the hypervisor under a real KVM host in a box (docs/kvm-box.md)
              lab clean         remove old runs (and unused cache images)
              lab --version     the lab's version and commit
            Run as root (the lab drives libvirtd on qemu:///system). `make run` / `make test` \
            set the host up first (scripts/setup-host).

            \(LabExitStatus.help)
            """,
        subcommands: [
            Doctor.self, Build.self, List.self, Run.self, Report.self, Merge.self, Repro.self, Bench.self, Box.self,
            Clean.self,
        ]
    )

    /// Runs the command with the lab's exit statuses (README "Exit statuses"): an explicit
    /// `ExitCode` as thrown (0, 1, 130); a bad option or any other error — configuration, build,
    /// host not ready — 2, with its message on standard error.
    static func main() async {
        if Array(CommandLine.arguments.dropFirst()) == ["--version"] {
            print(await LabVersion.text())
            return
        }
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let error as ExitCode {
            exit(withError: error)
        } catch {
            let code = exitCode(for: error)
            // --help and --version are "errors" that exit 0.
            if code == .success { exit(withError: error) }
            FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
            Foundation.exit(LabExitStatus.labError.rawValue)
        }
    }
}
