/// The reason a document was rejected by ``JSONParser``, and where.
///
/// The service answers a malformed request body with this error's
/// ``description``, so it is written for the person on the other end of
/// `curl`: a 1-based line and column they can find in their editor, and a
/// message that names what was expected rather than the parser's state,
/// for example:
///
///     line 1, column 37: expected ',' or '}' after object member
///
/// ``offset`` is kept as well, for logs and for tooling that works on bytes.
public struct JSONParseError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The 0-based byte offset into the input where the problem was found.
    ///
    /// For "unexpected end of input" errors this equals the input's length.
    public let offset: Int

    /// The 1-based line of ``offset``; lines are separated by `\n`.
    public let line: Int

    /// The 1-based column of ``offset`` within its line.
    ///
    /// Columns count Unicode scalars (UTF-8 lead bytes), not bytes, so the
    /// number matches what a text editor shows for non-ASCII text.
    public let column: Int

    /// What went wrong, in words, without the position.
    public let message: String

    /// Creates an error; the parser computes `line` and `column` from the
    /// input, other modules may build their own (e.g. for schema errors that
    /// want to point into the same document).
    public init(offset: Int, line: Int, column: Int, message: String) {
        self.offset = offset
        self.line = line
        self.column = column
        self.message = message
    }

    /// `"line L, column C: message"`, ready to send back to a client.
    public var description: String {
        "line \(line), column \(column): \(message)"
    }
}
