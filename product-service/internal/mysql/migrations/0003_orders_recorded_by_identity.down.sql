DELETE FROM processed_orders WHERE order_key NOT LIKE 'o:%';
ALTER TABLE processed_orders DROP PRIMARY KEY, ADD PRIMARY KEY (order_id), DROP COLUMN order_key;
