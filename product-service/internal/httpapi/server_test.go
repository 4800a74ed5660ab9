package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	apidocs "github.com/shopworks/shop/api"
	"github.com/shopworks/shop/platform/httpx/health"
	"github.com/shopworks/shop/platform/httpx/telemetry"
	"github.com/shopworks/shop/platform/httpx/validate"
	"github.com/shopworks/shop/platform/testkit"
	"github.com/shopworks/shop/product-service/internal/catalogtest"
	"github.com/shopworks/shop/product-service/internal/httpapi"
)

type fixture struct {
	*catalogtest.Stack
	server *httptest.Server
	client *http.Client
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	return newFixtureWith(t, catalogtest.Options{})
}

// newFixtureWith serves product-service's handler over a running application layer.
func newFixtureWith(t testing.TB, o catalogtest.Options) *fixture {
	t.Helper()
	stack := catalogtest.Start(t, o)
	log := telemetry.NewLogger(io.Discard, slog.LevelError, "product-service")
	srv := httpapi.NewServer(httpapi.Deps{
		Catalog: stack.Service, OrdersTimeout: time.Second, Log: log,
		Checks: []health.Check{{Name: "mysql", Required: true, Probe: stack.Store.Ping}, {Name: "redis", Probe: stack.Docs.Ping}},
	})
	h, err := httpapi.NewHandler(srv, httpapi.HandlerConfig{Log: log, Registry: prometheus.NewRegistry()})
	require.NoError(t, err)
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	spec, err := validate.LoadSpec(apidocs.ProductService())
	require.NoError(t, err)
	return &fixture{Stack: stack, server: ts, client: &http.Client{Transport: testkit.NewContractTransport(t, spec), Timeout: 10 * time.Second}}
}

func (f *fixture) do(t testing.TB, method, path, body string) (*http.Response, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, f.server.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := f.client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	if len(raw) > 0 && raw[0] == '{' {
		require.NoError(t, json.Unmarshal(raw, &out))
	}
	return resp, out
}

func (f *fixture) count(t testing.TB, table string) int { return f.Count(t, table) }

// settled waits until the shared cache's invalidation of id, applied off the write path, is done.
func (f *fixture) settled(t testing.TB, id int64) {
	t.Helper()
	require.Eventually(t, func() bool { return !f.Stale.Pending(id) }, 5*time.Second, time.Millisecond)
}

func TestCatalogCRUDAndCache(t *testing.T) {
	f := newFixture(t)

	resp, p := f.do(t, "POST", "/products", `{"name":"BFF Test","price":1000,"qty":50}`)
	require.Equal(t, 201, resp.StatusCode)
	id := int64(p["id"].(float64))
	assert.Equal(t, fmt.Sprintf("/products/%d", id), resp.Header.Get("Location"))
	assert.Equal(t, 1, f.count(t, "outbox"), "product.updated written with the product")
	f.settled(t, id)

	resp, _ = f.do(t, "GET", fmt.Sprintf("/products/%d", id), "")
	assert.Equal(t, "MISS", resp.Header.Get("X-Cache"))
	resp, got := f.do(t, "GET", fmt.Sprintf("/products/%d", id), "")
	assert.Equal(t, "HIT", resp.Header.Get("X-Cache"))
	assert.EqualValues(t, 1000, got["price"])

	resp, _ = f.do(t, "PUT", fmt.Sprintf("/products/%d", id), `{"name":"Renamed","price":1250.5,"qty":40}`)
	require.Equal(t, 200, resp.StatusCode)
	resp, got = f.do(t, "GET", fmt.Sprintf("/products/%d", id), "")
	assert.Equal(t, "MISS", resp.Header.Get("X-Cache"), "the update invalidated the cache")
	assert.Equal(t, "Renamed", got["name"])
	assert.EqualValues(t, 1250.5, got["price"])

	resp, got = f.do(t, "PATCH", fmt.Sprintf("/products/%d", id), `{"qty":7}`)
	require.Equal(t, 200, resp.StatusCode)
	assert.EqualValues(t, 7, got["qty"])
	assert.Equal(t, "Renamed", got["name"])

	// Rejected requests change nothing and write no event.
	events := f.count(t, "outbox")
	for _, body := range []string{`{"price":-1}`, `{"name":"x","price":1,"qty":1,"extra":1}`, `{"name":" ","price":1,"qty":1}`, `{"name":"x","price":1.234,"qty":1}`} {
		resp, prob := f.do(t, "PUT", fmt.Sprintf("/products/%d", id), body)
		assert.Equal(t, 400, resp.StatusCode, body)
		assert.NotEmpty(t, prob["code"])
	}
	resp, _ = f.do(t, "PATCH", fmt.Sprintf("/products/%d", id), `{}`)
	assert.Equal(t, 400, resp.StatusCode)
	assert.Equal(t, events, f.count(t, "outbox"))
	_, got = f.do(t, "GET", fmt.Sprintf("/products/%d", id), "")
	assert.EqualValues(t, 7, got["qty"])

	resp, prob := f.do(t, "GET", "/products/999999", "")
	assert.Equal(t, 404, resp.StatusCode)
	assert.Equal(t, "PRODUCT_NOT_FOUND", prob["code"])
	for _, m := range []string{"PUT", "DELETE"} {
		body := ""
		if m == "PUT" {
			body = `{"name":"x","price":1,"qty":1}`
		}
		resp, prob = f.do(t, m, "/products/999999", body)
		assert.Equal(t, 404, resp.StatusCode, m)
		assert.Equal(t, "PRODUCT_NOT_FOUND", prob["code"])
	}

	resp, got = f.do(t, "DELETE", fmt.Sprintf("/products/%d", id), "")
	require.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "Renamed", got["name"])
	resp, _ = f.do(t, "GET", fmt.Sprintf("/products/%d", id), "")
	assert.Equal(t, 404, resp.StatusCode, "the deletion invalidated the cache")
	var key string
	require.NoError(t, f.DB.QueryRow("SELECT routing_key FROM outbox ORDER BY id DESC LIMIT 1").Scan(&key))
	assert.Equal(t, "product.deleted", key)
}

func TestListIsBoundedWithKeysetPagination(t *testing.T) {
	f := newFixture(t)
	for i := 0; i < 5; i++ {
		resp, _ := f.do(t, "POST", "/products", fmt.Sprintf(`{"name":"P%d","price":1,"qty":1}`, i))
		require.Equal(t, 201, resp.StatusCode)
	}
	var names []string
	next := "/products?limit=2"
	for next != "" {
		resp, err := f.client.Get(f.server.URL + next)
		require.NoError(t, err)
		var page []map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&page))
		_ = resp.Body.Close()
		for _, p := range page {
			names = append(names, p["name"].(string))
		}
		next = ""
		if link := resp.Header.Get("Link"); link != "" {
			next = link[1:strings.Index(link, ">")]
		}
	}
	assert.Equal(t, []string{"P0", "P1", "P2", "P3", "P4"}, names)
	resp, _ := f.do(t, "GET", "/products?limit=1001", "")
	assert.Equal(t, 400, resp.StatusCode)
}

// TestARacingMissCannotRecacheStaleData: a reader loads the product, an update commits and
// invalidates, then the reader tries to cache what it loaded — and must not succeed.
func TestARacingMissCannotRecacheStaleData(t *testing.T) {
	f := newFixture(t)
	resp, p := f.do(t, "POST", "/products", `{"name":"Old","price":1,"qty":1}`)
	require.Equal(t, 201, resp.StatusCode)
	id := int64(p["id"].(float64))
	ctx := context.Background()

	gen, err := f.Docs.Generation(ctx, id) // the reader's miss starts…
	require.NoError(t, err)
	stale := []byte(`{"name":"Old"}`)
	resp, _ = f.do(t, "PUT", fmt.Sprintf("/products/%d", id), `{"name":"New","price":1,"qty":1}`) // …an update lands…
	require.Equal(t, 200, resp.StatusCode)
	require.Eventually(t, func() bool { return !f.Stale.Pending(id) }, 5*time.Second, time.Millisecond, "…its invalidation is applied…")
	require.NoError(t, f.Docs.SetIfCurrent(ctx, id, gen, stale)) // …and the reader finishes.
	_, cached, err := f.Docs.Get(ctx, id)
	require.NoError(t, err)
	assert.False(t, cached, "the stale value was refused")
	_, got := f.do(t, "GET", fmt.Sprintf("/products/%d", id), "")
	assert.Equal(t, "New", got["name"])

	// And under real concurrency: readers and writers racing, the last GET is the last write.
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, _ = http.Get(fmt.Sprintf("%s/products/%d", f.server.URL, id))
		}()
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("PATCH", fmt.Sprintf("%s/products/%d", f.server.URL, id), strings.NewReader(fmt.Sprintf(`{"qty":%d}`, i+10)))
			req.Header.Set("Content-Type", "application/json")
			if r, err := http.DefaultClient.Do(req); err == nil {
				_ = r.Body.Close()
			}
		}()
	}
	wg.Wait()
	var dbQty int
	require.NoError(t, f.DB.QueryRow("SELECT qty FROM products WHERE id = ?", id).Scan(&dbQty))
	for i := 0; i < 3; i++ {
		_, got = f.do(t, "GET", fmt.Sprintf("/products/%d", id), "")
		assert.EqualValues(t, dbQty, got["qty"], "no stale value survives")
	}
}

// TestRedisDownServesFromMySQL points the cache at a closed port.
func TestRedisDownServesFromMySQL(t *testing.T) {
	ln, err := (&net0{}).closedAddr()
	require.NoError(t, err)
	f := newFixtureWith(t, catalogtest.Options{RedisURL: "redis://" + ln})
	resp, p := f.do(t, "POST", "/products", `{"name":"NoCache","price":1,"qty":1}`)
	require.Equal(t, 201, resp.StatusCode)
	for i := 0; i < 3; i++ {
		resp, got := f.do(t, "GET", fmt.Sprintf("/products/%v", p["id"]), "")
		require.Equal(t, 200, resp.StatusCode)
		assert.Equal(t, "MISS", resp.Header.Get("X-Cache"))
		assert.Equal(t, "NoCache", got["name"])
	}
	resp, ready := f.do(t, "GET", "/readyz", "")
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "degraded", ready["status"])
}

// TestInjectionStringsAreJustData sends SQL injection strings in every field and parameter: they
// are stored and returned verbatim or rejected with 400, and nothing else in the database changes.
func TestInjectionStringsAreJustData(t *testing.T) {
	f := newFixture(t)
	attacks := []string{`'; DROP TABLE products; --`, `" OR "1"="1`, `1; DELETE FROM outbox`, `\'); SELECT SLEEP(5); --`, "Robert'); DROP TABLE processed_orders;--"}
	for _, a := range attacks {
		body, _ := json.Marshal(map[string]any{"name": a, "price": 1, "qty": 1})
		resp, p := f.do(t, "POST", "/products", string(body))
		require.Equal(t, 201, resp.StatusCode, a)
		_, got := f.do(t, "GET", fmt.Sprintf("/products/%v", p["id"]), "")
		assert.Equal(t, a, got["name"], "stored verbatim")
		patch, _ := json.Marshal(map[string]any{"name": a + "x"})
		resp, _ = f.do(t, "PATCH", fmt.Sprintf("/products/%v", p["id"]), string(patch))
		assert.Equal(t, 200, resp.StatusCode)
	}
	// A query pair with ';' is refused (net/http would drop it silently and answer as if no limit).
	for _, path := range []string{"/products?limit=1;DROP%20TABLE%20products", "/products/1%20OR%201=1", "/products?after=1%20OR%201=1", "/products?limit=1%20OR%201", "/products/1'--"} {
		resp, err := http.Get(f.server.URL + path)
		require.NoError(t, err)
		_ = resp.Body.Close()
		assert.Equal(t, 400, resp.StatusCode, path)
	}
	assert.Equal(t, len(attacks), f.count(t, "products"), "every table is intact")
	assert.Equal(t, 2*len(attacks), f.count(t, "outbox"))
	assert.Zero(t, f.count(t, "processed_orders"))
}
