DELETE FROM outbox WHERE sent_at IS NOT NULL;
ALTER TABLE outbox DROP INDEX uq_outbox_event, DROP INDEX ix_outbox_pending, DROP COLUMN sent_at;
