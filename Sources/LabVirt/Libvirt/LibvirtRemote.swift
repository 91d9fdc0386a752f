import CLibvirt
import Foundation

/// `virNodeGetInfo`, as libvirt reports it.
public struct LibvirtNodeInfo: Sendable, Hashable {
    public var model: String
    public var memoryKiB: UInt64
    public var cpus: Int
}

/// What `uploadVolume` did.
public struct UploadedVolume: Sendable, Hashable {
    /// The volume's path on the machine (what a domain's `<kernel>`/`<initrd>` names).
    public var path: String
    public var name: String
    /// False when a volume of that name and size was already there (content-named: reused).
    public var uploaded: Bool
    public var bytes: Int64
    public var seconds: Double
}

/// Everything the lab needs of a libvirt daemon it shares no filesystem with: what the machine
/// can run, storage pools and volumes (images go up by `virStorageVolUpload`, files come back by
/// `virStorageVolDownload`), and console streams (`virDomainOpenConsole`) for pty serials.
extension LibvirtConnection {
    /// False once the connection is broken (the daemon died, the network went away) or closed.
    public var isAlive: Bool {
        if loss.reason != nil { return false }
        return
            (try? withConnection("check connection") { (connection) throws(LibvirtError) -> Bool in
                virConnectIsAlive(connection) == 1
            }) ?? false
    }

    // MARK: What the machine can run

    /// `virConnectGetDomainCapabilities` for `virtType` (`kvm`, `qemu`) on x86_64; nil when the
    /// daemon has no such virt type (e.g. no /dev/kvm there).
    public func domainCapabilities(virtType: String) throws(LibvirtError) -> String? {
        try withConnection("get domain capabilities") { (connection) throws(LibvirtError) -> String? in
            guard let text = virConnectGetDomainCapabilities(connection, nil, "x86_64", nil, virtType, 0) else {
                let error = LibvirtError.lastError(operation: "virConnectGetDomainCapabilities \(virtType)")
                if case .callFailed(_, let code, _) = error,
                    code == Int32(VIR_ERR_INVALID_ARG.rawValue) || code == Int32(VIR_ERR_NO_SUPPORT.rawValue)
                        || code == Int32(VIR_ERR_CONFIG_UNSUPPORTED.rawValue)
                        || code == Int32(VIR_ERR_OPERATION_UNSUPPORTED.rawValue)
                {
                    return nil
                }
                throw error
            }
            defer { free(text) }
            return String(cString: text)
        }
    }

    public func nodeInfo() throws(LibvirtError) -> LibvirtNodeInfo {
        try withConnection("get node info") { (connection) throws(LibvirtError) in
            var info = virNodeInfo()
            guard virNodeGetInfo(connection, &info) == 0 else {
                throw LibvirtError.lastError(operation: "virNodeGetInfo")
            }
            let model = withUnsafeBytes(of: info.model) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            return LibvirtNodeInfo(model: model, memoryKiB: UInt64(info.memory), cpus: Int(info.cpus))
        }
    }

    /// The machine's host name (`virConnectGetHostname`).
    public func hostname() throws(LibvirtError) -> String {
        try withConnection("get host name") { (connection) throws(LibvirtError) in
            guard let text = virConnectGetHostname(connection) else {
                throw LibvirtError.lastError(operation: "virConnectGetHostname")
            }
            defer { free(text) }
            return String(cString: text)
        }
    }

    // MARK: Storage

    /// The pool `name`, started if inactive; created as a transient directory pool at
    /// `createAt` (a path on the machine, created there by libvirt) when there is no such pool.
    /// Returns the pool's target path.
    @discardableResult
    public func ensureDirectoryPool(name: String, createAt path: String?) throws(LibvirtError) -> String {
        try withConnection("prepare storage pool") { (connection) throws(LibvirtError) -> String in
            var pool = virStoragePoolLookupByName(connection, name)
            if pool == nil {
                _ = LibvirtError.takeLastError()
                guard let path else {
                    throw .callFailed(
                        operation: "virStoragePoolLookupByName \(name)", code: Int32(VIR_ERR_NO_STORAGE_POOL.rawValue),
                        libvirtMessage: "no storage pool \(name) on \(uri), and no directory given to create one")
                }
                let xml = """
                    <pool type='dir'><name>\(Self.xmlEscaped(name))</name>\
                    <target><path>\(Self.xmlEscaped(path))</path></target></pool>
                    """
                pool = virStoragePoolCreateXML(connection, xml, UInt32(VIR_STORAGE_POOL_CREATE_WITH_BUILD.rawValue))
                guard pool != nil else { throw LibvirtError.lastError(operation: "virStoragePoolCreateXML \(name)") }
            }
            guard let pool else { throw .connectionClosed(operation: "storage pool") }
            defer { virStoragePoolFree(pool) }
            if virStoragePoolIsActive(pool) != 1 {
                guard virStoragePoolCreate(pool, 0) == 0 else {
                    throw LibvirtError.lastError(operation: "virStoragePoolCreate \(name)")
                }
            }
            _ = virStoragePoolRefresh(pool, 0)
            _ = LibvirtError.takeLastError()
            guard let xml = virStoragePoolGetXMLDesc(pool, 0) else {
                throw LibvirtError.lastError(operation: "virStoragePoolGetXMLDesc \(name)")
            }
            defer { free(xml) }
            let text = String(cString: xml)
            guard let start = text.range(of: "<path>"),
                let end = text.range(of: "</path>", range: start.upperBound..<text.endIndex)
            else { return path ?? "" }
            return String(text[start.upperBound..<end.lowerBound])
        }
    }

    /// Uploads `file` as volume `name` of `pool` unless a volume of that name and size is there
    /// already (names carry the content digest, so an equal name means equal content).
    public func uploadVolume(
        pool poolName: String, name: String, from file: URL
    ) throws(LibvirtError)
        -> UploadedVolume
    {
        let data: Data
        do {
            data = try Data(contentsOf: file, options: .alwaysMapped)
        } catch {
            throw .callFailed(operation: "read \(file.path)", code: -1, libvirtMessage: "\(error)")
        }
        return try withConnection("upload volume") { (connection) throws(LibvirtError) -> UploadedVolume in
            guard let pool = virStoragePoolLookupByName(connection, poolName) else {
                throw LibvirtError.lastError(operation: "virStoragePoolLookupByName \(poolName)")
            }
            defer { virStoragePoolFree(pool) }
            let started = Date()
            if let existing = virStorageVolLookupByName(pool, name) {
                defer { virStorageVolFree(existing) }
                var info = virStorageVolInfo()
                if virStorageVolGetInfo(existing, &info) == 0, info.capacity == UInt64(data.count),
                    let path = virStorageVolGetPath(existing)
                {
                    defer { free(path) }
                    return UploadedVolume(
                        path: String(cString: path), name: name, uploaded: false, bytes: Int64(data.count),
                        seconds: Date().timeIntervalSince(started))
                }
                // A partial upload (or another size): start again.
                _ = virStorageVolDelete(existing, 0)
            }
            _ = LibvirtError.takeLastError()
            let xml = """
                <volume><name>\(Self.xmlEscaped(name))</name><capacity unit='bytes'>\(data.count)</capacity>\
                <target><format type='raw'/></target></volume>
                """
            guard let volume = virStorageVolCreateXML(pool, xml, 0) else {
                throw LibvirtError.lastError(operation: "virStorageVolCreateXML \(name)")
            }
            defer { virStorageVolFree(volume) }
            guard let stream = virStreamNew(connection, 0) else {
                throw LibvirtError.lastError(operation: "virStreamNew")
            }
            defer { virStreamFree(stream) }
            guard virStorageVolUpload(volume, stream, 0, UInt64(data.count), 0) == 0 else {
                let error = LibvirtError.lastError(operation: "virStorageVolUpload \(name)")
                _ = virStorageVolDelete(volume, 0)
                throw error
            }
            var offset = 0
            let failure: LibvirtError? = data.withUnsafeBytes { raw -> LibvirtError? in
                guard let base = raw.baseAddress?.assumingMemoryBound(to: CChar.self) else { return nil }
                while offset < raw.count {
                    let chunk = min(1 << 20, raw.count - offset)
                    let sent = virStreamSend(stream, base + offset, chunk)
                    if sent < 0 { return LibvirtError.lastError(operation: "virStreamSend \(name)") }
                    offset += Int(sent)
                }
                return nil
            }
            if let failure {
                _ = virStreamAbort(stream)
                _ = virStorageVolDelete(volume, 0)
                throw failure
            }
            guard virStreamFinish(stream) == 0 else {
                let error = LibvirtError.lastError(operation: "virStreamFinish \(name)")
                _ = virStorageVolDelete(volume, 0)
                throw error
            }
            guard let path = virStorageVolGetPath(volume) else {
                throw LibvirtError.lastError(operation: "virStorageVolGetPath \(name)")
            }
            defer { free(path) }
            return UploadedVolume(
                path: String(cString: path), name: name, uploaded: true, bytes: Int64(data.count),
                seconds: Date().timeIntervalSince(started))
        }
    }

    /// Names of the volumes in `pool`, sorted.
    public func volumeNames(pool poolName: String) throws(LibvirtError) -> [String] {
        try withConnection("list volumes") { (connection) throws(LibvirtError) -> [String] in
            guard let pool = virStoragePoolLookupByName(connection, poolName) else {
                throw LibvirtError.lastError(operation: "virStoragePoolLookupByName \(poolName)")
            }
            defer { virStoragePoolFree(pool) }
            _ = virStoragePoolRefresh(pool, 0)
            var list: UnsafeMutablePointer<virStorageVolPtr?>?
            let count = virStoragePoolListAllVolumes(pool, &list, 0)
            guard count >= 0, let list else { throw LibvirtError.lastError(operation: "virStoragePoolListAllVolumes") }
            defer { free(list) }
            var names: [String] = []
            for index in 0..<Int(count) {
                guard let volume = list[index] else { continue }
                if let name = virStorageVolGetName(volume) { names.append(String(cString: name)) }
                virStorageVolFree(volume)
            }
            return names.sorted()
        }
    }

    /// Downloads volume `name` of `pool` whole (`virStorageVolDownload`).
    public func downloadVolume(pool poolName: String, name: String) throws(LibvirtError) -> Data {
        try withConnection("download volume") { (connection) throws(LibvirtError) -> Data in
            guard let pool = virStoragePoolLookupByName(connection, poolName) else {
                throw LibvirtError.lastError(operation: "virStoragePoolLookupByName \(poolName)")
            }
            defer { virStoragePoolFree(pool) }
            guard let volume = virStorageVolLookupByName(pool, name) else {
                throw LibvirtError.lastError(operation: "virStorageVolLookupByName \(name)")
            }
            defer { virStorageVolFree(volume) }
            guard let stream = virStreamNew(connection, 0) else {
                throw LibvirtError.lastError(operation: "virStreamNew")
            }
            defer { virStreamFree(stream) }
            guard virStorageVolDownload(volume, stream, 0, 0, 0) == 0 else {
                throw LibvirtError.lastError(operation: "virStorageVolDownload \(name)")
            }
            var out = Data()
            var buffer = [CChar](repeating: 0, count: 1 << 16)
            while true {
                let got = buffer.withUnsafeMutableBufferPointer { virStreamRecv(stream, $0.baseAddress, $0.count) }
                if got < 0 {
                    _ = virStreamAbort(stream)
                    throw LibvirtError.lastError(operation: "virStreamRecv \(name)")
                }
                if got == 0 { break }
                buffer.withUnsafeBufferPointer { out.append(UnsafeBufferPointer(rebasing: $0[0..<Int(got)])) }
            }
            _ = virStreamFinish(stream)
            return out
        }
    }

    /// Deletes volume `name` of `pool`; false when there was none.
    @discardableResult
    public func deleteVolume(pool poolName: String, name: String) throws(LibvirtError) -> Bool {
        try withConnection("delete volume") { (connection) throws(LibvirtError) -> Bool in
            guard let pool = virStoragePoolLookupByName(connection, poolName) else {
                throw LibvirtError.lastError(operation: "virStoragePoolLookupByName \(poolName)")
            }
            defer { virStoragePoolFree(pool) }
            guard let volume = virStorageVolLookupByName(pool, name) else {
                _ = LibvirtError.takeLastError()
                return false
            }
            defer { virStorageVolFree(volume) }
            guard virStorageVolDelete(volume, 0) == 0 else {
                throw LibvirtError.lastError(operation: "virStorageVolDelete \(name)")
            }
            return true
        }
    }

    /// Stops and forgets a transient pool (its files stay on the machine).
    public func destroyPool(name: String) throws(LibvirtError) {
        try withConnection("destroy pool") { (connection) throws(LibvirtError) in
            guard let pool = virStoragePoolLookupByName(connection, name) else {
                _ = LibvirtError.takeLastError()
                return
            }
            defer { virStoragePoolFree(pool) }
            if virStoragePoolDestroy(pool) != 0 {
                throw LibvirtError.lastError(operation: "virStoragePoolDestroy \(name)")
            }
        }
    }

    // MARK: Consoles

    /// Opens the console stream of a domain's character device `device` (`serial0`…): a pty
    /// serial's bytes, over any connection. Open it while the domain is paused to miss nothing.
    public func openConsole(domain name: String, device: String) throws(LibvirtError) -> LibvirtStream {
        try withConnection("open console") { (connection) throws(LibvirtError) -> LibvirtStream in
            guard let domain = virDomainLookupByName(connection, name) else {
                throw LibvirtError.lastError(operation: "virDomainLookupByName \(name)")
            }
            defer { virDomainFree(domain) }
            guard let stream = virStreamNew(connection, 0) else {
                throw LibvirtError.lastError(operation: "virStreamNew")
            }
            guard virDomainOpenConsole(domain, device, stream, UInt32(VIR_DOMAIN_CONSOLE_FORCE.rawValue)) == 0 else {
                let error = LibvirtError.lastError(operation: "virDomainOpenConsole \(name) \(device)")
                virStreamFree(stream)
                throw error
            }
            return LibvirtStream(stream: stream, connection: self)
        }
    }

    static func xmlEscaped(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "'", with: "&apos;")
            .replacingOccurrences(of: "\"", with: "&quot;")
    }
}

/// A blocking libvirt stream (a console). `pump(to:)` copies it to a file until the far end
/// closes (the domain ended) or `abort()`.
public final class LibvirtStream: @unchecked Sendable {
    private let lock = NSLock()
    private var stream: virStreamPtr?
    // Keeps the connection open while the stream lives.
    private let connection: LibvirtConnection

    init(stream: virStreamPtr, connection: LibvirtConnection) {
        self.stream = stream
        self.connection = connection
    }

    deinit {
        if let stream {
            _ = virStreamAbort(stream)
            virStreamFree(stream)
        }
    }

    /// Copies everything the stream delivers to `file` (created or truncated), appending as it
    /// arrives, until end of stream or an error; returns the bytes copied. Blocks: run it on a
    /// thread of its own.
    @discardableResult
    public func pump(to file: String) -> Int {
        _ = FileManager.default.createFile(atPath: file, contents: nil)
        guard let handle = FileHandle(forWritingAtPath: file), let stream = lock.withLock({ self.stream }) else {
            return 0
        }
        defer { try? handle.close() }
        var total = 0
        var buffer = [CChar](repeating: 0, count: 1 << 14)
        while true {
            let got = buffer.withUnsafeMutableBufferPointer { virStreamRecv(stream, $0.baseAddress, $0.count) }
            if got <= 0 {
                _ = LibvirtError.takeLastError()
                break
            }
            buffer.withUnsafeBufferPointer { pointer in
                handle.write(Data(buffer: UnsafeBufferPointer(rebasing: pointer[0..<Int(got)])))
            }
            total += Int(got)
        }
        return total
    }

    /// Ends the stream (a pump returns).
    public func abort() {
        lock.withLock {
            if let stream { _ = virStreamAbort(stream) }
        }
    }
}
