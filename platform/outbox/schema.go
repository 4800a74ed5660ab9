package outbox

// TableDDL creates the outbox table. Every publishing service puts exactly this statement in
// its migrations; it runs on MariaDB ≥ 10.6 and MySQL 8 (SKIP LOCKED is needed by the relay).
// Rows live only until they are published (the relay deletes them in the transaction that
// claimed them), so the primary key serves every query and inserts maintain no other index.
const TableDDL = `CREATE TABLE IF NOT EXISTS outbox (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  event_id CHAR(36) NOT NULL,
  routing_key VARCHAR(64) NOT NULL,
  payload LONGBLOB NOT NULL,
  correlation_id VARCHAR(128) NOT NULL DEFAULT '',
  traceparent VARCHAR(55) NOT NULL DEFAULT '',
  created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  attempts INT NOT NULL DEFAULT 0
) ENGINE=InnoDB`
