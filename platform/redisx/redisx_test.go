package redisx_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shopworks/shop/platform/redisx"
	"github.com/shopworks/shop/platform/testkit"
)

var quiet = slog.New(slog.DiscardHandler)

func TestOpenSetsShortTimeouts(t *testing.T) {
	c, err := redisx.Open("redis://127.0.0.1:6379/2", quiet)
	require.NoError(t, err)
	defer c.Close()
	assert.Equal(t, redisx.Timeout, c.Options().ReadTimeout)
	assert.Equal(t, 2, c.Options().DB)
	_, err = redisx.Open("http://nope", quiet)
	assert.ErrorContains(t, err, "REDIS_URL")
}

// throughProxy returns a client that reaches the machine's Redis through a fault proxy.
func throughProxy(t *testing.T) (*redis.Client, *testkit.Proxy, string) {
	t.Helper()
	_, prefix := testkit.Redis(t) // fails (CI) or skips when there is no Redis
	p := testkit.NewProxy(t, testkit.RedisAddr())
	c, err := redisx.Open("redis://"+p.Addr(), quiet)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c, p, prefix
}

// untilOpen sends commands until the breaker answers ErrUnavailable.
func untilOpen(t *testing.T, c *redis.Client, key string) {
	t.Helper()
	require.Eventually(t, func() bool {
		return errors.Is(c.Get(context.Background(), key).Err(), redisx.ErrUnavailable)
	}, 10*time.Second, time.Millisecond, "the breaker opens after repeated failures")
}

func TestARefusingRedisOpensTheBreakerAndItClosesWhenRedisIsBack(t *testing.T) {
	c, p, prefix := throughProxy(t)
	ctx := context.Background()
	require.NoError(t, c.Set(ctx, prefix+"k", "v", time.Minute).Err())
	p.Down()
	untilOpen(t, c, prefix+"k")
	_, err := c.Pipelined(ctx, func(pipe redis.Pipeliner) error { pipe.Get(ctx, prefix+"k"); return nil })
	assert.ErrorIs(t, err, redisx.ErrUnavailable, "pipelines are refused too")
	p.Up()
	require.Eventually(t, func() bool {
		v, err := c.Get(ctx, prefix+"k").Result()
		return err == nil && v == "v"
	}, 10*time.Second, 10*time.Millisecond, "a probe after the open period closes the breaker")
}

func TestAFrozenRedisCostsOneShortTimeoutThenNothing(t *testing.T) {
	c, p, prefix := throughProxy(t)
	ctx := context.Background()
	require.NoError(t, c.Ping(ctx).Err())
	p.Freeze()
	defer p.Thaw()
	err := c.Get(ctx, prefix+"k").Err()
	require.Error(t, err)
	var ne interface{ Timeout() bool }
	assert.True(t, errors.As(err, &ne) && ne.Timeout(), "the command times out instead of hanging: %v", err)
	untilOpen(t, c, prefix+"k")
	p.Thaw()
}

func TestAMissIsNotAFailure(t *testing.T) {
	c, _, prefix := throughProxy(t)
	for range 2 * redisx.TripAfter {
		require.ErrorIs(t, c.Get(context.Background(), prefix+"absent").Err(), redis.Nil)
	}
	require.NoError(t, c.Ping(context.Background()).Err(), "misses never open the breaker")
}
