//! Numbered schema migrations.
//!
//! `PRAGMA user_version` holds the number of migrations applied. Each entry of
//! [`MIGRATIONS`] runs once, in its own transaction, in order. Never edit a
//! migration that has shipped: add a new one, and add a test that upgrades a
//! file created at the previous version.

/// Migration `i` takes a database from version `i` to `i + 1`.
pub const MIGRATIONS: &[&str] = &[
    // 1: the walking skeleton's store.
    r#"
    CREATE TABLE channels (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,              -- 'whatsapp' | 'instagram'
        external_id TEXT NOT NULL,       -- phone_number_id or Instagram account id
        UNIQUE (kind, external_id)
    );
    -- A customer on one channel. WhatsApp keys by wa_id, or by the
    -- business-scoped user_id when Meta omits wa_id; Instagram by IGSID (user_id).
    CREATE TABLE contacts (
        id INTEGER PRIMARY KEY,
        channel_id INTEGER NOT NULL REFERENCES channels(id),
        wa_id TEXT,
        user_id TEXT,
        name TEXT,
        created_at INTEGER NOT NULL,
        CHECK (wa_id IS NOT NULL OR user_id IS NOT NULL)
    );
    CREATE UNIQUE INDEX contacts_by_wa_id ON contacts(channel_id, wa_id) WHERE wa_id IS NOT NULL;
    CREATE UNIQUE INDEX contacts_by_user_id ON contacts(channel_id, user_id) WHERE user_id IS NOT NULL;
    CREATE TABLE conversations (
        id INTEGER PRIMARY KEY,
        contact_id INTEGER NOT NULL UNIQUE REFERENCES contacts(id),
        last_preview TEXT NOT NULL DEFAULT '',
        last_at INTEGER NOT NULL DEFAULT 0,
        unread INTEGER NOT NULL DEFAULT 0,
        -- Only the customer's messages open the 24 h window.
        last_inbound_at INTEGER
    );
    CREATE INDEX conversations_by_recency ON conversations(last_at DESC, id DESC);
    CREATE TABLE messages (
        id INTEGER PRIMARY KEY,
        conversation_id INTEGER NOT NULL REFERENCES conversations(id),
        provider_id TEXT UNIQUE,         -- wamid / mid; NULL until Meta accepted an outbound one
        client_txn_id TEXT UNIQUE,       -- our id for outbound messages
        direction TEXT NOT NULL,         -- 'inbound' | 'outbound'
        kind TEXT NOT NULL,
        body TEXT NOT NULL,
        reply_to TEXT,
        raw TEXT,                        -- the provider's JSON, kept so nothing is lost
        sent_at INTEGER NOT NULL,
        status TEXT,                     -- outbound only
        error TEXT
    );
    CREATE INDEX messages_by_conversation ON messages(conversation_id, sent_at, id);
    -- Every status Meta reported, once per (message, status). Statuses may
    -- arrive before their message; they wait here and are applied on arrival.
    CREATE TABLE status_events (
        provider_id TEXT NOT NULL,
        status TEXT NOT NULL,
        at INTEGER NOT NULL,
        error TEXT,
        PRIMARY KEY (provider_id, status)
    ) WITHOUT ROWID;
    -- Durable send queue. state: 'queued' | 'in_flight'.
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        message_id INTEGER NOT NULL UNIQUE REFERENCES messages(id),
        conversation_id INTEGER NOT NULL REFERENCES conversations(id),
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER NOT NULL
    );
    -- "Is an earlier entry of this conversation still waiting?" and "what is due?"
    CREATE INDEX outbox_by_conversation ON outbox(conversation_id, id);
    CREATE INDEX outbox_due ON outbox(state, next_attempt_at, id);
    -- Webhook items the inbox does not (yet) show, kept verbatim.
    CREATE TABLE unhandled_events (
        id INTEGER PRIMARY KEY,
        -- sha256 of field and raw JSON: Meta's retries are stored once.
        dedupe_key TEXT NOT NULL UNIQUE,
        field TEXT NOT NULL,
        reason TEXT NOT NULL,
        raw TEXT NOT NULL,
        received_at INTEGER NOT NULL
    );
    CREATE TABLE relay_cursor (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        seq INTEGER NOT NULL
    );
    INSERT INTO relay_cursor (id, seq) VALUES (1, 0);
    CREATE VIRTUAL TABLE messages_fts USING fts5(body, content = 'messages', content_rowid = 'id');
    CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
        INSERT INTO messages_fts (rowid, body) VALUES (new.id, new.body);
    END;
    CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
        INSERT INTO messages_fts (messages_fts, rowid, body) VALUES ('delete', old.id, old.body);
    END;
    CREATE TRIGGER messages_fts_update AFTER UPDATE OF body ON messages BEGIN
        INSERT INTO messages_fts (messages_fts, rowid, body) VALUES ('delete', old.id, old.body);
        INSERT INTO messages_fts (rowid, body) VALUES (new.id, new.body);
    END;
    "#,
    // 2: reactions, unsent messages, settings, search over contact names.
    r#"
    ALTER TABLE messages ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;
    -- The current reaction of each side on a message, keyed by the message's
    -- provider id so a reaction may arrive before its message. A removal is
    -- kept as NULL with its time, so an older reaction arriving late loses.
    CREATE TABLE reactions (
        provider_id TEXT NOT NULL,
        by_customer INTEGER NOT NULL,
        emoji TEXT,
        at INTEGER NOT NULL,
        PRIMARY KEY (provider_id, by_customer)
    ) WITHOUT ROWID;
    CREATE TABLE settings (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE VIRTUAL TABLE contacts_fts USING fts5(name, content = 'contacts', content_rowid = 'id');
    INSERT INTO contacts_fts (rowid, name) SELECT id, coalesce(name, '') FROM contacts;
    CREATE TRIGGER contacts_fts_insert AFTER INSERT ON contacts BEGIN
        INSERT INTO contacts_fts (rowid, name) VALUES (new.id, coalesce(new.name, ''));
    END;
    CREATE TRIGGER contacts_fts_delete AFTER DELETE ON contacts BEGIN
        INSERT INTO contacts_fts (contacts_fts, rowid, name) VALUES ('delete', old.id, coalesce(old.name, ''));
    END;
    CREATE TRIGGER contacts_fts_update AFTER UPDATE OF name ON contacts BEGIN
        INSERT INTO contacts_fts (contacts_fts, rowid, name) VALUES ('delete', old.id, coalesce(old.name, ''));
        INSERT INTO contacts_fts (rowid, name) VALUES (new.id, coalesce(new.name, ''));
    END;
    "#,
    // 3: media files, kept inside the encrypted database.
    r#"
    CREATE TABLE media (
        message_id INTEGER PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
        media_id TEXT,                   -- WhatsApp: fetch through the Graph API
        url TEXT,                        -- Instagram: a direct, short-lived URL
        mime_type TEXT,
        filename TEXT,
        expected_sha256 TEXT,            -- as the webhook gave it (hex or base64)
        state TEXT NOT NULL,             -- 'pending' | 'stored' | 'failed'
        attempts INTEGER NOT NULL DEFAULT 0,
        size INTEGER,
        data BLOB,
        error TEXT
    );
    CREATE INDEX media_pending ON media(message_id) WHERE state = 'pending';
    "#,
    // 4: the agent's reactions go through the outbox too (an entry is either
    // a message or a reaction), and forwarded messages are marked.
    r#"
    CREATE TABLE outbox_v4 (
        id INTEGER PRIMARY KEY,
        message_id INTEGER UNIQUE REFERENCES messages(id),
        conversation_id INTEGER NOT NULL REFERENCES conversations(id),
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER NOT NULL,
        -- A reaction: the reacted-to message's provider id, the emoji ('' removes
        -- ours), what our reaction was before (restored if the send fails) and
        -- the time written into `reactions` when it was queued.
        reaction_target TEXT,
        reaction_emoji TEXT,
        reaction_prev TEXT,
        reaction_at INTEGER,
        CHECK ((message_id IS NULL) <> (reaction_target IS NULL))
    );
    INSERT INTO outbox_v4 (id, message_id, conversation_id, state, attempts, next_attempt_at)
        SELECT id, message_id, conversation_id, state, attempts, next_attempt_at FROM outbox;
    DROP TABLE outbox;
    ALTER TABLE outbox_v4 RENAME TO outbox;
    CREATE INDEX outbox_by_conversation ON outbox(conversation_id, id);
    CREATE INDEX outbox_due ON outbox(state, next_attempt_at, id);
    -- Reactions Meta accepted, by the reaction's own wamid. Their statuses
    -- (`sent`, or `failed` with 131009) concern the reaction, not a message:
    -- a failure puts the previous reaction back.
    CREATE TABLE sent_reactions (
        provider_id TEXT PRIMARY KEY,
        target TEXT NOT NULL,
        previous TEXT,
        at INTEGER NOT NULL
    ) WITHOUT ROWID;
    -- 0: not forwarded, 1: forwarded, 2: forwarded many times (WhatsApp context).
    ALTER TABLE messages ADD COLUMN forwarded INTEGER NOT NULL DEFAULT 0;
    UPDATE messages SET forwarded = CASE
        WHEN json_extract(raw, '$.context.frequently_forwarded') THEN 2
        WHEN json_extract(raw, '$.context.forwarded') THEN 1
        ELSE 0 END
    WHERE raw IS NOT NULL AND json_valid(raw) AND json_extract(raw, '$.context') IS NOT NULL;
    "#,
    // 5: the agent's unsent draft per conversation, kept across restarts and
    // gone with its conversation (erasure, delete history); conversations an
    // agent closed (the customer writing again reopens them); contact notes,
    // labels and opt-out.
    r#"
    CREATE TABLE drafts (
        conversation_id INTEGER PRIMARY KEY REFERENCES conversations(id) ON DELETE CASCADE,
        body TEXT NOT NULL,
        updated_at INTEGER NOT NULL
    );
    ALTER TABLE conversations ADD COLUMN closed_at INTEGER;
    -- What agents note about a customer, their labels, and whether they opted
    -- out of marketing (by an agent, or by writing STOP).
    ALTER TABLE contacts ADD COLUMN notes TEXT NOT NULL DEFAULT '';
    ALTER TABLE contacts ADD COLUMN opted_out_at INTEGER;
    ALTER TABLE contacts ADD COLUMN opted_out_by TEXT;
    -- When the newest STOP/START the customer wrote was sent: an older one
    -- delivered late changes nothing.
    ALTER TABLE contacts ADD COLUMN opt_keyword_at INTEGER;
    CREATE TABLE contact_labels (
        contact_id INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
        label TEXT NOT NULL COLLATE NOCASE,
        PRIMARY KEY (contact_id, label)
    ) WITHOUT ROWID;
    CREATE INDEX contact_labels_by_label ON contact_labels(label, contact_id);
    "#,
    // 6: the WhatsApp account's message templates, as Meta last listed them
    // (status kept current by `message_template_status_update` webhooks).
    // `components` is Meta's JSON array, whole. An outbound template message
    // keeps what it sends (name, language, components) in `messages.raw`.
    r#"
    CREATE TABLE templates (
        name TEXT NOT NULL,
        language TEXT NOT NULL,
        template_id TEXT,
        category TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL,
        components TEXT NOT NULL,
        rejected_reason TEXT,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (name, language)
    ) WITHOUT ROWID;
    "#,
    // 7: when this account last submitted templates, to keep under Meta's
    // 100 creations per hour before asking (`Core::create_template`).
    r#"
    CREATE TABLE template_creations (at INTEGER NOT NULL);
    CREATE INDEX template_creations_by_at ON template_creations(at);
    "#,
    // 8: custom attributes of a contact (from imported CSV columns), gone
    // with the contact. Names compare ignoring case, as the header did.
    r#"
    CREATE TABLE contact_attributes (
        contact_id INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
        name TEXT NOT NULL COLLATE NOCASE,
        value TEXT NOT NULL,
        PRIMARY KEY (contact_id, name)
    ) WITHOUT ROWID;
    "#,
    // 9: the Contacts screen. The list is ordered by name (the number or
    // user id when there is none), paged by (that key, id); duplicates are
    // found by name within a channel. Both are expression indexes the
    // queries in `store/contact_book.rs` spell the same way.
    r#"
    CREATE INDEX contacts_by_sort ON contacts(lower(coalesce(name, wa_id, user_id)), id);
    CREATE INDEX contacts_by_name ON contacts(channel_id, lower(trim(name)));
    "#,
    // 10: broadcast campaigns. `template` is the template as stored when the
    // campaign was confirmed (what every recipient is sent); each recipient
    // keeps the variable values resolved then. A recipient is 'excluded',
    // 'queued', 'sending' (claimed: its send may have reached Meta, so it is
    // never claimed again), 'done' (its outcome is its message's status) or
    // 'not_sent' (cancelled first). A contact's erasure takes its rows.
    r#"
    CREATE TABLE campaigns (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        template_name TEXT NOT NULL,
        language TEXT NOT NULL,
        template TEXT NOT NULL,
        draft TEXT NOT NULL,
        state TEXT NOT NULL,
        rate_per_sec INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        start_at INTEGER,
        started_at INTEGER,
        finished_at INTEGER,
        -- Why the sender waits or paused itself (Meta's words), if it did.
        note TEXT
    );
    CREATE TABLE campaign_recipients (
        id INTEGER PRIMARY KEY,
        campaign_id INTEGER NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
        contact_id INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
        state TEXT NOT NULL,
        exclusion TEXT,
        params TEXT,
        message_id INTEGER REFERENCES messages(id) ON DELETE SET NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER NOT NULL DEFAULT 0,
        replied_at INTEGER,
        -- The message's last status and error, kept when the message itself
        -- is deleted (retention, a deleted failed message).
        outcome TEXT,
        reason TEXT,
        UNIQUE (campaign_id, contact_id)
    );
    CREATE INDEX campaign_recipients_due ON campaign_recipients(campaign_id, state, next_attempt_at);
    -- Pages of one campaign's recipients in id order (rowid rides along).
    CREATE INDEX campaign_recipients_by_campaign ON campaign_recipients(campaign_id);
    CREATE INDEX campaign_recipients_sending ON campaign_recipients(campaign_id)
        WHERE state = 'sending';
    CREATE INDEX campaign_recipients_by_message ON campaign_recipients(message_id)
        WHERE message_id IS NOT NULL;
    CREATE INDEX campaign_recipients_by_contact ON campaign_recipients(contact_id);
    CREATE TRIGGER campaign_message_deleted BEFORE DELETE ON messages BEGIN
        UPDATE campaign_recipients SET outcome = old.status, reason = old.error
        WHERE message_id = old.id;
    END;
    "#,
    // 11: a template's quality score (`quality_score` in Meta's list,
    // `message_template_quality_update` webhooks), for the template manager.
    r#"
    ALTER TABLE templates ADD COLUMN quality TEXT;
    "#,
];

/// The version a fully migrated database has.
pub fn latest_version() -> i64 {
    MIGRATIONS.len() as i64
}
