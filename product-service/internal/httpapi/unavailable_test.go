package httpapi_test

import (
	"database/sql"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	apidocs "github.com/shopworks/shop/api"
	"github.com/shopworks/shop/platform/httpx/health"
	"github.com/shopworks/shop/platform/httpx/telemetry"
	"github.com/shopworks/shop/platform/httpx/validate"
	"github.com/shopworks/shop/platform/invalidation"
	"github.com/shopworks/shop/platform/testkit"
	"github.com/shopworks/shop/product-service/internal/catalog"
	"github.com/shopworks/shop/product-service/internal/httpapi"
	"github.com/shopworks/shop/product-service/internal/localcache"
	"github.com/shopworks/shop/product-service/internal/messaging"
	"github.com/shopworks/shop/product-service/internal/mysql"
	"github.com/shopworks/shop/product-service/internal/rediscache"
)

// With MySQL unreachable every operation that needs it answers a 503 problem with Retry-After —
// never a 500, never a hang — and readiness names the dependency.
func TestMySQLDownAnswers503Problems(t *testing.T) {
	rdb, prefix := testkit.Redis(t)
	db, err := sql.Open("mysql", "root@tcp(127.0.0.1:1)/productdb?timeout=500ms")
	require.NoError(t, err)
	defer db.Close()
	log := telemetry.NewLogger(io.Discard, slog.LevelError, "product-service")
	docs := rediscache.New(rdb, prefix, time.Minute)
	store := mysql.NewStore(db, db, mysql.Events{Updated: messaging.ProductUpdated, Deleted: messaging.ProductDeleted(time.Now), Results: messaging.StockResults(time.Now)}, 0)
	products := catalog.NewService(catalog.Deps{Store: store, Docs: docs, Local: (*localcache.Cache)(nil),
		Stale: invalidation.New(docs.InvalidateMany, invalidation.Options{}, log, nil), Relay: &testkit.WakeCounter{}, Encode: httpapi.EncodeProduct, Log: log}, catalog.Options{})
	srv := httpapi.NewServer(httpapi.Deps{
		Catalog: products, OrdersTimeout: time.Second, Log: log,
		Checks: []health.Check{{Name: "mysql", Required: true, Probe: store.Ping}, {Name: "redis", Probe: docs.Ping}},
	})
	h, err := httpapi.NewHandler(srv, httpapi.HandlerConfig{Log: log, Registry: prometheus.NewRegistry()})
	require.NoError(t, err)
	ts := httptest.NewServer(h)
	defer ts.Close()
	spec, err := validate.LoadSpec(apidocs.ProductService())
	require.NoError(t, err)
	client := &http.Client{Transport: testkit.NewContractTransport(t, spec), Timeout: 10 * time.Second}

	for _, c := range []struct{ method, path, body string }{
		{"GET", "/products/1", ""},
		{"GET", "/products", ""},
		{"POST", "/products", `{"name":"Lamp","price":19.99,"qty":3}`},
		{"PUT", "/products/1", `{"name":"Lamp","price":19.99,"qty":3}`},
		{"PATCH", "/products/1", `{"qty":4}`},
		{"DELETE", "/products/1", ""},
	} {
		req, err := http.NewRequest(c.method, ts.URL+c.path, strings.NewReader(c.body))
		require.NoError(t, err)
		if c.body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := client.Do(req)
		require.NoError(t, err)
		var p map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&p))
		_ = resp.Body.Close()
		assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, c.method+" "+c.path)
		assert.Equal(t, "SERVICE_UNAVAILABLE", p["code"], c.method+" "+c.path)
		assert.Equal(t, "1", resp.Header.Get("Retry-After"), c.method+" "+c.path)
	}
	resp, err := client.Get(ts.URL + "/readyz")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Contains(t, string(body), `"mysql"`)
}
