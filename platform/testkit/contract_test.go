package testkit_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shopworks/shop/platform/testkit"
)

const spec = `
openapi: 3.0.3
info: {title: t, version: "1"}
paths:
  /things/{id}:
    get:
      parameters:
        - {name: id, in: path, required: true, schema: {type: integer}}
      responses:
        '200':
          description: ok
          headers:
            X-Request-ID: {schema: {type: string}}
          content:
            application/json:
              schema:
                type: object
                additionalProperties: false
                required: [id]
                properties:
                  id: {type: integer}
        '404':
          description: missing
          content:
            application/problem+json:
              schema: {type: object, required: [code], properties: {code: {type: string}}}
        '503':
          description: a documented JSON error body (like a readiness probe's)
          headers:
            X-Request-ID: {schema: {type: string}}
          content:
            application/json:
              schema: {type: object, required: [status], properties: {status: {type: string}}}
`

// TestContractTransportCatchesDeliberatelyWrongResponses is the test of the validator itself: a
// handler that answers an undocumented field, an undocumented status or a plain-text error is caught.
func TestContractTransportCatchesDeliberatelyWrongResponses(t *testing.T) {
	doc, err := openapi3.NewLoader().LoadFromData([]byte(spec))
	require.NoError(t, err)
	require.NoError(t, doc.Validate(context.Background()))

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Request-ID", "r1")
		switch r.URL.Path {
		case "/things/1":
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"id":1}`))
		case "/things/2":
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"id":2,"secret":"undocumented"}`))
		case "/things/3":
			w.WriteHeader(http.StatusTeapot)
		case "/things/4":
			http.Error(w, "not found", http.StatusNotFound)
		case "/things/5":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"status":"unavailable"}`))
		case "/things/6":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"code":"X"}`))
		}
	}))
	defer srv.Close()

	for path, wantErr := range map[string]bool{
		"/things/1": false, "/things/2": true, "/things/3": true, "/things/4": true,
		"/things/5": false, // an error whose JSON body the spec documents
		"/things/6": true,  // a problem sent as application/json
	} {
		var reports []string
		ct := testkit.NewContractTransport(t, doc)
		ct.Report = func(f string, a ...any) { reports = append(reports, fmt.Sprintf(f, a...)) }
		resp, err := (&http.Client{Transport: ct}).Get(srv.URL + path)
		require.NoError(t, err)
		_ = resp.Body.Close()
		assert.Equal(t, wantErr, len(reports) > 0, "%s: %v", path, reports)
		assert.Equal(t, 1, ct.Checked())
	}
}
