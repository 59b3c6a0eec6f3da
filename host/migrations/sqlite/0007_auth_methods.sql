-- The manifest auth method an account uses (NULL: the connector's default), and what a pending
-- OAuth flow carries to its callback: the method and the account context given at /connect.
ALTER TABLE integrated_accounts ADD COLUMN auth_method TEXT;
ALTER TABLE oauth_states ADD COLUMN auth_method TEXT;
ALTER TABLE oauth_states ADD COLUMN context TEXT;
