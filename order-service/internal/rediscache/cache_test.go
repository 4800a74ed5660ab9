package rediscache_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shopworks/shop/order-service/internal/rediscache"
	"github.com/shopworks/shop/platform/testkit"
)

func TestPagesAreKeyedByGeneration(t *testing.T) {
	rdb, prefix := testkit.Redis(t)
	c := rediscache.New(rdb, prefix, time.Minute)
	ctx := context.Background()
	b, page, err := c.Lookup(ctx, 7, 0, 100)
	require.NoError(t, err)
	assert.Nil(t, b)
	require.NoError(t, c.Store(ctx, page, []byte(`[1]`)))
	b, _, err = c.Lookup(ctx, 7, 0, 100)
	require.NoError(t, err)
	assert.Equal(t, `[1]`, string(b))

	// A page looked up before an invalidation is stored under the old generation: never served.
	_, stale, err := c.Lookup(ctx, 7, 0, 100)
	require.NoError(t, err)
	require.NoError(t, c.Invalidate(ctx, 7))
	require.NoError(t, c.Store(ctx, stale, []byte(`[old]`)))
	b, _, err = c.Lookup(ctx, 7, 0, 100)
	require.NoError(t, err)
	assert.Nil(t, b)
	require.NoError(t, c.Store(ctx, rediscache.Page{}, []byte(`x`)), "an empty handle (Redis was down at lookup) stores nothing")
	require.NoError(t, c.Ping(ctx))
}

func TestRedisDownIsReportedThenBypassed(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	defer rdb.Close()
	c := rediscache.New(rdb, "x:", time.Minute)
	ctx := context.Background()
	_, _, err := c.Lookup(ctx, 1, 0, 10)
	require.Error(t, err)
	assert.NotErrorIs(t, err, rediscache.ErrBypassed)
	_, _, err = c.Lookup(ctx, 1, 0, 10)
	require.ErrorIs(t, err, rediscache.ErrBypassed, "no timeout per request while Redis is known down")
	require.Error(t, c.Invalidate(ctx, 1))
	require.Error(t, c.Ping(ctx))
}
