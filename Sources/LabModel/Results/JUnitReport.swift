import Foundation

#if canImport(FoundationXML)
import FoundationXML
#endif

/// JUnit XML for CI: one `<testsuite>` per cell (name = cell id), one `<testcase name=caseId
/// classname=…>` per case, `<failure>` for fail/timeout, `<error>` for error and interrupted,
/// `<skipped>` (reason as its text and `message`) for skips and for every case of a skipped
/// cell; `<system-out>` lists log paths; each suite carries the provenance as `<property>`s.
/// Records of no cell (a run the lab could not start) go to a suite named `lab`.
///
/// Valid against the Jenkins xunit plugin's junit-10.xsd (checked by JUnitSchemaTests): no
/// `skipped` attribute on `<testsuites>`, `testcase` attributes limited to name, classname and
/// time. Jenkins splits a classname at its last dot into package and class, so the classname is
/// the cell id with dots as underscores (`svm-tcg-6_1_0-56-amd64-…`); the exact id stays the
/// suite's name and its `cell.id` property.
public enum JUnitReport {
    /// The classname of a cell's test cases: its id, dots replaced so Jenkins does not split it.
    public static func className(cellId: String) -> String {
        cellId.replacingOccurrences(of: ".", with: "_")
    }

    public static func xml(for results: RunResults) -> String {
        let root = XMLElement(name: "testsuites")
        root.addAttribute(name: "name", value: "GuestMemLab")
        var grand: [CaseStatus: Int] = [:]
        var grandTime = 0.0
        var suites: [(id: String, status: CellRunStatus?, rows: [CaseRecord])] = results.cells.map {
            ($0.id, $0.status, results.reportRows(for: $0))
        }
        let orphans = results.records.filter { record in !results.cells.contains { $0.id == record.cellId } }
        for cellId in orphans.map(\.cellId).reduce(into: [String](), { if !$0.contains($1) { $0.append($1) } }) {
            suites.append((cellId, nil, orphans.filter { $0.cellId == cellId }))
        }
        for (cellId, status, rows) in suites {
            let suite = XMLElement(name: "testsuite")
            var counts: [CaseStatus: Int] = [:]
            for row in rows { counts[row.status, default: 0] += 1 }
            let time = rows.compactMap { $0.wallSeconds ?? $0.durationSeconds }.reduce(0, +)
            suite.addAttribute(name: "name", value: cellId)
            suite.addAttribute(name: "tests", value: String(rows.count))
            suite.addAttribute(
                name: "failures", value: String(counts[.fail, default: 0] + counts[.timeout, default: 0]))
            suite.addAttribute(
                name: "errors", value: String(counts[.error, default: 0] + counts[.interrupted, default: 0]))
            suite.addAttribute(name: "skipped", value: String(counts[.skip, default: 0]))
            suite.addAttribute(name: "time", value: seconds(time))
            suite.addAttribute(name: "timestamp", value: Provenance.timestamp(results.provenance.startTime))
            if let host = results.provenance.hostname { suite.addAttribute(name: "hostname", value: host) }

            let properties = XMLElement(name: "properties")
            var list = results.provenance.properties.filter { !$0.name.hasPrefix("machine.") }
            list.append(("cell.id", cellId))
            switch status {
            case .ran: list.append(("cell.status", "ran"))
            case .skipped(let reason): list.append(("cell.status", "skipped: \(reason)"))
            case .error(let message): list.append(("cell.status", "error: \(message)"))
            case nil: list.append(("cell.status", "none: the lab could not run"))
            }
            if let machine = results.provenance.machines[cellId] {
                list.append(("cell.accelerator", machine.accelerator))
                list.append(("cell.cpu", machine.cpuModel))
                if let kernel = machine.guestKernel {
                    list.append(
                        ("cell.kernel", kernel.version + (kernel.packageVersion.map { " (package \($0))" } ?? "")))
                }
                if let paging = machine.paging { list.append(("cell.paging", paging.rawValue)) }
                if let cmdline = machine.guestCmdline { list.append(("cell.cmdline", cmdline)) }
                if let cmdline = machine.hypervisorCmdline { list.append(("cell.hypervisor.cmdline", cmdline)) }
            }
            for (name, value) in list {
                let property = XMLElement(name: "property")
                property.addAttribute(name: "name", value: name)
                property.addAttribute(name: "value", value: value)
                properties.addChild(property)
            }
            suite.addChild(properties)

            for row in rows {
                suite.addChild(testcase(row))
            }
            root.addChild(suite)
            for (status, count) in counts { grand[status, default: 0] += count }
            grandTime += time
        }
        // No `skipped` here: junit-10.xsd allows only name, time, tests, failures, errors.
        root.addAttribute(name: "tests", value: String(grand.values.reduce(0, +)))
        root.addAttribute(name: "failures", value: String(grand[.fail, default: 0] + grand[.timeout, default: 0]))
        root.addAttribute(
            name: "errors", value: String(grand[.error, default: 0] + grand[.interrupted, default: 0]))
        root.addAttribute(name: "time", value: seconds(grandTime))
        let document = XMLDocument(rootElement: root)
        document.version = "1.0"
        document.characterEncoding = "UTF-8"
        return document.xmlString(options: [.nodePrettyPrint]) + "\n"
    }

    private static func testcase(_ row: CaseRecord) -> XMLElement {
        let element = XMLElement(name: "testcase")
        element.addAttribute(name: "name", value: row.caseId)
        element.addAttribute(name: "classname", value: className(cellId: row.cellId))
        // JUnit's time is the wall's; the guest's clock when the host saw no BEGIN/RESULT pair.
        element.addAttribute(name: "time", value: seconds(row.wallSeconds ?? row.durationSeconds ?? 0))
        var body = row.message
        if let repro = row.repro { body += (body.isEmpty ? "" : "\n\n") + "reproduce: \(repro)" }
        switch row.status {
        case .pass:
            break
        case .fail, .timeout:
            let failure = XMLElement(name: "failure", stringValue: xmlSafe(body))
            failure.addAttribute(
                name: "message", value: row.status == .timeout ? "timeout: \(row.message)" : row.message)
            failure.addAttribute(name: "type", value: row.status.rawValue)
            element.addChild(failure)
        case .error, .interrupted:
            let error = XMLElement(name: "error", stringValue: xmlSafe(body))
            error.addAttribute(name: "message", value: row.message)
            error.addAttribute(name: "type", value: row.status.rawValue)
            element.addChild(error)
        case .skip:
            // The reason as text too: GitLab shows the element's text, Jenkins the attribute.
            let skipped = XMLElement(name: "skipped", stringValue: xmlSafe(row.message))
            skipped.addAttribute(name: "message", value: row.message)
            element.addChild(skipped)
        }
        var out: [String] = []
        if let vm = row.vmName { out.append("vm: \(vm) (attempt \(row.attempt))") }
        for (role, path) in row.logs.sorted(by: { $0.key < $1.key }) { out.append("\(role) log: \(path)") }
        if !row.values.isEmpty { out.append("values: " + JSONValue.object(row.values).compactText) }
        if !out.isEmpty {
            element.addChild(XMLElement(name: "system-out", stringValue: xmlSafe(out.joined(separator: "\n"))))
        }
        return element
    }

    private static func seconds(_ value: Double) -> String {
        String(format: "%.3f", value)
    }
}

extension XMLElement {
    /// Adds an attribute whose value is made XML-safe.
    fileprivate func addAttribute(name: String, value: String) {
        guard let attribute = XMLNode.attribute(withName: name, stringValue: xmlSafe(value)) as? XMLNode else {
            preconditionFailure("XMLNode.attribute(withName:stringValue:) made no XMLNode")
        }
        addAttribute(attribute)
    }
}

/// Replaces characters XML 1.0 cannot carry (most C0 controls, lone surrogates, U+FFFE/FFFF)
/// with U+FFFD, so guest output cannot make the file unreadable. Escaping of `<&"` is left to
/// XMLDocument.
func xmlSafe(_ text: String) -> String {
    var scalars = String.UnicodeScalarView()
    for scalar in text.unicodeScalars {
        let value = scalar.value
        let allowed =
            value == 0x9 || value == 0xA || value == 0xD || (0x20...0xD7FF).contains(value)
            || (0xE000...0xFFFD).contains(value) || (0x10000...0x10FFFF).contains(value)
        scalars.append(allowed ? scalar : "\u{FFFD}")
    }
    return String(scalars)
}
