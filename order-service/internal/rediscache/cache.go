// Package rediscache is order-service's cache of GET /orders/product/{id} pages in Redis (60 s),
// implementing ordering.PageCache. Each page key carries the product's generation
// (orders:product:{id}:g{gen}:…); InvalidateMany bumps the generations of the products a commit
// changed (run off the write path by an invalidation.Queue), so a reader that loaded before the
// write can only store its page under the old generation, which nobody reads any more — a racing
// miss cannot re-cache stale data. The client's circuit breaker (redisx) makes a failing Redis
// cost nothing: calls fail at once and the service reads MySQL.
package rediscache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shopworks/shop/order-service/internal/ordering"
)

const generationTTL = 24 * time.Hour

// Cache is the orders-by-product page cache.
type Cache struct {
	rdb    redis.UniversalClient
	prefix string
	ttl    time.Duration
}

var _ ordering.PageCache = (*Cache)(nil)

// New returns a cache over rdb with keys under prefix.
func New(rdb redis.UniversalClient, prefix string, ttl time.Duration) *Cache {
	return &Cache{rdb: rdb, prefix: prefix, ttl: ttl}
}

func (c *Cache) base(productID int64) string {
	return c.prefix + "orders:product:" + strconv.FormatInt(productID, 10)
}

// Lookup returns the cached page (ok = false on a miss) and the key to store a loaded page under,
// which carries the generation current now.
func (c *Cache) Lookup(ctx context.Context, productID, before int64, limit int) (ordering.Page, bool, ordering.PageKey, error) {
	gen, err := c.rdb.Get(ctx, c.base(productID)+":gen").Result()
	if errors.Is(err, redis.Nil) {
		gen = "0"
	} else if err != nil {
		return ordering.Page{}, false, "", fmt.Errorf("read orders generation of product %d: %w", productID, err)
	}
	key := ordering.PageKey(fmt.Sprintf("%s:g%s:b%d:l%d", c.base(productID), gen, before, limit))
	b, err := c.rdb.Get(ctx, string(key)).Bytes()
	if errors.Is(err, redis.Nil) {
		return ordering.Page{}, false, key, nil
	}
	if err != nil {
		return ordering.Page{}, false, "", fmt.Errorf("read orders page of product %d: %w", productID, err)
	}
	var p ordering.Page
	if err := json.Unmarshal(b, &p); err != nil {
		return ordering.Page{}, false, key, nil // unreadable (an older format): a miss, overwritten
	}
	return p, true, key, nil
}

// Store keeps a loaded page under the key (and generation) Lookup returned.
func (c *Cache) Store(ctx context.Context, key ordering.PageKey, page ordering.Page) error {
	if key == "" {
		return nil
	}
	b, err := json.Marshal(page)
	if err != nil {
		return fmt.Errorf("encode orders page: %w", err)
	}
	if err := c.rdb.Set(ctx, string(key), b, c.ttl).Err(); err != nil {
		return fmt.Errorf("cache orders page: %w", err)
	}
	return nil
}

// InvalidateMany makes every cached page of the products unreachable, in one round trip.
func (c *Cache) InvalidateMany(ctx context.Context, productIDs []int64) error {
	pipe := c.rdb.Pipeline()
	for _, id := range productIDs {
		pipe.Incr(ctx, c.base(id)+":gen")
		pipe.Expire(ctx, c.base(id)+":gen", generationTTL)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("invalidate orders of %d products: %w", len(productIDs), err)
	}
	return nil
}

// Ping checks Redis for readiness.
func (c *Cache) Ping(ctx context.Context) error { return c.rdb.Ping(ctx).Err() }
