import Foundation
import LabVirt

/// `lab doctor`'s section on nested KVM: whether cells with host `kvm` and backend vmx/svm can
/// run here, why not, and exactly what a host needs (checks and commands). Pure: fed with the
/// probes' findings, so every branch is unit-tested.
public enum NestedKVMAdvice {
    public struct Findings: Sendable, Equatable {
        public var devKVMExists: Bool
        /// `HostProbes.kvmBootsGuest()`: a boot sector ran under `-accel kvm -cpu host`.
        public var kvmBootsGuest: Bool
        /// `HostProbes.nestedVirtualization()`: CPU flags and the kvm modules' `nested`.
        public var nested: HostProbes.NestedVirtualization?

        public init(devKVMExists: Bool, kvmBootsGuest: Bool, nested: HostProbes.NestedVirtualization?) {
            self.devKVMExists = devKVMExists
            self.kvmBootsGuest = kvmBootsGuest
            self.nested = nested
        }

        public static func measure(kvmBootsGuest: Bool) -> Findings {
            Findings(
                devKVMExists: FileManager.default.fileExists(atPath: "/dev/kvm"), kvmBootsGuest: kvmBootsGuest,
                nested: HostProbes.nestedVirtualization().value)
        }
    }

    /// The section's lines (the first is the verdict).
    public static func lines(_ f: Findings) -> [String] {
        let nestedVMX = f.kvmBootsGuest && f.nested?.nestedVMX == true
        let nestedSVM = f.kvmBootsGuest && f.nested?.nestedSVM == true
        if nestedVMX || nestedSVM {
            return [
                "Nested KVM: available — "
                    + [nestedVMX ? "VMX (Intel)" : nil, nestedSVM ? "SVM (AMD)" : nil]
                    .compactMap { $0 }.joined(separator: " and ")
                    + ": host auto runs those backends as KVM domains (host-passthrough CPU, the feature required)"
            ]
        }
        var why: [String] = []
        if !f.devKVMExists {
            why.append("there is no /dev/kvm (no KVM module loaded, or no hardware virtualization)")
        } else if !f.kvmBootsGuest {
            why.append(
                "/dev/kvm exists but KVM does not boot a guest (tried: QEMU -accel kvm -cpu host on a boot "
                    + "sector); on this kind of machine it is a paravirtual KVM of the outer hypervisor")
        }
        if let n = f.nested {
            if !n.cpuHasVMX && !n.cpuHasSVM {
                why.append(
                    "the CPU flags (/proc/cpuinfo) show neither vmx nor svm: this machine is itself a guest "
                        + "whose hypervisor does not pass virtualization through")
            }
            if n.cpuHasVMX && n.kvmIntelNested != true {
                why.append(
                    "the CPU has vmx but kvm_intel " + (n.kvmIntelNested == nil ? "is not loaded" : "has nested=0"))
            }
            if n.cpuHasSVM && n.kvmAMDNested != true {
                why.append("the CPU has svm but kvm_amd " + (n.kvmAMDNested == nil ? "is not loaded" : "has nested=0"))
            }
        }
        if why.isEmpty { why.append("KVM guests do not get nested VMX or SVM here") }
        return ["Nested KVM: unavailable here (vmx runs under Bochs, svm under QEMU TCG instead)"]
            + why.map { "  why: " + $0 }
            + [
                "  what a host needs for KVM cells with a hypervisor backend (vmx-kvm on Intel, svm-kvm on AMD):",
                "    1. hardware virtualization visible to Linux: `grep -wc vmx /proc/cpuinfo` (Intel) or",
                "       `grep -wc svm /proc/cpuinfo` (AMD) above 0 — enable VT-x / AMD-V in the firmware; in a cloud",
                "       VM choose an instance type with nested virtualization",
                "    2. a working /dev/kvm: `lsmod | grep kvm`; `lab doctor` then shows \"KVM boots a guest: yes\"",
                "    3. nested virtualization in the KVM module: `cat /sys/module/kvm_intel/parameters/nested`",
                "       (or kvm_amd) must print Y or 1; enable it with",
                "       `modprobe -r kvm_intel && modprobe kvm_intel nested=1` (no VM may be running), and keep it",
                "       with `echo 'options kvm_intel nested=1' > /etc/modprobe.d/kvm-nested.conf` (kvm_amd likewise)",
                "  then host auto resolves vmx (svm) to kvm: a KVM domain with <cpu mode='host-passthrough'> and",
                "  <feature policy='require' name='vmx'/> ('svm' on AMD), which libvirt refuses to start without it",
            ]
    }
}
