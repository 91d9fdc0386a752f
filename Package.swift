// swift-tools-version:6.0
// GuestMemLab: the orchestrator (LabKit + `lab`), the libvirt binding, and the
// hypervisor's portable core compiled for the host so its logic is unit-tested here.
// The hypervisor image itself (Sources/Hypervisor) and the guest payloads (Sources/Guest)
// are freestanding / cross-target C built by their own Makefiles, driven by `lab build`.
import PackageDescription

let package = Package(
    name: "GuestMemLab",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "lab", targets: ["lab"]),
        .library(name: "LabKit", targets: ["LabKit", "LabModel", "LabVirt"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.6.0"),
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CLibvirt",
            path: "Sources/CLibvirt",
            pkgConfig: "libvirt",
            providers: [.apt(["libvirt-dev"])]
        ),
        // Pure model: lab.json, matrix expansion, case catalog, results, JUnit/JSON, reports.
        .target(name: "LabModel", path: "Sources/LabModel"),
        // Machines: libvirt binding, domain XML, one VM session (streams, deadline, cleanup),
        // host probes (QEMU/libvirt versions, does KVM really boot).
        .target(
            name: "LabVirt",
            dependencies: [
                "CLibvirt",
                .product(name: "Subprocess", package: "swift-subprocess"),
            ],
            path: "Sources/LabVirt"
        ),
        // The lab itself: image builds (content-addressed cache), run pipeline, repro, doctor.
        .target(
            name: "LabKit",
            dependencies: ["LabModel", "LabVirt"],
            path: "Sources/LabKit"
        ),
        .executableTarget(
            name: "lab",
            dependencies: [
                "LabKit",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/lab"
        ),
        // The hypervisor's hardware-free logic (guest page walk, copy engine, service
        // registry, bounds checks). The same files are linked into the freestanding image.
        .target(
            name: "HypervisorCore",
            path: "Sources/Hypervisor/core",
            publicHeadersPath: "include",
            cSettings: [.define("GML_HOSTED")]
        ),
        .testTarget(name: "LabModelTests", dependencies: ["LabModel"], path: "Tests/LabModelTests"),
        .testTarget(name: "LabVirtTests", dependencies: ["LabVirt"], path: "Tests/LabVirtTests"),
        .testTarget(name: "LabKitTests", dependencies: ["LabKit"], path: "Tests/LabKitTests"),
        .testTarget(name: "HypervisorCoreTests", dependencies: ["HypervisorCore"], path: "Tests/HypervisorCoreTests"),
        .testTarget(name: "LabIntegrationTests", dependencies: ["LabKit"], path: "Tests/LabIntegrationTests"),
    ]
)
