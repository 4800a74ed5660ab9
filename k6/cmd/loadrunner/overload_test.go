package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeShop answers what an overload run asks of the two services: the setup (create the product,
// read it back, place an order), orders of which every other one is shed with 503, the invariant
// check's reads (every accepted order CONFIRMED, the stock adding up) and each service's /metrics.
type fakeShop struct {
	products, orders *httptest.Server
	retryAfter       bool    // whether a 503 says when to retry
	rss              float64 // what /metrics says, in bytes
	// goroutines is what /metrics says: at rest before the first order of the run, under load
	// while orders come in; stuck keeps it at the loaded level after the load.
	rest, loaded float64
	stuck        bool

	posts    atomic.Int64
	shed     atomic.Int64
	mu       sync.Mutex
	stock    int
	accepted []int64
}

func newFakeShop(t *testing.T, f *fakeShop) *fakeShop {
	t.Helper()
	const ts = `"createdAt":"2026-01-02T03:04:05Z","updatedAt":"2026-01-02T03:04:05Z"`
	writeJSON := func(w http.ResponseWriter, status int, body string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}
	products := http.NewServeMux()
	products.HandleFunc("POST /products", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Qty int `json:"qty"`
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		f.stock = in.Qty
		f.mu.Unlock()
		writeJSON(w, http.StatusCreated, fmt.Sprintf(`{"id":1,"name":"k6","price":1000,"qty":%d,%s}`, in.Qty, ts))
	})
	products.HandleFunc("GET /products/1", func(w http.ResponseWriter, _ *http.Request) {
		f.mu.Lock()
		qty := f.stock - len(f.accepted) // every accepted order is confirmed
		f.mu.Unlock()
		writeJSON(w, http.StatusOK, fmt.Sprintf(`{"id":1,"name":"k6","price":1000,"qty":%d,%s}`, qty, ts))
	})
	products.HandleFunc("GET /metrics", f.metrics(false))
	orders := http.NewServeMux()
	orders.HandleFunc("POST /orders", func(w http.ResponseWriter, _ *http.Request) {
		if n := f.posts.Add(1); n%2 == 0 { // the setup's order (the first) is accepted
			f.shed.Add(1)
			if f.retryAfter {
				w.Header().Set("Retry-After", "1")
			}
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"type":"about:blank","title":"Overloaded","status":503,"code":"SERVICE_UNAVAILABLE"}`))
			return
		}
		f.mu.Lock()
		id := int64(len(f.accepted) + 1)
		f.accepted = append(f.accepted, id)
		f.mu.Unlock()
		writeJSON(w, http.StatusCreated, fmt.Sprintf(`{"id":%d,"productId":1,"qty":1,"status":"PENDING","unitPrice":1000,"totalPrice":1000,%s}`, id, ts))
	})
	orders.HandleFunc("GET /orders/product/1", func(w http.ResponseWriter, _ *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		var list []string
		for _, id := range f.accepted {
			list = append(list, fmt.Sprintf(`{"id":%d,"productId":1,"qty":1,"status":"CONFIRMED","unitPrice":1000,"totalPrice":1000,%s}`, id, ts))
		}
		writeJSON(w, http.StatusOK, "["+strings.Join(list, ",")+"]")
	})
	orders.HandleFunc("GET /metrics", f.metrics(true))
	f.products, f.orders = httptest.NewServer(products), httptest.NewServer(orders)
	t.Cleanup(f.products.Close)
	t.Cleanup(f.orders.Close)
	return f
}

// metrics serves the figures an overload run reads; the order service's goroutines rise with the
// run's orders and, unless stuck, fall back when the run's requests end.
func (f *fakeShop) metrics(orderService bool) http.HandlerFunc {
	var last int64
	var mu sync.Mutex
	return func(w http.ResponseWriter, _ *http.Request) {
		g := f.rest
		if orderService {
			mu.Lock()
			n := f.posts.Load()
			if n > 1 && (n != last || f.stuck) { // orders arrived since the last scrape
				g = f.loaded
			}
			last = n
			mu.Unlock()
		}
		shed := 0.0
		if orderService {
			shed = float64(f.shed.Load())
		}
		_, _ = fmt.Fprintf(w, "# TYPE go_goroutines gauge\ngo_goroutines %g\n# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes %g\n"+
			"# TYPE shop_http_shed_total counter\nshop_http_shed_total %g\n# TYPE shop_http_concurrency_limit gauge\nshop_http_concurrency_limit 128\n", g, f.rss, shed)
	}
}

func (f *fakeShop) flags(out string, extra ...string) []string {
	return append([]string{"-scenario", "overload", "-products", f.products.URL, "-orders", f.orders.URL, "-out", out,
		"-base-rate", "40", "-rate", "120", "-warm", "500ms", "-duration", "1s", "-recovery", "5s"}, extra...)
}

// overloadSummary is the part of summary.json the tests read.
type overloadSummary struct {
	Scenario string `json:"scenario"`
	Phases   []struct {
		Name                  string `json:"name"`
		Requests              int    `json:"requests"`
		ShedWithoutRetryAfter int    `json:"shedWithoutRetryAfter"`
		ByStatus              map[string]struct {
			Count int `json:"count"`
		} `json:"byStatus"`
	} `json:"phases"`
	Overload struct {
		Services []struct {
			Name               string  `json:"name"`
			BaselineGoroutines float64 `json:"baselineGoroutines"`
			MaxGoroutines      float64 `json:"maxGoroutines"`
			MaxRSSBytes        float64 `json:"maxRssBytes"`
			Shed               float64 `json:"shed"`
			Recovered          bool    `json:"recovered"`
		} `json:"services"`
		Thresholds []struct {
			Name string `json:"name"`
			OK   bool   `json:"ok"`
		} `json:"thresholds"`
	} `json:"overload"`
	Invariants  string `json:"invariants"`
	InvariantOK bool   `json:"invariantsOk"`
}

func readSummary(t *testing.T, dir string) overloadSummary {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "summary.json"))
	require.NoError(t, err)
	var s overloadSummary
	require.NoError(t, json.Unmarshal(raw, &s))
	return s
}

// The overload scenario against services that shed every other order: the overload phase's 201s
// and 503s apart, each service's figures from its /metrics, the goroutines back after the load,
// and the invariants over every accepted order.
func TestOverloadScenario(t *testing.T) {
	shop := newFakeShop(t, &fakeShop{retryAfter: true, rss: 42e6, rest: 30, loaded: 400})
	out := t.TempDir()
	var stdout bytes.Buffer
	// Thresholds reported, not enforced: latencies are not for a unit test to judge.
	require.NoError(t, run(context.Background(), shop.flags(out, "-no-thresholds"), &stdout), stdout.String())
	text := stdout.String()
	t.Log(text)

	s := readSummary(t, out)
	assert.Equal(t, "overload", s.Scenario)
	require.Len(t, s.Phases, 2)
	warm, overload := s.Phases[0], s.Phases[1]
	assert.Equal(t, "warm-up", warm.Name)
	assert.InDelta(t, 20, warm.Requests, 2, "500 ms at 40/s")
	assert.Equal(t, "overload", overload.Name)
	assert.InDelta(t, 120, overload.Requests, 2, "1 s at 120/s")
	assert.InDelta(t, overload.Requests/2, overload.ByStatus["503"].Count, 1, "every other order shed")
	assert.Equal(t, overload.Requests, overload.ByStatus["201"].Count+overload.ByStatus["503"].Count)
	assert.Zero(t, overload.ShedWithoutRetryAfter)

	require.Len(t, s.Overload.Services, 2)
	product, order := s.Overload.Services[0], s.Overload.Services[1]
	assert.Equal(t, "product-service", product.Name)
	assert.Equal(t, "order-service", order.Name)
	assert.Equal(t, 30.0, order.BaselineGoroutines)
	assert.Equal(t, 400.0, order.MaxGoroutines)
	assert.Equal(t, 42e6, order.MaxRSSBytes)
	assert.Equal(t, float64(shop.shed.Load()), order.Shed, "the service's count of its 503s")
	assert.True(t, order.Recovered, text)
	assert.True(t, product.Recovered, text)
	var names []string
	for _, c := range s.Overload.Thresholds {
		names = append(names, c.Name)
	}
	assert.Equal(t, []string{"503 p(95) ≤ 50ms", "201 p(95) < 300ms", "every 503 carries Retry-After",
		"product-service RSS ≤ 100.0 MB", "product-service goroutines back within 10s",
		"order-service RSS ≤ 100.0 MB", "order-service goroutines back within 10s"}, names)
	assert.True(t, s.InvariantOK, s.Invariants)
	assert.Contains(t, s.Invariants, "0 PENDING")

	assert.Contains(t, text, "scenario overload: product 1, 40/s for 500ms, then 120/s for 1s, then up to 5s without load")
	assert.Contains(t, text, "thresholds of the overload (reported, not enforced):")
	assert.Contains(t, text, "after the overload: product-service 30 goroutines, 42.0 MB; order-service 30 goroutines, 42.0 MB — all back")
	assert.Contains(t, text, "30 at rest → max 400; back ")
	page, err := os.ReadFile(filepath.Join(out, "plot.svg"))
	require.NoError(t, err)
	assert.Contains(t, string(page), "goroutines per service")
}

// Thresholds crossed fail the run and say which: 503s without Retry-After, a service past the
// memory limit, goroutines that stay up after the load.
func TestOverloadThresholdsFailTheRun(t *testing.T) {
	shop := newFakeShop(t, &fakeShop{rss: 150e6, rest: 30, loaded: 400, stuck: true})
	out := t.TempDir()
	var stdout bytes.Buffer
	err := run(context.Background(), shop.flags(out, "-recovery", "1s"), &stdout)
	require.Error(t, err, stdout.String())
	assert.Contains(t, err.Error(), "thresholds crossed")
	assert.Contains(t, err.Error(), "every 503 carries Retry-After")
	assert.Contains(t, err.Error(), "order-service RSS ≤ 100.0 MB: max 150.0 MB")
	assert.Contains(t, err.Error(), "order-service goroutines back within 10s: not back within the 1s watched (30 at rest, back at ≤ 50, max 400)")
	assert.NotContains(t, err.Error(), "invariants", "the orders are all there")
	s := readSummary(t, out)
	assert.Positive(t, s.Phases[1].ShedWithoutRetryAfter)
	assert.False(t, s.Overload.Services[1].Recovered)
}

// The overload's own defaults apply when its flags are not given, and only to it.
func TestOverloadDefaults(t *testing.T) {
	o, err := parseFlags([]string{"-scenario", "overload"})
	require.NoError(t, err)
	assert.Equal(t, 3000.0, o.rate)
	assert.Equal(t, 1000.0, o.baseRate)
	assert.Equal(t, 5*time.Second, o.warm)
	assert.Equal(t, 10*time.Second, o.duration)
	assert.Equal(t, 15*time.Second, o.recovery)
	o, err = parseFlags([]string{"-scenario", "overload", "-rate", "2000", "-warm", "0"})
	require.NoError(t, err)
	assert.Equal(t, 2000.0, o.rate)
	assert.Zero(t, o.warm)
	o, err = parseFlags([]string{"-scenario", "orders"})
	require.NoError(t, err)
	assert.Equal(t, 1000.0, o.rate)
	assert.Equal(t, 30*time.Second, o.warm)
}
