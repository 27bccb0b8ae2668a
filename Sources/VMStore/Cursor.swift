/// Opaque page cursors. Clients must not build or interpret them; the
/// encoding may change between releases.
enum Cursor {
    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    /// A key cursor ("k" + hex of the last key's UTF-8).
    static func encodeKey(_ key: String) -> String {
        var out: [UInt8] = [UInt8(ascii: "k")]
        for b in key.utf8 { out.append(hex[Int(b >> 4)]); out.append(hex[Int(b & 0xF)]) }
        return String(decoding: out, as: UTF8.self)
    }

    static func decodeKey(_ cursor: String) throws(StoreError) -> String {
        let bytes = Array(cursor.utf8)
        guard bytes.count >= 3, bytes.count <= 1 + 2 * 256, bytes[0] == UInt8(ascii: "k"), bytes.count % 2 == 1 else {
            throw .invalid(field: "/cursor", message: "not a cursor from this listing")
        }
        var out: [UInt8] = []
        var i = 1
        while i < bytes.count {
            guard let hi = nibble(bytes[i]), let lo = nibble(bytes[i + 1]) else {
                throw .invalid(field: "/cursor", message: "not a cursor from this listing")
            }
            out.append(hi << 4 | lo)
            i += 2
        }
        guard let key = String(validating: out, as: UTF8.self) else {
            throw .invalid(field: "/cursor", message: "not a cursor from this listing")
        }
        return key
    }

    /// A sequence cursor ("s" + hex).
    static func encodeSequence(_ seq: Int64) -> String { "s" + String(seq, radix: 16) }

    static func decodeSequence(_ cursor: String) throws(StoreError) -> Int64 {
        guard cursor.hasPrefix("s"), cursor.utf8.count <= 17, let v = Int64(cursor.dropFirst(), radix: 16), v > 0 else {
            throw .invalid(field: "/cursor", message: "not a cursor from this listing")
        }
        return v
    }

    private static func nibble(_ b: UInt8) -> UInt8? {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): b - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): b - UInt8(ascii: "a") + 10
        default: nil
        }
    }
}

/// Length-prefixed string lists (`3:VGA10:virtio-gpu`), with `-` for nil.
/// Used for the columns that hold lists (display devices, labels, history
/// changes): no escaping, any content, parsed straight from SQLite's bytes.
enum PackedStrings {
    static func encode(_ items: [String?]) -> String {
        var out = ""
        for item in items {
            if let s = item {
                out += String(s.utf8.count)
                out += ":"
                out += s
            } else {
                out += "-"
            }
        }
        return out
    }

    static func encode(_ items: [String]) -> String { encode(items.map(Optional.some)) }

    /// nil when the text is not a well-formed list.
    static func decode(_ bytes: UnsafeBufferPointer<UInt8>) -> [String?]? {
        var out: [String?] = []
        var i = 0
        let n = bytes.count
        while i < n {
            if bytes[i] == UInt8(ascii: "-") { out.append(nil); i += 1; continue }
            var len = 0
            var digits = 0
            while i < n, bytes[i] >= 0x30, bytes[i] <= 0x39 {
                len = len * 10 + Int(bytes[i] - 0x30)
                digits += 1
                i += 1
                if digits > 9 { return nil }
            }
            guard digits > 0, i < n, bytes[i] == UInt8(ascii: ":"), n - (i + 1) >= len else { return nil }
            i += 1
            out.append(String(decoding: UnsafeBufferPointer(rebasing: bytes[i..<(i + len)]), as: UTF8.self))
            i += len
        }
        return out
    }

    static func decode(_ text: String) -> [String?]? {
        var t = text
        return t.withUTF8 { decode($0) }
    }
}
