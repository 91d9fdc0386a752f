import Foundation
import LabModel
import Testing

@testable import LabKit

/// The host's VM budget shared by concurrent runs: slot files under the cache, held with flock.
@Suite struct VMBudgetTests {
    final class Lines: @unchecked Sendable {
        private let lock = NSLock()
        private var stored: [String] = []
        func append(_ line: String) { lock.withLock { stored.append(line) } }
        var all: [String] { lock.withLock { stored } }
    }

    @Test func slotsFromTheEnvironmentOrTheCores() {
        #expect(VMBudget.host(cache: "/c", environment: [:])?.slots == ProcessInfo.processInfo.activeProcessorCount)
        #expect(VMBudget.host(cache: "/c", environment: ["LAB_VM_SLOTS": "3"])?.slots == 3)
        #expect(VMBudget.host(cache: "/c", environment: ["LAB_VM_SLOTS": "3"])?.directory == "/c/vm-slots")
        #expect(VMBudget.host(cache: "/c", environment: ["LAB_VM_SLOTS": "0"]) == nil)
    }

    /// Two runs (two budgets over one directory, as two processes would have): the second waits,
    /// names the holder, and gets the slot when the first lets it go.
    @Test func secondRunWaitsForTheFirst() async throws {
        let dir = try scratchDirectory("budget")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let first = VMBudget(directory: dir + "/vm-slots", slots: 2)
        let second = VMBudget(directory: dir + "/vm-slots", slots: 2)
        let a = try #require(first.tryAcquire(owner: "pid 1, run A, cell x"))
        let b = try #require(first.tryAcquire(owner: "pid 1, run A, cell y"))
        #expect(a.index != b.index)
        #expect(second.tryAcquire(owner: "run B") == nil)
        #expect(second.holders().sorted() == ["pid 1, run A, cell x", "pid 1, run A, cell y"])

        let lines = Lines()
        let progress = RunProgress(live: false) { lines.append($0) }
        let waiter = Task { await Executor.takeSlot(second, owner: "run B", cell: "none-tcg", progress: progress) }
        try await Task.sleep(for: .milliseconds(600))
        #expect(lines.all.count == 1)
        #expect(lines.all.first?.contains("none-tcg: waiting for a VM slot — all 2 of this host's are held") == true)
        #expect(lines.all.first?.contains("run A, cell x") == true, "\(lines.all)")
        b.release()
        let slot = try #require(await waiter.value)
        #expect(slot.index == b.index)
        #expect(lines.all.last?.hasPrefix("none-tcg: got VM slot \(b.index) after") == true, "\(lines.all)")
        #expect(first.holders().contains("run B"))
        a.release()
        slot.release()
        #expect(first.holders().isEmpty)
    }

    /// Another process holding a slot (util-linux flock(1), the same flock(2) lock) blocks it;
    /// when that process is killed the kernel frees the slot.
    @Test func slotOfAKilledProcessIsFreed() async throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/flock") else {
            Issue.record("/usr/bin/flock (Debian package util-linux) is missing")
            return
        }
        let dir = try scratchDirectory("budget-process")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let budget = VMBudget(directory: dir + "/vm-slots", slots: 1)
        try FileManager.default.createDirectory(atPath: budget.directory, withIntermediateDirectories: true)
        // One process: bash opens the slot file, flock(1) locks that open file, bash becomes sleep.
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/bin/bash")
        holder.arguments = [
            "-c", #"exec 9>"$1" && /usr/bin/flock -x 9 && exec sleep 60"#, "holder", budget.directory + "/slot-0",
        ]
        try holder.run()
        defer { if holder.isRunning { kill(holder.processIdentifier, SIGKILL) } }
        // Wait until it holds the lock.
        var held = false
        for _ in 0..<50 where !held {
            held = !budget.holders().isEmpty
            if !held { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(held, "flock(1) did not take the slot")
        #expect(budget.holders() == ["slot 0: held"])
        #expect(budget.tryAcquire(owner: "me") == nil)
        kill(holder.processIdentifier, SIGKILL)
        holder.waitUntilExit()
        let slot = try #require(budget.tryAcquire(owner: "me"))
        #expect(slot.index == 0)
        slot.release()
    }
}
