import Foundation
import LabModel

/// What `lab repro --gdb` prints once the VM is up and paused.
enum GDBInstructions {
    static func text(port: UInt16, vmName: String, images: ImageSet, backend: Backend, logs: String) -> String {
        var lines = [
            "",
            "VM \(vmName) is paused before its first instruction, QEMU's gdb stub listens on 127.0.0.1:\(port).",
            "Attach from another terminal:",
        ]
        if backend != .none, let hv = images.hypervisor {
            lines.append(
                "  gdb -ex 'set architecture i386:x86-64' -ex 'file \(hv)' -ex 'target remote 127.0.0.1:\(port)'   # hypervisor symbols"
            )
        }
        if let vmlinux = images.vmlinux {
            lines.append(
                "  gdb -ex 'file \(vmlinux)' -ex 'target remote 127.0.0.1:\(port)'   # guest kernel (no debug info in Debian's build)"
            )
        } else {
            lines.append("  gdb -ex 'target remote 127.0.0.1:\(port)'")
        }
        lines += [
            "then `continue`. No deadline applies; Ctrl-C here destroys the VM.",
            "Streams, live: \(logs)/console.log, results.log, hypervisor.log",
            "",
        ]
        return lines.joined(separator: "\n")
    }
}
