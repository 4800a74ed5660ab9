package telemetry

import (
	"net/http"
	"slices"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/shopworks/shop/clients/requestid"
	"github.com/shopworks/shop/platform/tracing"
)

// Trace starts a server span per request, the child of the request's W3C traceparent when it
// has one, named after the route template ("POST /orders", never a raw path) and carrying the
// request ID. Requests for the paths in untraced (the probes and /metrics) are not traced.
// platform/httpx's NewRouter installs it only when tracing is on, so with tracing off a request
// does not pass through it at all.
func Trace(tp trace.TracerProvider, untraced []string) func(http.Handler) http.Handler {
	server := otelhttp.NewMiddleware("http.server", tracing.OtelHTTPOptions(tp,
		otelhttp.WithFilter(func(r *http.Request) bool { return !slices.Contains(untraced, r.URL.Path) }),
		// Called at the start, when only the method is known, and again after routing.
		otelhttp.WithSpanNameFormatter(spanName),
	)...)
	return func(next http.Handler) http.Handler {
		return server(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			span := trace.SpanFromContext(r.Context())
			if id := requestid.FromContext(r.Context()); id != "" {
				span.SetAttributes(attribute.StringSlice("http.request.header.x-request-id", []string{id}))
			}
			next.ServeHTTP(w, r)
			// chi fills the route context in place while routing, so the template is known now.
			if route := routePattern(r); route != "unmatched" {
				span.SetName(spanName("", r))
				span.SetAttributes(attribute.String("http.route", route))
			}
		}))
	}
}

// spanName is "{method} {route template}", or the method alone before routing and for a path
// that matched no route.
func spanName(_ string, r *http.Request) string {
	if route := routePattern(r); route != "unmatched" {
		return r.Method + " " + route
	}
	return r.Method
}
