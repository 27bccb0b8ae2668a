import JSON
import MemTypeEngine

/// The reference answers (schemas `EffectiveTypeTable` and `ModelList`):
/// written here once for `GET /v1/effective-types` and `GET /v1/models` and
/// for `memtype table` and `memtype models` offline, so the CLI's JSON is
/// the server's byte for byte.
public enum ReferenceWire {
    public static func writeEffectiveTypeTable(to w: inout JSONWriter) {
        w.beginObject()
        w.member("source", "SDM Vol. 3A Table 11-7")
        w.key("rows")
        w.beginArray()
        for r in EffectiveTypeTable.rows { w.string(r.name) }
        w.endArray()
        w.key("columns")
        w.beginArray()
        for col in EffectiveTypeTable.columns { w.string(col.name) }
        w.endArray()
        w.key("cells")
        w.beginArray()
        for r in EffectiveTypeTable.rows {
            for col in EffectiveTypeTable.columns { EffectiveTypeTable.cell(row: r, pat: col)!.write(to: &w) }
        }
        w.endArray()
        w.key("footnotes")
        w.beginArray()
        for note in TableFootnote.allCases { note.write(to: &w) }
        w.endArray()
        w.endObject()
    }

    public static func writeModels(to w: inout JSONWriter) {
        w.beginObject()
        w.member("newest", KVMModel.newest.rawValue)
        w.key("models")
        w.beginArray()
        for m in KVMModel.allCases { m.write(to: &w, withCommits: true) }
        w.endArray()
        w.endObject()
    }

    /// Either answer as the bytes the server sends.
    public static func json(_ write: (inout JSONWriter) -> Void) -> [UInt8] {
        var w = JSONWriter(capacity: 8192)
        write(&w)
        return w.bytes
    }
}
