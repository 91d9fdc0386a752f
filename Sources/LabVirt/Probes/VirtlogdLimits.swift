import Foundation

/// When virtlogd rolls a log file over: at `maxSize` bytes the file is renamed `FILE.0` (older
/// backups shift to `.1`, `.2`, …; the one past `maxBackups - 1` is overwritten) and a new
/// `FILE` starts. libvirt passes the lab's serial files (`<serial type='file'>`) through
/// virtlogd, so a stream longer than `maxSize` is split, and its beginning is lost after
/// `maxBackups` rollovers.
public struct VirtlogdLimits: Sendable, Equatable {
    public var maxSize: Int
    public var maxBackups: Int
    /// The configuration file the values came from (nil: virtlogd's built-in defaults).
    public var source: String?

    /// virtlogd's built-in defaults (virtlogd.conf: max_size = 2097152, max_backups = 3).
    public static let defaults = VirtlogdLimits(maxSize: 2 * 1024 * 1024, maxBackups: 3, source: nil)

    public init(maxSize: Int, maxBackups: Int, source: String?) {
        self.maxSize = maxSize
        self.maxBackups = maxBackups
        self.source = source
    }

    /// The values `text` (virtlogd.conf syntax: `max_size = N`, `#` comments) sets over the defaults.
    public static func parse(_ text: String, source: String?) -> VirtlogdLimits {
        var limits = defaults
        limits.source = source
        for raw in text.split(separator: "\n") {
            let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let parts = line.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, let value = Int(parts[1]) else { continue }
            switch parts[0] {
            case "max_size": limits.maxSize = value
            case "max_backups": limits.maxBackups = value
            default: break
            }
        }
        return limits
    }

    /// The limits of the system virtlogd running now: the file its command line names with
    /// `-f`/`--config`, else /etc/libvirt/virtlogd.conf, else the defaults.
    public static func current(proc: String = "/proc") -> VirtlogdLimits {
        var file = "/etc/libvirt/virtlogd.conf"
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: proc)) ?? []
        for pid in entries where pid.allSatisfy(\.isNumber) {
            guard let data = FileManager.default.contents(atPath: "\(proc)/\(pid)/cmdline"), !data.isEmpty else {
                continue
            }
            let arguments = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            guard let command = arguments.first, command.hasSuffix("virtlogd") else { continue }
            // A user's session virtlogd does not serve qemu:///system.
            guard let status = try? String(contentsOfFile: "\(proc)/\(pid)/status", encoding: .utf8),
                status.split(separator: "\n").contains(where: {
                    $0.hasPrefix("Uid:") && $0.split(separator: "\t").dropFirst().first == "0"
                })
            else { continue }
            for (index, argument) in arguments.enumerated() {
                if argument == "-f" || argument == "--config", index + 1 < arguments.count {
                    file = arguments[index + 1]
                } else if argument.hasPrefix("--config=") {
                    file = String(argument.dropFirst("--config=".count))
                }
            }
            break
        }
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { return defaults }
        return parse(text, source: file)
    }

    /// `64 MiB`, `2 MiB`, `1500 bytes`.
    public var sizeText: String {
        maxSize % (1024 * 1024) == 0 ? "\(maxSize / (1024 * 1024)) MiB" : "\(maxSize) bytes"
    }
}
