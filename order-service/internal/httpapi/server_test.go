package httpapi_test

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	apidocs "github.com/shopworks/shop/api"
	"github.com/shopworks/shop/clients/money"
	"github.com/shopworks/shop/clients/productclient"
	"github.com/shopworks/shop/order-service/internal/httpapi"
	"github.com/shopworks/shop/order-service/internal/ordering"
	"github.com/shopworks/shop/order-service/internal/orderingtest"
	"github.com/shopworks/shop/order-service/internal/pricing"
	"github.com/shopworks/shop/order-service/internal/producttest"
	"github.com/shopworks/shop/platform/httpx/health"
	"github.com/shopworks/shop/platform/httpx/telemetry"
	"github.com/shopworks/shop/platform/httpx/validate"
	"github.com/shopworks/shop/platform/testkit"
)

type fixture struct {
	db       *sql.DB
	orders   *ordering.Service
	prices   *pricing.Cache
	catalog  *producttest.Catalog
	products *httptest.Server
	server   *httptest.Server
	client   *http.Client
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	return newFixtureWith(t, "")
}

// newFixtureWith wires order-service as app.Run does (orderingtest), with a product-service
// stand-in behind the price cache and the Redis at redisURL ("" = the machine's), and serves it.
func newFixtureWith(t testing.TB, redisURL string) *fixture {
	t.Helper()
	catalog, products := producttest.Start(t)
	pc, err := productclient.New(products.URL, productclient.Options{Timeout: time.Second})
	require.NoError(t, err)
	prices := pricing.New(pricing.ProductServiceLoader(pc), pricing.Options{})
	t.Cleanup(prices.Close)
	stack := orderingtest.Start(t, orderingtest.Options{Prices: prices, RedisURL: redisURL, Service: ordering.Options{BatchMax: 64, BatchWorkers: 2}})
	log := telemetry.NewLogger(io.Discard, slog.LevelError, "order-service")
	srv := httpapi.NewServer(httpapi.Deps{
		Orders: stack.Service, Log: log,
		Checks: []health.Check{{Name: "mysql", Required: true, Probe: stack.Store.Ping}, {Name: "redis", Probe: stack.Pages.Ping}},
	})
	h, err := httpapi.NewHandler(srv, httpapi.HandlerConfig{Log: log, Registry: prometheus.NewRegistry()})
	require.NoError(t, err)
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	spec, err := validate.LoadSpec(apidocs.OrderService())
	require.NoError(t, err)
	return &fixture{db: stack.DB, orders: stack.Service, prices: prices, catalog: catalog, products: products, server: ts,
		client: &http.Client{Transport: testkit.NewContractTransport(t, spec), Timeout: 10 * time.Second}}
}

func (f *fixture) do(t testing.TB, method, path, body string, hdr ...string) (*http.Response, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, f.server.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := f.client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(raw) > 0 && raw[0] == '{' {
		require.NoError(t, json.Unmarshal(raw, &out))
	}
	return resp, out
}

func (f *fixture) count(t testing.TB, table string) int {
	var n int
	require.NoError(t, f.db.QueryRow("SELECT COUNT(*) FROM "+table).Scan(&n))
	return n
}

func eventSchema(t testing.TB, name string) *openapi3.Schema {
	doc, err := validate.LoadSpec(apidocs.EventSchemas())
	require.NoError(t, err)
	return doc.Components.Schemas[name].Value
}

func TestCreateOrderTheOriginalWay(t *testing.T) {
	f := newFixture(t)
	p := f.catalog.Add("BFF Test", money.FromCents(100000), 50)
	resp, o := f.do(t, "POST", "/orders", fmt.Sprintf(`{"productId":%d,"qty":2}`, p.Id), "X-Request-ID", "demo-123")
	require.Equal(t, 201, resp.StatusCode)
	for _, k := range []string{"orderId", "productId", "qty", "totalPrice", "createdAt"} {
		assert.Contains(t, o, k)
	}
	assert.Equal(t, o["id"], o["orderId"])
	assert.EqualValues(t, 2000, o["totalPrice"])
	assert.EqualValues(t, 1000, o["unitPrice"])
	assert.Equal(t, "PENDING", o["status"])
	assert.Equal(t, fmt.Sprintf("/orders/%v", o["id"]), resp.Header.Get("Location"))
	assert.Equal(t, "demo-123", resp.Header.Get("X-Request-Id"))

	// The order.created waiting in the outbox matches its schema and carries the request ID.
	var payload []byte
	var key, corr string
	require.NoError(t, f.db.QueryRow("SELECT routing_key, payload, correlation_id FROM outbox").Scan(&key, &payload, &corr))
	assert.Equal(t, "order.created", key)
	assert.Equal(t, "demo-123", corr)
	var msg any
	require.NoError(t, json.Unmarshal(payload, &msg))
	assert.NoError(t, eventSchema(t, "OrderCreated").VisitJSON(msg))

	resp, got := f.do(t, "GET", fmt.Sprintf("/orders/%v", o["id"]), "")
	require.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, o["createdAt"], got["createdAt"])
	resp, prob := f.do(t, "GET", "/orders/999999", "")
	assert.Equal(t, 404, resp.StatusCode)
	assert.Equal(t, "ORDER_NOT_FOUND", prob["code"])
}

func TestRejectedOrdersInsertNothing(t *testing.T) {
	f := newFixture(t)
	p := f.catalog.Add("Few", money.FromCents(100), 3)
	cases := []struct {
		body   string
		status int
		code   string
		fields []string
	}{
		{`{"productId":%d,"qty":0}`, 400, "VALIDATION_FAILED", []string{"qty"}},
		{`{"productId":%d,"qty":"2"}`, 400, "VALIDATION_FAILED", []string{"qty"}},
		{`{"qty":1}`, 400, "VALIDATION_FAILED", []string{"productId"}},
		{`{"productId":%d,"qty":1,"coupon":"x"}`, 400, "VALIDATION_FAILED", []string{"coupon"}},
		{`{"productId":%d,"qty":10001}`, 400, "VALIDATION_FAILED", []string{"qty"}},
		{`{"productId":999999,"qty":1}`, 404, "PRODUCT_NOT_FOUND", nil},
		{`{"productId":%d,"qty":4}`, 409, "INSUFFICIENT_STOCK", nil},
	}
	for _, c := range cases {
		body := c.body
		if strings.Contains(body, "%d") {
			body = fmt.Sprintf(body, p.Id)
		}
		resp, prob := f.do(t, "POST", "/orders", body)
		assert.Equal(t, c.status, resp.StatusCode, body)
		assert.Equal(t, c.code, prob["code"], body)
		if c.fields != nil {
			var fields []string
			for _, e := range prob["errors"].([]any) {
				fields = append(fields, e.(map[string]any)["field"].(string))
			}
			assert.Equal(t, c.fields, fields, body)
		}
	}
	assert.Zero(t, f.count(t, "orders"))
	assert.Zero(t, f.count(t, "outbox"))
}

func TestProductServiceDownIs503(t *testing.T) {
	f := newFixture(t)
	f.products.Close()
	resp, prob := f.do(t, "POST", "/orders", `{"productId":1,"qty":1}`)
	assert.Equal(t, 503, resp.StatusCode)
	assert.Equal(t, "PRODUCT_SERVICE_UNAVAILABLE", prob["code"])
	assert.Zero(t, f.count(t, "orders"))
}

// Idempotency-Key semantics (IETF httpapi draft): a retry of the same request answers the first
// response again; the same key with another body is 422; a concurrent request with a key still
// in progress is 409 IDEMPOTENCY_KEY_IN_USE; a refused request stores nothing, so its key may be
// retried.
func TestIdempotencyKey(t *testing.T) {
	f := newFixture(t)
	p := f.catalog.Add("Idem", money.FromCents(250), 100)
	body := fmt.Sprintf(`{"productId":%d,"qty":1}`, p.Id)

	var wg sync.WaitGroup
	ids := make(chan any, 10)
	for range 10 {
		wg.Go(func() {
			resp, o := f.do(t, "POST", "/orders", body, "Idempotency-Key", "same-key-1")
			switch resp.StatusCode {
			case 201:
				ids <- o["id"]
			case 409:
				assert.Equal(t, "IDEMPOTENCY_KEY_IN_USE", o["code"])
				assert.Equal(t, "1", resp.Header.Get("Retry-After"))
			default:
				t.Errorf("status %d: %v", resp.StatusCode, o)
			}
		})
	}
	wg.Wait()
	close(ids)
	seen := map[any]bool{}
	for id := range ids {
		seen[id] = true
	}
	assert.Len(t, seen, 1, "ten concurrent requests with one key made one order")
	assert.Equal(t, 1, f.count(t, "orders"))
	assert.Equal(t, 1, f.count(t, "outbox"))

	// The saga confirms the order; a replay still answers the first response.
	resp, first := f.do(t, "POST", "/orders", body, "Idempotency-Key", "same-key-1")
	require.Equal(t, 201, resp.StatusCode)
	id := int64(first["id"].(float64))
	orderingtest.Settle(t, f.orders, id, true, "")
	resp, replay := f.do(t, "POST", "/orders", body, "Idempotency-Key", "same-key-1")
	assert.Equal(t, 201, resp.StatusCode)
	assert.Equal(t, "true", resp.Header.Get("Idempotent-Replayed"))
	assert.Equal(t, first, replay, "the replay is the first answer (PENDING), not the current state")
	_, now := f.do(t, "GET", fmt.Sprintf("/orders/%d", id), "")
	assert.Equal(t, "CONFIRMED", now["status"])

	resp, prob := f.do(t, "POST", "/orders", fmt.Sprintf(`{"productId":%d,"qty":2}`, p.Id), "Idempotency-Key", "same-key-1")
	assert.Equal(t, 422, resp.StatusCode)
	assert.Equal(t, "IDEMPOTENCY_KEY_REUSED", prob["code"])
	resp, _ = f.do(t, "POST", "/orders", body, "Idempotency-Key", "other-key")
	assert.Equal(t, 201, resp.StatusCode)
	assert.Equal(t, 2, f.count(t, "orders"))

	// A refused attempt is not remembered: once the stock is there, the same key succeeds.
	big := fmt.Sprintf(`{"productId":%d,"qty":500}`, p.Id)
	resp, prob = f.do(t, "POST", "/orders", big, "Idempotency-Key", "stock-key")
	assert.Equal(t, 409, resp.StatusCode)
	assert.Equal(t, "INSUFFICIENT_STOCK", prob["code"])
	f.prices.Updated(pricing.Entry{Product: pricingProduct(p.Id, 250, 1000), UpdatedAt: time.Now().Add(time.Second)})
	resp, _ = f.do(t, "POST", "/orders", big, "Idempotency-Key", "stock-key")
	assert.Equal(t, 201, resp.StatusCode)
}

func TestOrdersByProductCacheAndPages(t *testing.T) {
	f := newFixture(t)
	p := f.catalog.Add("Listed", money.FromCents(100), 100)
	path := fmt.Sprintf("/orders/product/%d", p.Id)
	resp, _ := f.do(t, "GET", path, "")
	assert.Equal(t, "MISS", resp.Header.Get("X-Cache"))
	resp, _ = f.do(t, "GET", path, "")
	assert.Equal(t, "HIT", resp.Header.Get("X-Cache"))
	for i := 0; i < 5; i++ {
		resp, _ := f.do(t, "POST", "/orders", fmt.Sprintf(`{"productId":%d,"qty":1}`, p.Id))
		require.Equal(t, 201, resp.StatusCode)
	}
	resp, err := f.client.Get(f.server.URL + path + "?limit=2")
	require.NoError(t, err)
	var page []map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&page))
	_ = resp.Body.Close()
	assert.Equal(t, "MISS", resp.Header.Get("X-Cache"), "new orders invalidated the cache")
	require.Len(t, page, 2)
	assert.Greater(t, page[0]["id"].(float64), page[1]["id"].(float64), "newest first")
	link := resp.Header.Get("Link")
	require.NotEmpty(t, link)
	var all []any
	next := link[1:strings.Index(link, ">")]
	all = append(all, page[0], page[1])
	for next != "" {
		resp, err := f.client.Get(f.server.URL + next)
		require.NoError(t, err)
		var pg []any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&pg))
		_ = resp.Body.Close()
		all = append(all, pg...)
		next = ""
		if l := resp.Header.Get("Link"); l != "" {
			next = l[1:strings.Index(l, ">")]
		}
	}
	assert.Len(t, all, 5)

	// A settled order invalidates the cached pages too. Until the orders' invalidations have run
	// (they run after the write, off its path), reads bypass the cache: wait for a HIT first.
	require.Eventually(t, func() bool {
		resp, _ := f.doList(t, path)
		return resp.Header.Get("X-Cache") == "HIT"
	}, 5*time.Second, 10*time.Millisecond, "the pages are cached again once the invalidations have run")
	id := int64(page[0]["id"].(float64))
	settled := orderingtest.Settle(t, f.orders, id, true, "")
	assert.Equal(t, ordering.Settled{Status: ordering.Confirmed, Changed: true}, settled.Settled)
	settled = orderingtest.Settle(t, f.orders, id, false, "INSUFFICIENT_STOCK")
	assert.Equal(t, ordering.Settled{Status: ordering.Confirmed}, settled.Settled, "a final order never changes again")
	resp, body := f.doList(t, path)
	assert.Equal(t, "MISS", resp.Header.Get("X-Cache"))
	assert.Equal(t, "CONFIRMED", body[0]["status"])
}

func (f *fixture) doList(t testing.TB, path string) (*http.Response, []map[string]any) {
	t.Helper()
	resp, err := f.client.Get(f.server.URL + path)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out []map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	return resp, out
}

func TestPriceCacheFollowsProductEvents(t *testing.T) {
	f := newFixture(t)
	p := f.catalog.Add("Priced", money.FromCents(1000), 10)
	body := fmt.Sprintf(`{"productId":%d,"qty":1}`, p.Id)
	for i := 0; i < 3; i++ {
		resp, _ := f.do(t, "POST", "/orders", body)
		require.Equal(t, 201, resp.StatusCode)
	}
	assert.EqualValues(t, 1, f.catalog.Gets.Load(), "one lookup, then the cache")

	f.prices.Updated(pricing.Entry{Product: pricingProduct(p.Id, 1500, 10), UpdatedAt: time.Now().Add(time.Second)})
	_, o := f.do(t, "POST", "/orders", body)
	assert.EqualValues(t, 15, o["unitPrice"], "product.updated reached the price cache")

	f.prices.Deleted(p.Id)
	resp, prob := f.do(t, "POST", "/orders", body)
	assert.Equal(t, 404, resp.StatusCode, "a deleted product is never orderable from a stale entry")
	assert.Equal(t, "PRODUCT_NOT_FOUND", prob["code"])
}

// TestRedisDownServesFromMySQL points the orders cache at a closed port: lists still answer
// (MISS, from MySQL), orders are still created, and readiness says degraded.
func TestRedisDownServesFromMySQL(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	f := newFixtureWith(t, "redis://"+addr)
	p := f.catalog.Add("NoRedis", money.FromCents(100), 10)
	resp, _ := f.do(t, "POST", "/orders", fmt.Sprintf(`{"productId":%d,"qty":1}`, p.Id))
	require.Equal(t, 201, resp.StatusCode)
	for i := 0; i < 2; i++ {
		resp, err := f.client.Get(fmt.Sprintf("%s/orders/product/%d", f.server.URL, p.Id))
		require.NoError(t, err)
		var page []any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&page))
		_ = resp.Body.Close()
		assert.Equal(t, 200, resp.StatusCode)
		assert.Equal(t, "MISS", resp.Header.Get("X-Cache"))
		assert.Len(t, page, 1)
	}
	resp, ready := f.do(t, "GET", "/readyz", "")
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "degraded", ready["status"])
}

// Cancel: PENDING and CONFIRMED orders become CANCELLED once (with one order.cancelled), a
// REJECTED one is 409, an unknown one 404.
func TestCancelOrder(t *testing.T) {
	f := newFixture(t)
	p := f.catalog.Add("Cancel", money.FromCents(100), 100)
	body := fmt.Sprintf(`{"productId":%d,"qty":2}`, p.Id)
	ids := make([]int64, 3)
	for i := range ids {
		resp, o := f.do(t, "POST", "/orders", body)
		require.Equal(t, 201, resp.StatusCode)
		ids[i] = int64(o["id"].(float64))
	}
	orderingtest.Settle(t, f.orders, ids[1], true, "")
	orderingtest.Settle(t, f.orders, ids[2], false, "INSUFFICIENT_STOCK")
	for _, id := range ids[:2] { // PENDING, CONFIRMED
		for range 2 {
			resp, o := f.do(t, "POST", fmt.Sprintf("/orders/%d/cancel", id), "", "X-Request-ID", "cancel-1")
			require.Equal(t, 200, resp.StatusCode, o)
			assert.Equal(t, "CANCELLED", o["status"])
		}
	}
	resp, prob := f.do(t, "POST", fmt.Sprintf("/orders/%d/cancel", ids[2]), "")
	assert.Equal(t, 409, resp.StatusCode)
	assert.Equal(t, "ORDER_NOT_CANCELLABLE", prob["code"])
	resp, prob = f.do(t, "POST", "/orders/999999/cancel", "")
	assert.Equal(t, 404, resp.StatusCode)
	assert.Equal(t, "ORDER_NOT_FOUND", prob["code"])
	var n int
	require.NoError(t, f.db.QueryRow("SELECT COUNT(*) FROM outbox WHERE routing_key = 'order.cancelled' AND correlation_id = 'cancel-1'").Scan(&n))
	assert.Equal(t, 2, n, "one event per cancelled order, however often it is cancelled")
	_, got := f.do(t, "GET", fmt.Sprintf("/orders/%d", ids[0]), "")
	assert.Equal(t, "CANCELLED", got["status"])
}

// Prefer: wait=N answers once the order is final, with Preference-Applied.
func TestGetOrderWaitsForTheOutcome(t *testing.T) {
	f := newFixture(t)
	p := f.catalog.Add("Wait", money.FromCents(100), 100)
	resp, o := f.do(t, "POST", "/orders", fmt.Sprintf(`{"productId":%d,"qty":1}`, p.Id))
	require.Equal(t, 201, resp.StatusCode)
	id := int64(o["id"].(float64))
	go func() {
		time.Sleep(200 * time.Millisecond)
		orderingtest.Settle(t, f.orders, id, true, "")
	}()
	resp, got := f.do(t, "GET", fmt.Sprintf("/orders/%d", id), "", "Prefer", "respond-async, wait=5")
	require.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "CONFIRMED", got["status"], "answered when the order became final")
	assert.Equal(t, "wait=5", resp.Header.Get("Preference-Applied"))
	resp, _ = f.do(t, "GET", fmt.Sprintf("/orders/%d", id), "", "Prefer", "wait=30")
	assert.Empty(t, resp.Header.Get("Preference-Applied"), "a final order is answered at once")
	resp, _ = f.do(t, "GET", fmt.Sprintf("/orders/%d", id), "", "Prefer", "wait=soon")
	assert.Equal(t, 200, resp.StatusCode, "a preference it cannot read is ignored")
	assert.Empty(t, resp.Header.Get("Preference-Applied"))
	resp, o = f.do(t, "POST", "/orders", fmt.Sprintf(`{"productId":%d,"qty":1}`, p.Id))
	require.Equal(t, 201, resp.StatusCode)
	resp, got = f.do(t, "GET", fmt.Sprintf("/orders/%v", o["id"]), "", "Prefer", "wait=1")
	assert.Equal(t, "PENDING", got["status"], "still PENDING when the wait ends")
	assert.Equal(t, "wait=1", resp.Header.Get("Preference-Applied"))
}
