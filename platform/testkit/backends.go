package testkit

import (
	"context"
	"database/sql"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/shopworks/shop/platform/dbx"
	"github.com/shopworks/shop/platform/redisx"
)

// BackendOptions choose the stores of a service's application stack under test.
type BackendOptions struct {
	DatabasePrefix string                 // the private database is named <prefix>_<random>
	Migrate        func(dsn string) error // the service's migrations, applied to a new database
	DSN            string                 // default: a new private database
	RedisURL       string                 // default: the machine's Redis (a closed port simulates it down)
	MySQLViaProxy  bool                   // a fault proxy between the service and MariaDB
	RedisViaProxy  bool                   // a fault proxy between the service and Redis
}

// Backends are the stores a service's application stack runs on in a test, opened as the service
// opens them, each closed (and a new database dropped) when the test ends.
type Backends struct {
	DSN                    string                // of the database, straight to MariaDB
	Direct                 *sql.DB               // straight to MariaDB, for assertions
	Pool, MultiPool        *sql.DB               // the service's pools (MultiPool allows multi-statements), through MySQLProxy if any
	Redis                  redis.UniversalClient // the service's circuit-broken client, through RedisProxy if any
	Prefix                 string                // the Redis key prefix private to the test
	MySQLProxy, RedisProxy *Proxy                // nil unless asked for
}

// StartBackends opens the stores o asks for.
func StartBackends(t testing.TB, o BackendOptions) *Backends {
	t.Helper()
	b := &Backends{DSN: o.DSN}
	if b.DSN == "" {
		b.DSN = NewDatabase(t, o.DatabasePrefix)
		require.NoError(t, o.Migrate(b.DSN))
	}
	b.Direct = openPool(t, b.DSN, false)
	dsn := b.DSN
	if o.MySQLViaProxy {
		dsn, b.MySQLProxy = MySQLViaProxy(t, dsn)
	}
	b.Pool, b.MultiPool = openPool(t, dsn, false), openPool(t, dsn, true)
	redisURL := o.RedisURL
	if redisURL == "" {
		_, b.Prefix = Redis(t)
		addr := RedisAddr()
		if o.RedisViaProxy {
			b.RedisProxy = NewProxy(t, addr)
			addr = b.RedisProxy.Addr()
		}
		redisURL = "redis://" + addr
	}
	rdb, err := redisx.Open(redisURL, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	t.Cleanup(func() { _ = rdb.Close() })
	b.Redis = rdb
	return b
}

func openPool(t testing.TB, dsn string, multi bool) *sql.DB {
	t.Helper()
	db, err := dbx.Open(context.Background(), dsn, dbx.PoolConfig{MaxOpen: 16, MultiStatements: multi})
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// WakeCounter stands in for the outbox relay: it counts the wake-ups a service gives it.
type WakeCounter struct {
	mu sync.Mutex
	n  int
}

// Notify records a wake-up.
func (w *WakeCounter) Notify() { w.mu.Lock(); w.n++; w.mu.Unlock() }

// Count is how many wake-ups there were.
func (w *WakeCounter) Count() int { w.mu.Lock(); defer w.mu.Unlock(); return w.n }

// Snapshot is the result of every query (each a SELECT of one text column), as text: compare two
// snapshots to prove that something changed no row.
func Snapshot(t testing.TB, db *sql.DB, queries ...string) string {
	t.Helper()
	var out strings.Builder
	for _, q := range queries {
		rows, err := db.Query(q)
		require.NoError(t, err)
		for rows.Next() {
			var s string
			require.NoError(t, rows.Scan(&s))
			out.WriteString(s + "\n")
		}
		require.NoError(t, rows.Err())
		require.NoError(t, rows.Close())
	}
	return out.String()
}
