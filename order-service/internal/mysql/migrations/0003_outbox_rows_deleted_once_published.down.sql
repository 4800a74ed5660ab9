ALTER TABLE outbox ADD COLUMN sent_at DATETIME(6) NULL, ADD UNIQUE KEY uq_outbox_event (event_id), ADD KEY ix_outbox_pending (sent_at, id);
