package guard_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shopworks/shop/platform/httpx/guard"
	"github.com/shopworks/shop/platform/httpx/requestid"
	"github.com/shopworks/shop/platform/httpx/telemetry"
)

func TestAPIKeyAuthGuardsMutationsOnlyWhenKeysAreConfigured(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	open := requestid.Middleware(guard.APIKeyAuth(nil)(ok))
	guarded := requestid.Middleware(guard.APIKeyAuth([]string{"k1", "k2"})(ok))
	call := func(h http.Handler, method, key string) (int, string) {
		req := httptest.NewRequest(method, "/products", nil)
		if key != "" {
			req.Header.Set("X-API-Key", key)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		body, _ := io.ReadAll(rec.Body)
		return rec.Code, string(body)
	}
	code, _ := call(open, "POST", "")
	assert.Equal(t, 204, code, "no keys configured: behaves like the original")
	code, _ = call(guarded, "GET", "")
	assert.Equal(t, 204, code, "reads stay open")
	code, body := call(guarded, "POST", "")
	assert.Equal(t, 401, code)
	assert.Contains(t, body, `"code":"UNAUTHORIZED"`)
	code, body = call(guarded, "DELETE", "wrong")
	assert.Equal(t, 401, code)
	assert.NotContains(t, body, "wrong")
	code, _ = call(guarded, "PUT", "k2")
	assert.Equal(t, 204, code)
}

func TestRateLimitAnswers429WithRetryAfter(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	h := requestid.Middleware(guard.RateLimit(2, time.Minute)(ok))
	var codes []int
	var last *httptest.ResponseRecorder
	for range 3 {
		req := httptest.NewRequest("GET", "/products", nil)
		req.RemoteAddr = "192.0.2.1:1234"
		last = httptest.NewRecorder()
		h.ServeHTTP(last, req)
		codes = append(codes, last.Code)
	}
	assert.Equal(t, []int{204, 204, 429}, codes)
	assert.Equal(t, "60", last.Header().Get("Retry-After"))
	assert.Equal(t, "application/problem+json", last.Header().Get("Content-Type"))
	assert.Contains(t, last.Body.String(), `"code":"RATE_LIMITED"`)

	unlimited := guard.RateLimit(0, time.Second)(ok)
	for range 100 {
		rec := httptest.NewRecorder()
		unlimited.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		assert.Equal(t, 204, rec.Code)
	}
}

func TestSheddingAnswersAtOnceWhatCannotStartInTime(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 4)
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			w.WriteHeader(http.StatusOK)
			return
		}
		entered <- struct{}{}
		<-release
		w.WriteHeader(http.StatusNoContent)
	})
	h := requestid.Middleware(guard.Shed(guard.Shedding{Limit: 2, MaxWait: 50 * time.Millisecond, Exempt: []string{"/healthz"}})(slow))
	serve := func(path string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		return rec
	}
	done := make(chan int, 3)
	for range 2 {
		go func() { done <- serve("/").Code }()
	}
	<-entered
	<-entered
	// Both slots are held: a third request waits at most MaxWait, then is shed.
	rec := serve("/")
	assert.Equal(t, 503, rec.Code)
	assert.Equal(t, "1", rec.Header().Get("Retry-After"))
	assert.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"))
	assert.NotEmpty(t, rec.Header().Get("X-Request-Id"))
	assert.Equal(t, 200, serve("/healthz").Code, "probes are never shed")
	// A waiter that gets a slot within MaxWait runs.
	go func() { done <- serve("/").Code }()
	time.Sleep(10 * time.Millisecond)
	release <- struct{}{}
	<-entered
	close(release)
	for range 3 {
		assert.Equal(t, 204, <-done)
	}
	assert.Equal(t, 204, serve("/").Code, "recovers once load drops")
}

func TestSheddingPredictsLongWaitsAndRefusesThemAtOnce(t *testing.T) {
	gate := make(chan struct{})
	h := guard.Shed(guard.Shedding{Limit: 1, MaxWait: 50 * time.Millisecond})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-gate
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	serve := func(path string) int {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		return rec.Code
	}
	// Teach it that a request holds its slot for ~100 ms, twice MaxWait.
	for range 16 {
		go func() { time.Sleep(150 * time.Millisecond); gate <- struct{}{} }()
		if code := serve("/slow"); code != 204 {
			t.Fatalf("status %d", code)
		}
	}
	held := make(chan int, 1)
	go func() { held <- serve("/slow") }()
	time.Sleep(20 * time.Millisecond) // the slot is taken
	go func() { time.Sleep(5 * time.Millisecond); gate <- struct{}{} }()
	assert.Equal(t, 503, serve("/fast"), "refused at once although the slot frees within MaxWait: the predicted wait was too long")
	assert.Equal(t, 204, <-held)
	assert.Equal(t, 204, serve("/fast"))
}

func TestARequestThatLeavesItsSlotFreesItForOthers(t *testing.T) {
	waiting, release := make(chan struct{}), make(chan struct{})
	h := guard.Shed(guard.Shedding{Limit: 1, MaxWait: 20 * time.Millisecond})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/wait" {
			guard.LeaveSlot(r.Context())
			guard.LeaveSlot(r.Context()) // twice is once
			close(waiting)
			<-release
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	serve := func(path string) int {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		return rec.Code
	}
	done := make(chan int, 1)
	go func() { done <- serve("/wait") }()
	<-waiting
	assert.Equal(t, 204, serve("/work"), "the waiting request holds no slot")
	assert.Equal(t, 204, serve("/work"), "and gave it back only once")
	close(release)
	assert.Equal(t, 204, <-done)
	guard.LeaveSlot(context.Background()) // no slot: nothing happens
}

// Requests that hold their slot longer than an eighth of MaxWait while others find no free slot
// make the service run fewer at once, down to a floor; slow requests with slots to spare do not;
// fast requests raise the limit again, up to Limit. Shed requests are counted.
func TestSheddingAdaptsTheLimitToLatency(t *testing.T) {
	reg := prometheus.NewRegistry()
	var delay atomic.Int64
	delay.Store(int64(30 * time.Millisecond)) // 6× the target of MaxWait/8
	h := guard.Shed(guard.Shedding{Limit: 32, MaxWait: 40 * time.Millisecond, Registry: reg})(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(time.Duration(delay.Load()))
			w.WriteHeader(http.StatusNoContent)
		}))
	gauge := func(name string) float64 {
		mfs, err := reg.Gather()
		require.NoError(t, err)
		for _, mf := range mfs {
			if mf.GetName() == name {
				if g := mf.GetMetric()[0].GetGauge(); g != nil {
					return g.GetValue()
				}
				return mf.GetMetric()[0].GetCounter().GetValue()
			}
		}
		t.Fatalf("no metric %s", name)
		return 0
	}
	load := func(clients int, d time.Duration) (shed int) {
		var n atomic.Int64
		var wg sync.WaitGroup
		stop := time.Now().Add(d)
		for range clients {
			wg.Go(func() {
				for time.Now().Before(stop) {
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
					if rec.Code == http.StatusServiceUnavailable {
						n.Add(1)
						time.Sleep(time.Millisecond)
					}
				}
			})
		}
		wg.Wait()
		return int(n.Load())
	}
	assert.Equal(t, 32.0, gauge("shop_http_concurrency_limit"), "it starts at Limit")

	assert.Zero(t, load(16, 500*time.Millisecond), "slow requests with slots to spare are latency, not overload")
	assert.Equal(t, 32.0, gauge("shop_http_concurrency_limit"), "and keep the limit")

	shed := load(48, 800*time.Millisecond)
	slow := gauge("shop_http_concurrency_limit")
	assert.Less(t, slow, 32.0, "slow requests lowered the limit")
	assert.GreaterOrEqual(t, slow, 8.0, "never below the floor")
	assert.Positive(t, shed)
	assert.Equal(t, float64(shed), gauge("shop_http_shed_total"), "every shed request is counted")

	delay.Store(int64(time.Millisecond))
	stop, stopped := make(chan struct{}), make(chan struct{})
	defer func() { close(stop); <-stopped }()
	go func() {
		defer close(stopped)
		for {
			select {
			case <-stop:
				return
			default:
				load(48, 100*time.Millisecond)
			}
		}
	}()
	assert.Eventually(t, func() bool { return gauge("shop_http_concurrency_limit") == 32 }, 5*time.Second, 10*time.Millisecond,
		"fast requests raise it back to Limit")
}

// A shed request gets no access-log line of its own (thousands a second would be the overload);
// one summary line says how many were shed.
func TestShedRequestsAreSummarisedNotLogged(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	gate := make(chan struct{})
	h := telemetry.AccessLog(log, telemetry.AccessLogConfig{})(guard.Shed(guard.Shedding{Limit: 1, MaxWait: time.Millisecond, Log: log})(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/held" {
				<-gate
			}
			w.WriteHeader(http.StatusNoContent)
		})))
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/held", nil))
	}()
	require.Eventually(t, func() bool {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/shed", nil))
		return rec.Code == http.StatusServiceUnavailable
	}, time.Second, time.Millisecond)
	for range 5 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/shed", nil))
		assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
	}
	close(gate)
	<-done
	assert.NotContains(t, logs.String(), `"path":"/shed"`, "no access line per shed request")
	assert.Equal(t, 1, strings.Count(logs.String(), "shedding load"), logs.String())
}
