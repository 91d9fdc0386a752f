import Foundation

/// `lab run --machine X` (repeatable): X is a machine name from lab.json `machines`, `local`,
/// `box` (the KVM box, `MachineConfig.box`, when lab.json names no machine `box`), or a libvirt
/// URI (an ad-hoc machine, named after its host and port). The chosen machines replace
/// lab.json's for this run.
public enum MachineSelection {
    public static func choose(
        _ arguments: [String], configured: [MachineConfig]
    ) throws(MachineURIError) -> [MachineConfig] {
        var chosen: [MachineConfig] = []
        for argument in arguments.flatMap({ $0.split(separator: ",").map(String.init) }) {
            let machine: MachineConfig
            if let named = configured.first(where: { $0.name == argument }) {
                machine = named
            } else if argument == MachineConfig.local.name {
                machine = .local
            } else if argument == MachineConfig.box.name {
                machine = .box
            } else if argument.contains("://") {
                let uri = try MachineURI(parsing: argument)
                machine = configured.first { $0.uri == uri } ?? MachineConfig(name: adHocName(uri), uri: uri)
            } else {
                let names = ([MachineConfig.local.name, MachineConfig.box.name] + configured.map(\.name)).reduce(
                    into: [String]()
                ) {
                    if !$0.contains($1) { $0.append($1) }
                }
                throw MachineURIError(
                    uri: argument,
                    message: "--machine: not a machine of lab.json (\(names.joined(separator: ", "))) nor a libvirt URI"
                )
            }
            if !chosen.contains(where: { $0.name == machine.name }) { chosen.append(machine) }
        }
        return chosen
    }

    /// `host-port` (`127.0.0.1-16509`), or `local` for the local daemon.
    static func adHocName(_ uri: MachineURI) -> String {
        guard let host = uri.host else { return uri.isLocal ? MachineConfig.local.name : "machine" }
        let safe = host.map { $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" ? $0 : "-" }
        return String(safe) + (uri.port.map { "-\($0)" } ?? "")
    }
}

/// `--host box`: the KVM cells, on the box. The hosts axis gets `kvm` in place of `box`, and the
/// machines the box (lab.json's machine of that name, else `MachineConfig.box`).
public enum BoxHostShortcut {
    public static let name = "box"

    /// `hosts` with `box` replaced by `kvm`, and whether `box` was there.
    public static func apply(hosts: [String]) -> (hosts: [String], box: Bool) {
        let items = hosts.flatMap { $0.split(separator: ",").map(String.init) }
        guard items.contains(name) else { return (hosts, false) }
        var result: [String] = []
        for item in items {
            let value = item == name ? HostKind.kvm.rawValue : item
            if !result.contains(value) { result.append(value) }
        }
        return (result, true)
    }
}
