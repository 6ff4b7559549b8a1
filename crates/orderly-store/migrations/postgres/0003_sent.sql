-- What each outbox message carries besides its payload. Keep in step with
-- ../sqlite/0003_sent.sql.
-- event: the event that queued it (the payload hook sees it at delivery; webhooks send it as
--        X-Orderly-Event).
-- sent:  what the last attempt actually sent (a webhook's body; an email's recipient, subject
--        and text), as JSON.

ALTER TABLE outbox ADD COLUMN event TEXT;
ALTER TABLE outbox ADD COLUMN sent TEXT;
