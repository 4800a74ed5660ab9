ALTER TABLE orders DROP CONSTRAINT chk_orders_status, ADD CONSTRAINT chk_orders_status CHECK (status IN ('PENDING', 'CONFIRMED', 'REJECTED', 'CANCELLED'));
