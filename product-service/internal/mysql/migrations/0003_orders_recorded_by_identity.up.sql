ALTER TABLE processed_orders ADD COLUMN order_key VARCHAR(40) CHARACTER SET ascii COLLATE ascii_bin NULL FIRST;
UPDATE processed_orders SET order_key = CONCAT('o:', order_id);
ALTER TABLE processed_orders MODIFY order_key VARCHAR(40) CHARACTER SET ascii COLLATE ascii_bin NOT NULL, DROP PRIMARY KEY, ADD PRIMARY KEY (order_key);
