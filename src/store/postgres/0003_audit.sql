-- The audit of each priced version (SPEC 10.8): how its response was computed, kept so
-- that jurisdiction reports never depend on today's rules. NULL for voids and for
-- versions committed before audits were kept.
ALTER TABLE quote_versions ADD COLUMN audit text;
