package httpx

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
)

// RouterConfig is what NewRouter needs to build a service's HTTP front.
type RouterConfig struct {
	Service string
	// OpenAPI is the service's OpenAPI document (JSON; the bundle of api/*.yaml), served byte for
	// byte at /openapi.json. Requests are validated against it.
	OpenAPI []byte
	// AsyncAPI, when set, is the AsyncAPI document (JSON) of the events the service exchanges,
	// served byte for byte at /asyncapi.json and linked from /docs.
	AsyncAPI []byte
	Log      *slog.Logger
	// AccessLog chooses which requests are logged at which level (ACCESS_LOG, ACCESS_LOG_SLOW).
	AccessLog    AccessLogConfig
	Registry     *prometheus.Registry
	MaxBodyBytes int64
	// APIKeys, when not empty, are required (X-API-Key) on mutating requests.
	APIKeys []string
	// RateLimitRequests per RateLimitWindow per client IP; 0 disables rate limiting. The probes and
	// /metrics are exempt.
	RateLimitRequests int
	RateLimitWindow   time.Duration
	// Shedding bounds the requests running at once and how long others may wait to start; beyond
	// that they are shed with 503. A zero Limit disables it. The probes and /metrics are exempt.
	Shedding Shedding
	// TracerProvider, when not nil, traces every request but the probes (see Trace); nil is
	// tracing off, and then no tracing middleware runs at all.
	TracerProvider trace.TracerProvider
	// Extra middleware run after request ID, recover, access log and metrics, before validation
	// (e.g. rate limiting).
	Extra []func(http.Handler) http.Handler
}

// LoadSpec parses and validates an OpenAPI document.
func LoadSpec(doc []byte) (*openapi3.T, error) {
	spec, err := openapi3.NewLoader().LoadFromData(doc)
	if err != nil {
		return nil, fmt.Errorf("load OpenAPI document: %w", err)
	}
	if err := spec.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("validate OpenAPI document: %w", err)
	}
	return spec, nil
}

// NewRouter returns a chi router with the shared middleware chain, problem answers for unknown
// routes and wrong methods, and /openapi.json, /asyncapi.json, /docs and /metrics mounted. The
// service registers its generated handlers on it (ChiServerOptions.BaseRouter).
func NewRouter(cfg RouterConfig) (chi.Router, error) {
	spec, err := LoadSpec(cfg.OpenAPI)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.Service, err)
	}
	r := chi.NewRouter()
	r.Use(RequestID)
	if cfg.TracerProvider != nil {
		r.Use(Trace(cfg.TracerProvider)) // before the access log, so that its line has the trace ID
	}
	r.Use(Recover(cfg.Log), AccessLog(cfg.Log, cfg.AccessLog))
	if cfg.Registry != nil {
		r.Use(NewHTTPMetrics(cfg.Registry).Middleware)
	}
	window := cfg.RateLimitWindow
	if window <= 0 {
		window = time.Second
	}
	// An orchestrator must see a service's health (and Prometheus its metrics) while it sheds load
	// or limits a client's rate; the specs declare no 429 and no shedding 503 for the probes.
	unguarded := probes[:]
	shedding := cfg.Shedding
	shedding.Exempt = append(shedding.Exempt, unguarded...)
	if shedding.Log == nil {
		shedding.Log = cfg.Log
	}
	if shedding.Registry == nil {
		shedding.Registry = cfg.Registry
	}
	r.Use(Shed(shedding), exceptPaths(unguarded, RateLimit(cfg.RateLimitRequests, window)), APIKeyAuth(cfg.APIKeys))
	r.Use(cfg.Extra...)
	r.Use(NewValidator(spec, cfg.MaxBodyBytes).Middleware)
	r.NotFound(NotFound)
	r.MethodNotAllowed(methodNotAllowed(r))

	r.Get("/openapi.json", serveDocument(cfg.OpenAPI))
	if cfg.AsyncAPI != nil {
		r.Get("/asyncapi.json", serveDocument(cfg.AsyncAPI))
	}
	r.Mount("/docs", SwaggerUI(cfg.Service, cfg.AsyncAPI != nil))
	if cfg.Registry != nil {
		r.Method(http.MethodGet, "/metrics", MetricsHandler(cfg.Registry))
	}
	return r, nil
}

// serveDocument answers an API document exactly as it was built (api/bundled/*.json).
func serveDocument(doc []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(doc)
	}
}

var allMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
	http.MethodPatch, http.MethodDelete, http.MethodOptions}

// methodNotAllowed answers 405 with the Allow header listing the methods the path does accept
// (chi drops that header when a custom handler is set).
func methodNotAllowed(routes chi.Routes) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var allowed []string
		for _, m := range allMethods {
			if routes.Match(chi.NewRouteContext(), m, r.URL.Path) {
				allowed = append(allowed, m)
			}
		}
		p := NewProblem(http.StatusMethodNotAllowed, CodeMethodNotAllowed, "Method not allowed",
			r.Method+" is not allowed on "+r.URL.Path+"; allowed: "+strings.Join(allowed, ", ")+".")
		p.Allow = strings.Join(allowed, ", ")
		WriteProblem(w, r, p)
	}
}
