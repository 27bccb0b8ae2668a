import JSON
import EngineTestSupport
import Testing
@testable import MemTypeEngine
@testable import MemTypeWire

/// `DecisionBatch.decode` reads a batch of fast-path items from the bytes;
/// it must answer exactly as the full path (`decodeFull`) in every case,
/// errors included, and leave every batch with an item the fast path
/// declines to the full path.
@Suite struct BatchFastPathTests {
    typealias Items = [Result<DecisionRequest, InvalidField>]

    static func decoded(_ body: [UInt8], maxCount: Int = 1000) -> Result<Items, RequestError> {
        Result { () throws(RequestError) in try DecisionBatch.decode(json: body, maxCount: maxCount) }
    }

    static func full(_ body: [UInt8], maxCount: Int = 1000) -> Result<Items, RequestError> {
        Result { () throws(RequestError) in try DecisionBatch.decodeFull(body, maxCount: maxCount) }
    }

    static func batch(_ items: [String], space: String = "") -> [UInt8] {
        Array(#"{\#(space)"requests"\#(space):\#(space)[\#(items.joined(separator: "," + space))]\#(space)}"#.utf8)
    }

    @Test func aBatchOfTheREADMEBodyTakesTheFastPathAndAgrees() throws {
        for space in ["", " ", "\n  "] {
            let body = Self.batch(Array(repeating: FastPathTests.readmeBody, count: 100), space: space)
            let fast = try #require(DecisionFastPath.decodeBatch(body, maxCount: 1000))
            #expect(fast.count == 100)
            #expect(Self.decoded(body) == Self.full(body))
            #expect(try Self.full(body).get().map { try $0.get() } == fast)
        }
    }

    @Test(arguments: [
        #"{}"#,                                              // requests is required
        #"{"requests": {}}"#,                                // not an array
        #"{"requests": [1]}"#,                               // an item that is not an object
        #"{"requests": [{"colour": 1}]}"#,                   // an item the full path answers (422 in its slot)
        #"{"requests": [{}, {"vcpu": {"mtrr": {"enabled": true}}}]}"#,  // one item needs the full path
        #"{"requests": [], "requests": []}"#,                // duplicate key
        #"{"requests": [], "extra": 1}"#,                    // unknown key
        #"{"requests": [{}]} x"#,                            // trailing garbage
        #"{"requests": [{},]}"#,                             // trailing comma
        #"{"requests": [{}, {}, {}, {}]}"#,                  // over the limit of 3 below
        "", "[]", "{", #"{"requests": ["#,
    ])
    func declinesWhatTheFullPathMustAnswer(_ text: String) {
        let body = Array(text.utf8)
        #expect(DecisionFastPath.decodeBatch(body, maxCount: 3) == nil)
        #expect(Self.decoded(body, maxCount: 3) == Self.full(body, maxCount: 3))
    }

    @Test func emptyAndFullBatchesTakeTheFastPath() throws {
        #expect(try #require(DecisionFastPath.decodeBatch(Array(#"{"requests": []}"#.utf8), maxCount: 3)).isEmpty)
        let three = Self.batch(["{}", "{}", "{}"])
        #expect(try #require(DecisionFastPath.decodeBatch(three, maxCount: 3)).count == 3)
        #expect(Self.decoded(three, maxCount: 3) == Self.full(three, maxCount: 3))
    }

    /// Batches of 0-6 random bodies (some of which the fast path declines,
    /// some invalid), whole or with a byte deleted, doubled or replaced.
    @Test func agreesWithTheFullPathOnRandomBatches() {
        var rng = SplitMix(state: 23)
        let alphabet = Array(#"{}[]":,0123456789aefnlrstux\ -."#.utf8) + [0x00, 0xFF]
        var fastHits = 0
        for n in 0..<3000 {
            let items = (0..<Int.random(in: 0...6, using: &rng)).map { _ in FastPathTests.randomBody(&rng) }
            var body = Self.batch(items, space: ["", " ", "\n"].randomElement(using: &rng)!)
            if n % 3 == 2, !body.isEmpty {
                let at = Int.random(in: 0..<body.count, using: &rng)
                switch Int.random(in: 0..<3, using: &rng) {
                case 0: body.remove(at: at)
                case 1: body.insert(body[at], at: at)
                default: body[at] = alphabet.randomElement(using: &rng)!
                }
            }
            if DecisionFastPath.decodeBatch(body, maxCount: 5) != nil { fastHits += 1 }
            #expect(Self.decoded(body, maxCount: 5) == Self.full(body, maxCount: 5), "\(String(decoding: body, as: UTF8.self))")
        }
        #expect(fastHits > 300, "the fast path took only \(fastHits) of 3000 batches")
    }
}
