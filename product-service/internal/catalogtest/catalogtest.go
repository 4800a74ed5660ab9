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

	"github.com/shopworks/shop/platform/invalidation"
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
	Relay                  *testkit.WakeCounter
	MySQLProxy, RedisProxy *testkit.Proxy // nil unless asked for
	Prefix                 string         // the Redis key prefix
	Log                    *slog.Logger
}

// Start wires and runs the stack until the test ends.
func Start(t testing.TB, o Options) *Stack {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	b := testkit.StartBackends(t, testkit.BackendOptions{DatabasePrefix: "product_app", Migrate: mysql.Migrate, DSN: o.DSN,
		RedisURL: o.RedisURL, MySQLViaProxy: o.MySQLViaProxy, RedisViaProxy: o.RedisViaProxy})
	s := &Stack{Relay: &testkit.WakeCounter{}, Log: log, DB: b.Direct, DSN: b.DSN, Prefix: b.Prefix,
		MySQLProxy: b.MySQLProxy, RedisProxy: b.RedisProxy}
	rdb := b.Redis
	s.Redis = rdb
	s.Docs = rediscache.New(rdb, s.Prefix, time.Minute)
	s.Stale = invalidation.New(s.Docs.InvalidateMany, invalidation.Options{Name: "product"}, log, nil)
	s.Store = mysql.NewStore(b.Pool, b.MultiPool, mysql.Events{
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

// Count returns the number of rows of table.
func (s *Stack) Count(t testing.TB, table string) int {
	t.Helper()
	var n int
	require.NoError(t, s.DB.QueryRow("SELECT COUNT(*) FROM "+table).Scan(&n))
	return n
}
