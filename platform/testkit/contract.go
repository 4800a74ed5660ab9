package testkit

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// ContractTransport is an http.RoundTripper for tests that validates every response it carries
// (status, headers, body) against the OpenAPI document with kin-openapi's ValidateResponse. Any
// undocumented status, header value or field is reported through Report (t.Errorf by default),
// so every integration and e2e test is also a contract test.
type ContractTransport struct {
	Base   http.RoundTripper
	router routers.Router
	Report func(format string, args ...any)

	mu      sync.Mutex
	checked int
}

// NewContractTransport builds a validating transport for spec that reports to t.
func NewContractTransport(t testing.TB, spec *openapi3.T) *ContractTransport {
	t.Helper()
	router, err := NewSpecRouter(spec)
	if err != nil {
		t.Fatalf("contract transport: %v", err)
	}
	return &ContractTransport{Base: http.DefaultTransport, router: router, Report: t.Errorf}
}

// NewSpecRouter returns a router over a copy of spec without servers, so any host matches.
func NewSpecRouter(spec *openapi3.T) (routers.Router, error) {
	cp := *spec
	cp.Servers = nil
	r, err := gorillamux.NewRouter(&cp)
	if err != nil {
		return nil, fmt.Errorf("route spec: %w", err)
	}
	return r, nil
}

// Checked is how many responses were validated.
func (c *ContractTransport) Checked() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.checked
}

// RoundTrip performs the request and validates the response.
func (c *ContractTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := c.Base
	if base == nil {
		base = http.DefaultTransport
	}
	resp, err := base.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("read response body: %w", err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if verr := ValidateResponse(c.router, req, resp.StatusCode, resp.Header, body); verr != nil {
		c.Report("contract: %s %s → %d does not match the spec: %v\nbody: %s", req.Method, req.URL.Path, resp.StatusCode, verr, truncate(body))
	}
	c.mu.Lock()
	c.checked++
	c.mu.Unlock()
	return resp, nil
}

// ValidateResponse checks one response against the operation that router finds for req.
func ValidateResponse(router routers.Router, req *http.Request, status int, header http.Header, body []byte) error {
	route, params, err := router.FindRoute(req)
	if err != nil {
		return fmt.Errorf("no operation in the spec for %s %s: %w", req.Method, req.URL.Path, err)
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request: req, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
		},
		Status: status,
		Header: header,
		Body:   io.NopCloser(bytes.NewReader(body)),
		Options: &openapi3filter.Options{
			IncludeResponseStatus: true, // an undocumented status is an error, not a pass
			MultiError:            true,
		},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		return err
	}
	// Errors are problems — except where the spec documents another body for that status (the
	// readiness probe's 503 lists the state of each dependency).
	if status >= 400 && header.Get("Content-Type") != "application/problem+json" && !documentsOtherBody(route, status) {
		return fmt.Errorf("error response with Content-Type %q, want application/problem+json", header.Get("Content-Type"))
	}
	if header.Get("X-Request-ID") == "" {
		return fmt.Errorf("response without X-Request-ID")
	}
	return nil
}

// documentsOtherBody reports whether the operation's response for status is documented without
// an application/problem+json body.
func documentsOtherBody(route *routers.Route, status int) bool {
	r := route.Operation.Responses.Status(status)
	return r != nil && r.Value != nil && len(r.Value.Content) > 0 && r.Value.Content.Get("application/problem+json") == nil
}

func truncate(b []byte) string {
	if len(b) > 500 {
		return string(b[:500]) + "…"
	}
	return string(b)
}
