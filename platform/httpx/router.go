package httpx

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
)

// RouterConfig is what NewRouter needs to build a service's HTTP front.
type RouterConfig struct {
	Service      string
	Spec         *openapi3.T
	Log          *slog.Logger
	Registry     *prometheus.Registry
	MaxBodyBytes int64
	// APIKeys, when not empty, are required (X-API-Key) on mutating requests.
	APIKeys []string
	// RateLimitRequests per RateLimitWindow per client IP; 0 disables rate limiting.
	RateLimitRequests int
	RateLimitWindow   time.Duration
	// Shedding bounds the requests running at once and how long others may wait to start; beyond
	// that they are shed with 503. A zero Limit disables it. The probes and /metrics are exempt.
	Shedding Shedding
	// Extra middleware run after request ID, recover, access log and metrics, before validation
	// (e.g. rate limiting).
	Extra []func(http.Handler) http.Handler
}

// NewRouter returns a chi router with the shared middleware chain, problem answers for unknown
// routes and wrong methods, and /openapi.json, /docs and /metrics mounted. The service registers
// its generated handlers on it (ChiServerOptions.BaseRouter).
func NewRouter(cfg RouterConfig) (chi.Router, error) {
	specJSON, err := json.Marshal(cfg.Spec)
	if err != nil {
		return nil, fmt.Errorf("encode %s spec: %w", cfg.Service, err)
	}
	r := chi.NewRouter()
	r.Use(RequestID, Recover(cfg.Log), AccessLog(cfg.Log))
	if cfg.Registry != nil {
		r.Use(NewHTTPMetrics(cfg.Registry).Middleware)
	}
	window := cfg.RateLimitWindow
	if window <= 0 {
		window = time.Second
	}
	shedding := cfg.Shedding
	shedding.Exempt = append(shedding.Exempt, "/healthz", "/readyz", "/metrics", "/health")
	r.Use(Shed(shedding), RateLimit(cfg.RateLimitRequests, window), APIKeyAuth(cfg.APIKeys))
	r.Use(cfg.Extra...)
	r.Use(NewValidator(cfg.Spec, cfg.MaxBodyBytes).Middleware)
	r.NotFound(NotFound)
	r.MethodNotAllowed(methodNotAllowed(r))

	r.Get("/openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(specJSON)
	})
	r.Mount("/docs", SwaggerUI(cfg.Service))
	if cfg.Registry != nil {
		r.Method(http.MethodGet, "/metrics", MetricsHandler(cfg.Registry))
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
		p := NewProblem(http.StatusMethodNotAllowed, CodeMethodNotAllowed, "Method not allowed",
			r.Method+" is not allowed on "+r.URL.Path+"; allowed: "+strings.Join(allowed, ", ")+".")
		p.Allow = strings.Join(allowed, ", ")
		WriteProblem(w, r, p)
	}
}
