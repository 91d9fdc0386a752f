import Foundation

/// Reads a file that another process (QEMU) is appending to, returning complete lines as they
/// appear. The file may not exist yet (returns nothing) and may be truncated and rewritten
/// (QEMU opens serial files with append='off'): then reading restarts from the beginning.
/// Bytes that are not UTF-8 are replaced (U+FFFD), trailing "\r"s are dropped.
public struct LineTailer: Sendable {
    public let path: String
    /// Bytes of the file consumed so far (complete lines plus the pending partial line).
    public private(set) var offset: UInt64 = 0
    private var partial: [UInt8] = []

    public init(path: String) { self.path = path }

    /// Complete lines written since the last call.
    public mutating func readNewLines() -> [String] {
        guard let handle = FileHandle(forReadingAtPath: path) else { return [] }
        defer { try? handle.close() }
        guard let size = try? handle.seekToEnd() else { return [] }
        if size < offset {  // truncated: a new writer started over
            offset = 0
            partial.removeAll()
        }
        guard size > offset else { return [] }
        do {
            try handle.seek(toOffset: offset)
            guard let data = try handle.read(upToCount: Int(size - offset)) else { return [] }
            offset += UInt64(data.count)
            partial.append(contentsOf: data)
        } catch {
            return []
        }
        var lines: [String] = []
        var start = 0
        while let newline = partial[start...].firstIndex(of: UInt8(ascii: "\n")) {
            lines.append(Self.decode(partial[start..<newline]))
            start = newline + 1
        }
        partial.removeFirst(start)
        return lines
    }

    /// New complete lines plus the unterminated last line, if any: call when the writer is
    /// gone and nothing more will come.
    public mutating func readRemainingLines() -> [String] {
        var lines = readNewLines()
        if !partial.isEmpty {
            lines.append(Self.decode(partial[...]))
            partial.removeAll()
        }
        return lines
    }

    private static func decode(_ bytes: ArraySlice<UInt8>) -> String {
        var slice = bytes
        // Bochs' terminal ports add a "\r" before the guest's own "\r\n" (SerialPump).
        while slice.last == UInt8(ascii: "\r") { slice = slice.dropLast() }
        return String(decoding: slice, as: UTF8.self)
    }
}

/// The three streams of one VM, each followed by its own `LineTailer`: what every kind of VM
/// (libvirt domain, Bochs process) hands to the run pipeline.
public struct StreamTailers: Sendable {
    /// In `SerialStream.allCases` order.
    private var tailers: [(stream: SerialStream, tailer: LineTailer)]

    public init(_ files: SerialFiles) {
        tailers = [
            (.console, LineTailer(path: files.console)),
            (.results, LineTailer(path: files.results)),
            (.hypervisorLog, LineTailer(path: files.hypervisorLog)),
        ]
    }

    /// Complete lines written since the last call, stream by stream; with `final`, also a last
    /// line without its newline (the VM has ended, nothing more will come).
    public mutating func readNewLines(final: Bool) -> [StreamLine] {
        var lines: [StreamLine] = []
        for index in tailers.indices {
            let texts = final ? tailers[index].tailer.readRemainingLines() : tailers[index].tailer.readNewLines()
            lines += texts.map { StreamLine(stream: tailers[index].stream, text: $0) }
        }
        return lines
    }
}
