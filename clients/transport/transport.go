// Package transport owns how the generated clients talk HTTP: one shared, tuned http.Client per
// process (keep-alive pools sized for service-to-service traffic, bounded dial and response
// times), the request editor that forwards the request ID and the API key on every call, and
// the hook through which a caller wraps the transport (the services: an OpenTelemetry transport
// that starts a client span and sends traceparent; the SDK itself depends on no tracing library).
package transport

import (
	"context"
	"net"
	"net/http"
	"time"

	"github.com/shopworks/shop/clients/requestid"
)

// HeaderAPIKey carries the caller's API key (securityScheme ApiKeyAuth in the specs).
const HeaderAPIKey = "X-API-Key"

// NewHTTPClient returns an http.Client whose requests time out after timeout (0 → 5 s) and whose
// connection pool keeps enough idle connections per host for thousands of calls per second.
func NewHTTPClient(timeout time.Duration) *http.Client {
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          512,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   3 * time.Second,
		ResponseHeaderTimeout: timeout,
		ExpectContinueTimeout: time.Second,
		ForceAttemptHTTP2:     true,
	}
	return &http.Client{Transport: tr, Timeout: timeout}
}

// Wrap returns a copy of hc whose transport is wrap(hc's transport), or hc itself when wrap is
// nil. hc is not changed, so a client shared by several callers stays as it was.
func Wrap(hc *http.Client, wrap func(http.RoundTripper) http.RoundTripper) *http.Client {
	if wrap == nil {
		return hc
	}
	rt := hc.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	c := *hc
	c.Transport = wrap(rt)
	return &c
}

// Editor sets X-Request-ID from the context (when the caller has one) and X-API-Key (when apiKey
// is set) on an outgoing request. It has the signature of the generated RequestEditorFn.
func Editor(apiKey string) func(ctx context.Context, req *http.Request) error {
	return func(ctx context.Context, req *http.Request) error {
		if id := requestid.FromContext(ctx); id != "" && req.Header.Get(requestid.Header) == "" {
			req.Header.Set(requestid.Header, id)
		}
		if apiKey != "" {
			req.Header.Set(HeaderAPIKey, apiKey)
		}
		return nil
	}
}
