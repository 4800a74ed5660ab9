// Package amqpxtest owns the helpers that integration tests of amqpx users share: the broker
// address from the environment (a missing broker fails the test under CI=true and skips it
// otherwise), unique resource names, and a TCP proxy that simulates a broker outage without
// touching the shared broker.
package amqpxtest

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/shopworks/shop/platform/testkit"
)

// DefaultURL is used when RABBIT_TEST_URL is unset.
const DefaultURL = "amqp://guest:guest@127.0.0.1:5672/"

// URL returns the broker URL from RABBIT_TEST_URL (default DefaultURL) after checking that it
// accepts TCP connections. If it does not, the test fails under CI=true and is skipped otherwise.
func URL(t testing.TB) string {
	t.Helper()
	raw := os.Getenv("RABBIT_TEST_URL")
	if raw == "" {
		raw = DefaultURL
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("RABBIT_TEST_URL is not a URL: %v", err)
	}
	conn, err := net.DialTimeout("tcp", hostPort(u), 2*time.Second)
	if err != nil {
		testkit.Unavailable(t, "RabbitMQ at "+u.Redacted(), err)
	}
	_ = conn.Close()
	return raw
}

// Name returns prefix + "_" + a random suffix, for exchanges, queues and databases that
// belong to one test run.
func Name(prefix string) string {
	var b [5]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	return prefix + "_" + hex.EncodeToString(b[:])
}

// Logger returns a debug-level logger writing to the test's output.
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// WithHost returns rawURL with its host:port replaced by addr.
func WithHost(t testing.TB, rawURL, addr string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatalf("parse URL: %v", err)
	}
	u.Host = addr
	return u.String()
}

func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	return net.JoinHostPort(u.Hostname(), "5672")
}

// HostPort returns the host:port the AMQP URL points at.
func HostPort(t testing.TB, rawURL string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatalf("parse URL: %v", err)
	}
	return hostPort(u)
}
