/// A growable stack over manually managed memory, for the parser's
/// pending keys, values and open containers.
///
/// `Array` would do, but closing a container means moving a run of
/// elements off the top into a new array: with `Array` that is a copy
/// (retain each element) followed by `removeSubrange` (release each
/// element), plus a uniqueness check on every push. Here the elements are
/// moved out (no retain, no release) and the top is simply lowered.
/// Non-copyable, so the memory has exactly one owner and is freed exactly
/// once; `deinit` destroys whatever is left when parsing fails midway.
///
/// The stack starts on memory the caller lends it (the parser uses
/// `withUnsafeTemporaryAllocation`, i.e. the thread's stack, so a typical
/// request needs no heap allocation for parser state) and moves to the
/// heap only if it outgrows that.
struct ParserStack<Element>: ~Copyable {
    private var base: UnsafeMutablePointer<Element>
    private var capacity: Int
    private(set) var count = 0
    /// Whether `base` was allocated by this stack (and must be freed by it).
    private var ownsStorage: Bool

    /// Creates an empty stack on `storage`, which must outlive the stack
    /// and hold no initialized elements.
    init(borrowing storage: UnsafeMutableBufferPointer<Element>) {
        if let base = storage.baseAddress, storage.count > 0 {
            self.base = base
            self.capacity = storage.count
            self.ownsStorage = false
        } else {
            self.base = .allocate(capacity: 16)
            self.capacity = 16
            self.ownsStorage = true
        }
    }

    deinit {
        base.deinitialize(count: count)
        if ownsStorage { base.deallocate() }
    }

    @inline(__always)
    mutating func push(_ element: consuming Element) {
        if count == capacity { grow() }
        (base + count).initialize(to: element)
        count += 1
    }

    @inline(never)
    private mutating func grow() {
        let newCapacity = capacity * 2
        let newBase = UnsafeMutablePointer<Element>.allocate(capacity: newCapacity)
        newBase.moveInitialize(from: base, count: count)
        if ownsStorage { base.deallocate() }
        base = newBase
        capacity = newCapacity
        ownsStorage = true
    }

    /// Removes and returns the top element; the stack must not be empty.
    @inline(__always)
    mutating func pop() -> Element {
        count -= 1
        return (base + count).move()
    }

    /// The element at `index` (`0..<count`).
    subscript(index: Int) -> Element {
        @inline(__always) _read { yield base[index] }
        @inline(__always) _modify { yield &base[index] }
    }

    /// Moves the elements from `start` to the top into a new array, in
    /// order, and lowers the top to `start`.
    mutating func popArray(from start: Int) -> [Element] {
        let n = count - start
        let source = base + start
        count = start
        // `reserveCapacity` + `append` rather than
        // `Array(unsafeUninitializedCapacity:)`: on Linux (Swift 6.3) the
        // latter looks up the array storage's generic metadata at run time
        // on every call, which costs more than the appends.
        var result: [Element] = []
        result.reserveCapacity(n)
        for k in 0..<n {
            result.append((source + k).move())
        }
        return result
    }

    /// Moves the top `n` elements of `keys` and of `values` into one array
    /// of object members, in order.
    static func popMembers(
        keys: inout ParserStack<String>, from keyStart: Int,
        values: inout ParserStack<JSONValue>, from valueStart: Int
    ) -> [JSONObject.Member] {
        let n = keys.count - keyStart
        let keySource = keys.base + keyStart
        let valueSource = values.base + valueStart
        keys.count = keyStart
        values.count = valueStart
        var result: [JSONObject.Member] = []  // see popArray(from:)
        result.reserveCapacity(n)
        for k in 0..<n {
            result.append((key: (keySource + k).move(), value: (valueSource + k).move()))
        }
        return result
    }
}
