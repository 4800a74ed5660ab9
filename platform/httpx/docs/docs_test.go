package docs_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/shopworks/shop/platform/httpx/docs"
)

func get(h http.Handler, path string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	return rec
}

func TestSwaggerUIIsServedFromTheBinary(t *testing.T) {
	ui := docs.SwaggerUI("svc", true)
	rec := get(ui, "/docs/")
	assert.Equal(t, 200, rec.Code)
	assert.Contains(t, rec.Body.String(), "<title>svc — API docs</title>")
	assert.Contains(t, rec.Body.String(), `href="/openapi.json"`)
	assert.Contains(t, rec.Body.String(), `href="/asyncapi.json"`, "the page links the events document")
	rec = get(ui, "/docs/swagger-ui-bundle.js")
	assert.Equal(t, 200, rec.Code)
	assert.Greater(t, rec.Body.Len(), 100_000)
	assert.Contains(t, get(ui, "/docs/init.js").Body.String(), `url: "/openapi.json"`)

	assert.NotContains(t, get(docs.SwaggerUI("svc", false), "/docs").Body.String(), "asyncapi",
		"a service without events links no events document")
}

func TestDocumentIsServedByteForByte(t *testing.T) {
	doc := []byte(`{"openapi":"3.0.3",  "info":{}}`)
	rec := get(docs.Document(doc), "/openapi.json")
	assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	assert.Equal(t, string(doc), rec.Body.String())
}
