-- What a webhook is for and who owns it (free text, searchable in the list with ?q=).
ALTER TABLE webhooks ADD COLUMN IF NOT EXISTS description text NOT NULL DEFAULT '';
