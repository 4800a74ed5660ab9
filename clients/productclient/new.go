package productclient

import (
	"fmt"
	"net/http"
	"time"

	"github.com/shopworks/shop/clients/transport"
)

// Options tune New. The zero value is usable.
type Options struct {
	// HTTPClient is shared by every client of the process; nil → transport.NewHTTPClient(Timeout).
	HTTPClient *http.Client
	// Timeout bounds each call when HTTPClient is nil (0 → 5 s).
	Timeout time.Duration
	// APIKey is sent as X-API-Key when the service runs with API_KEYS.
	APIKey string
	// WrapTransport, when set, wraps the HTTP client's transport, e.g. with
	// otelhttp.NewTransport to trace every call and send its traceparent.
	WrapTransport func(http.RoundTripper) http.RoundTripper
}

// New returns a typed client for the product-service at baseURL (e.g. http://localhost:3000) that
// forwards the request ID of each call's context (see package requestid) and the API key.
func New(baseURL string, opts Options) (*ClientWithResponses, error) {
	hc := opts.HTTPClient
	if hc == nil {
		hc = transport.NewHTTPClient(opts.Timeout)
	}
	hc = transport.Wrap(hc, opts.WrapTransport)
	c, err := NewClientWithResponses(baseURL, WithHTTPClient(hc), WithRequestEditorFn(transport.Editor(opts.APIKey)))
	if err != nil {
		return nil, fmt.Errorf("product-service client for %q: %w", baseURL, err)
	}
	return c, nil
}
