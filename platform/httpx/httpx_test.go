package httpx_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shopworks/shop/platform/httpx"
	"github.com/shopworks/shop/platform/httpx/problem"
	"github.com/shopworks/shop/platform/httpx/requestid"
	"github.com/shopworks/shop/platform/httpx/telemetry"
)

// testAsyncAPI stands for the events document a service serves.
const testAsyncAPI = `{"asyncapi":"3.0.0","info":{"title":"t","version":"1"}}`

// testOpenAPI is testdata/things.yaml as the JSON document a service serves.
func testOpenAPI(t *testing.T) []byte {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(readSpec(t))
	require.NoError(t, err)
	openAPI, err := json.Marshal(doc)
	require.NoError(t, err)
	return openAPI
}

func newTestRouter(t *testing.T, logs io.Writer, opts ...func(*httpx.RouterConfig)) http.Handler {
	t.Helper()
	cfg := httpx.RouterConfig{
		Service: "test", OpenAPI: testOpenAPI(t), AsyncAPI: []byte(testAsyncAPI), Log: telemetry.NewLogger(logs, slog.LevelDebug, "test"),
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

type problemDoc struct {
	Type, Title, Detail, Instance, Code, RequestID string
	Status                                         int
	Errors                                         []problem.FieldError
}

func do(t *testing.T, h http.Handler, method, path, contentType, body string, hdr ...string) (*httptest.ResponseRecorder, problemDoc) {
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
	var p problemDoc
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
		{"unknown route", "GET", "/nope", "", "", 404, problem.CodeNotFound, nil},
		{"wrong method", "DELETE", "/things", "", "", 405, problem.CodeMethodNotAllowed, nil},
		{"wrong content type", "POST", "/things", "text/plain", "x", 415, problem.CodeUnsupportedMediaType, nil},
		{"malformed JSON", "POST", "/things", "application/json", "{", 400, problem.CodeBadJSON, nil},
		{"too large", "POST", "/things", "application/json", `{"name":"` + strings.Repeat("a", 100) + `"}`, 413, problem.CodePayloadTooLarge, nil},
		{"every invalid field at once", "POST", "/things", "application/json", `{"qty":0,"extra":1}`, 400, problem.CodeValidationFailed, []string{"extra", "name", "qty"}},
		{"bad path parameter", "GET", "/things/abc", "", "", 400, problem.CodeValidationFailed, []string{"id"}},
		{"bad query parameter", "GET", "/things/1?limit=9", "", "", 400, problem.CodeValidationFailed, []string{"limit"}},
		{"bad id in suffixed route", "GET", "/things/abc-with-parts", "", "", 400, problem.CodeValidationFailed, []string{"id"}},
		{"panic", "GET", "/boom", "", "", 500, problem.CodeInternal, nil},
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
		assert.True(t, requestid.Sane(got))
	}
	rec, _ = do(t, h, "GET", "/things/1", "", "")
	assert.True(t, requestid.Sane(rec.Header().Get("X-Request-ID")))
}

func TestDocsAndSpecAreServedFromTheBinary(t *testing.T) {
	h := newTestRouter(t, io.Discard)
	rec, _ := do(t, h, "GET", "/docs", "", "")
	assert.Equal(t, 200, rec.Code)
	assert.Contains(t, rec.Body.String(), "swagger-ui-bundle.js")
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
	rec, _ = do(t, h, "GET", "/metrics", "", "")
	assert.Contains(t, rec.Body.String(), "shop_http_requests_total")
}

// TestProbesAreNeverRateLimited: under a rate limit of one request per hour, the API answers 429
// from the second request on, the health probes and /metrics never (shedding: guard_test.go).
func TestProbesAreNeverRateLimited(t *testing.T) {
	h := newTestRouter(t, io.Discard, func(c *httpx.RouterConfig) { c.RateLimitRequests, c.RateLimitWindow = 1, time.Hour })
	rec, _ := do(t, h, "GET", "/things/1", "", "")
	assert.Equal(t, 200, rec.Code)
	rec, p := do(t, h, "GET", "/things/1", "", "")
	assert.Equal(t, 429, rec.Code)
	assert.Equal(t, problem.CodeRateLimited, p.Code)
	assert.NotEmpty(t, rec.Header().Get("Retry-After"))
	for i := 0; i < 5; i++ {
		for _, probe := range []string{"/health", "/healthz", "/readyz", "/metrics"} {
			rec, _ := do(t, h, "GET", probe, "", "")
			assert.Equal(t, 200, rec.Code, probe)
		}
	}
}

// readSpec is testdata/things.yaml, the API of the tests' router: POST /things and
// GET /things/{id}.
func readSpec(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/things.yaml")
	require.NoError(t, err)
	return b
}
