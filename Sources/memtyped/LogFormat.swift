import JSON
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// How memtyped writes its log lines to stderr (`--log-format`).
enum LogFormat: String, CaseIterable {
    /// swift-log's `StreamLogHandler`: `TIME LEVEL LABEL: [SOURCE] MESSAGE`.
    case text
    /// One JSON object per line (`time`, `level`, `logger`, `message`, and
    /// each metadata key), for journald's or a collector's JSON parsers.
    case json

    func handler(label: String, level: Logger.Level) -> any LogHandler {
        var handler: any LogHandler
        switch self {
        case .text: handler = StreamLogHandler.standardError(label: label)
        case .json: handler = JSONLogHandler(label: label)
        }
        handler.logLevel = level
        return handler
    }
}

/// A `LogHandler` writing one JSON object per line to stderr, in one
/// write(2) per line so lines from several threads never interleave.
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var w = JSONWriter(capacity: 256)
        w.beginObject()
        w.member("time", Self.timestamp())
        w.member("level", event.level.rawValue)
        w.member("logger", label)
        w.member("message", event.message.description)
        let merged = event.metadata.map { metadata.merging($0) { $1 } } ?? metadata
        for (key, value) in merged.sorted(by: { $0.key < $1.key }) {
            w.key(key)
            w.string(value.description)
        }
        w.endObject()
        var line = w.bytes
        line.append(0x0A)
        _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    }

    /// RFC 3339 UTC with milliseconds.
    static func timestamp() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        var t = tm()
        var seconds = ts.tv_sec
        gmtime_r(&seconds, &t)
        var buffer = [CChar](repeating: 0, count: 32)
        let n = strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%S", &t)
        let base = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let millis = ts.tv_nsec / 1_000_000
        return base + "." + (millis < 10 ? "00" : millis < 100 ? "0" : "") + String(millis) + "Z"
    }
}
