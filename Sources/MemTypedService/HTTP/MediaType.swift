import ASCII
import MemTypeEngine

/// Media-type checks over the bytes of a Content-Type value.
///
/// Every JSON route checks its Content-Type, so this runs on most requests:
/// it reads the header's bytes in place (no string, no trimmed or lowercased
/// copies), which is what keeps it to a few hundred instructions.
enum MediaType {
    /// True for `application/json` or `application/<anything>+json`, ASCII
    /// case-insensitive, with any parameters after `;` and spaces or tabs
    /// around the type ignored: `Application/JSON ; charset=utf-8` and
    /// `application/merge-patch+json` are JSON, `application/jsonx` is not.
    static func isJSON(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        var end = 0
        while end < bytes.count && bytes[end] != UInt8(ascii: ";") { end += 1 }
        var start = 0
        while start < end && isSpace(bytes[start]) { start += 1 }
        while end > start && isSpace(bytes[end - 1]) { end -= 1 }
        let essence = UnsafeBufferPointer(rebasing: bytes[start..<end])
        if essence.count == 16 { return matches(essence, at: 0, "application/json") }
        // The prefix ends in "/" and the suffix starts with "+": they cannot overlap.
        return essence.count >= 17 && matches(essence, at: 0, "application/")
            && matches(essence, at: essence.count - 5, "+json")
    }

    @inline(__always)
    private static func isSpace(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t")
    }

    /// Whether `bytes[offset...]` starts with `literal`, ignoring ASCII case.
    @inline(__always)
    private static func matches(_ bytes: UnsafeBufferPointer<UInt8>, at offset: Int, _ literal: StaticString) -> Bool {
        let n = literal.utf8CodeUnitCount
        guard bytes.count - offset >= n else { return false }
        return asciiCaseInsensitiveEqual(UnsafeBufferPointer(rebasing: bytes[offset..<offset + n]),
                                         UnsafeBufferPointer(start: literal.utf8Start, count: n))
    }
}
