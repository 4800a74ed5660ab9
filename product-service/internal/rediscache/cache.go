// Package rediscache is product-service's shared cache of GET /products/{id} in Redis (key
// product:{id}, 60 s), implementing catalog.DocumentCache. Stale values cannot survive an
// invalidation: InvalidateMany (run off the write path by an invalidation.Queue after the commit)
// bumps each product's generation and deletes its value, and a reader only stores what it loaded
// if the generation it saw before loading is still current (checked and set atomically in a Lua
// script). The client's circuit breaker (redisx) makes a failing Redis cost nothing: calls fail
// at once and the service reads MySQL.
package rediscache

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shopworks/shop/product-service/internal/catalog"
)

// setIfGeneration stores ARGV[2] under KEYS[1] for ARGV[3] ms only when KEYS[2] (the generation)
// still equals ARGV[1]; a missing generation counts as "0".
var setIfGeneration = redis.NewScript(`
local gen = redis.call('GET', KEYS[2]) or '0'
if gen == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0`)

// generationTTL keeps generation counters long after any value they guard has expired.
const generationTTL = 24 * time.Hour

// Cache is the product cache.
type Cache struct {
	rdb    redis.UniversalClient
	prefix string
	ttl    time.Duration
}

var _ catalog.DocumentCache = (*Cache)(nil)

// New returns a cache over rdb with keys under prefix.
func New(rdb redis.UniversalClient, prefix string, ttl time.Duration) *Cache {
	return &Cache{rdb: rdb, prefix: prefix, ttl: ttl}
}

func (c *Cache) key(id int64) string    { return c.prefix + "product:" + strconv.FormatInt(id, 10) }
func (c *Cache) genKey(id int64) string { return c.key(id) + ":gen" }

// Get returns the cached document of a product; ok = false on a miss.
func (c *Cache) Get(ctx context.Context, id int64) ([]byte, bool, error) {
	b, err := c.rdb.Get(ctx, c.key(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("get cached product %d: %w", id, err)
	}
	return b, true, nil
}

// Generation reads the product's generation before a load from MySQL.
func (c *Cache) Generation(ctx context.Context, id int64) (string, error) {
	g, err := c.rdb.Get(ctx, c.genKey(id)).Result()
	if errors.Is(err, redis.Nil) {
		return "0", nil
	}
	if err != nil {
		return "", fmt.Errorf("read generation of product %d: %w", id, err)
	}
	return g, nil
}

// SetIfCurrent stores doc unless the product was invalidated since gen was read.
func (c *Cache) SetIfCurrent(ctx context.Context, id int64, gen string, doc []byte) error {
	if err := setIfGeneration.Run(ctx, c.rdb, []string{c.key(id), c.genKey(id)}, gen, doc, c.ttl.Milliseconds()).Err(); err != nil {
		return fmt.Errorf("cache product %d: %w", id, err)
	}
	return nil
}

// InvalidateMany bumps the products' generations and deletes their values, in one round trip.
func (c *Cache) InvalidateMany(ctx context.Context, ids []int64) error {
	pipe := c.rdb.Pipeline()
	for _, id := range ids {
		pipe.Incr(ctx, c.genKey(id))
		pipe.Expire(ctx, c.genKey(id), generationTTL)
		pipe.Del(ctx, c.key(id))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("invalidate %d products: %w", len(ids), err)
	}
	return nil
}

// Ping checks Redis for readiness.
func (c *Cache) Ping(ctx context.Context) error { return c.rdb.Ping(ctx).Err() }
