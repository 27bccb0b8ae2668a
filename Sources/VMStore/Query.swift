import MemTypeEngine

/// A `listVMs` request. All filters combine with AND. Results are ordered by
/// id (bytewise); pagination is keyset on the id, so it is stable under
/// concurrent inserts and deletes: no record appears twice and no record that
/// existed throughout the walk is skipped.
public struct VMQuery: Sendable, Hashable {
    public static let defaultLimit = 100
    public static let maxLimit = 1000
    /// At most this many label filters.
    public static let maxLabelFilters = 16

    public var baseline: String?
    /// Quirk states that must hold, e.g. `[.ignoreGuestPAT: .disable]`.
    public var quirks: [Quirk: QuirkChoice]
    /// Labels that must be present with exactly these values.
    public var labels: [String: String]
    /// Only VMs referencing this host profile.
    public var hostProfile: String?
    /// Only VMs whose `restartRequired` is this.
    public var restartRequired: Bool?
    /// 1...1000.
    public var limit: Int
    /// `VMPage.nextCursor` from the previous page; nil for the first page.
    public var cursor: String?

    /// The cursor of a page that ends at VM `id`: for a caller that reads
    /// pages and stops within one (the next page starts after `id`).
    public static func cursor(after id: String) -> String { Cursor.encodeKey(id) }

    public init(baseline: String? = nil, quirks: [Quirk: QuirkChoice] = [:], labels: [String: String] = [:],
                hostProfile: String? = nil, restartRequired: Bool? = nil, limit: Int = VMQuery.defaultLimit,
                cursor: String? = nil) {
        self.baseline = baseline
        self.restartRequired = restartRequired
        self.quirks = quirks
        self.labels = labels
        self.hostProfile = hostProfile
        self.limit = limit
        self.cursor = cursor
    }
}

public struct VMPage: Sendable, Hashable {
    public var items: [VMRecord]
    /// nil on the last page.
    public var nextCursor: String?
    public init(items: [VMRecord], nextCursor: String?) { self.items = items; self.nextCursor = nextCursor }
}

public struct HostPage: Sendable, Hashable {
    public var items: [HostProfileRecord]
    public var nextCursor: String?
    public init(items: [HostProfileRecord], nextCursor: String?) { self.items = items; self.nextCursor = nextCursor }
}

public struct HistoryPage: Sendable, Hashable {
    /// Newest first.
    public var entries: [HistoryEntry]
    public var nextCursor: String?
    public init(entries: [HistoryEntry], nextCursor: String?) { self.entries = entries; self.nextCursor = nextCursor }
}

/// What a history entry records.
public enum HistoryAction: String, Sendable, Hashable, CaseIterable {
    case create
    case replace
    /// An `updateVM` that left the baseline alone. (`replaceVM` and `putHost` on an existing record record `replace`.)
    case patch
    case delete
    /// An `updateVM` that changed the baseline name.
    case baselineMove = "baseline_move"
}

/// What a history entry is about.
public enum HistorySubject: String, Sendable, Hashable {
    case vm
    case host
}

/// One changed field, by the JSON pointer the wire format uses
/// (`/quirks/IGNORE_GUEST_PAT`, `/labels/env`, `/host/kernel`). nil: absent.
public struct FieldChange: Sendable, Hashable, CustomStringConvertible {
    public let field: String
    public let old: String?
    public let new: String?
    public init(field: String, old: String?, new: String?) { self.field = field; self.old = old; self.new = new }
    public var description: String { "\(field): \(old ?? "-") -> \(new ?? "-")" }
}

/// One change, appended in the same transaction as the change itself.
public struct HistoryEntry: Sendable, Hashable {
    /// Store-wide, strictly increasing.
    public let sequence: Int64
    public let subject: HistorySubject
    /// The VM id or host profile name.
    public let id: String
    /// The revision after the change. For a delete: the deleted record's revision + 1.
    public let revision: Int
    public let action: HistoryAction
    /// The caller's token name.
    public let actor: String
    public let at: Timestamp
    /// Create: every field, old nil. Delete: every field of the last state, new nil.
    public let changes: [FieldChange]

    public init(sequence: Int64, subject: HistorySubject, id: String, revision: Int, action: HistoryAction,
                actor: String, at: Timestamp, changes: [FieldChange]) {
        self.sequence = sequence
        self.subject = subject
        self.id = id
        self.revision = revision
        self.action = action
        self.actor = actor
        self.at = at
        self.changes = changes
    }
}
