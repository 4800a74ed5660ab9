package httpapi_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
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
	"github.com/shopworks/shop/clients/money"
	"github.com/shopworks/shop/clients/productclient"
	"github.com/shopworks/shop/order-service/internal/httpapi"
	"github.com/shopworks/shop/order-service/internal/messaging"
	"github.com/shopworks/shop/order-service/internal/mysql"
	"github.com/shopworks/shop/order-service/internal/ordering"
	"github.com/shopworks/shop/order-service/internal/pricing"
	"github.com/shopworks/shop/order-service/internal/producttest"
	"github.com/shopworks/shop/order-service/internal/rediscache"
	"github.com/shopworks/shop/platform/httpx/health"
	"github.com/shopworks/shop/platform/httpx/telemetry"
	"github.com/shopworks/shop/platform/httpx/validate"
	"github.com/shopworks/shop/platform/invalidation"
	"github.com/shopworks/shop/platform/testkit"
)

// With MySQL unreachable, order-service answers 503 problems with Retry-After — never a 500 —
// and readiness names MySQL; with product-service unreachable, an order for an unknown price is
// a 503 PRODUCT_SERVICE_UNAVAILABLE.
func TestDependenciesDownAnswer503Problems(t *testing.T) {
	rdb, prefix := testkit.Redis(t)
	db, err := sql.Open("mysql", "root@tcp(127.0.0.1:1)/orderdb?timeout=500ms")
	require.NoError(t, err)
	defer db.Close()
	catalog, products := producttest.Start(t)
	p := catalog.Add("Lamp", money.FromCents(1000), 10)
	pc, err := productclient.New(products.URL, productclient.Options{Timeout: time.Second})
	require.NoError(t, err)
	prices := pricing.New(pricing.ProductServiceLoader(pc), pricing.Options{})
	defer prices.Close()
	log := telemetry.NewLogger(io.Discard, slog.LevelError, "order-service")
	pages := rediscache.New(rdb, prefix, time.Minute)
	store := mysql.NewStore(db, db, mysql.Events{Created: messaging.OrderCreated, Cancelled: messaging.OrderCancelled(time.Now)}, mysql.Options{})
	orders := ordering.NewService(ordering.Deps{Store: store, Prices: prices, Pages: pages,
		Stale: invalidation.New(pages.InvalidateMany, invalidation.Options{}, log, nil), Relay: &testkit.WakeCounter{}, Log: log}, ordering.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- orders.Run(ctx) }()
	defer func() { cancel(); <-done }()
	srv := httpapi.NewServer(httpapi.Deps{
		Orders: orders, Log: log,
		Checks: []health.Check{{Name: "mysql", Required: true, Probe: store.Ping}, {Name: "redis", Probe: pages.Ping}},
	})
	h, err := httpapi.NewHandler(srv, httpapi.HandlerConfig{Log: log, Registry: prometheus.NewRegistry()})
	require.NoError(t, err)
	ts := httptest.NewServer(h)
	defer ts.Close()
	spec, err := validate.LoadSpec(apidocs.OrderService())
	require.NoError(t, err)
	client := &http.Client{Transport: testkit.NewContractTransport(t, spec), Timeout: 10 * time.Second}

	call := func(method, path, body string, hdr ...string) (*http.Response, map[string]any) {
		req, err := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
		require.NoError(t, err)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := client.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp, out
	}
	order := fmt.Sprintf(`{"productId":%d,"qty":1}`, p.Id)
	for _, c := range []struct {
		method, path, body string
		hdr                []string
	}{
		{"POST", "/orders", order, nil},
		{"POST", "/orders", order, []string{"Idempotency-Key", "k-1"}},
		{"GET", "/orders/1", "", nil},
		{"GET", fmt.Sprintf("/orders/product/%d", p.Id), "", nil},
	} {
		resp, body := call(c.method, c.path, c.body, c.hdr...)
		assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, c.method+" "+c.path)
		assert.Equal(t, "SERVICE_UNAVAILABLE", body["code"], c.method+" "+c.path)
		assert.Equal(t, "1", resp.Header.Get("Retry-After"), c.method+" "+c.path)
	}
	resp, body := call("GET", "/readyz", "")
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Contains(t, fmt.Sprint(body["checks"]), "mysql")

	// Product-service gone: a product whose price is not cached cannot be ordered.
	products.Close()
	resp, body = call("POST", "/orders", `{"productId":999,"qty":1}`)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Equal(t, "PRODUCT_SERVICE_UNAVAILABLE", body["code"])
}
