// Package redisx owns how the services connect to Redis: short dial, read and write timeouts
// (a cache that is slow to fail would make every request slow while Redis is down) and a pool
// sized for a few thousand requests per second.
package redisx

import (
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Timeout bounds dialing and each command.
const Timeout = 250 * time.Millisecond

// Open returns a client for url (redis://host:port/db).
func Open(url string) (*redis.Client, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout = Timeout, Timeout, Timeout
	opts.PoolSize = 64
	return redis.NewClient(opts), nil
}
