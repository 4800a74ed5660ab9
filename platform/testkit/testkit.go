// Package testkit owns what integration tests need to use the machine's real MariaDB, Redis and
// RabbitMQ without stepping on each other: a private database per test, a private Redis key
// prefix, and the rule that under CI=true a missing service fails the test instead of skipping it.
package testkit

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Env returns the value of key or def.
func Env(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// MySQLRootDSN is the DSN (without a database) tests use to create their own databases.
func MySQLRootDSN() string { return Env("MYSQL_TEST_DSN", "root@tcp(127.0.0.1:3306)/") }

// RedisAddr is the Redis address tests use.
func RedisAddr() string { return Env("REDIS_TEST_ADDR", "127.0.0.1:6379") }

// RabbitURL is the RabbitMQ URL tests use.
func RabbitURL() string { return Env("RABBIT_TEST_URL", "amqp://guest:guest@127.0.0.1:5672/") }

// Unavailable fails the test under CI=true and skips it elsewhere: a developer without the
// service can still run the unit tests, CI can never go green without the real thing.
func Unavailable(t testing.TB, what string, err error) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is required under CI but unavailable: %v", what, err)
	}
	t.Skipf("%s unavailable (set CI=true to make this a failure): %v", what, err)
}

// RequireTCP checks that addr accepts connections.
func RequireTCP(t testing.TB, what, addr string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		Unavailable(t, what, err)
		return
	}
	_ = c.Close()
}

// Suffix returns a short random name part.
func Suffix() string {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// NewDatabase creates a database named prefix_<random> and returns a DSN for it; the database
// is dropped when the test ends.
func NewDatabase(t testing.TB, prefix string) string {
	t.Helper()
	cfg, err := mysql.ParseDSN(MySQLRootDSN())
	if err != nil {
		t.Fatalf("MYSQL_TEST_DSN: %v", err)
	}
	cfg.Timeout = 3 * time.Second
	root, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatalf("open MySQL: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := root.PingContext(ctx); err != nil {
		_ = root.Close()
		Unavailable(t, "MariaDB/MySQL", err)
		return ""
	}
	name := strings.ReplaceAll(prefix, "-", "_") + "_" + Suffix()
	if _, err := root.ExecContext(ctx, "CREATE DATABASE `"+name+"` CHARACTER SET utf8mb4"); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_, _ = root.ExecContext(ctx, "DROP DATABASE IF EXISTS `"+name+"`")
		_ = root.Close()
	})
	cfg.DBName = name
	cfg.ParseTime = true
	return cfg.FormatDSN()
}

// KeyPrefix returns a Redis key prefix private to this test run, e.g. "test:ab12cd34ef:".
func KeyPrefix(t testing.TB) string {
	t.Helper()
	return fmt.Sprintf("test:%s:", Suffix())
}

// MySQLViaProxy returns dsn rewritten to reach its server through a new fault Proxy.
func MySQLViaProxy(t testing.TB, dsn string) (string, *Proxy) {
	t.Helper()
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatalf("parse DSN: %v", err)
	}
	p := NewProxy(t, cfg.Addr)
	cfg.Addr = p.Addr()
	return cfg.FormatDSN(), p
}
