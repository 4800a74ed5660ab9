// Package httpx assembles the HTTP front both services share from the packages beneath it: the
// request ID (requestid), tracing, the access log and metrics (telemetry), recovery, load
// shedding, rate limit and API keys (guard), request validation against the OpenAPI document
// (validate), problem documents for every error (problem) and the API documents with Swagger UI
// (docs). The server that runs it is httpserver's, the readiness checks are health's, and
// httpxtest serves it in tests as production does.
package httpx

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/shopworks/shop/platform/httpx/docs"
	"github.com/shopworks/shop/platform/httpx/guard"
	"github.com/shopworks/shop/platform/httpx/problem"
	"github.com/shopworks/shop/platform/httpx/requestid"
	"github.com/shopworks/shop/platform/httpx/telemetry"
	"github.com/shopworks/shop/platform/httpx/validate"
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
	AccessLog    telemetry.AccessLogConfig
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
	Shedding guard.Shedding
	// TracerProvider, when not nil, traces every request but the probes (see telemetry.Trace); nil
	// is tracing off, and then no tracing middleware runs at all.
	TracerProvider trace.TracerProvider
}

// probes are the health probes and the metrics scrape: neither traced, nor rate limited, nor shed.
var probes = [...]string{"/healthz", "/readyz", "/metrics", "/health"}

// NewRouter returns a chi router with the shared middleware chain, problem answers for unknown
// routes and wrong methods, and /openapi.json, /asyncapi.json, /docs and /metrics mounted. The
// service registers its generated handlers on it (ChiServerOptions.BaseRouter).
func NewRouter(cfg RouterConfig) (chi.Router, error) {
	spec, err := validate.LoadSpec(cfg.OpenAPI)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.Service, err)
	}
	r := chi.NewRouter()
	r.Use(requestid.Middleware)
	if cfg.TracerProvider != nil {
		r.Use(telemetry.Trace(cfg.TracerProvider, probes[:])) // before the access log, so that its line has the trace ID
	}
	r.Use(guard.Recover(cfg.Log), telemetry.AccessLog(cfg.Log, cfg.AccessLog))
	if cfg.Registry != nil {
		r.Use(telemetry.Metrics(cfg.Registry))
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
	r.Use(guard.Shed(shedding), guard.Except(unguarded, guard.RateLimit(cfg.RateLimitRequests, window)), guard.APIKeyAuth(cfg.APIKeys))
	r.Use(validate.Middleware(spec, cfg.MaxBodyBytes))
	r.NotFound(problem.NotFound)
	r.MethodNotAllowed(methodNotAllowed(r))

	r.Get("/openapi.json", docs.Document(cfg.OpenAPI))
	if cfg.AsyncAPI != nil {
		r.Get("/asyncapi.json", docs.Document(cfg.AsyncAPI))
	}
	r.Mount("/docs", docs.SwaggerUI(cfg.Service, cfg.AsyncAPI != nil))
	if cfg.Registry != nil {
		r.Method(http.MethodGet, "/metrics", telemetry.MetricsHandler(cfg.Registry))
	}
	return r, nil
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
		p := problem.New(http.StatusMethodNotAllowed, problem.CodeMethodNotAllowed, "Method not allowed",
			r.Method+" is not allowed on "+r.URL.Path+"; allowed: "+strings.Join(allowed, ", ")+".")
		p.Allow = strings.Join(allowed, ", ")
		problem.Write(w, r, p)
	}
}
