package httpapi_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shopworks/shop/product-service/internal/catalogtest"
	"github.com/shopworks/shop/product-service/internal/localcache"
)

// With the in-process cache: a hot product is served without Redis, this replica's own writes
// are visible at once, and another replica's writes within the local TTL.
func TestLocalCacheInFrontOfRedis(t *testing.T) {
	f := newFixtureWith(t, catalogtest.Options{Local: localcache.New(300*time.Millisecond, 100)})
	resp, p := f.do(t, "POST", "/products", `{"name":"Hot","price":10,"qty":5}`)
	require.Equal(t, 201, resp.StatusCode)
	path := fmt.Sprintf("/products/%d", int64(p["id"].(float64)))

	resp, _ = f.do(t, "GET", path, "")
	assert.Equal(t, "MISS", resp.Header.Get("X-Cache"))
	// Served from the process even with Redis emptied behind its back.
	require.NoError(t, f.Docs.InvalidateMany(context.Background(), []int64{int64(p["id"].(float64))}))
	resp, got := f.do(t, "GET", path, "")
	assert.Equal(t, "HIT", resp.Header.Get("X-Cache"))
	assert.EqualValues(t, 5, got["qty"])

	// This replica's write: visible at once.
	resp, _ = f.do(t, "PATCH", path, `{"qty":4}`)
	require.Equal(t, 200, resp.StatusCode)
	_, got = f.do(t, "GET", path, "")
	assert.EqualValues(t, 4, got["qty"])

	// Another replica's write (MySQL changed, Redis invalidated there): visible within the TTL.
	_, err := f.DB.Exec("UPDATE products SET qty = 3 WHERE id = ?", int64(p["id"].(float64)))
	require.NoError(t, err)
	require.NoError(t, f.Docs.InvalidateMany(context.Background(), []int64{int64(p["id"].(float64))}))
	require.Eventually(t, func() bool {
		_, got := f.do(t, "GET", path, "")
		return got["qty"] == float64(3)
	}, 5*time.Second, 50*time.Millisecond)
}
