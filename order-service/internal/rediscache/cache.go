// Package rediscache is order-service's cache of GET /orders/product/{id} pages in Redis (60 s).
// Each page key carries the product's generation (orders:product:{id}:g{gen}:…); every write
// bumps the generation after its commit, so a reader that loaded before the write can only store
// its page under the old generation, which nobody reads any more — a racing miss cannot
// re-cache stale data. Redis failures fall through to MySQL and bypass the cache for a moment.
package rediscache

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

const (
	generationTTL = 24 * time.Hour
	backoff       = time.Second
)

// ErrBypassed is returned while the cache is skipped after a Redis failure.
var ErrBypassed = errors.New("redis cache bypassed after a recent failure")

// Cache is the orders-by-product page cache.
type Cache struct {
	rdb       redis.UniversalClient
	prefix    string
	ttl       time.Duration
	downUntil atomic.Int64
}

// New returns a cache over rdb with keys under prefix.
func New(rdb redis.UniversalClient, prefix string, ttl time.Duration) *Cache {
	return &Cache{rdb: rdb, prefix: prefix, ttl: ttl}
}

func (c *Cache) base(productID int64) string {
	return c.prefix + "orders:product:" + strconv.FormatInt(productID, 10)
}

func (c *Cache) failed(err error) error {
	if err != nil && !errors.Is(err, redis.Nil) {
		c.downUntil.Store(time.Now().Add(backoff).UnixNano())
	}
	return err
}

// Page is a handle on one page's key under the generation current when it was looked up.
type Page struct{ key string }

// Lookup returns the cached page (nil on a miss) and the handle to store a loaded page under.
func (c *Cache) Lookup(ctx context.Context, productID, after int64, limit int) ([]byte, Page, error) {
	if time.Now().UnixNano() < c.downUntil.Load() {
		return nil, Page{}, ErrBypassed
	}
	gen, err := c.rdb.Get(ctx, c.base(productID)+":gen").Result()
	if errors.Is(err, redis.Nil) {
		gen = "0"
	} else if err != nil {
		return nil, Page{}, fmt.Errorf("read orders generation of product %d: %w", productID, c.failed(err))
	}
	p := Page{key: fmt.Sprintf("%s:g%s:a%d:l%d", c.base(productID), gen, after, limit)}
	b, err := c.rdb.Get(ctx, p.key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, p, nil
	}
	if err != nil {
		return nil, Page{}, fmt.Errorf("read orders page of product %d: %w", productID, c.failed(err))
	}
	return b, p, nil
}

// Store keeps a loaded page under the generation it was looked up with.
func (c *Cache) Store(ctx context.Context, p Page, value []byte) error {
	if p.key == "" {
		return nil
	}
	if err := c.rdb.Set(ctx, p.key, value, c.ttl).Err(); err != nil {
		return fmt.Errorf("cache orders page: %w", c.failed(err))
	}
	return nil
}

// Invalidate makes every cached page of the product unreachable; call it after a commit.
func (c *Cache) Invalidate(ctx context.Context, productID int64) error {
	pipe := c.rdb.TxPipeline()
	pipe.Incr(ctx, c.base(productID)+":gen")
	pipe.Expire(ctx, c.base(productID)+":gen", generationTTL)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("invalidate orders of product %d: %w", productID, c.failed(err))
	}
	return nil
}

// Ping checks Redis for readiness.
func (c *Cache) Ping(ctx context.Context) error { return c.rdb.Ping(ctx).Err() }
