// Package orderingtest starts order-service's application layer for tests the way app.Run wires
// it — an ordering.Service over a private MariaDB database, the machine's Redis through the
// circuit-broken client, and the cache-invalidation queue — and stops it when the test ends.
package orderingtest

import (
	"context"
	"database/sql"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shopworks/shop/clients/money"
	"github.com/shopworks/shop/order-service/internal/messaging"
	"github.com/shopworks/shop/order-service/internal/mysql"
	"github.com/shopworks/shop/order-service/internal/ordering"
	"github.com/shopworks/shop/order-service/internal/rediscache"
	"github.com/shopworks/shop/platform/invalidation"
	"github.com/shopworks/shop/platform/testkit"
)

// Options choose what differs from the defaults.
type Options struct {
	Prices   ordering.PriceSource // default: Fixed, every product at 1.00 with plenty of stock
	RedisURL string               // default: the machine's Redis (a closed port simulates it down)
	DSN      string               // default: a new private database
	Service  ordering.Options
	Store    mysql.Options
	// MySQLViaProxy puts a fault proxy between the service and MariaDB (Stack.MySQL).
	MySQLViaProxy bool
	// RedisViaProxy puts a fault proxy between the service and Redis (Stack.Redis).
	RedisViaProxy bool
}

// Stack is a running order-service application layer.
type Stack struct {
	Service    *ordering.Service
	Store      *mysql.Store
	Pages      *rediscache.Cache
	Stale      *invalidation.Queue
	DB         *sql.DB // straight to MariaDB, for assertions
	DSN        string  // of the database, straight to MariaDB (for a second replica)
	Relay      *testkit.WakeCounter
	MySQLProxy *testkit.Proxy // nil unless Options.MySQLViaProxy
	RedisProxy *testkit.Proxy // nil unless Options.RedisViaProxy
	Prefix     string         // the Redis key prefix
	Log        *slog.Logger
}

// Fixed is a PriceSource that knows every product at one price with plenty of stock.
type Fixed struct{ Price money.Amount }

// Get answers the product at the fixed price.
func (f Fixed) Get(_ context.Context, id int64) (ordering.Product, error) {
	p := f.Price
	if p == 0 {
		p = money.FromCents(100)
	}
	return ordering.Product{ID: id, Price: p, Qty: 1 << 30}, nil
}

// Start wires and runs the stack until the test ends.
func Start(t testing.TB, o Options) *Stack {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	b := testkit.StartBackends(t, testkit.BackendOptions{DatabasePrefix: "order_app", Migrate: mysql.Migrate, DSN: o.DSN,
		RedisURL: o.RedisURL, MySQLViaProxy: o.MySQLViaProxy, RedisViaProxy: o.RedisViaProxy})
	s := &Stack{Relay: &testkit.WakeCounter{}, Log: log, DB: b.Direct, DSN: b.DSN, Prefix: b.Prefix,
		MySQLProxy: b.MySQLProxy, RedisProxy: b.RedisProxy}
	rdb := b.Redis
	if o.Prices == nil {
		o.Prices = Fixed{}
	}
	s.Pages = rediscache.New(rdb, s.Prefix, time.Minute)
	s.Stale = invalidation.New(s.Pages.InvalidateMany, invalidation.Options{Name: "orders"}, log, nil)
	s.Store = mysql.NewStore(b.Pool, b.MultiPool,
		mysql.Events{Created: messaging.OrderCreated, Cancelled: messaging.OrderCancelled(time.Now)}, o.Store)
	s.Service = ordering.NewService(ordering.Deps{Store: s.Store, Prices: o.Prices, Pages: s.Pages, Stale: s.Stale, Relay: s.Relay, Log: log}, o.Service)
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

// Settle applies one stock result to the order, as a stock.results naming it would.
func Settle(t testing.TB, svc *ordering.Service, id int64, reserved bool, reason string) ordering.SettleResult {
	t.Helper()
	o, err := svc.GetOrder(context.Background(), id)
	require.NoError(t, err)
	res, err := svc.Settle(context.Background(), []ordering.Settlement{{OrderID: id, ProductID: o.ProductID, Qty: o.Qty, Token: o.Token, Reserved: reserved, Reason: reason}})
	require.NoError(t, err)
	return res[0]
}
