-- The BigCommerce app's installation of an account's store (JSON of `AppInstall`; its
-- OAuth token sealed). NULL for accounts made through the admin API or the CLI.
ALTER TABLE accounts ADD COLUMN app text;
