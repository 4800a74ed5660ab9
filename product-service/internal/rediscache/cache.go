// Package rediscache is product-service's cache-aside store for GET /products/{id} in Redis
// (key product:{id}, 60 s). Stale values cannot survive an invalidation: every write bumps a
// per-product generation after its commit, and a reader only stores what it loaded if the
// generation it saw before loading is still current (checked and set atomically in a Lua
// script). Redis is an optimisation: when it fails, callers fall through to MySQL, and the cache
// stops trying for a moment instead of adding a timeout to every request.
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

// backoff is how long the cache stays bypassed after a Redis error.
const backoff = time.Second

// Cache is the product cache.
type Cache struct {
	rdb       redis.UniversalClient
	prefix    string
	ttl       time.Duration
	downUntil atomic.Int64 // unix nanos; Redis is skipped until then
	now       func() time.Time
}

// New returns a cache over rdb with keys under prefix.
func New(rdb redis.UniversalClient, prefix string, ttl time.Duration) *Cache {
	return &Cache{rdb: rdb, prefix: prefix, ttl: ttl, now: time.Now}
}

// ErrBypassed is returned while the cache is skipped after a Redis failure.
var ErrBypassed = errors.New("redis cache bypassed after a recent failure")

func (c *Cache) key(id int64) string    { return c.prefix + "product:" + strconv.FormatInt(id, 10) }
func (c *Cache) genKey(id int64) string { return c.key(id) + ":gen" }

func (c *Cache) usable() bool { return c.now().UnixNano() >= c.downUntil.Load() }

func (c *Cache) failed(err error) error {
	if err != nil && !errors.Is(err, redis.Nil) {
		c.downUntil.Store(c.now().Add(backoff).UnixNano())
	}
	return err
}

// Get returns the cached JSON of a product, (nil, nil) on a miss, or an error when Redis fails.
func (c *Cache) Get(ctx context.Context, id int64) ([]byte, error) {
	if !c.usable() {
		return nil, ErrBypassed
	}
	b, err := c.rdb.Get(ctx, c.key(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get cached product %d: %w", id, c.failed(err))
	}
	return b, nil
}

// Generation reads the product's generation before a load from MySQL.
func (c *Cache) Generation(ctx context.Context, id int64) (string, error) {
	if !c.usable() {
		return "", ErrBypassed
	}
	g, err := c.rdb.Get(ctx, c.genKey(id)).Result()
	if errors.Is(err, redis.Nil) {
		return "0", nil
	}
	if err != nil {
		return "", fmt.Errorf("read generation of product %d: %w", id, c.failed(err))
	}
	return g, nil
}

// SetIfCurrent stores value unless the product was invalidated since gen was read.
func (c *Cache) SetIfCurrent(ctx context.Context, id int64, gen string, value []byte) (bool, error) {
	if !c.usable() {
		return false, ErrBypassed
	}
	n, err := setIfGeneration.Run(ctx, c.rdb, []string{c.key(id), c.genKey(id)}, gen, value, c.ttl.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("cache product %d: %w", id, c.failed(err))
	}
	return n == 1, nil
}

// Invalidate bumps the generation, then deletes the value; call it after the change committed.
// It is attempted even while the cache is bypassed: a missed invalidation is what must not happen.
func (c *Cache) Invalidate(ctx context.Context, id int64) error {
	pipe := c.rdb.TxPipeline()
	pipe.Incr(ctx, c.genKey(id))
	pipe.Expire(ctx, c.genKey(id), generationTTL)
	pipe.Del(ctx, c.key(id))
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("invalidate product %d: %w", id, c.failed(err))
	}
	return nil
}

// Ping checks Redis for readiness (ignores the bypass).
func (c *Cache) Ping(ctx context.Context) error { return c.rdb.Ping(ctx).Err() }
