-- Levy's schema, version 1. Responses are text, never jsonb: Levy answers with the
-- exact bytes it stored, and jsonb would reorder keys.
CREATE TABLE levy_meta (
    name text PRIMARY KEY,
    value text NOT NULL
);
CREATE TABLE accounts (
    id text PRIMARY KEY,
    store_hashes text[] NOT NULL,
    profiles text[] NOT NULL,
    created_at timestamptz NOT NULL
);
-- Salted hashes only: the password is never stored.
CREATE TABLE credentials (
    username text PRIMARY KEY,
    account_id text NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    position integer NOT NULL,
    salt text NOT NULL,
    hash text NOT NULL,
    store_hash text,
    created_at timestamptz NOT NULL
);
CREATE INDEX credentials_account ON credentials (account_id);
CREATE TABLE rules (
    account_id text PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    document text NOT NULL
);
CREATE TABLE quotes (
    account_id text NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    quote_id text NOT NULL,
    store_hash text NOT NULL,
    status text NOT NULL CHECK (status IN ('committed', 'voided')),
    external_key text NOT NULL,
    version integer NOT NULL,
    priced integer NOT NULL,
    PRIMARY KEY (account_id, quote_id, store_hash)
);
-- Append-only: a version, once written, is never changed.
CREATE TABLE quote_versions (
    account_id text NOT NULL,
    quote_id text NOT NULL,
    store_hash text NOT NULL,
    version integer NOT NULL,
    kind text NOT NULL CHECK (kind IN ('commit', 'adjust', 'void')),
    request text,
    response text,
    adjust_description text,
    at timestamptz NOT NULL,
    PRIMARY KEY (account_id, quote_id, store_hash, version),
    FOREIGN KEY (account_id, quote_id, store_hash)
        REFERENCES quotes (account_id, quote_id, store_hash) ON DELETE CASCADE
);
