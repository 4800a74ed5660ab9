-- The W3C trace context of the work that wrote the event, published as the message's traceparent
-- header (platform/outbox TableDDL; docs/adr/0011-tracing.md). '' = not traced. Instant on MariaDB and MySQL 8.
ALTER TABLE outbox ADD COLUMN traceparent VARCHAR(55) NOT NULL DEFAULT '' AFTER correlation_id;
