-- Which account each directory revision changed: a node that sees the revision move
-- re-reads only those accounts. The latest changes are kept (see DIRECTORY_LOG_KEEP); a
-- node further behind reads the whole directory again.
CREATE TABLE directory_log (
    revision bigint PRIMARY KEY,
    account_id text NOT NULL
);
