import JSON
import MemTypeEngine

/// A batch of decision requests, `{"requests": [...]}` (the contract in
/// openapi.yaml, schema `BatchRequest`).
public enum DecisionBatch {
    /// Each item's request, or the error that item alone gets, in order.
    ///
    /// Throws only when the body as a whole is wrong: not JSON, not an
    /// object whose one member `requests` is an array of at most `maxCount`
    /// items. A batch whose every item takes the decision fast path is read
    /// straight from the bytes; any other, and every error, goes through
    /// the JSON tree, so both answer alike (`BatchFastPathTests`).
    public static func decode(json body: [UInt8], maxCount: Int) throws(RequestError) -> [Result<DecisionRequest, InvalidField>] {
        if let requests = DecisionFastPath.decodeBatch(body, maxCount: maxCount) {
            return requests.map { .success($0) }
        }
        return try decodeFull(body, maxCount: maxCount)
    }

    /// The full path alone: parse to a tree, then decode each item.
    static func decodeFull(_ body: [UInt8], maxCount: Int) throws(RequestError) -> [Result<DecisionRequest, InvalidField>] {
        let value = try RequestError.parse(body)
        let items: [Field]
        do {
            items = try Field(value).object(BatchKey.self).required(BatchKey.requests).array(maxCount: maxCount)
        } catch {
            throw .invalid(error)
        }
        return items.map { item in
            Result { () throws(InvalidField) in try DecisionRequest(item) }
        }
    }
}
