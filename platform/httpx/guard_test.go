package httpx_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/shopworks/shop/platform/httpx"
)

func TestAPIKeyAuthGuardsMutationsOnlyWhenKeysAreConfigured(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	open := httpx.RequestID(httpx.APIKeyAuth(nil)(ok))
	guarded := httpx.RequestID(httpx.APIKeyAuth([]string{"k1", "k2"})(ok))
	call := func(h http.Handler, method, key string) (int, string) {
		req := httptest.NewRequest(method, "/products", nil)
		if key != "" {
			req.Header.Set(httpx.HeaderAPIKey, key)
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
	h := httpx.RequestID(httpx.RateLimit(2, time.Minute)(ok))
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

	unlimited := httpx.RateLimit(0, time.Second)(ok)
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
	h := httpx.RequestID(httpx.Shed(httpx.Shedding{Limit: 2, MaxWait: 50 * time.Millisecond, Exempt: []string{"/healthz"}})(slow))
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
	h := httpx.Shed(httpx.Shedding{Limit: 1, MaxWait: 50 * time.Millisecond})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
	h := httpx.Shed(httpx.Shedding{Limit: 1, MaxWait: 20 * time.Millisecond})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/wait" {
			httpx.LeaveSlot(r.Context())
			httpx.LeaveSlot(r.Context()) // twice is once
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
	httpx.LeaveSlot(context.Background()) // no slot: nothing happens
}
