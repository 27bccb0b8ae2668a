import Foundation
import Testing
import MemTypeEngine

/// openapi.yaml states each input bound the engine's constants
/// (`Limits.swift`) state: the integer form's minimum and maximum, and the
/// string form's pattern, which must accept exactly the same values.
///
/// The repository has no YAML library; the spec's layout is regular (two
/// spaces an indentation level), so a block is found by its key and its
/// indentation, which is all these checks need.
@Suite struct LimitsTests {
    static let spec: [Substring] = {
        let url = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("openapi.yaml")
        let text = (try? String(contentsOf: url, encoding: .utf8)) ?? ""
        return text.split(separator: "\n", omittingEmptySubsequences: false)
    }()

    static func indent(_ line: Substring) -> Int { line.prefix(while: { $0 == " " }).count }

    /// The lines of the block under the key `path[0]`, then `path[1]` inside it, ...
    /// (a key line is `key:` at any depth deeper than its parent's).
    static func block(_ path: [String], in lines: ArraySlice<Substring> = spec[...]) -> ArraySlice<Substring> {
        guard let key = path.first else { return lines }
        guard let start = lines.firstIndex(where: { $0.trimmingCharacters(in: .whitespaces) == key + ":" }) else { return [] }
        let depth = indent(lines[start])
        let end = lines[(start + 1)...].firstIndex { !$0.trimmingCharacters(in: .whitespaces).isEmpty && indent($0) <= depth } ?? lines.endIndex
        return block(Array(path.dropFirst()), in: lines[(start + 1)..<end])
    }

    /// The value of the first `name:` in `lines`.
    static func value(_ name: String, in lines: ArraySlice<Substring>) -> String? {
        for line in lines {
            let t = line.trimmingCharacters(in: .whitespaces)
            if t.hasPrefix(name + ": ") {
                return String(t.dropFirst(name.count + 2)).trimmingCharacters(in: CharacterSet(charactersIn: "'"))
            }
        }
        return nil
    }

    /// The block's integer bounds, and its pattern if it has one.
    static func bounds(_ path: [String]) -> (range: ClosedRange<Int>?, pattern: String?) {
        let b = block(path)
        guard let lo = value("minimum", in: b).flatMap(Int.init), let hi = value("maximum", in: b).flatMap(Int.init), lo <= hi else {
            return (nil, value("pattern", in: b))
        }
        return (lo...hi, value("pattern", in: b))
    }

    static let schemas = ["components", "schemas"]

    static let cases: [(path: [String], range: ClosedRange<Int>, hasPattern: Bool)] = [
        (schemas + ["CPUFamily"], CPUModel.familyRange, true),
        (schemas + ["CPUModelNumber"], CPUModel.modelRange, true),
        (schemas + ["CPUStepping"], CPUModel.steppingRange, true),
        (schemas + ["StoredCPU", "family"], CPUModel.familyRange, false),
        (schemas + ["StoredCPU", "model"], CPUModel.modelRange, false),
        (schemas + ["StoredCPU", "stepping"], CPUModel.steppingRange, false),
        (schemas + ["MaxPhysAddr"], MTRRState.maxPhysAddrRange, true),
        (schemas + ["GuestAccess", "pat_index"], PATIndex.range, true),
    ]

    @Test func theSpecIsRead() {
        #expect(Self.spec.count > 1000)
    }

    @Test(arguments: 0..<cases.count)
    func integerBoundsAreTheConstants(_ i: Int) {
        let c = Self.cases[i]
        let found = Self.bounds(c.path)
        #expect(found.range == c.range, "\(c.path.joined(separator: "/"))")
    }

    /// Every value from 0 to just past the bound, in decimal and in hex:
    /// the pattern accepts it exactly when the constant's range contains it.
    @Test(arguments: 0..<cases.count)
    func stringPatternsAcceptExactlyTheRange(_ i: Int) throws {
        let c = Self.cases[i]
        guard c.hasPattern else { return }
        let pattern = try #require(Self.bounds(c.path).pattern, "\(c.path.joined(separator: "/")) has no pattern")
        let regex = try Regex(pattern)
        for n in 0...(c.range.upperBound + 20) {
            for text in ["\(n)", "0x" + String(n, radix: 16), "0X" + String(n, radix: 16, uppercase: true)] {
                let accepted = (try? regex.wholeMatch(in: text)) != nil
                #expect(accepted == c.range.contains(n), "\(c.path.joined(separator: "/")): \(text)")
            }
        }
    }

    @Test func quirkListLengthIsTheConstant() {
        #expect(Self.value("maxItems", in: Self.block(Self.schemas + ["QuirkMaskInput"])).flatMap(Int.init) == QuirkMask.maxNames)
    }

    /// The per-VM decision's query takes `pat_index` within the same range.
    @Test func queryPATIndexBoundsAreTheConstant() {
        let query = Self.spec.firstIndex { $0.trimmingCharacters(in: .whitespaces) == "- name: pat_index" }
        let lines = Self.spec[(query ?? 0)...].prefix(12)
        let lo = Self.value("minimum", in: lines).flatMap(Int.init), hi = Self.value("maximum", in: lines).flatMap(Int.init)
        #expect(query != nil)
        #expect(lo == PATIndex.range.lowerBound && hi == PATIndex.range.upperBound)
    }
}
