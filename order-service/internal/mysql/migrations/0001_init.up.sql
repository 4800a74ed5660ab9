CREATE TABLE IF NOT EXISTS orders (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  product_id BIGINT NOT NULL,
  qty INT NOT NULL,
  unit_price DECIMAL(14,2) NOT NULL,
  total_price DECIMAL(18,2) NOT NULL,
  status VARCHAR(16) NOT NULL,
  reject_reason VARCHAR(64) NULL,
  created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  KEY ix_orders_product (product_id, id),
  CONSTRAINT chk_orders_qty CHECK (qty BETWEEN 1 AND 10000),
  CONSTRAINT chk_orders_status CHECK (status IN ('PENDING', 'CONFIRMED', 'REJECTED'))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS idempotency_keys (
  idem_key VARCHAR(255) NOT NULL PRIMARY KEY,
  fingerprint CHAR(64) NOT NULL,
  order_id BIGINT NULL,
  created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  KEY ix_idempotency_created (created_at)
) ENGINE=InnoDB DEFAULT CHARSET=ascii COLLATE=ascii_bin;

CREATE TABLE IF NOT EXISTS outbox (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  event_id CHAR(36) NOT NULL,
  routing_key VARCHAR(64) NOT NULL,
  payload LONGBLOB NOT NULL,
  correlation_id VARCHAR(128) NOT NULL DEFAULT '',
  created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  attempts INT NOT NULL DEFAULT 0,
  sent_at DATETIME(6) NULL,
  UNIQUE KEY uq_outbox_event (event_id),
  KEY ix_outbox_pending (sent_at, id)
) ENGINE=InnoDB;
