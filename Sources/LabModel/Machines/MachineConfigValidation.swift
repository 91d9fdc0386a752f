import Foundation

extension ConfigValidator {
    /// lab.json `machines`: a non-empty array of `{name, uri, jobs?, memoryMiB?, accelerators?}`
    /// or `{name, "box": true, jobs?, accelerators?}` (the KVM box, which the lab starts: no
    /// URI); names unique and simple, URIs valid (`MachineURI`), one machine per URI, Bochs only
    /// on the local daemon.
    mutating func machines(_ node: JSONNode, path: String) -> [MachineConfig]? {
        guard case .array(let items) = node.kind else {
            report(node, path, "expected an array of machines, got \(node.described)")
            return nil
        }
        if items.isEmpty { report(node, path, "list at least one machine, or leave machines out (the local daemon)") }
        var machines: [MachineConfig] = []
        var ok = !items.isEmpty
        var names: [String: String] = [:]
        var uris: [String: String] = [:]
        for (index, item) in items.enumerated() {
            let itemPath = "\(path)[\(index)]"
            guard
                let members = object(
                    item, path: itemPath, known: ["name", "uri", "jobs", "memoryMiB", "accelerators", "box"],
                    required: ["name"])
            else {
                ok = false
                continue
            }
            var box = false
            if let node = members["box"] {
                if case .bool(let value) = node.kind {
                    box = value
                } else {
                    report(node, itemPath + ".box", "expected true or false, got \(node.described)")
                    ok = false
                }
            }
            if box, let node = members["uri"] {
                report(
                    node, itemPath + ".uri",
                    "a box has no uri: the lab starts it and picks a loopback port (leave uri out, or box false)")
                ok = false
            } else if !box, members["uri"] == nil {
                report(item, itemPath, "missing \"uri\" (a libvirt URI), or \"box\": true for the KVM box")
                ok = false
            }
            var name: String?
            if let node = members["name"], let value = string(node, itemPath + ".name") {
                if !Self.isSimpleName(value) {
                    report(
                        node, itemPath + ".name",
                        "machine name \(JSONValue.quoted(value)): use letters, digits, - and _")
                } else if let other = names[value] {
                    report(node, itemPath + ".name", "machine name \(JSONValue.quoted(value)) is also used by \(other)")
                } else {
                    name = value
                    names[value] = itemPath
                }
            }
            var uri: MachineURI? = box ? MachineConfig.boxPlaceholderURI : nil
            if let node = members["uri"], let text = string(node, itemPath + ".uri") {
                do {
                    let parsed = try MachineURI(parsing: text)
                    if let other = uris[parsed.text] {
                        report(node, itemPath + ".uri", "\(parsed.text) is also \(other): one machine per daemon")
                    } else {
                        uris[parsed.text] = itemPath
                        uri = parsed
                    }
                } catch {
                    report(node, itemPath + ".uri", error.message)
                }
            }
            var jobs: Int?
            var jobsOK = true
            if let node = members["jobs"] {
                if let value = node.integerValue, (0...256).contains(value) {
                    jobs = value
                } else {
                    report(node, itemPath + ".jobs", "expected VMs at once, 0-256, got \(node.described)")
                    jobsOK = false
                }
            }
            var memory: Int?
            var memoryOK = true
            if let node = members["memoryMiB"] {
                if let value = node.integerValue, value >= 512 {
                    memory = value
                } else {
                    report(
                        node, itemPath + ".memoryMiB",
                        "expected MiB the lab may use there (512 or more), got \(node.described)")
                    memoryOK = false
                }
            }
            var accelerators: [HostKind]?
            var acceleratorsOK = true
            if let node = members["accelerators"] {
                var list: [HostKind] = []
                for (value, element, elementPath) in stringList(
                    node, itemPath + ".accelerators", what: "an accelerator")
                {
                    guard let kind = HostKind(rawValue: value) else {
                        report(
                            element, elementPath,
                            "unknown accelerator \(JSONValue.quoted(value)); expected kvm, tcg or bochs")
                        acceleratorsOK = false
                        continue
                    }
                    if kind == .bochs, let uri, !uri.isLocal {
                        report(
                            element, elementPath,
                            "bochs runs only on the local machine (the lab runs Bochs itself, not through libvirt)")
                        acceleratorsOK = false
                    }
                    if !list.contains(kind) { list.append(kind) }
                }
                accelerators = list
            }
            if let name, let uri, jobsOK, memoryOK, acceleratorsOK {
                machines.append(
                    MachineConfig(
                        name: name, uri: uri, jobs: jobs ?? (box ? 1 : nil), memoryMiB: memory,
                        accelerators: accelerators ?? (box ? [.kvm] : nil), box: box))
            } else {
                ok = false
            }
        }
        return ok ? machines : nil
    }
}
