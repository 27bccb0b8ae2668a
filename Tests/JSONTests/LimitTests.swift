import JSON
import Testing

private func nested(_ depth: Int, open: String = "[", close: String = "]") -> String {
    String(repeating: open, count: depth) + String(repeating: close, count: depth)
}

@Suite struct DepthLimitTests {
    @Test func defaultLimitAllows64LevelsAndRejects65() throws {
        _ = try JSONParser.parse(nested(64))
        let error = #expect(throws: JSONParseError.self) { try JSONParser.parse(nested(65)) }
        #expect(error?.offset == 64)
        #expect(error?.message.contains("maximum depth of 64") == true)
    }

    @Test func emptyContainersCountTowardsDepth() {
        #expect(throws: JSONParseError.self) { try JSONParser.parse("[[]]", maxDepth: 1) }
        #expect(throws: JSONParseError.self) { try JSONParser.parse("{}", maxDepth: 0) }
    }

    @Test func objectsCountLikeArrays() throws {
        let json = String(repeating: #"{"a":"#, count: 3) + "1" + String(repeating: "}", count: 3)
        _ = try JSONParser.parse(json, maxDepth: 3)
        let error = #expect(throws: JSONParseError.self) { try JSONParser.parse(json, maxDepth: 2) }
        #expect(error?.column == 11)
    }

    @Test func maxDepthZeroAllowsOnlyScalars() throws {
        #expect(try JSONParser.parse("\"s\"", maxDepth: 0) == "s")
    }

    @Test func hostileNestingIsRejectedWithoutRecursion() {
        let hostile = String(repeating: "[", count: 100_000)
        let error = #expect(throws: JSONParseError.self) { try JSONParser.parse(hostile) }
        #expect(error?.column == 65)
        // Even with no practical limit the parser itself does not recurse:
        // it runs out of input, not out of stack.
        let unlimited = #expect(throws: JSONParseError.self) { try JSONParser.parse(hostile, maxDepth: .max) }
        #expect(unlimited?.offset == 100_000)
        #expect(unlimited?.message.contains("end of input") == true)
    }

    @Test func deepButAllowedNestingParses() throws {
        var value = try JSONParser.parse(nested(2_000, open: "[", close: "]"), maxDepth: 2_000)
        var depth = 0
        while case .array(let elements) = value, let first = elements.first {
            value = first
            depth += 1
        }
        #expect(depth == 1_999)  // the innermost array is empty
    }
}

@Suite struct DuplicateKeyTests {
    @Test func sameKeyInDifferentObjectsIsFine() throws {
        _ = try JSONParser.parse(#"[{"a":1},{"a":2},{"a":{"a":{"a":3}}}]"#)
    }

    @Test func duplicateInLargeObjectIsFound() throws {
        // Beyond the linear-scan size the parser switches to a hash set;
        // check both an early and the latest key are still caught, and
        // that a large object without duplicates is accepted.
        let members = (0..<40).map { "\"k\($0)\":\($0)" }
        let unique = "{" + members.joined(separator: ",") + "}"
        let parsed = try JSONParser.parse(unique)
        #expect(parsed.objectValue?.count == 40)
        #expect(parsed["k39"] == 39)

        for duplicate in ["k0", "k16", "k17", "k39"] {
            let json = "{" + members.joined(separator: ",") + ",\"\(duplicate)\":0}"
            let error = #expect(throws: JSONParseError.self) { try JSONParser.parse(json) }
            #expect(error?.message == "duplicate key \"\(duplicate)\"")
            #expect(error?.offset == json.utf8.count - duplicate.utf8.count - 5)
        }
    }

    @Test func duplicateDetectionComparesDecodedKeys() {
        // "\u0061" is "a": the same key spelled differently.
        let error = #expect(throws: JSONParseError.self) { try JSONParser.parse(#"{"a":1,"\u0061":2}"#) }
        #expect(error?.message == #"duplicate key "a""#)
    }

    @Test func nestedLargeObjectsKeepTheirOwnKeySets() throws {
        let inner = "{" + (0..<20).map { "\"k\($0)\":\($0)" }.joined(separator: ",") + "}"
        let outer = "{" + (0..<20).map { "\"k\($0)\":\(inner)" }.joined(separator: ",") + "}"
        let parsed = try JSONParser.parse(outer)
        #expect(parsed["k19"]?["k19"] == 19)
    }
}
