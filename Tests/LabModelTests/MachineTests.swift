import Foundation
import Testing

@testable import LabModel

@Suite struct MachineURITests {
    @Test func readsTheURIsUsersWrite() throws {
        let local = try MachineURI(parsing: "qemu:///system")
        #expect(local.transport == .unix && local.host == nil && local.instance == .system)
        #expect(local.isLocal && local.isLoopback && local.effectivePort == nil)

        let tcp = try MachineURI(parsing: "qemu+tcp://127.0.0.1:16600/system")
        #expect(tcp.transport == .tcp && tcp.host == "127.0.0.1" && tcp.port == 16600)
        #expect(!tcp.isLocal && tcp.isLoopback)

        let ssh = try MachineURI(parsing: "qemu+ssh://ci@kvm-7.example.org/system?keyfile=/root/.ssh/lab&no_verify=1")
        #expect(ssh.transport == .ssh && ssh.user == "ci" && ssh.host == "kvm-7.example.org")
        #expect(ssh.parameters == ["keyfile": "/root/.ssh/lab", "no_verify": "1"])
        #expect(ssh.effectivePort == 22 && !ssh.isLoopback)

        let tls = try MachineURI(parsing: "qemu+tls://rack3.example/system")
        #expect(tls.transport == .tls && tls.effectivePort == 16514)

        let v6 = try MachineURI(parsing: "qemu+tcp://[::1]:16509/system")
        #expect(v6.host == "::1" && v6.port == 16509 && v6.isLoopback)

        let socket = try MachineURI(parsing: "qemu+unix:///system?socket=/tmp/lab/libvirt-sock")
        #expect(socket.isLocal && socket.parameters["socket"] == "/tmp/lab/libvirt-sock")
        #expect(try MachineURI(parsing: "qemu:///session").instance == .session)
        #expect(try MachineURI(parsing: "qemu+tcp://localhost/system").isLoopback)
        #expect(try !MachineURI(parsing: "qemu+tcp://127.0.0.1.example.com/system").isLoopback)
        #expect(try !MachineURI(parsing: "qemu+tcp://10.0.0.1/system").isLoopback)
    }

    @Test(arguments: [
        ("", "empty URI"),
        ("qemu", "not a libvirt URI"),
        ("xen+ssh://host/system", "driver xen (Xen): the lab runs QEMU domains"),
        ("foo:///system", "unknown driver \"foo\""),
        ("qemu+ftp://host/system", "unknown transport \"ftp\""),
        ("qemu+tcp:///system", "transport tcp needs a host: qemu+tcp://HOST:16509/system"),
        ("qemu+ssh:///system", "transport ssh needs a host"),
        ("qemu+tcp://127.0.0.1:0/system", "bad port \"0\""),
        ("qemu+tcp://127.0.0.1:70000/system", "bad port \"70000\""),
        ("qemu+tcp://127.0.0.1:http/system", "bad port \"http\""),
        ("qemu+tcp://127.0.0.1:16509", "no daemon instance: end the URI with /system"),
        ("qemu+tcp://127.0.0.1:16509/", "no daemon instance"),
        ("qemu+tcp://127.0.0.1/systen", "unknown path \"/systen\""),
        ("qemu://kvm.example/system", "names a remote host without a transport"),
        ("qemu+tcp://user@host/system", "only used by the ssh transports"),
        ("qemu+tcp://::1/system", "an IPv6 address goes in brackets"),
        ("qemu+tcp://[::1/system", "unclosed \"[\""),
        ("qemu+tcp://ho st/system", "bad host name"),
        ("qemu:///system?socket=relative", "must be absolute"),
        ("qemu+unix://:5/system", "empty host before the port"),
        ("qemu:///system#frag", "fragment"),
    ])
    func rejectsBadURIsSayingWhatIsWrong(uri: String, expected: String) {
        do {
            let parsed = try MachineURI(parsing: uri)
            Issue.record("\(uri) parsed as \(parsed)")
        } catch {
            #expect(error.description.contains(expected), "\(error.description)")
            #expect(error.description.hasPrefix("machine URI \(JSONValue.quoted(uri)): "))
        }
    }

    @Test func roundTripsThroughJSON() throws {
        let uri = try MachineURI(parsing: "qemu+tcp://127.0.0.1:16600/system")
        let data = try JSONEncoder().encode(uri)
        #expect(String(decoding: data, as: UTF8.self) == "\"qemu+tcp:\\/\\/127.0.0.1:16600\\/system\"")
        #expect(try JSONDecoder().decode(MachineURI.self, from: data) == uri)
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(MachineURI.self, from: Data("\"xen:///\"".utf8))
        }
        #expect(MachineConfig.local.uri.text == "qemu:///system")
    }
}

@Suite struct MachineConfigTests {
    func labJSON(machines: String) -> Data {
        Data(
            """
            {"schema": 1,
             "matrix": {"backends": ["svm"], "hosts": ["auto"], "kernels": ["debian"], "memoryMiB": [1024],
                        "vcpus": [1], "suites": ["smoke"]},
             "timeouts": {"bootSeconds": 60, "caseSeconds": 30},
             "machines": \(machines)}
            """.utf8)
    }

    @Test func readsMachinesWithCapacityHints() throws {
        let config = try LabConfig.parse(
            labJSON(
                machines: """
                    [{"name": "local", "uri": "qemu:///system", "accelerators": ["tcg", "bochs"]},
                     {"name": "box", "uri": "qemu+tcp://127.0.0.1:16509/system", "jobs": 1, "memoryMiB": 3072,
                      "accelerators": ["kvm"]}]
                    """))
        let machines = try #require(config.machines)
        #expect(machines.map(\.name) == ["local", "box"])
        #expect(machines[1].jobs == 1 && machines[1].memoryMiB == 3072 && machines[1].accelerators == [.kvm])
        #expect(machines[0].accelerators == [.tcg, .bochs])
        #expect(config.effectiveMachines == machines)
        let none = try LabConfig.parse(
            Data(
                String(decoding: labJSON(machines: "[]"), as: UTF8.self).replacingOccurrences(
                    of: ",\n \"machines\": []", with: ""
                ).utf8))
        #expect(none.machines == nil && none.effectiveMachines == [.local])
    }

    @Test func readsTheKVMBoxAsAMachineWithoutURI() throws {
        let config = try LabConfig.parse(
            labJSON(machines: #"[{"name": "local", "uri": "qemu:///system"}, {"name": "box", "box": true}]"#))
        let box = try #require(config.machines?.last)
        #expect(box.box && box.uri == MachineConfig.boxPlaceholderURI)
        // One vCPU in L1, KVM cells only, unless lab.json says otherwise.
        #expect(box.jobs == 1 && box.accelerators == [.kvm])
        #expect(config.machines?.first?.box == false)
        do {
            _ = try LabConfig.parse(
                labJSON(
                    machines: """
                        [{"name": "a", "box": true, "uri": "qemu+tcp://127.0.0.1:1/system"},
                         {"name": "b"},
                         {"name": "c", "box": "yes"}]
                        """))
            Issue.record("bad box machines accepted")
        } catch {
            let text = error.description
            for expected in [
                "$.machines[0].uri: a box has no uri",
                "$.machines[1]: missing \"uri\" (a libvirt URI), or \"box\": true for the KVM box",
                "$.machines[2].box: expected true or false, got",
            ] {
                #expect(text.contains(expected), "missing: \(expected) in \(text)")
            }
        }
    }

    @Test func reportsEveryProblemWithItsPath() {
        do {
            _ = try LabConfig.parse(
                labJSON(
                    machines: """
                        [{"name": "a", "uri": "qemu+tcp:///system"},
                         {"name": "a", "uri": "qemu:///system", "jobs": -1},
                         {"name": "b b", "uri": "qemu:///system"},
                         {"name": "c", "uri": "qemu+ssh://h/system", "accelerators": ["bochs", "hvf"], "memoryMiB": 5},
                         {"nam": "d", "uri": "qemu:///session"}]
                        """))
            Issue.record("bad machines accepted")
        } catch {
            let text = error.description
            for expected in [
                "$.machines[0].uri: transport tcp needs a host",
                "$.machines[1].name: machine name \"a\" is also used by $.machines[0]",
                "$.machines[1].jobs: expected VMs at once, 0-256, got -1",
                "$.machines[2].name: machine name \"b b\"",
                "$.machines[2].uri: qemu:///system is also $.machines[1]: one machine per daemon",
                "$.machines[3].accelerators[0]: bochs runs only on the local machine",
                "$.machines[3].accelerators[1]: unknown accelerator \"hvf\"",
                "$.machines[3].memoryMiB: expected MiB",
                "$.machines[4]: unknown key \"nam\" (did you mean \"name\"?)",
                "$.machines[4]: missing required key \"name\"",
            ] {
                #expect(text.contains(expected), "missing: \(expected)\n\(text)")
            }
        }
        #expect(throws: ConfigError.self) { try LabConfig.parse(labJSON(machines: "[]")) }
        #expect(throws: ConfigError.self) { try LabConfig.parse(labJSON(machines: "{}")) }
    }
}

/// domcapabilities as libvirt 9.0 prints them (trimmed): this build machine's TCG, and a KVM
/// host with nested SVM (the box: kvm-box-notes), and an Intel KVM host with nested VMX.
enum DomCaps {
    static func xml(domain: String, passthrough: Bool, model: String, vendor: String, features: [String]) -> String {
        """
        <domainCapabilities>
          <path>/usr/bin/qemu-system-x86_64</path>
          <domain>\(domain)</domain>
          <arch>x86_64</arch>
          <cpu>
            <mode name='host-passthrough' supported='\(passthrough ? "yes" : "no")'/>
            <mode name='host-model' supported='yes'>
              <model fallback='forbid'>\(model)</model>
              <vendor>\(vendor)</vendor>
        \(features.map { "      <feature policy='require' name='\($0)'/>" }.joined(separator: "\n"))
              <feature policy='disable' name='vme'/>
            </mode>
            <mode name='custom' supported='yes'>
              <model usable='yes' vendor='unknown'>qemu64</model>
              <model usable='no' vendor='AMD'>phenom</model>
            </mode>
          </cpu>
        </domainCapabilities>
        """
    }
    static let tcgHere = xml(
        domain: "qemu", passthrough: false, model: "EPYC", vendor: "AMD",
        features: ["acpi", "hypervisor", "la57", "npt", "vgif", "svme-addr-chk"])
    static let boxKVM = xml(
        domain: "kvm", passthrough: true, model: "qemu64", vendor: "AMD", features: ["npt", "svme-addr-chk"])
    static let intelKVM = xml(
        domain: "kvm", passthrough: true, model: "Skylake-Server", vendor: "Intel", features: ["vmx", "la57", "ss"])
    static let plainKVM = xml(domain: "kvm", passthrough: true, model: "EPYC", vendor: "AMD", features: ["ss"])
}

@Suite struct MachineCapabilityTests {
    let node = NodeFacts(cpus: 2, memoryMiB: 24_000, model: "x86_64")

    @Test func readsDomainCapabilities() throws {
        let facts = try DomainCapabilityFacts.parse(DomCaps.tcgHere)
        #expect(facts.domain == "qemu" && !facts.hostPassthrough && facts.hostModel == "EPYC" && facts.vendor == "AMD")
        #expect(facts.features.contains("npt") && !facts.features.contains("vme"))
        #expect(facts.usableModels == ["qemu64"])
        #expect(throws: MachineProbeError.self) { try DomainCapabilityFacts.parse("<nope") }
        #expect(throws: MachineProbeError("domain capabilities name no <domain>")) {
            try DomainCapabilityFacts.parse("<domainCapabilities/>")
        }
    }

    @Test func aTCGOnlyMachineRunsTCGCellsWithSVM() throws {
        let caps = MachineCapabilities.from(kvm: nil, qemu: try .parse(DomCaps.tcgHere), node: node)
        #expect(caps.accelerators == [.tcg] && caps.tcgSVM && !caps.nestedSVM)
        let svmTCG = MatrixCell(backend: .svm, host: .tcg, kernel: .debianCurrent, memoryMiB: 1024, vcpus: 1)
        let svmKVM = MatrixCell(backend: .svm, host: .kvm, kernel: .debianCurrent, memoryMiB: 1024, vcpus: 1)
        #expect(caps.reason(cannotRun: svmTCG, machine: "here") == nil)
        #expect(caps.reason(cannotRun: svmKVM, machine: "here") == "here has no KVM")
    }

    @Test func theBoxOffersNestedSVMThoughLibvirtNeverListsSVM() throws {
        let box = try DomainCapabilityFacts.parse(DomCaps.boxKVM)
        #expect(!box.features.contains("svm"))
        let caps = MachineCapabilities.from(
            kvm: box, qemu: nil, node: NodeFacts(cpus: 1, memoryMiB: 3072, model: "x86_64"))
        #expect(caps.accelerators == [.kvm] && caps.nestedSVM && !caps.nestedVMX && !caps.la57)
        let cell4 = MatrixCell(backend: .svm, host: .kvm, kernel: .debianCurrent, memoryMiB: 1024, vcpus: 1)
        var cell5 = cell4
        cell5.paging = .fiveLevel
        #expect(caps.reason(cannotRun: cell4, machine: "box") == nil)
        #expect(caps.reason(cannotRun: cell5, machine: "box") == "KVM guests on box cannot have LA57")
        var big = cell4
        big.memoryMiB = 4096
        #expect(caps.reason(cannotRun: big, machine: "box")?.contains("exceeds box's 3072 MiB") == true)
    }

    @Test func intelAndPlainKVMHosts() throws {
        let intel = MachineCapabilities.from(kvm: try .parse(DomCaps.intelKVM), qemu: nil, node: node)
        #expect(intel.nestedVMX && !intel.nestedSVM && intel.la57)
        let plain = MachineCapabilities.from(kvm: try .parse(DomCaps.plainKVM), qemu: nil, node: node)
        #expect(plain.accelerators == [.kvm] && !plain.nestedSVM)
        let svmKVM = MatrixCell(backend: .svm, host: .kvm, kernel: .debianCurrent, memoryMiB: 1024, vcpus: 1)
        #expect(plain.reason(cannotRun: svmKVM, machine: "p") == "KVM on p offers no nested SVM")
        // KVM without host-passthrough is not what the lab asks for.
        let noPassthrough = try DomainCapabilityFacts.parse(
            DomCaps.boxKVM.replacingOccurrences(of: "supported='yes'/>", with: "supported='no'/>"))
        #expect(!MachineCapabilities.from(kvm: noPassthrough, qemu: nil, node: node).accelerators.contains(.kvm))
    }

    @Test func slotsComeFromHintsCoresAndMemory() {
        let caps = MachineCapabilities(accelerators: [.tcg], cpus: 8, memoryMiB: 8192)
        let config = MachineConfig(name: "m", uri: MachineConfig.local.uri)
        // 8 cores; memory (8192 - 1024 reserve) / (1024 + 300) = 5.
        #expect(SchedulableMachine.slots(config: config, capabilities: caps, largestVMMiB: 1024, vcpus: 1) == 5)
        var hinted = config
        hinted.jobs = 2
        #expect(SchedulableMachine.slots(config: hinted, capabilities: caps, largestVMMiB: 1024, vcpus: 1) == 2)
        hinted.jobs = nil
        hinted.memoryMiB = 3000  // what the lab may use there: no extra reserve
        #expect(SchedulableMachine.slots(config: hinted, capabilities: caps, largestVMMiB: 1024, vcpus: 1) == 2)
        #expect(SchedulableMachine.slots(config: config, capabilities: caps, largestVMMiB: 1024, vcpus: 4) == 2)
    }
}

@Suite struct MachineSchedulerTests {
    static func cell(
        _ backend: Backend, _ host: HostKind, _ paging: PagingMode = .fourLevel, memory: Int = 1024
    )
        -> MatrixCell
    {
        MatrixCell(backend: backend, host: host, kernel: .debianCurrent, memoryMiB: memory, vcpus: 1, paging: paging)
    }
    static let tcgOnly = MachineCapabilities(accelerators: [.tcg], tcgSVM: true, cpus: 4, memoryMiB: 16_000)
    static let kvmBox = MachineCapabilities(accelerators: [.kvm], nestedSVM: true, cpus: 1, memoryMiB: 3072)
    static let local = MachineCapabilities(
        accelerators: [.tcg, .bochs], tcgSVM: true, cpus: 2, memoryMiB: 24_000)

    func jobs(_ cells: [MatrixCell]) -> [MachineScheduler.Job] {
        cells.map { .init(id: $0.id, cell: $0, cost: 1) }
    }

    @Test func spreadsCellsOverTwoEqualMachinesByCapacity() {
        let cells = [PagingMode.fourLevel, .fiveLevel].flatMap { p in
            [Self.cell(.none, .tcg, p), Self.cell(.svm, .tcg, p)]
        }
        var scheduler = MachineScheduler(
            jobs: jobs(cells),
            machines: [
                SchedulableMachine(name: "a", capabilities: Self.tcgOnly, slots: 1),
                SchedulableMachine(name: "b", capabilities: Self.tcgOnly, slots: 1),
            ])
        let first = scheduler.assignments()
        #expect(first.map(\.machine) == ["a", "b"])
        #expect(first.map(\.job.id) == [cells[0].id, cells[1].id])
        #expect(scheduler.assignments().isEmpty, "both machines are full")
        scheduler.finished(cells[1].id, on: "b")
        let next = scheduler.assignments()
        #expect(next.map(\.machine) == ["b"] && next.map(\.job.id) == [cells[2].id])
        scheduler.finished(cells[0].id, on: "a")
        scheduler.finished(cells[2].id, on: "b")
        #expect(scheduler.assignments().map(\.job.id) == [cells[3].id])
        scheduler.finished(cells[3].id, on: "a")
        #expect(scheduler.isDone && scheduler.unrunnable.isEmpty)
    }

    @Test func fillsByRelativeLoadAndKeepsScarceCellsForTheirMachine() {
        // The box is the only machine that runs kvm cells: it takes those first even though the
        // tcg cells come first in plan order; local (2 slots) gets twice the tcg cells.
        let cells = [
            Self.cell(.none, .tcg), Self.cell(.svm, .tcg), Self.cell(.svm, .tcg, .fiveLevel),
            Self.cell(.none, .kvm), Self.cell(.svm, .kvm),
        ]
        var scheduler = MachineScheduler(
            jobs: jobs(cells),
            machines: [
                SchedulableMachine(name: "local", capabilities: Self.local, slots: 2),
                SchedulableMachine(name: "box", capabilities: Self.kvmBox, slots: 1),
            ])
        let started = scheduler.assignments()
        #expect(started.map(\.machine).sorted() == ["box", "local", "local"])
        #expect(started.first { $0.machine == "box" }?.job.cell.host == .kvm)
        #expect(started.filter { $0.machine == "local" }.allSatisfy { $0.job.cell.host == .tcg })
    }

    @Test func cellsNoMachineCanRunAreUnrunnableWithEveryReason() {
        let cells = [Self.cell(.vmx, .bochs), Self.cell(.svm, .kvm, .fiveLevel), Self.cell(.svm, .tcg)]
        let scheduler = MachineScheduler(
            jobs: jobs(cells),
            machines: [
                SchedulableMachine(name: "a", capabilities: Self.tcgOnly, slots: 1),
                SchedulableMachine(name: "box", capabilities: Self.kvmBox, slots: 1),
            ])
        #expect(scheduler.pending.map(\.id) == [cells[2].id])
        let reasons = Dictionary(uniqueKeysWithValues: scheduler.unrunnable.map { ($0.job.id, $0.reason) })
        #expect(reasons[cells[0].id] == "no machine can run it: a has no Bochs; box has no Bochs")
        #expect(reasons[cells[1].id] == "no machine can run it: a has no KVM; KVM guests on box cannot have LA57")
        let empty = MachineScheduler(jobs: jobs([cells[2]]), machines: [])
        #expect(empty.unrunnable.first?.reason == "no machine is configured")
    }

    @Test func aLostMachinesCellsRunElsewhereAndTheLossIsReported() throws {
        let cells = [Self.cell(.none, .tcg), Self.cell(.svm, .tcg), Self.cell(.svm, .kvm), Self.cell(.none, .kvm)]
        var scheduler = MachineScheduler(
            jobs: jobs(cells),
            machines: [
                SchedulableMachine(name: "a", capabilities: Self.tcgOnly, slots: 1),
                SchedulableMachine(name: "b", capabilities: Self.tcgOnly, slots: 1),
                SchedulableMachine(name: "box", capabilities: Self.kvmBox, slots: 1),
            ])
        let started = scheduler.assignments()
        #expect(started.count == 3)
        let onA = try #require(started.first { $0.machine == "a" }).job
        // a dies: its job is reported, still running until its run ends, then requeued.
        let running = scheduler.machineLost("a", reason: "connection reset")
        #expect(running.map(\.id) == [onA.id] && scheduler.isLost("a"))
        #expect(scheduler.assignments().isEmpty, "b and the box are busy; a takes nothing")
        scheduler.finished(onA.id, on: "a")
        scheduler.requeue(onA.id)
        #expect(scheduler.pending.first?.id == onA.id)
        let onB = try #require(started.first { $0.machine == "b" }).job
        scheduler.finished(onB.id, on: "b")
        #expect(scheduler.assignments().map { "\($0.machine) \($0.job.id)" } == ["b \(onA.id)"])
        #expect(scheduler.placements[onA.id] == "b")
        // The box dies too: the kvm cell still pending and the one cut short have nowhere to go.
        let onBox = try #require(started.first { $0.machine == "box" }).job
        scheduler.machineLost("box", reason: "stalled")
        scheduler.finished(onBox.id, on: "box")
        scheduler.requeue(onBox.id)
        #expect(scheduler.unrunnable.map(\.job.cell.host) == [.kvm, .kvm])
        #expect(scheduler.unrunnable.allSatisfy { $0.reason.contains("machine box was lost (stalled)") })
        #expect(scheduler.lost.map(\.machine) == ["a", "box"])
        scheduler.finished(onA.id, on: "b")
        #expect(scheduler.isDone)
        // Losing a machine twice changes nothing.
        #expect(scheduler.machineLost("a", reason: "again").isEmpty)
    }

    @Test func aMachineWithoutCapacityTakesNothing() {
        let cells = [Self.cell(.svm, .tcg)]
        var scheduler = MachineScheduler(
            jobs: jobs(cells),
            machines: [SchedulableMachine(name: "tiny", capabilities: Self.tcgOnly, slots: 0)])
        #expect(scheduler.assignments().isEmpty)
        #expect(scheduler.unrunnable.first?.reason == "no machine can run it: tiny has no capacity for the run's VMs")
    }
}

@Suite struct MachineSelectionTests {
    let configured = [
        MachineConfig(name: "box", uri: try! MachineURI(parsing: "qemu+tcp://127.0.0.1:16509/system"), jobs: 1),
        MachineConfig(name: "rack", uri: try! MachineURI(parsing: "qemu+ssh://ci@rack.example/system")),
    ]

    @Test func namesURIsAndLocal() throws {
        #expect(try MachineSelection.choose(["box"], configured: configured).map(\.name) == ["box"])
        #expect(
            try MachineSelection.choose(["local,box", "box"], configured: configured).map(\.name) == ["local", "box"])
        // A URI lab.json names is that machine (its hints too); another is ad hoc.
        let same = try MachineSelection.choose(["qemu+tcp://127.0.0.1:16509/system"], configured: configured)
        #expect(same.map(\.name) == ["box"] && same.first?.jobs == 1)
        let adHoc = try MachineSelection.choose(["qemu+tcp://127.0.0.1:16600/system"], configured: [])
        #expect(adHoc.map(\.name) == ["127.0.0.1-16600"] && adHoc.first?.jobs == nil)
        #expect(try MachineSelection.choose(["qemu:///system"], configured: []).map(\.name) == ["local"])
    }

    @Test func boxIsBuiltInAndHostBoxMeansKVMThere() throws {
        let chosen = try MachineSelection.choose(["box"], configured: [])
        #expect(chosen == [.box] && chosen.first?.box == true && chosen.first?.accelerators == [.kvm])
        // lab.json's own machine called box wins.
        #expect(try MachineSelection.choose(["box"], configured: configured).first?.box == false)
        #expect(BoxHostShortcut.apply(hosts: ["box"]) == (["kvm"], true))
        #expect(BoxHostShortcut.apply(hosts: ["tcg,box", "kvm"]) == (["tcg", "kvm"], true))
        #expect(BoxHostShortcut.apply(hosts: ["tcg"]) == (["tcg"], false))
        #expect(BoxHostShortcut.apply(hosts: []) == ([], false))
    }

    @Test func badChoicesSayWhatIsThere() {
        do {
            _ = try MachineSelection.choose(["bx"], configured: configured)
            Issue.record("unknown machine accepted")
        } catch {
            #expect(
                error.description
                    == "machine URI \"bx\": --machine: not a machine of lab.json (local, box, rack) nor a libvirt URI")
        }
        #expect(throws: MachineURIError.self) { try MachineSelection.choose(["qemu+tcp:///system"], configured: []) }
    }
}
