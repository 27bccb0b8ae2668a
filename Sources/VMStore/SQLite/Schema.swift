/// The SQLite schema, as an ordered list of migrations. `PRAGMA user_version`
/// holds the number of migrations applied; each one runs in its own
/// `BEGIN IMMEDIATE` transaction together with the version bump, so a crash
/// mid-migration leaves the previous version intact. Never edit a released
/// migration: append a new one.
enum Schema {
    static let migrations: [String] = [
        // 1: VMs, labels, host profiles, history.
        """
        CREATE TABLE host_profiles (
            name         TEXT PRIMARY KEY NOT NULL,
            vendor       TEXT NOT NULL CHECK (vendor IN ('intel', 'amd')),
            self_snoop   INTEGER NOT NULL CHECK (self_snoop IN (0, 1)),
            tdp          INTEGER NOT NULL CHECK (tdp IN (0, 1)),
            cpu_family   INTEGER,
            cpu_model    INTEGER,
            cpu_stepping INTEGER,
            kernel       TEXT,
            kvm_model    TEXT,
            revision     INTEGER NOT NULL CHECK (revision >= 1),
            created_at   INTEGER NOT NULL,
            updated_at   INTEGER NOT NULL
        ) STRICT, WITHOUT ROWID;

        CREATE TABLE vms (
            id                TEXT PRIMARY KEY NOT NULL,
            baseline          TEXT NOT NULL,
            -- KVM_CAP_DISABLE_QUIRKS2 mask: bit set = disable, clear = keep enabled.
            disabled_quirks   INTEGER NOT NULL,
            -- Exactly one of host_profile and the inline host_* columns.
            host_profile      TEXT REFERENCES host_profiles(name),
            host_vendor       TEXT CHECK (host_vendor IN ('intel', 'amd')),
            host_self_snoop   INTEGER,
            host_tdp          INTEGER,
            host_cpu_family   INTEGER,
            host_cpu_model    INTEGER,
            host_cpu_stepping INTEGER,
            host_kernel       TEXT,
            host_kvm_model    TEXT,
            vm_type           TEXT NOT NULL CHECK (vm_type IN ('regular', 'tdx')),
            noncoherent_dma   INTEGER NOT NULL CHECK (noncoherent_dma IN (0, 1)),
            -- Length-prefixed lists (PackedStrings): '3:VGA10:virtio-gpu'.
            display_devices   TEXT NOT NULL,
            guest_kernel      TEXT,
            -- Labels as key,value pairs sorted by key, for the single-row read
            -- path; vm_labels mirrors them for indexed filtering.
            labels            TEXT NOT NULL,
            revision          INTEGER NOT NULL CHECK (revision >= 1),
            created_at        INTEGER NOT NULL,
            updated_at        INTEGER NOT NULL,
            CHECK ((host_profile IS NULL) <> (host_vendor IS NULL))
        ) STRICT, WITHOUT ROWID;
        CREATE INDEX vms_baseline ON vms(baseline);
        CREATE INDEX vms_host_profile ON vms(host_profile) WHERE host_profile IS NOT NULL;

        CREATE TABLE vm_labels (
            vm_id TEXT NOT NULL REFERENCES vms(id) ON DELETE CASCADE,
            key   TEXT NOT NULL,
            value TEXT NOT NULL,
            PRIMARY KEY (vm_id, key)
        ) STRICT, WITHOUT ROWID;
        CREATE INDEX vm_labels_key_value ON vm_labels(key, value);

        CREATE TABLE history (
            seq      INTEGER PRIMARY KEY AUTOINCREMENT,
            subject  TEXT NOT NULL CHECK (subject IN ('vm', 'host')),
            id       TEXT NOT NULL,
            revision INTEGER NOT NULL,
            action   TEXT NOT NULL,
            actor    TEXT NOT NULL,
            at       INTEGER NOT NULL,
            -- (field, old, new) triples, PackedStrings with '-' for absent.
            changes  TEXT NOT NULL
        ) STRICT;
        CREATE INDEX history_subject ON history(subject, id, seq);
        """,
        // 2: the revision the VMM side last applied at a VM start, and its
        // quirk mask (`VMRecord.applied`; PUT /v1/vms/{id}/applied). NULL
        // for existing rows: never applied. restart_required is
        // `applied_quirks <> disabled_quirks` (NULL: false), indexed for the
        // list filter.
        """
        ALTER TABLE vms ADD COLUMN applied_revision INTEGER CHECK (applied_revision >= 1);
        ALTER TABLE vms ADD COLUMN applied_quirks INTEGER
            CHECK ((applied_quirks IS NULL) = (applied_revision IS NULL));
        CREATE INDEX vms_restart_required ON vms(id) WHERE applied_quirks <> disabled_quirks;
        """,
        // 3 (issue 14): whether the guest's bochs driver has 9388ccf69925,
        // overriding the guest kernel's version (NULL: infer); and the index
        // a kernel plan's summary groups a host profile's VMs by.
        """
        ALTER TABLE vms ADD COLUMN guest_bochs_fix INTEGER CHECK (guest_bochs_fix IN (0, 1));
        CREATE INDEX vms_host_profile_config ON vms(host_profile, disabled_quirks, vm_type, noncoherent_dma)
            WHERE host_profile IS NOT NULL;
        """,
        // 4: when the last start was recorded (`VMRecord.AppliedState.at`,
        // epoch milliseconds like the other timestamps), written with
        // applied_revision. NULL for existing rows, applied ones included:
        // their start's time was never recorded. Never set without
        // applied_revision.
        """
        ALTER TABLE vms ADD COLUMN applied_at INTEGER CHECK (applied_at IS NULL OR applied_revision IS NOT NULL);
        """,
    ]

    /// The version this build writes.
    static var latestVersion: Int { migrations.count }
}

/// Test hook: the schema version this build writes on each backend (their
/// migrations mirror each other one for one), so tests need not restate it.
@_spi(Testing) public enum SchemaVersions {
    public static var sqlite: Int { Schema.latestVersion }
    public static var postgres: Int { PGSchema.latestVersion }
}
