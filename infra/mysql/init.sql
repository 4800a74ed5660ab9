-- Databases and accounts of the two services: one database per service, each reachable only by
-- its own user (DESIGN.md §3).
--
-- Runs in two places, so it must be valid on MySQL 8.0 and on MariaDB 10.11:
--   * the mysql:8.0 container runs it once, on an empty data directory, from
--     /docker-entrypoint-initdb.d (infra/docker-compose.yml);
--   * infra/local/up.sh runs it as root on every call against the machine's MariaDB.
-- It is idempotent: every statement may run again on a server that already has the objects, and
-- ALTER USER puts a changed password back to the one the services are configured with.
--
-- utf8mb4_unicode_ci (not MySQL 8's utf8mb4_0900_ai_ci, which MariaDB 10.11 does not know) so that
-- comparison and ordering are the same in development (MariaDB) and production (MySQL 8).
-- The passwords are development values; production credentials live in the k8s Secret.

CREATE DATABASE IF NOT EXISTS productdb CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE DATABASE IF NOT EXISTS orderdb CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- product-service: DATABASE_URL=mysql://product:product@HOST:3306/productdb
CREATE USER IF NOT EXISTS 'product'@'%' IDENTIFIED BY 'product';
CREATE USER IF NOT EXISTS 'product'@'localhost' IDENTIFIED BY 'product';
ALTER USER 'product'@'%' IDENTIFIED BY 'product';
ALTER USER 'product'@'localhost' IDENTIFIED BY 'product';
GRANT ALL PRIVILEGES ON productdb.* TO 'product'@'%';
GRANT ALL PRIVILEGES ON productdb.* TO 'product'@'localhost';

-- order-service: MYSQL_DSN=order:order@tcp(HOST:3306)/orderdb?parseTime=true
CREATE USER IF NOT EXISTS 'order'@'%' IDENTIFIED BY 'order';
CREATE USER IF NOT EXISTS 'order'@'localhost' IDENTIFIED BY 'order';
ALTER USER 'order'@'%' IDENTIFIED BY 'order';
ALTER USER 'order'@'localhost' IDENTIFIED BY 'order';
GRANT ALL PRIVILEGES ON orderdb.* TO 'order'@'%';
GRANT ALL PRIVILEGES ON orderdb.* TO 'order'@'localhost';
