package httpx_test

import (
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

func TestMaxInFlightShedsBeyondTheLimit(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 2)
	slow := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		entered <- struct{}{}
		<-release
		w.WriteHeader(http.StatusNoContent)
	})
	h := httpx.RequestID(httpx.MaxInFlight(2)(slow))
	done := make(chan int, 2)
	for range 2 {
		go func() {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
			done <- rec.Code
		}()
	}
	<-entered
	<-entered
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	assert.Equal(t, 503, rec.Code)
	assert.Equal(t, "1", rec.Header().Get("Retry-After"))
	close(release)
	assert.Equal(t, 204, <-done)
	assert.Equal(t, 204, <-done)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	assert.Equal(t, 204, rec.Code, "recovers once load drops")
}
