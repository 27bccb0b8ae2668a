/// Columns padded to their widest cell, two spaces apart: the listings'
/// text form.
struct TextTable {
    var header: [String]
    var rows: [[String]] = []

    init(_ header: String...) { self.header = header }
    init(_ header: [String]) { self.header = header }

    mutating func add(_ cells: String...) { rows.append(cells) }

    var rendered: String {
        let all = [header] + rows
        var widths = [Int](repeating: 0, count: header.count)
        for row in all {
            for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.count) }
        }
        return all.map { row in
            var line = ""
            for (i, cell) in row.enumerated() {
                line += i == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[i] - cell.count + 2)
            }
            return line
        }.joined(separator: "\n")
    }
}

/// `label  value` lines with the labels aligned: the one-record summaries.
struct Summary {
    private var lines: [(String, String)] = []

    mutating func add(_ label: String, _ value: String) { lines.append((label, value)) }

    var rendered: String {
        let width = lines.map(\.0.count).max() ?? 0
        return lines.map { label, value in
            let indent = String(repeating: " ", count: width + 2)
            let pad = String(repeating: " ", count: width - label.count + 2)
            return label + pad + value.split(separator: "\n", omittingEmptySubsequences: false).joined(separator: "\n" + indent)
        }.joined(separator: "\n")
    }
}
