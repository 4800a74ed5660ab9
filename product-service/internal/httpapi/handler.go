package httpapi

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	apidocs "github.com/shopworks/shop/api"
	"github.com/shopworks/shop/platform/httpx"
	"github.com/shopworks/shop/platform/httpx/guard"
	"github.com/shopworks/shop/platform/httpx/problem"
	"github.com/shopworks/shop/platform/httpx/telemetry"
	"github.com/shopworks/shop/product-service/internal/httpapi/api"
)

// HandlerConfig is what NewHandler needs besides the Server.
type HandlerConfig struct {
	Log               *slog.Logger
	Registry          *prometheus.Registry
	APIKeys           []string
	RateLimitRequests int
	Shedding          guard.Shedding
	AccessLog         telemetry.AccessLogConfig
	// TracerProvider traces every request (nil: tracing off; see platform/tracing).
	TracerProvider trace.TracerProvider
}

// NewHandler builds the HTTP handler: the shared middleware and validator of platform/httpx,
// then the generated routes, with every oapi-codegen error path writing the problem envelope.
func NewHandler(s *Server, cfg HandlerConfig) (http.Handler, error) {
	r, err := httpx.NewRouter(httpx.RouterConfig{
		Service: "product-service", OpenAPI: apidocs.ProductService(), AsyncAPI: apidocs.Events(), Log: cfg.Log, Registry: cfg.Registry,
		APIKeys: cfg.APIKeys, RateLimitRequests: cfg.RateLimitRequests, RateLimitWindow: time.Second,
		Shedding: cfg.Shedding, AccessLog: cfg.AccessLog, TracerProvider: cfg.TracerProvider,
	})
	if err != nil {
		return nil, err
	}
	eh := problem.NewErrorHandlers(cfg.Log, mapError)
	strict := api.NewStrictHandlerWithOptions(s, nil, api.StrictHTTPServerOptions{
		RequestErrorHandlerFunc: eh.Request, ResponseErrorHandlerFunc: eh.Response,
	})
	return api.HandlerWithOptions(strict, api.ChiServerOptions{BaseRouter: r, ErrorHandlerFunc: eh.Param}), nil
}
