// Package catalogtest starts product-service's application layer for tests the way app.Run wires
// it — a catalog.Service over a private MariaDB database, the machine's Redis through the
// circuit-broken client, the cache-invalidation queue and (optionally) the in-process cache —
// and stops it when the test ends.
package catalogtest

import (
	"context"
	"database/sql"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/shopworks/shop/platform/dbx"
	"github.com/shopworks/shop/platform/invalidation"
	"github.com/shopworks/shop/platform/redisx"
	"github.com/shopworks/shop/platform/testkit"
	"github.com/shopworks/shop/product-service/internal/catalog"
	"github.com/shopworks/shop/product-service/internal/httpapi"
	"github.com/shopworks/shop/product-service/internal/localcache"
	"github.com/shopworks/shop/product-service/internal/messaging"
	"github.com/shopworks/shop/product-service/internal/mysql"
	"github.com/shopworks/shop/product-service/internal/rediscache"
)

// Options choose what differs from the defaults.
type Options struct {
	RedisURL      string            // default: the machine's Redis (a closed port simulates it down)
	DSN           string            // default: a new private database
	Local         *localcache.Cache // default: none
	Service       catalog.Options
	MySQLViaProxy bool // a fault proxy between the service and MariaDB (Stack.MySQL)
	RedisViaProxy bool // a fault proxy between the service and Redis (Stack.Redis)
}

// Stack is a running product-service application layer.
type Stack struct {
	Service                *catalog.Service
	Store                  *mysql.Store
	Docs                   *rediscache.Cache
	Stale                  *invalidation.Queue
	Redis                  redis.UniversalClient // the service's client
	DB                     *sql.DB               // straight to MariaDB, for assertions
	DSN                    string
	Relay                  *Relay
	MySQLProxy, RedisProxy *testkit.Proxy // nil unless asked for
	Prefix                 string         // the Redis key prefix
	Log                    *slog.Logger
}

// Relay counts the outbox relay's wake-ups.
type Relay struct {
	mu sync.Mutex
	n  int
}

// Notify records a wake-up.
func (r *Relay) Notify() { r.mu.Lock(); r.n++; r.mu.Unlock() }

// Count is how many wake-ups there were.
func (r *Relay) Count() int { r.mu.Lock(); defer r.mu.Unlock(); return r.n }

// Start wires and runs the stack until the test ends.
func Start(t testing.TB, o Options) *Stack {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	s := &Stack{Relay: &Relay{}, Log: log}
	dsn := o.DSN
	if dsn == "" {
		dsn = testkit.NewDatabase(t, "product_app")
		require.NoError(t, mysql.Migrate(dsn))
	}
	s.DB, s.DSN = open(t, dsn, false), dsn
	if o.MySQLViaProxy {
		dsn, s.MySQLProxy = testkit.MySQLViaProxy(t, dsn)
	}
	redisURL := o.RedisURL
	if redisURL == "" {
		_, s.Prefix = testkit.Redis(t)
		addr := testkit.RedisAddr()
		if o.RedisViaProxy {
			s.RedisProxy = testkit.NewProxy(t, addr)
			addr = s.RedisProxy.Addr()
		}
		redisURL = "redis://" + addr
	}
	rdb, err := redisx.Open(redisURL, log)
	require.NoError(t, err)
	t.Cleanup(func() { _ = rdb.Close() })
	s.Redis = rdb
	s.Docs = rediscache.New(rdb, s.Prefix, time.Minute)
	s.Stale = invalidation.New(s.Docs.InvalidateMany, invalidation.Options{Name: "product"}, log, nil)
	s.Store = mysql.NewStore(open(t, dsn, false), open(t, dsn, true), mysql.Events{
		Updated: messaging.ProductUpdated, Deleted: messaging.ProductDeleted(time.Now), Results: messaging.StockResults(time.Now),
	}, 0)
	s.Service = catalog.NewService(catalog.Deps{Store: s.Store, Docs: s.Docs, Local: o.Local, Stale: s.Stale, Relay: s.Relay,
		Encode: httpapi.EncodeProduct, Log: log}, o.Service)
	ctx, stop := context.WithCancel(context.Background())
	var running sync.WaitGroup
	running.Go(func() { _ = s.Service.Run(ctx) })
	running.Go(func() { _ = s.Stale.Run(ctx) })
	t.Cleanup(func() { stop(); running.Wait() })
	return s
}

func open(t testing.TB, dsn string, multi bool) *sql.DB {
	t.Helper()
	db, err := dbx.Open(context.Background(), dsn, dbx.PoolConfig{MaxOpen: 16, MultiStatements: multi})
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// Count returns the number of rows of table.
func (s *Stack) Count(t testing.TB, table string) int {
	t.Helper()
	var n int
	require.NoError(t, s.DB.QueryRow("SELECT COUNT(*) FROM "+table).Scan(&n))
	return n
}
