package transport_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shopworks/shop/clients/productclient"
	"github.com/shopworks/shop/clients/transport"
)

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// A wrapped transport sees every call of a generated client (the services trace them so), and
// the http.Client it was given stays as it was.
func TestWrapTransportSeesEveryCall(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Saw", r.Header.Get("X-Added"))
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	shared := transport.NewHTTPClient(0)
	before := shared.Transport
	calls := 0
	c, err := productclient.New(srv.URL, productclient.Options{HTTPClient: shared, WrapTransport: func(next http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			calls++
			r.Header.Set("X-Added", "yes")
			return next.RoundTrip(r)
		})
	}})
	require.NoError(t, err)
	resp, err := c.GetLivenessWithResponse(t.Context())
	require.NoError(t, err)
	assert.Equal(t, "yes", resp.HTTPResponse.Header.Get("X-Saw"))
	assert.Equal(t, 1, calls)
	assert.Same(t, before, shared.Transport, "the shared client is not changed")
	assert.Same(t, shared, transport.Wrap(shared, nil), "nothing to wrap: the same client")
}
