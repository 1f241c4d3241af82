-- The directory's revision: every account change bumps it in the same transaction and
-- notifies `levy_directory`; nodes reload when it moves. Its row is also the cluster-wide
-- lock of account changes (SELECT ... FOR UPDATE).
INSERT INTO levy_meta (name, value) VALUES ('directory_revision', '0') ON CONFLICT DO NOTHING;
