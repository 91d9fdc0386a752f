import LabModel
import Testing

@testable import LabKit

/// The launcher that runs the cells of `host` (a fresh, unopened one: its choices need no VM).
func launcher(_ host: HostKind) throws -> any Launcher {
    try #require(Launchers.launcher(for: host), "no launcher for host \(host.rawValue)")
}

/// The guest kernel file a cell's launcher boots.
func guestKernel(for cell: MatrixCell, images: ImageSet) throws -> String {
    try launcher(cell.host).guestKernel(for: cell, images: images)
}
