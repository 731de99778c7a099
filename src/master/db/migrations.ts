// Append-only schema migrations. Never edit a released entry; add a new one at the end.
export const MIGRATIONS: readonly { version: number; name: string; sql: string }[] = [
  {
    version: 1,
    name: "accounts, sessions, api tokens, audit",
    sql: `
      CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
      ) STRICT;

      CREATE TABLE users (
        id                  INTEGER PRIMARY KEY,
        username            TEXT NOT NULL UNIQUE COLLATE NOCASE,
        role                TEXT NOT NULL CHECK (role IN ('admin', 'viewer')),
        password_hash       TEXT NOT NULL,
        created_at          INTEGER NOT NULL,
        password_changed_at INTEGER NOT NULL
      ) STRICT;

      CREATE TABLE sessions (
        id_hash      TEXT PRIMARY KEY,
        user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        created_at   INTEGER NOT NULL,
        expires_at   INTEGER NOT NULL,
        last_seen_at INTEGER NOT NULL,
        ip           TEXT NOT NULL,
        user_agent   TEXT NOT NULL
      ) STRICT;
      CREATE INDEX sessions_user ON sessions(user_id);

      CREATE TABLE api_tokens (
        id           INTEGER PRIMARY KEY,
        name         TEXT NOT NULL,
        prefix       TEXT NOT NULL,
        token_hash   TEXT NOT NULL UNIQUE,
        scope        TEXT NOT NULL CHECK (scope IN ('read', 'write')),
        user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        created_at   INTEGER NOT NULL,
        expires_at   INTEGER,
        revoked_at   INTEGER,
        last_used_at INTEGER
      ) STRICT;

      CREATE TABLE login_failures (
        key          TEXT PRIMARY KEY,
        count        INTEGER NOT NULL,
        first_at     INTEGER NOT NULL,
        locked_until INTEGER
      ) STRICT;

      CREATE TABLE audit_log (
        id     INTEGER PRIMARY KEY,
        at     INTEGER NOT NULL,
        actor  TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL DEFAULT '',
        detail TEXT NOT NULL DEFAULT '',
        ip     TEXT NOT NULL DEFAULT ''
      ) STRICT;
      CREATE INDEX audit_at ON audit_log(at);
      CREATE INDEX audit_action ON audit_log(action, at);
    `,
  },
  {
    version: 2,
    name: "interfaces, peers, nodes",
    sql: `
      CREATE TABLE nodes (
        id         INTEGER PRIMARY KEY,
        name       TEXT NOT NULL UNIQUE COLLATE NOCASE,
        fqdn       TEXT NOT NULL UNIQUE COLLATE NOCASE,
        wg_port    INTEGER NOT NULL CHECK (wg_port BETWEEN 1 AND 65535),
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      ) STRICT;

      CREATE TABLE interfaces (
        id                 INTEGER PRIMARY KEY,
        name               TEXT NOT NULL UNIQUE,
        address4           TEXT NOT NULL,
        address6           TEXT,
        listen_port        INTEGER NOT NULL CHECK (listen_port BETWEEN 1 AND 65535),
        mtu                INTEGER,
        dns                TEXT NOT NULL DEFAULT '',
        keepalive          INTEGER,
        endpoint_host      TEXT,
        private_key_sealed TEXT NOT NULL,
        public_key         TEXT NOT NULL,
        created_at         INTEGER NOT NULL,
        updated_at         INTEGER NOT NULL
      ) STRICT;

      CREATE TABLE peers (
        id                 INTEGER PRIMARY KEY,
        interface_id       INTEGER NOT NULL REFERENCES interfaces(id) ON DELETE CASCADE,
        node_id            INTEGER REFERENCES nodes(id) ON DELETE SET NULL,
        name               TEXT NOT NULL,
        public_key         TEXT NOT NULL UNIQUE,
        private_key_sealed TEXT,
        psk_sealed         TEXT,
        ipv4               TEXT NOT NULL,
        ipv6               TEXT,
        routing            TEXT NOT NULL CHECK (routing IN ('full', 'split', 'custom')),
        allowed_ips        TEXT NOT NULL DEFAULT '',
        enabled            INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
        expires_at         INTEGER,
        created_at         INTEGER NOT NULL,
        updated_at         INTEGER NOT NULL,
        UNIQUE (interface_id, name),
        UNIQUE (interface_id, ipv4),
        UNIQUE (interface_id, ipv6)
      ) STRICT;
      CREATE INDEX peers_interface ON peers(interface_id, id);
      CREATE INDEX peers_node ON peers(node_id, interface_id);
      CREATE INDEX peers_name ON peers(name COLLATE NOCASE);
      CREATE INDEX peers_expiry ON peers(expires_at) WHERE expires_at IS NOT NULL AND enabled = 1;
    `,
  },
  {
    version: 3,
    name: "node enrollment, sync and metrics",
    sql: `
      ALTER TABLE nodes ADD COLUMN is_local INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE nodes ADD COLUMN status TEXT NOT NULL DEFAULT 'pending';
      ALTER TABLE nodes ADD COLUMN last_seen_at INTEGER;
      ALTER TABLE nodes ADD COLUMN last_error TEXT;
      ALTER TABLE nodes ADD COLUMN hostname TEXT NOT NULL DEFAULT '';
      ALTER TABLE nodes ADD COLUMN enroll_secret_hash TEXT;
      ALTER TABLE nodes ADD COLUMN enroll_expires_at INTEGER;
      ALTER TABLE nodes ADD COLUMN enrolled_at INTEGER;
      ALTER TABLE nodes ADD COLUMN node_secret_hash TEXT;
      ALTER TABLE nodes ADD COLUMN cert_sha256 TEXT;
      ALTER TABLE nodes ADD COLUMN verify_key TEXT;
      ALTER TABLE nodes ADD COLUMN config_version INTEGER NOT NULL DEFAULT 1;
      ALTER TABLE nodes ADD COLUMN applied_version INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE nodes ADD COLUMN last_metric_seq INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE nodes ADD COLUMN dropped_metrics INTEGER NOT NULL DEFAULT 0;

      CREATE TABLE node_interfaces (
        node_id      INTEGER NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,
        interface_id INTEGER NOT NULL REFERENCES interfaces(id) ON DELETE CASCADE,
        address4     TEXT NOT NULL,
        address6     TEXT,
        public_key   TEXT,
        PRIMARY KEY (node_id, interface_id)
      ) STRICT;

      CREATE TABLE removed_nodes (
        id               INTEGER PRIMARY KEY,
        verify_key       TEXT NOT NULL,
        node_secret_hash TEXT NOT NULL,
        removed_at       INTEGER NOT NULL
      ) STRICT;

      CREATE TABLE sync_nonces (
        nonce      TEXT PRIMARY KEY,
        expires_at INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX sync_nonces_expiry ON sync_nonces(expires_at);

      CREATE TABLE peer_metrics (
        public_key TEXT NOT NULL,
        resolution INTEGER NOT NULL,
        at         INTEGER NOT NULL,
        node_id    INTEGER,
        rx         INTEGER NOT NULL,
        tx         INTEGER NOT NULL,
        handshake  INTEGER NOT NULL,
        endpoint   TEXT,
        PRIMARY KEY (public_key, resolution, at)
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX peer_metrics_time ON peer_metrics(resolution, at);
    `,
  },
  {
    version: 4,
    name: "fleet health: checks, node reports, events outbox, webhooks",
    sql: `
      CREATE TABLE node_health (
        node_id          INTEGER PRIMARY KEY REFERENCES nodes(id) ON DELETE CASCADE,
        failures         INTEGER NOT NULL DEFAULT 0,
        next_check_at    INTEGER NOT NULL DEFAULT 0,
        last_check_at    INTEGER,
        last_ok_at       INTEGER,
        last_latency_ms  REAL,
        last_check_error TEXT
      ) STRICT;

      CREATE TABLE node_checks (
        id         INTEGER PRIMARY KEY,
        node_id    INTEGER NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,
        at         INTEGER NOT NULL,
        ok         INTEGER NOT NULL,
        latency_ms REAL NOT NULL,
        error      TEXT,
        manual     INTEGER NOT NULL DEFAULT 0
      ) STRICT;
      CREATE INDEX node_checks_node ON node_checks(node_id, at);

      CREATE TABLE node_reports (
        node_id         INTEGER PRIMARY KEY REFERENCES nodes(id) ON DELETE CASCADE,
        at              INTEGER NOT NULL,
        apply_ok        INTEGER,
        apply_error     TEXT,
        apply_version   INTEGER,
        apply_ms        REAL,
        warnings        TEXT NOT NULL DEFAULT '[]',
        queue_depth     INTEGER,
        sync_latency_ms REAL,
        behind_since    INTEGER,
        behind_reported INTEGER NOT NULL DEFAULT 0
      ) STRICT;

      CREATE TABLE fleet_events (
        id      INTEGER PRIMARY KEY,
        uid     TEXT NOT NULL UNIQUE,
        dedupe  TEXT UNIQUE,
        type    TEXT NOT NULL,
        at      INTEGER NOT NULL,
        node_id INTEGER,
        payload TEXT NOT NULL
      ) STRICT;
      CREATE INDEX fleet_events_at ON fleet_events(at);

      CREATE TABLE webhooks (
        id            INTEGER PRIMARY KEY,
        name          TEXT NOT NULL,
        url           TEXT NOT NULL,
        secret_sealed TEXT,
        events        TEXT NOT NULL DEFAULT '*',
        enabled       INTEGER NOT NULL DEFAULT 1,
        created_at    INTEGER NOT NULL,
        updated_at    INTEGER NOT NULL
      ) STRICT;

      CREATE TABLE webhook_deliveries (
        id              INTEGER PRIMARY KEY,
        event_id        INTEGER NOT NULL REFERENCES fleet_events(id) ON DELETE CASCADE,
        webhook_id      INTEGER NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
        state           TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER NOT NULL,
        last_attempt_at INTEGER,
        last_status     INTEGER,
        last_error      TEXT,
        delivered_at    INTEGER,
        UNIQUE (event_id, webhook_id)
      ) STRICT;
      CREATE INDEX webhook_deliveries_due ON webhook_deliveries(state, next_attempt_at);
      CREATE INDEX webhook_deliveries_hook ON webhook_deliveries(webhook_id, id);
    `,
  },
  {
    version: 5,
    name: "second factors, passkeys, sign-in challenges, single sign-on, scoped admins",
    sql: `
      CREATE TABLE user_totp (
        user_id       INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
        secret_sealed TEXT NOT NULL,
        confirmed_at  INTEGER,
        last_step     INTEGER NOT NULL DEFAULT 0,
        created_at    INTEGER NOT NULL
      ) STRICT;

      CREATE TABLE recovery_codes (
        id        INTEGER PRIMARY KEY,
        user_id   INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        code_hash TEXT NOT NULL,
        used_at   INTEGER
      ) STRICT;
      CREATE INDEX recovery_codes_user ON recovery_codes(user_id);

      CREATE TABLE passkeys (
        id            INTEGER PRIMARY KEY,
        user_id       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        credential_id TEXT NOT NULL UNIQUE,
        public_key    TEXT NOT NULL,
        counter       INTEGER NOT NULL DEFAULT 0,
        transports    TEXT NOT NULL DEFAULT '',
        name          TEXT NOT NULL,
        created_at    INTEGER NOT NULL,
        last_used_at  INTEGER
      ) STRICT;
      CREATE INDEX passkeys_user ON passkeys(user_id);

      CREATE TABLE auth_challenges (
        id_hash    TEXT PRIMARY KEY,
        kind       TEXT NOT NULL,
        user_id    INTEGER REFERENCES users(id) ON DELETE CASCADE,
        data       TEXT NOT NULL DEFAULT '',
        expires_at INTEGER NOT NULL,
        attempts   INTEGER NOT NULL DEFAULT 0
      ) STRICT;
      CREATE INDEX auth_challenges_expiry ON auth_challenges(expires_at);

      ALTER TABLE users ADD COLUMN oidc_subject TEXT;
      CREATE UNIQUE INDEX users_oidc_subject ON users(oidc_subject) WHERE oidc_subject IS NOT NULL;
      ALTER TABLE users ADD COLUMN scope TEXT NOT NULL DEFAULT '';
    `,
  },
  {
    version: 6,
    name: "sync sessions (an HMAC key per node, agreed by ECDH after enrollment)",
    sql: `
      CREATE TABLE sync_sessions (
        node_id     INTEGER PRIMARY KEY REFERENCES nodes(id) ON DELETE CASCADE,
        session_id  TEXT NOT NULL,
        key_sealed  TEXT NOT NULL,
        created_at  INTEGER NOT NULL
      ) STRICT;
    `,
  },
  {
    version: 7,
    name: "DNS: settings, blocklists, rules, records, per-peer choices, query log, node DNS state",
    sql: `
      CREATE TABLE dns_settings (
        id                 INTEGER PRIMARY KEY CHECK (id = 1),
        enabled            INTEGER NOT NULL DEFAULT 0 CHECK (enabled IN (0, 1)),
        zone               TEXT NOT NULL DEFAULT 'wg.internal',
        upstreams          TEXT NOT NULL DEFAULT '',
        dnssec             INTEGER NOT NULL DEFAULT 1 CHECK (dnssec IN (0, 1)),
        insecure_domains   TEXT NOT NULL DEFAULT '',
        block_mode         TEXT NOT NULL DEFAULT 'nxdomain' CHECK (block_mode IN ('refuse', 'nxdomain', 'null')),
        log_queries        INTEGER NOT NULL DEFAULT 1 CHECK (log_queries IN (0, 1)),
        log_retention_days INTEGER NOT NULL DEFAULT 7,
        refresh_hours      INTEGER NOT NULL DEFAULT 24,
        paused_until       INTEGER NOT NULL DEFAULT 0,
        updated_at         INTEGER NOT NULL DEFAULT 0
      ) STRICT;
      INSERT INTO dns_settings (id) VALUES (1);

      CREATE TABLE dns_lists (
        id              INTEGER PRIMARY KEY,
        name            TEXT NOT NULL UNIQUE COLLATE NOCASE,
        url             TEXT,
        enabled         INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
        domains         TEXT NOT NULL DEFAULT '',
        allow           TEXT NOT NULL DEFAULT '',
        domain_count    INTEGER NOT NULL DEFAULT 0,
        last_refresh_at INTEGER,
        last_status     TEXT NOT NULL DEFAULT 'never' CHECK (last_status IN ('never', 'ok', 'warning', 'error')),
        last_message    TEXT NOT NULL DEFAULT '',
        created_at      INTEGER NOT NULL
      ) STRICT;

      CREATE TABLE dns_rules (
        id         INTEGER PRIMARY KEY,
        kind       TEXT NOT NULL CHECK (kind IN ('block', 'allow')),
        domain     TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        UNIQUE (kind, domain)
      ) STRICT;

      CREATE TABLE dns_records (
        id         INTEGER PRIMARY KEY,
        name       TEXT NOT NULL,
        type       TEXT NOT NULL CHECK (type IN ('A', 'AAAA', 'CNAME')),
        value      TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        UNIQUE (name, type, value)
      ) STRICT;

      CREATE TABLE dns_peer_prefs (
        peer_id  INTEGER PRIMARY KEY REFERENCES peers(id) ON DELETE CASCADE,
        blocking INTEGER NOT NULL DEFAULT 1 CHECK (blocking IN (0, 1)),
        lists    TEXT,
        log      INTEGER NOT NULL DEFAULT 1 CHECK (log IN (0, 1))
      ) STRICT;

      CREATE TABLE dns_queries (
        id        INTEGER PRIMARY KEY,
        at        INTEGER NOT NULL,
        src_node  INTEGER NOT NULL,
        seq       INTEGER NOT NULL,
        via       TEXT NOT NULL,
        client    TEXT NOT NULL,
        peer_id   INTEGER,
        peer_name TEXT NOT NULL,
        qname     TEXT NOT NULL,
        qtype     TEXT NOT NULL,
        rcode     TEXT NOT NULL,
        answer    TEXT NOT NULL,
        blocked   INTEGER NOT NULL CHECK (blocked IN (0, 1)),
        UNIQUE (src_node, seq)
      ) STRICT;
      CREATE INDEX dns_queries_at ON dns_queries(at);
      CREATE INDEX dns_queries_qname ON dns_queries(qname, at);

      CREATE TABLE dns_node_state (
        node_id     INTEGER PRIMARY KEY REFERENCES nodes(id) ON DELETE CASCADE,
        last_seq    INTEGER NOT NULL DEFAULT 0,
        dropped     INTEGER NOT NULL DEFAULT 0,
        running     INTEGER,
        detail      TEXT NOT NULL DEFAULT '',
        error       TEXT,
        reported_at INTEGER
      ) STRICT;
    `,
  },
  {
    version: 8,
    name: "traffic samples keyed by the host that reported them",
    // Two hosts report the same key (both nodes the master's tunnel key, a moved peer's old and new
    // node) and may sample it in the same millisecond: the key names the host (0 for the master's own).
    sql: `
      CREATE TABLE peer_metrics_by_host (
        public_key TEXT NOT NULL,
        resolution INTEGER NOT NULL,
        at         INTEGER NOT NULL,
        node_id    INTEGER,
        rx         INTEGER NOT NULL,
        tx         INTEGER NOT NULL,
        handshake  INTEGER NOT NULL,
        endpoint   TEXT
      ) STRICT;
      INSERT INTO peer_metrics_by_host (public_key, resolution, at, node_id, rx, tx, handshake, endpoint)
        SELECT public_key, resolution, at, node_id, rx, tx, handshake, endpoint FROM peer_metrics;
      DROP TABLE peer_metrics;
      ALTER TABLE peer_metrics_by_host RENAME TO peer_metrics;
      CREATE UNIQUE INDEX peer_metrics_sample ON peer_metrics(public_key, resolution, at, coalesce(node_id, 0));
      CREATE INDEX peer_metrics_time ON peer_metrics(resolution, at);
    `,
  },
];

export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;
