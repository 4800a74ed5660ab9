package httpx_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shopworks/shop/platform/httpx"
)

const testSpec = `
openapi: 3.0.3
info: {title: t, version: "1"}
paths:
  /things:
    post:
      operationId: createThing
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              additionalProperties: false
              required: [name, qty]
              properties:
                name: {type: string, minLength: 1}
                qty: {type: integer, minimum: 1, maximum: 10}
                price: {type: number, minimum: 0.01, maximum: 9999999999.99, multipleOf: 0.01}
      responses:
        '201': {description: ok}
  /things/{id}:
    get:
      operationId: getThing
      parameters:
        - {name: id, in: path, required: true, schema: {type: integer, minimum: 1}}
        - {name: limit, in: query, schema: {type: integer, maximum: 5}}
        - {name: X-Request-ID, in: header, x-invalid-value: replaced, schema: {type: string, minLength: 1, maxLength: 128, pattern: '^[\x21-\x7E]+$'}}
      responses:
        '200': {description: ok}
  /things/{id}-with-parts:
    get:
      operationId: getThingWithParts
      parameters:
        - {name: id, in: path, required: true, schema: {type: integer, minimum: 1}}
      responses:
        '200': {description: ok}
`

// testAsyncAPI stands for the events document a service serves.
const testAsyncAPI = `{"asyncapi":"3.0.0","info":{"title":"t","version":"1"}}`

// testOpenAPI is testSpec as the JSON document a service serves.
func testOpenAPI(t *testing.T) []byte {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData([]byte(testSpec))
	require.NoError(t, err)
	openAPI, err := json.Marshal(doc)
	require.NoError(t, err)
	return openAPI
}

func newTestRouter(t *testing.T, logs io.Writer, opts ...func(*httpx.RouterConfig)) http.Handler {
	t.Helper()
	cfg := httpx.RouterConfig{
		Service: "test", OpenAPI: testOpenAPI(t), AsyncAPI: []byte(testAsyncAPI), Log: httpx.NewLogger(logs, slog.LevelDebug, "test"),
		Registry: prometheus.NewRegistry(), MaxBodyBytes: 64,
	}
	for _, o := range opts {
		o(&cfg)
	}
	r, err := httpx.NewRouter(cfg)
	require.NoError(t, err)
	r.Post("/things", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusCreated) })
	r.Get("/things/{id}", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("thing")) })
	r.Get("/things/{id}-with-parts", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("parts")) })
	r.Get("/boom", func(http.ResponseWriter, *http.Request) { panic("secret internal detail") })
	for _, probe := range []string{"/health", "/healthz", "/readyz"} {
		r.Get(probe, func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`{"status":"ok"}`)) })
	}
	return r
}

type problem struct {
	Type, Title, Detail, Instance, Code, RequestID string
	Status                                         int
	Errors                                         []httpx.FieldError
}

func do(t *testing.T, h http.Handler, method, path, contentType, body string, hdr ...string) (*httptest.ResponseRecorder, problem) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var p problem
	if strings.HasPrefix(rec.Header().Get("Content-Type"), "application/problem+json") {
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &p))
		assert.Equal(t, rec.Code, p.Status)
		assert.Equal(t, rec.Header().Get("X-Request-ID"), p.RequestID)
		assert.NotEmpty(t, p.Type)
		assert.NotEmpty(t, p.Title)
	}
	return rec, p
}

func TestProblemEnvelopeOnEveryPlatformErrorPath(t *testing.T) {
	h := newTestRouter(t, io.Discard)
	tests := []struct {
		name, method, path, ct, body string
		status                       int
		code                         string
		fields                       []string
	}{
		{"unknown route", "GET", "/nope", "", "", 404, httpx.CodeNotFound, nil},
		{"wrong method", "DELETE", "/things", "", "", 405, httpx.CodeMethodNotAllowed, nil},
		{"wrong content type", "POST", "/things", "text/plain", "x", 415, httpx.CodeUnsupportedMediaType, nil},
		{"malformed JSON", "POST", "/things", "application/json", "{", 400, httpx.CodeBadJSON, nil},
		{"too large", "POST", "/things", "application/json", `{"name":"` + strings.Repeat("a", 100) + `"}`, 413, httpx.CodePayloadTooLarge, nil},
		{"every invalid field at once", "POST", "/things", "application/json", `{"qty":0,"extra":1}`, 400, httpx.CodeValidationFailed, []string{"extra", "name", "qty"}},
		{"bad path parameter", "GET", "/things/abc", "", "", 400, httpx.CodeValidationFailed, []string{"id"}},
		{"bad query parameter", "GET", "/things/1?limit=9", "", "", 400, httpx.CodeValidationFailed, []string{"limit"}},
		{"bad id in suffixed route", "GET", "/things/abc-with-parts", "", "", 400, httpx.CodeValidationFailed, []string{"id"}},
		{"panic", "GET", "/boom", "", "", 500, httpx.CodeInternal, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec, p := do(t, h, tc.method, tc.path, tc.ct, tc.body)
			assert.Equal(t, tc.status, rec.Code, rec.Body.String())
			assert.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"))
			assert.Equal(t, tc.code, p.Code)
			assert.Equal(t, tc.path[:strings.IndexByte(tc.path+"?", '?')], p.Instance)
			var fields []string
			for _, f := range p.Errors {
				fields = append(fields, f.Field)
			}
			assert.Equal(t, tc.fields, fields)
			assert.NotContains(t, rec.Body.String(), "secret internal detail")
		})
	}
}

func TestMethodNotAllowedListsAllowedMethods(t *testing.T) {
	rec, _ := do(t, newTestRouter(t, io.Discard), "DELETE", "/things", "", "")
	assert.Equal(t, "POST", rec.Header().Get("Allow"))
}

func TestRoutingSeparatesSuffixedRoutes(t *testing.T) {
	h := newTestRouter(t, io.Discard)
	rec, _ := do(t, h, "GET", "/things/5", "", "")
	assert.Equal(t, "thing", rec.Body.String())
	rec, _ = do(t, h, "GET", "/things/5-with-parts", "", "")
	assert.Equal(t, "parts", rec.Body.String())
}

func TestRequestIDIsKeptWhenSaneAndReplacedOtherwise(t *testing.T) {
	var logs bytes.Buffer
	h := newTestRouter(t, &logs)
	rec, p := do(t, h, "GET", "/nope", "", "", "X-Request-ID", "demo-123")
	assert.Equal(t, "demo-123", rec.Header().Get("X-Request-Id"))
	assert.Equal(t, "demo-123", p.RequestID)
	assert.Contains(t, logs.String(), `"requestId":"demo-123"`)

	// A request ID outside the rule is replaced, not refused: the validator, which checks the
	// header against the spec's pattern, sees the replacement.
	for _, bad := range []string{strings.Repeat("x", 129), "has space", "tab\there", "ünïcode"} {
		rec, _ := do(t, h, "GET", "/things/1", "", "", "X-Request-ID", bad)
		assert.Equal(t, 200, rec.Code, "%q: %s", bad, rec.Body)
		got := rec.Header().Get("X-Request-ID")
		assert.NotEqual(t, bad, got)
		assert.True(t, httpx.SaneRequestID(got))
	}
	rec, _ = do(t, h, "GET", "/things/1", "", "")
	assert.True(t, httpx.SaneRequestID(rec.Header().Get("X-Request-ID")))
}

func TestDocsAndSpecAreServedFromTheBinary(t *testing.T) {
	h := newTestRouter(t, io.Discard)
	rec, _ := do(t, h, "GET", "/docs", "", "")
	assert.Equal(t, 200, rec.Code)
	assert.Contains(t, rec.Body.String(), "swagger-ui-bundle.js")
	rec, _ = do(t, h, "GET", "/docs/swagger-ui-bundle.js", "", "")
	assert.Equal(t, 200, rec.Code)
	assert.Greater(t, rec.Body.Len(), 100_000)
	rec, _ = do(t, h, "GET", "/openapi.json", "", "")
	assert.Equal(t, 200, rec.Code)
	assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	assert.Equal(t, string(testOpenAPI(t)), rec.Body.String(), "the document is served byte for byte")
	rec, _ = do(t, h, "GET", "/asyncapi.json", "", "")
	assert.Equal(t, 200, rec.Code)
	assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	assert.Equal(t, testAsyncAPI, rec.Body.String())
	rec, _ = do(t, h, "GET", "/docs/", "", "")
	assert.Contains(t, rec.Body.String(), `href="/asyncapi.json"`, "the docs page links the events document")
	assert.Contains(t, rec.Body.String(), `href="/openapi.json"`)
	rec, _ = do(t, h, "GET", "/metrics", "", "")
	assert.Contains(t, rec.Body.String(), "shop_http_requests_total")
}

func TestErrorHandlersMapHandlerErrorsOnce(t *testing.T) {
	var logs bytes.Buffer
	log := httpx.NewLogger(&logs, slog.LevelInfo, "test")
	errGone := errors.New("gone")
	eh := httpx.NewErrorHandlers(log, func(err error) *httpx.Problem {
		if errors.Is(err, errGone) {
			return httpx.NewProblem(404, "THING_NOT_FOUND", "Thing not found", "no such thing")
		}
		return nil
	})
	req := httptest.NewRequest("GET", "/things/1", nil)
	rec := httptest.NewRecorder()
	eh.Response(rec, req, errors.Join(errGone))
	assert.Equal(t, 404, rec.Code)
	assert.Contains(t, rec.Body.String(), `"code":"THING_NOT_FOUND"`)

	rec = httptest.NewRecorder()
	eh.Response(rec, req, errors.New("dial tcp 10.0.0.1:3306: secret"))
	assert.Equal(t, 500, rec.Code)
	assert.NotContains(t, rec.Body.String(), "secret")
	assert.Equal(t, 1, strings.Count(logs.String(), "secret"), "logged exactly once")

	rec = httptest.NewRecorder()
	eh.Request(rec, req, errors.New("can't decode JSON body: unexpected EOF"))
	assert.Equal(t, 400, rec.Code)
	assert.Contains(t, rec.Body.String(), `"code":"BAD_JSON"`)

	rec = httptest.NewRecorder()
	eh.Param(rec, req, &invalidParamFormatError{ParamName: "id", Err: errors.New("not an int")})
	assert.Equal(t, 400, rec.Code)
	assert.Contains(t, rec.Body.String(), `"field":"id"`)
}

// invalidParamFormatError has the shape of the error type oapi-codegen generates per service.
type invalidParamFormatError struct {
	ParamName string
	Err       error
}

func (e *invalidParamFormatError) Error() string {
	return "Invalid format for parameter " + e.ParamName + ": " + e.Err.Error()
}

func TestReadinessNamesTheFailingDependency(t *testing.T) {
	up := func(context.Context) error { return nil }
	down := func(context.Context) error { return errors.New("connection refused") }
	slow := func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }

	status, res, ok := httpx.Readiness(context.Background(), []httpx.Check{
		{Name: "mysql", Required: true, Probe: up}, {Name: "redis", Probe: down}, {Name: "rabbitmq", Required: true, Probe: up},
	}, time.Second)
	assert.True(t, ok)
	assert.Equal(t, "degraded", status)
	assert.Equal(t, "degraded", res[1].Status)

	status, res, ok = httpx.Readiness(context.Background(), []httpx.Check{
		{Name: "mysql", Required: true, Probe: slow}, {Name: "redis", Probe: up},
	}, 50*time.Millisecond)
	assert.False(t, ok)
	assert.Equal(t, "unavailable", status)
	assert.Equal(t, "down", res[0].Status)
	assert.Contains(t, res[0].Error, "deadline")
}

func TestDebugHandlerServesProfilesOnlyUnderDebugPprof(t *testing.T) {
	srv := httptest.NewServer(httpx.DebugHandler())
	defer srv.Close()
	for path, want := range map[string]int{
		"/debug/pprof/":                  http.StatusOK,
		"/debug/pprof/heap?debug=1":      http.StatusOK,
		"/debug/pprof/goroutine?debug=1": http.StatusOK,
		"/debug/pprof/cmdline":           http.StatusOK,
		"/debug/pprof/profile?seconds=1": http.StatusOK,
		"/debug/pprof/no-such-profile":   http.StatusNotFound,
		"/products":                      http.StatusNotFound,
		"/debug/pprof/symbol?0x0":        http.StatusOK,
		"/debug/pprof/trace?seconds=0.1": http.StatusOK,
	} {
		resp, err := http.Get(srv.URL + path)
		require.NoError(t, err, path)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, want, resp.StatusCode, "%s: %s", path, body)
	}
}

func TestServeDebug(t *testing.T) {
	ln, err := httpx.ListenDebug("")
	require.NoError(t, err)
	assert.Nil(t, ln, "no address: profiling off")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.NoError(t, httpx.ServeDebug(ctx, nil, slog.New(slog.DiscardHandler)), "off: returns when ctx ends")

	ln, err = httpx.ListenDebug("127.0.0.1:0")
	require.NoError(t, err)
	_, err = httpx.ListenDebug(ln.Addr().String())
	require.ErrorContains(t, err, "listen for pprof", "a busy port fails the start")

	ctx, cancel = context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- httpx.ServeDebug(ctx, ln, slog.New(slog.DiscardHandler)) }()
	require.Eventually(t, answersOK("http://"+ln.Addr().String()+"/debug/pprof/"), 5*time.Second, 20*time.Millisecond)
	cancel()
	require.NoError(t, <-done)
	_, err = http.Get("http://" + ln.Addr().String() + "/debug/pprof/")
	require.Error(t, err, "closed with the service")

	broken, err := httpx.ListenDebug("127.0.0.1:0")
	require.NoError(t, err)
	require.NoError(t, broken.Close())
	require.ErrorContains(t, httpx.ServeDebug(context.Background(), broken, slog.New(slog.DiscardHandler)), "serve pprof")
}

func TestStartDebug(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	stop, err := httpx.StartDebug("", log)
	require.NoError(t, err)
	stop() // off: a no-op

	free, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := free.Addr().String()
	require.NoError(t, free.Close())
	stop, err = httpx.StartDebug(addr, log)
	require.NoError(t, err)
	_, err = httpx.StartDebug(addr, log)
	require.ErrorContains(t, err, "listen for pprof")
	require.Eventually(t, answersOK("http://"+addr+"/debug/pprof/cmdline"), 5*time.Second, 20*time.Millisecond)
	stop()
	_, err = http.Get("http://" + addr + "/debug/pprof/")
	require.Error(t, err, "stopped with the service")
}

// answersOK reports whether a GET of url answers 200, for polling a server that is starting.
func answersOK(url string) func() bool {
	return func() bool {
		resp, err := http.Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
}

// TestProbesAreNeverRateLimited: under a rate limit of one request per hour, the API answers 429
// from the second request on, the health probes and /metrics never (shedding: guard_test.go).
func TestProbesAreNeverRateLimited(t *testing.T) {
	h := newTestRouter(t, io.Discard, func(c *httpx.RouterConfig) { c.RateLimitRequests, c.RateLimitWindow = 1, time.Hour })
	rec, _ := do(t, h, "GET", "/things/1", "", "")
	assert.Equal(t, 200, rec.Code)
	rec, p := do(t, h, "GET", "/things/1", "", "")
	assert.Equal(t, 429, rec.Code)
	assert.Equal(t, httpx.CodeRateLimited, p.Code)
	assert.NotEmpty(t, rec.Header().Get("Retry-After"))
	for i := 0; i < 5; i++ {
		for _, probe := range []string{"/health", "/healthz", "/readyz", "/metrics"} {
			rec, _ := do(t, h, "GET", probe, "", "")
			assert.Equal(t, 200, rec.Code, probe)
		}
	}
}

// TestMoneyHasAtMostTwoDecimalsExactly: multipleOf 0.01 is decided on the number's text. kin-openapi
// alone passes 1.0000000000000001 (the same float as 1); a well-formed number is never "malformed".
func TestMoneyHasAtMostTwoDecimalsExactly(t *testing.T) {
	h := newTestRouter(t, io.Discard, func(c *httpx.RouterConfig) { c.MaxBodyBytes = 1 << 10 })
	for _, price := range []string{"1.005", "1.0000000000000001", "0.5700000000000001", "10.0001e1"} {
		rec, p := do(t, h, "POST", "/things", "application/json", `{"name":"a","qty":1,"price":`+price+`}`)
		assert.Equal(t, 400, rec.Code, price)
		assert.Equal(t, httpx.CodeValidationFailed, p.Code, price)
		assert.Equal(t, []httpx.FieldError{{Field: "price", Message: "number must be a multiple of 0.01"}}, p.Errors, price)
	}
	for _, price := range []string{"0.07", "1234567.89", "9999999999.99", "1.10", "5e-2", "0.0000000000000000000000001e25"} {
		rec, _ := do(t, h, "POST", "/things", "application/json", `{"name":"a","qty":1,"price":`+price+`}`)
		assert.Equal(t, 201, rec.Code, price)
	}
	// Every failing field at once, the inexact price among them.
	rec, p := do(t, h, "POST", "/things", "application/json", `{"name":"","qty":0,"price":1.0000000000000001}`)
	assert.Equal(t, 400, rec.Code)
	var fields []string
	for _, f := range p.Errors {
		fields = append(fields, f.Field)
	}
	assert.Equal(t, []string{"name", "price", "qty"}, fields)
}

// TestValidationProblemListsAtMostAHundredFields keeps the answer to a hostile body bounded.
func TestValidationProblemListsAtMostAHundredFields(t *testing.T) {
	h := newTestRouter(t, io.Discard, func(c *httpx.RouterConfig) { c.MaxBodyBytes = 1 << 20 })
	var b strings.Builder
	b.WriteString(`{"name":"a","qty":1`)
	for i := 0; i < 150; i++ {
		fmt.Fprintf(&b, `,"x%d":1`, i)
	}
	b.WriteString("}")
	rec, p := do(t, h, "POST", "/things", "application/json", b.String())
	assert.Equal(t, 400, rec.Code)
	assert.Len(t, p.Errors, httpx.MaxFieldErrors)
	assert.Equal(t, "The request has 150 invalid fields; the first 100 are listed.", p.Detail)
}
