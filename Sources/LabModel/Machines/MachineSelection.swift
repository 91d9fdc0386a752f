import Foundation

/// `lab run --machine X` (repeatable): X is a machine name from lab.json `machines`, `local`, or
/// a libvirt URI (an ad-hoc machine, named after its host and port). The chosen machines
/// replace lab.json's for this run.
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
            } else if argument.contains("://") {
                let uri = try MachineURI(parsing: argument)
                machine = configured.first { $0.uri == uri } ?? MachineConfig(name: adHocName(uri), uri: uri)
            } else {
                let names = ([MachineConfig.local.name] + configured.map(\.name)).reduce(into: [String]()) {
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
