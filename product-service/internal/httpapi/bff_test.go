package httpapi_test

import (
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
	"github.com/shopworks/shop/clients/orderclient"
	"github.com/shopworks/shop/platform/httpx/telemetry"
	"github.com/shopworks/shop/platform/httpx/validate"
	"github.com/shopworks/shop/platform/testkit"
	"github.com/shopworks/shop/product-service/internal/catalogtest"
	"github.com/shopworks/shop/product-service/internal/httpapi"
)

// upstream is a stand-in for an order-service: GET /orders/product/{id} answers what the test
// sets, and the requests it got are kept.
type upstream struct {
	mu     sync.Mutex
	status int
	body   string
	paths  []string
}

func (u *upstream) answer(status int, body string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.status, u.body = status, body
}

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.paths = append(u.paths, r.URL.RequestURI())
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(u.status)
	_, _ = io.WriteString(w, u.body)
}

// newBFFFixture serves product-service's handler with its BFF pointed at the upstream.
func newBFFFixture(t *testing.T, up *upstream) *fixture {
	t.Helper()
	ts := httptest.NewServer(up)
	t.Cleanup(ts.Close)
	orders, err := orderclient.New(ts.URL, orderclient.Options{Timeout: 5 * time.Second})
	require.NoError(t, err)
	stack := catalogtest.Start(t, catalogtest.Options{})
	log := telemetry.NewLogger(io.Discard, slog.LevelError, "product-service")
	srv := httpapi.NewServer(httpapi.Deps{Catalog: stack.Service, Orders: orders, OrdersTimeout: 5 * time.Second, Log: log})
	h, err := httpapi.NewHandler(srv, httpapi.HandlerConfig{Log: log, Registry: prometheus.NewRegistry()})
	require.NoError(t, err)
	server := httptest.NewServer(h)
	t.Cleanup(server.Close)
	spec, err := validate.LoadSpec(apidocs.ProductService())
	require.NoError(t, err)
	return &fixture{Stack: stack, server: server, client: &http.Client{Transport: testkit.NewContractTransport(t, spec), Timeout: 10 * time.Second}}
}

// TestBFFSaysOnlyWhatOrderServiceSaid: the BFF's orders carry the fields order-service sent and
// no others. Pointed at the original order-service (its list: id, productId, qty, totalPrice as a
// float, status CREATED, createdAt; unbounded; null when empty), an order has no unitPrice and no
// updatedAt — not a zero — and its float total is read to the cent. Every answer is validated
// against the spec by the client's transport.
func TestBFFSaysOnlyWhatOrderServiceSaid(t *testing.T) {
	up := &upstream{}
	f := newBFFFixture(t, up)
	resp, p := f.do(t, "POST", "/products", `{"name":"Beside","price":0.15,"qty":50}`)
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	path := fmt.Sprintf("/products/%v-with-orders", p["id"])
	pid := fmt.Sprint(p["id"])

	bff := func(t *testing.T) ([]map[string]any, bool) {
		t.Helper()
		resp, body := f.do(t, "GET", path, "")
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Contains(t, body, "orders")
		var orders []map[string]any
		for _, o := range body["orders"].([]any) {
			orders = append(orders, o.(map[string]any))
		}
		degraded := body["ordersDegraded"].(bool)
		assert.Equal(t, degraded, resp.Header.Get("X-Orders-Degraded") == "true")
		return orders, degraded
	}

	t.Run("the original's orders", func(t *testing.T) {
		up.answer(http.StatusOK, `[`+
			`{"id":3,"productId":`+pid+`,"qty":3,"totalPrice":0.44999999999999996,"status":"CREATED","createdAt":"2026-11-25T10:00:02Z"},`+
			`{"id":2,"productId":`+pid+`,"qty":2,"totalPrice":0.3,"status":"CREATED","createdAt":"2026-11-25T10:00:01Z"},`+
			`{"id":1,"productId":`+pid+`,"qty":6,"totalPrice":0.8999999999999999,"status":"CREATED","createdAt":"2026-11-25T10:00:00Z"}]`)
		orders, degraded := bff(t)
		require.False(t, degraded)
		require.Len(t, orders, 3)
		for _, o := range orders {
			assert.NotContains(t, o, "unitPrice", "the original sent no unit price")
			assert.NotContains(t, o, "updatedAt")
			assert.NotContains(t, o, "rejectReason")
			assert.Equal(t, "CREATED", o["status"])
		}
		assert.EqualValues(t, 3, orders[0]["id"])
		assert.EqualValues(t, 0.45, orders[0]["totalPrice"], "the original's float total, to the cent")
		assert.EqualValues(t, 0.3, orders[1]["totalPrice"])
		assert.EqualValues(t, 0.9, orders[2]["totalPrice"])
		assert.Equal(t, "2026-11-25T10:00:02Z", orders[0]["createdAt"])
	})

	t.Run("ours, every field", func(t *testing.T) {
		up.answer(http.StatusOK, `[{"id":7,"productId":`+pid+`,"qty":2,"unitPrice":0.15,"totalPrice":0.3,"status":"REJECTED",`+
			`"rejectReason":"INSUFFICIENT_STOCK","createdAt":"2026-11-25T10:00:00.123Z","updatedAt":"2026-11-25T10:00:00.456Z"}]`)
		orders, degraded := bff(t)
		require.False(t, degraded)
		require.Len(t, orders, 1)
		assert.Equal(t, map[string]any{"id": 7.0, "productId": p["id"], "qty": 2.0, "unitPrice": 0.15, "totalPrice": 0.3, "status": "REJECTED",
			"rejectReason": "INSUFFICIENT_STOCK", "createdAt": "2026-11-25T10:00:00.123Z", "updatedAt": "2026-11-25T10:00:00.456Z"}, orders[0])
		up.mu.Lock()
		assert.Contains(t, up.paths[len(up.paths)-1], "limit=100", "the BFF asks for one page")
		up.mu.Unlock()
	})

	t.Run("the original's empty list is null", func(t *testing.T) {
		up.answer(http.StatusOK, `null`)
		orders, degraded := bff(t)
		assert.False(t, degraded)
		assert.Empty(t, orders)
	})

	t.Run("the original's list is unbounded: the first 100", func(t *testing.T) {
		var b strings.Builder
		b.WriteString("[")
		for i := 150; i >= 1; i-- {
			fmt.Fprintf(&b, `{"id":%d,"productId":%s,"qty":1,"totalPrice":0.15,"status":"CREATED","createdAt":"2026-11-25T10:00:00Z"}`, i, pid)
			if i > 1 {
				b.WriteString(",")
			}
		}
		b.WriteString("]")
		up.answer(http.StatusOK, b.String())
		orders, degraded := bff(t)
		assert.False(t, degraded)
		require.Len(t, orders, 100)
		assert.EqualValues(t, 150, orders[0]["id"])
		assert.EqualValues(t, 51, orders[99]["id"])
	})

	// What the BFF cannot describe without inventing or dropping something degrades the orders
	// part, said in the body and the header, instead of passing it on.
	for name, answer := range map[string]struct {
		status int
		body   string
	}{
		"no id":                   {200, `[{"productId":` + pid + `,"qty":1,"totalPrice":1,"status":"CREATED","createdAt":"2026-11-25T10:00:00Z"}]`},
		"no total":                {200, `[{"id":1,"productId":` + pid + `,"qty":1,"status":"CREATED","createdAt":"2026-11-25T10:00:00Z"}]`},
		"no status":               {200, `[{"id":1,"productId":` + pid + `,"qty":1,"totalPrice":1,"createdAt":"2026-11-25T10:00:00Z"}]`},
		"no createdAt":            {200, `[{"id":1,"productId":` + pid + `,"qty":1,"totalPrice":1,"status":"CREATED"}]`},
		"unknown status":          {200, `[{"id":1,"productId":` + pid + `,"qty":1,"totalPrice":1,"status":"SHIPPED","createdAt":"2026-11-25T10:00:00Z"}]`},
		"a total of a mill":       {200, `[{"id":1,"productId":` + pid + `,"qty":1,"totalPrice":12.345,"status":"CREATED","createdAt":"2026-11-25T10:00:00Z"}]`},
		"a negative unit price":   {200, `[{"id":1,"productId":` + pid + `,"qty":1,"unitPrice":-1,"totalPrice":1,"status":"CREATED","createdAt":"2026-11-25T10:00:00Z"}]`},
		"a total as a string":     {200, `[{"id":1,"productId":` + pid + `,"qty":1,"totalPrice":"1","status":"CREATED","createdAt":"2026-11-25T10:00:00Z"}]`},
		"qty beyond our bound":    {200, `[{"id":1,"productId":` + pid + `,"qty":10001,"totalPrice":1,"status":"CREATED","createdAt":"2026-11-25T10:00:00Z"}]`},
		"unknown reject reason":   {200, `[{"id":1,"productId":` + pid + `,"qty":1,"totalPrice":1,"status":"REJECTED","rejectReason":"X","createdAt":"2026-11-25T10:00:00Z"}]`},
		"null order":              {200, `[null]`},
		"an object, not an array": {200, `{"error":{"code":"X","message":"y"}}`},
		"cut off":                 {200, `[{"id":1,`},
		"an error":                {500, `{"error":{"code":"INTERNAL","message":"boom"}}`},
	} {
		t.Run(name, func(t *testing.T) {
			up.answer(answer.status, answer.body)
			orders, degraded := bff(t)
			assert.True(t, degraded)
			assert.Empty(t, orders)
		})
	}
}
