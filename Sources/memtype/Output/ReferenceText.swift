import JSON

/// SDM Table 11-7 (schema `EffectiveTypeTable`) and the KVM models
/// (schema `ModelList`) as text, from the same JSON the server answers.
enum ReferenceText {
    static func table(_ t: JSONValue) -> String {
        let rows = t["rows"].items.map(\.text), columns = t["columns"].items.map(\.text)
        let cells = t["cells"].items
        var table = TextTable(["row \\ PAT"] + columns)
        for (r, row) in rows.enumerated() {
            var line = [row]
            for c in columns.indices {
                let cell = r * columns.count + c < cells.count ? cells[r * columns.count + c] : .null
                let notes = cell["footnotes"].items.map { $0["number"].text }.joined(separator: ",")
                line.append(cell["type"].text + (notes.isEmpty ? "" : " (\(notes))"))
            }
            table.rows.append(line)
        }
        var out = "\(t["source"].text): effective page-level memory types\n"
        out += "rows: MTRR type (under EPT with IPAT=0, the EPT type); columns: PAT type\n\n"
        out += table.rendered + "\n\n"
        for note in t["footnotes"].items { out += "(\(note["number"].text)) \(note["text"].text)\n" }
        return out + "With IPAT=1 the EPT type is the effective type."
    }

    static func models(_ m: JSONValue) -> String {
        var out = ""
        for model in m["models"].items {
            out += "\(model["id"].text)  \(model["kernels"].text): \(model["title"].text)\n"
            for commit in model["commits"].items {
                out += "     " + (commit.objectValue == nil ? commit.text : commit.members.map { $0.value.text }.joined(separator: " ")) + "\n"
            }
        }
        return out + "newest: \(m["newest"].text)"
    }
}
