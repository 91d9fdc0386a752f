import Foundation

#if canImport(FoundationXML)
import FoundationXML
#endif

/// What `virConnectGetDomainCapabilities` says about one virt type (`kvm` or `qemu`) on a
/// machine, reduced to what the lab decides with.
public struct DomainCapabilityFacts: Sendable, Hashable, Codable {
    /// `<domain>`: `kvm` or `qemu` (TCG).
    public var domain: String
    public var hostPassthrough: Bool
    /// host-model's `<model>` and `<vendor>`, and its required features.
    public var hostModel: String?
    public var vendor: String?
    public var features: Set<String>
    /// Custom CPU models marked usable.
    public var usableModels: Set<String>

    public init(
        domain: String, hostPassthrough: Bool, hostModel: String?, vendor: String?, features: Set<String>,
        usableModels: Set<String>
    ) {
        self.domain = domain
        self.hostPassthrough = hostPassthrough
        self.hostModel = hostModel
        self.vendor = vendor
        self.features = features
        self.usableModels = usableModels
    }

    /// Reads domcapabilities XML.
    public static func parse(_ xml: String) throws(MachineProbeError) -> DomainCapabilityFacts {
        let document: XMLDocument
        do {
            document = try XMLDocument(xmlString: xml)
        } catch {
            throw MachineProbeError("domain capabilities are not XML: \(error.localizedDescription)")
        }
        func nodes(_ path: String) -> [XMLNode] { (try? document.nodes(forXPath: path)) ?? [] }
        func text(_ path: String) -> String? {
            nodes(path).first?.stringValue?.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        guard let domain = text("/domainCapabilities/domain"), !domain.isEmpty else {
            throw MachineProbeError("domain capabilities name no <domain>")
        }
        let passthrough =
            nodes("/domainCapabilities/cpu/mode[@name='host-passthrough']/@supported").first?
            .stringValue == "yes"
        let hostModelSupported =
            nodes("/domainCapabilities/cpu/mode[@name='host-model']/@supported").first?.stringValue == "yes"
        var features: Set<String> = []
        for node in nodes("/domainCapabilities/cpu/mode[@name='host-model']/feature") {
            guard let element = node as? XMLElement, element.attribute(forName: "policy")?.stringValue == "require",
                let name = element.attribute(forName: "name")?.stringValue
            else { continue }
            features.insert(name)
        }
        var usable: Set<String> = []
        for node in nodes("/domainCapabilities/cpu/mode[@name='custom']/model") {
            guard let element = node as? XMLElement, element.attribute(forName: "usable")?.stringValue == "yes",
                let name = element.stringValue
            else { continue }
            usable.insert(name.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        return DomainCapabilityFacts(
            domain: domain, hostPassthrough: passthrough,
            hostModel: hostModelSupported ? text("/domainCapabilities/cpu/mode[@name='host-model']/model") : nil,
            vendor: hostModelSupported ? text("/domainCapabilities/cpu/mode[@name='host-model']/vendor") : nil,
            features: features, usableModels: usable)
    }

    /// KVM offers nested SVM: an AMD host-model that carries SVM's sub-features. libvirt never
    /// lists `svm` itself for host-model (it is implied by the model, kvm-box-notes), so `npt`
    /// or `svme-addr-chk` (only present with SVM) decide, or `svm` when a version does list it.
    public var nestedSVM: Bool {
        vendor == "AMD" && !features.isDisjoint(with: ["svm", "npt", "svme-addr-chk", "nrip-save", "vgif"])
    }

    /// KVM offers nested VMX: an Intel host-model with `vmx` (listed when kvm_intel nested=1).
    public var nestedVMX: Bool { vendor == "Intel" && features.contains("vmx") }
}

/// `virNodeGetInfo`, reduced.
public struct NodeFacts: Sendable, Hashable, Codable {
    public var cpus: Int
    public var memoryMiB: Int
    public var model: String

    public init(cpus: Int, memoryMiB: Int, model: String) {
        self.cpus = cpus
        self.memoryMiB = memoryMiB
        self.model = model
    }
}

public struct MachineProbeError: Error, Sendable, Hashable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

extension MachineCapabilities {
    /// A machine's capabilities from its daemon's answers: `kvm` and `qemu` domcapabilities (nil
    /// when the daemon has no such virt type there), node info, and — for the local machine only —
    /// whether the lab's Bochs runs VMX. KVM counts only with host-passthrough (what the lab asks
    /// for); TCG needs the qemu64 model, and offers SVM when its max CPU carries `npt`.
    public static func from(
        kvm: DomainCapabilityFacts?, qemu: DomainCapabilityFacts?, node: NodeFacts, bochsVMX: Bool = false
    ) -> MachineCapabilities {
        var accelerators: Set<HostKind> = []
        if let kvm, kvm.domain == "kvm", kvm.hostPassthrough { accelerators.insert(.kvm) }
        let tcg = qemu.map { $0.domain == "qemu" && $0.usableModels.contains("qemu64") } ?? false
        if tcg { accelerators.insert(.tcg) }
        if bochsVMX { accelerators.insert(.bochs) }
        let kvmUsable = accelerators.contains(.kvm)
        return MachineCapabilities(
            accelerators: accelerators, nestedSVM: kvmUsable && (kvm?.nestedSVM ?? false),
            nestedVMX: kvmUsable && (kvm?.nestedVMX ?? false),
            la57: kvmUsable && (kvm?.features.contains("la57") ?? false),
            tcgSVM: tcg && !(qemu?.features.isDisjoint(with: ["svm", "npt"]) ?? true), cpus: node.cpus,
            memoryMiB: node.memoryMiB, cpuModel: kvm?.hostModel ?? qemu?.hostModel ?? node.model)
    }
}
