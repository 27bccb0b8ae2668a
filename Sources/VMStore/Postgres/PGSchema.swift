#if canImport(Glibc)
import Glibc
#endif
import Clock

/// The PostgreSQL schema, as an ordered list of migrations, and how they are
/// applied.
///
/// `memtyped_schema` holds one row per applied migration (version = its
/// position, 1-based). At start every instance runs `migrate`: one
/// transaction that first takes a transaction-scoped advisory lock, so when
/// several instances start at once one migrates and the others wait, then
/// find the work done. A failure rolls the whole transaction back (PostgreSQL
/// DDL is transactional): the schema is either the old version or the new.
/// It runs on a connection of its own, unbounded by the store timeout, and
/// waits for table locks in short tries (`migrate`).
/// A database already at a newer version than this build knows is refused,
/// naming both versions: an older binary must not write a schema it does
/// not understand. Never edit a released migration: append a new one.
///
/// The tables mirror SQLite's (`Schema`) column for column, in the same order,
/// so the row decoders read both; differences are PostgreSQL types (BOOLEAN,
/// BIGINT, identity), `COLLATE "C"` on keys (byte order, as SQLite sorts, so
/// pagination cursors mean the same on both backends, whatever the
/// database's default collation), and a unique (subject, id, revision) on
/// history: no two commits can claim one revision of one record.
enum PGSchema {
    /// `pg_advisory_xact_lock` key: "memtyped" in ASCII.
    static let migrationLock: Int64 = 0x6d65_6d74_7970_6564

    static let migrations: [String] = [
        // 1: VMs, labels, host profiles, history.
        """
        CREATE TABLE host_profiles (
            name         TEXT COLLATE "C" PRIMARY KEY,
            vendor       TEXT NOT NULL CHECK (vendor IN ('intel', 'amd')),
            self_snoop   BOOLEAN NOT NULL,
            tdp          BOOLEAN NOT NULL,
            cpu_family   INTEGER,
            cpu_model    INTEGER,
            cpu_stepping INTEGER,
            kernel       TEXT,
            kvm_model    TEXT,
            revision     INTEGER NOT NULL CHECK (revision >= 1),
            created_at   BIGINT NOT NULL,
            updated_at   BIGINT NOT NULL
        );

        CREATE TABLE vms (
            id                TEXT COLLATE "C" PRIMARY KEY,
            baseline          TEXT NOT NULL,
            -- KVM_CAP_DISABLE_QUIRKS2 mask: bit set = disable, clear = keep enabled.
            disabled_quirks   BIGINT NOT NULL,
            -- Exactly one of host_profile and the inline host_* columns.
            host_profile      TEXT COLLATE "C" REFERENCES host_profiles(name),
            host_vendor       TEXT CHECK (host_vendor IN ('intel', 'amd')),
            host_self_snoop   BOOLEAN,
            host_tdp          BOOLEAN,
            host_cpu_family   INTEGER,
            host_cpu_model    INTEGER,
            host_cpu_stepping INTEGER,
            host_kernel       TEXT,
            host_kvm_model    TEXT,
            vm_type           TEXT NOT NULL CHECK (vm_type IN ('regular', 'tdx')),
            noncoherent_dma   BOOLEAN NOT NULL,
            -- Length-prefixed lists (PackedStrings): '3:VGA10:virtio-gpu'.
            display_devices   TEXT NOT NULL,
            guest_kernel      TEXT,
            -- Labels as key,value pairs sorted by key, for the single-row read
            -- path; vm_labels mirrors them for indexed filtering.
            labels            TEXT NOT NULL,
            revision          INTEGER NOT NULL CHECK (revision >= 1),
            created_at        BIGINT NOT NULL,
            updated_at        BIGINT NOT NULL,
            CHECK ((host_profile IS NULL) <> (host_vendor IS NULL))
        );
        CREATE INDEX vms_baseline ON vms(baseline);
        CREATE INDEX vms_host_profile ON vms(host_profile) WHERE host_profile IS NOT NULL;

        CREATE TABLE vm_labels (
            vm_id TEXT COLLATE "C" NOT NULL REFERENCES vms(id) ON DELETE CASCADE,
            key   TEXT COLLATE "C" NOT NULL,
            value TEXT COLLATE "C" NOT NULL,
            PRIMARY KEY (vm_id, key)
        );
        CREATE INDEX vm_labels_key_value ON vm_labels(key, value, vm_id);

        CREATE TABLE history (
            seq      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            subject  TEXT NOT NULL CHECK (subject IN ('vm', 'host')),
            id       TEXT COLLATE "C" NOT NULL,
            revision INTEGER NOT NULL,
            action   TEXT NOT NULL,
            actor    TEXT NOT NULL,
            at       BIGINT NOT NULL,
            -- (field, old, new) triples, PackedStrings with '-' for absent.
            changes  TEXT NOT NULL,
            UNIQUE (subject, id, revision)
        );
        CREATE INDEX history_subject ON history(subject, id, seq);
        """,
        // 2: the revision the VMM side last applied at a VM start, and its
        // quirk mask (SQLite's migration 2).
        """
        ALTER TABLE vms
            ADD COLUMN applied_revision INTEGER CHECK (applied_revision >= 1),
            ADD COLUMN applied_quirks BIGINT,
            ADD CONSTRAINT vms_applied_pair CHECK ((applied_quirks IS NULL) = (applied_revision IS NULL));
        CREATE INDEX vms_restart_required ON vms(id) WHERE applied_quirks <> disabled_quirks;
        """,
        // 3 (issue 14): as SQLite's migration 3.
        """
        ALTER TABLE vms ADD COLUMN guest_bochs_fix BOOLEAN;
        CREATE INDEX vms_host_profile_config ON vms(host_profile, disabled_quirks, vm_type, noncoherent_dma)
            WHERE host_profile IS NOT NULL;
        """,
        // 4: as SQLite's migration 4.
        """
        ALTER TABLE vms
            ADD COLUMN applied_at BIGINT,
            ADD CONSTRAINT vms_applied_at_applied CHECK (applied_at IS NULL OR applied_revision IS NOT NULL);
        """,
    ]

    /// The version this build writes.
    static var latestVersion: Int { migrations.count }

    /// Brings the database to `latestVersion` (see the type's comment) on
    /// `c`, a connection of its own: no `statement_timeout` and no client
    /// deadline, since rewriting or indexing a large `vms` table takes as
    /// long as it takes, and the instances waiting on the advisory lock wait
    /// as long as the migrating one works (a vanished server is noticed by
    /// TCP keepalives, `migrationKeepalives`).
    ///
    /// Waiting for a table lock is what may not take long: a DDL statement
    /// queued for `vms` holds up every later query on it, the running
    /// instances' included. So each lock wait gives up after
    /// `lockTimeoutMillis` (`lock_timeout`); the whole transaction then rolls
    /// back, releasing what it held, and runs again after a pause (0.1 s,
    /// doubling to 5 s) that lets the queued traffic through, for up to
    /// `retryForMillis`. Each step goes to `log`. Returns the version found
    /// before migrating.
    @discardableResult
    static func migrate(_ c: PGConnection, lockTimeoutMillis: Int, retryForMillis: Int = 600_000,
                        log: (String) -> Void = { _ in }) throws(StoreError) -> Int {
        precondition(lockTimeoutMillis >= 1, "lock_timeout 0 would wait for ever")
        let start = MonotonicClock.milliseconds()
        var attempt = 0
        var pauseMillis = 100
        while true {
            attempt += 1
            try c.execute("BEGIN")
            do throws(StoreError) {
                let found = try migrateInTransaction(c, lockTimeoutMillis: lockTimeoutMillis, log: attempt == 1 ? log : { _ in })
                try c.execute("COMMIT")
                if found < latestVersion {
                    log("postgresql schema migrated from version \(found) to \(latestVersion) in \(MonotonicClock.milliseconds() - start) ms")
                }
                return found
            } catch {
                let state = c.lastSQLState
                if !c.isBroken { _ = try? c.execute("ROLLBACK") }
                guard state == "55P03", !c.isBroken else { throw error }
                let waited = Int(MonotonicClock.milliseconds() - start)
                guard waited + pauseMillis <= retryForMillis else {
                    throw .unavailable("postgresql schema migration: a table it changes stayed locked by other sessions for \(waited / 1000) s (\(attempt) attempts); find the holder in pg_locks (a long transaction, a pg_dump) and start again",
                                       retryAfterSeconds: 1)
                }
                log("postgresql schema migration: a table it changes is locked by another session (lock_timeout \(lockTimeoutMillis) ms, attempt \(attempt)); rolled back, retrying in \(pauseMillis) ms")
                usleep(UInt32(pauseMillis) * 1000)
                pauseMillis = min(2 * pauseMillis, 5000)
            }
        }
    }

    /// TCP keepalives for the migration's connection, which has no deadline:
    /// a server that vanishes (no RST: a partition, a dead host) is given up
    /// on after about a minute of silence, while a live server busy with a
    /// long statement answers them from its kernel.
    static let migrationKeepalives = [("keepalives", "1"), ("keepalives_idle", "30"),
                                      ("keepalives_interval", "10"), ("keepalives_count", "3")]

    /// One attempt of `migrate`, inside its transaction (`log`: what it
    /// starts doing; the first attempt's only, so retries are one line each).
    private static func migrateInTransaction(_ c: PGConnection, lockTimeoutMillis: Int, log: (String) -> Void) throws(StoreError) -> Int {
        // Waiting for another instance's migration is not a table-lock wait:
        // no lock_timeout until the advisory lock is held.
        try c.execute("SET LOCAL statement_timeout = 0; SET LOCAL lock_timeout = 0")
        if try !c.query("SELECT pg_try_advisory_xact_lock(\(migrationLock))").row(0).bool(0) {
            log("postgresql schema: another instance is migrating it; waiting for it to finish")
            try c.execute("SELECT pg_advisory_xact_lock(\(migrationLock))")
        }
        try c.execute("""
            SET LOCAL lock_timeout = \(lockTimeoutMillis);
            CREATE TABLE IF NOT EXISTS memtyped_schema (
                version    INTEGER PRIMARY KEY,
                applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
            );
            """)
        let found = try c.query("SELECT coalesce(max(version), 0) FROM memtyped_schema").row(0).int(0)
        guard found <= latestVersion else {
            throw .backend("database schema version \(found) is newer than this build's \(latestVersion): run a memtyped at least as new as the one that migrated it")
        }
        if found < latestVersion {
            log("postgresql schema version \(found), this build's \(latestVersion): migrating (no statement_timeout; table lock waits of \(lockTimeoutMillis) ms, retried)")
        }
        for (index, sql) in migrations.enumerated() where index >= found {
            try c.execute(sql)
            _ = try c.query("INSERT INTO memtyped_schema (version) VALUES ($1)", [PGValue(index + 1)])
        }
        return found
    }
}
