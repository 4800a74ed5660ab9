package rediscache_test

import (
	"context"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shopworks/shop/clients/money"
	"github.com/shopworks/shop/order-service/internal/ordering"
	"github.com/shopworks/shop/order-service/internal/rediscache"
	"github.com/shopworks/shop/platform/redisx"
	"github.com/shopworks/shop/platform/testkit"
)

func page(ids ...int64) ordering.Page {
	p := ordering.Page{More: true}
	for _, id := range ids {
		p.Orders = append(p.Orders, ordering.Order{ID: id, ProductID: 7, Qty: 1, UnitPrice: money.FromCents(150), TotalPrice: money.FromCents(150),
			Status: ordering.Confirmed, CreatedAt: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC), UpdatedAt: time.Date(2026, 11, 25, 10, 0, 1, 0, time.UTC)})
	}
	return p
}

func TestPagesAreKeyedByGeneration(t *testing.T) {
	rdb, prefix := testkit.Redis(t)
	c := rediscache.New(rdb, prefix, time.Minute)
	ctx := context.Background()
	_, ok, key, err := c.Lookup(ctx, 7, 0, 100)
	require.NoError(t, err)
	assert.False(t, ok)
	require.NoError(t, c.Store(ctx, key, page(2, 1)))
	got, ok, _, err := c.Lookup(ctx, 7, 0, 100)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, page(2, 1), got, "a page comes back exactly as stored")

	// A page looked up before an invalidation is stored under the old generation: never served.
	_, _, stale, err := c.Lookup(ctx, 7, 0, 100)
	require.NoError(t, err)
	require.NoError(t, c.InvalidateMany(ctx, []int64{7, 8}))
	require.NoError(t, c.Store(ctx, stale, page(1)))
	_, ok, _, err = c.Lookup(ctx, 7, 0, 100)
	require.NoError(t, err)
	assert.False(t, ok)
	require.NoError(t, c.Store(ctx, "", page(1)), "an empty key (Redis was down at lookup) stores nothing")
	require.NoError(t, c.Ping(ctx))
}

func TestRedisDownFailsFastThroughTheBreaker(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	rdb, err := redisx.Open("redis://"+addr, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	defer rdb.Close()
	c := rediscache.New(rdb, "x:", time.Minute)
	ctx := context.Background()
	for range redisx.TripAfter {
		_, _, _, err = c.Lookup(ctx, 1, 0, 10)
		require.Error(t, err)
	}
	_, _, _, err = c.Lookup(ctx, 1, 0, 10)
	require.ErrorIs(t, err, redisx.ErrUnavailable, "no timeout per request while Redis is known down")
	require.ErrorIs(t, c.InvalidateMany(ctx, []int64{1}), redisx.ErrUnavailable)
	require.ErrorIs(t, c.Store(ctx, "k", page(1)), redisx.ErrUnavailable)
	require.Error(t, c.Ping(ctx))
}
