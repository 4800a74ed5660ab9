package httpx_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shopworks/shop/platform/httpx"
	"github.com/shopworks/shop/platform/httpx/requestid"
	"github.com/shopworks/shop/platform/httpx/validate"
	"github.com/shopworks/shop/platform/strictjson"
)

// fuzzRouter serves both real specs' operations with a handler that only records that it ran:
// whatever the input, the platform must answer a problem (never 500) or let a valid request through.
func fuzzRouter(f *testing.F, spec string) (http.Handler, *bool) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "api", "bundled", spec))
	if err != nil {
		f.Fatal(err)
	}
	doc, err := validate.LoadSpec(raw)
	if err != nil {
		f.Fatal(err)
	}
	r, err := httpx.NewRouter(httpx.RouterConfig{Service: "fuzz", OpenAPI: raw, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		f.Fatal(err)
	}
	reached := new(bool)
	h := func(w http.ResponseWriter, _ *http.Request) { *reached = true; w.WriteHeader(http.StatusNoContent) }
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			r.Method(method, path, http.HandlerFunc(h))
		}
	}
	return r, reached
}

func fuzzRequest(t *testing.T, h http.Handler, reached *bool, method, path, contentType, requestID, body string) {
	if !strings.HasPrefix(path, "/") || strings.ContainsAny(path, " #?%") {
		return
	}
	if _, err := url.ParseRequestURI(path); err != nil {
		return // net/http rejects such a request line before any handler runs
	}
	req := httptest.NewRequest(method, "http://svc"+path, strings.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("X-Request-ID", requestID)
	rec := httptest.NewRecorder()
	*reached = false
	h.ServeHTTP(rec, req)
	switch {
	case rec.Code >= 500:
		t.Fatalf("%s %s %q → %d: %s", method, path, body, rec.Code, rec.Body)
	case rec.Code >= 400 && *reached:
		t.Fatalf("handler ran for a rejected request: %d", rec.Code)
	case rec.Code >= 400 && rec.Header().Get("Content-Type") != "application/problem+json":
		t.Fatalf("rejection without a problem: %d %s", rec.Code, rec.Header().Get("Content-Type"))
	case *reached && (method == "POST" || method == "PUT" || method == "PATCH") && strictjson.Check([]byte(body)) != nil:
		t.Fatalf("a body that breaks the strict JSON rules reached the handler: %q", body)
	}
	if !requestid.Sane(rec.Header().Get("X-Request-ID")) {
		t.Fatalf("response request ID %q is not sane", rec.Header().Get("X-Request-ID"))
	}
}

func FuzzProductRequests(f *testing.F) {
	h, reached := fuzzRouter(f, "product-service.json")
	f.Add("POST", "/products", "application/json", "demo-1", `{"name":"BFF Test","price":1000,"qty":50}`)
	f.Add("PUT", "/products/1", "application/json", "", `{"price":-1}`)
	f.Add("PATCH", "/products/1", "application/json", "x", `{"qty":1.5,"extra":true}`)
	f.Add("GET", "/products?limit=0&after=-1", "", "", "")
	f.Add("GET", "/products/abc-with-orders", "", "\x00", "")
	f.Add("POST", "/products", "text/plain", strings.Repeat("a", 200), "{")
	f.Fuzz(func(t *testing.T, method, path, contentType, requestID, body string) {
		switch method {
		case "GET", "POST", "PUT", "PATCH", "DELETE":
		default:
			return
		}
		fuzzRequest(t, h, reached, method, path, contentType, requestID, body)
	})
}

func FuzzOrderRequests(f *testing.F) {
	h, reached := fuzzRouter(f, "order-service.json")
	f.Add("POST", "/orders", "application/json", "demo-1", `{"productId":26,"qty":2}`)
	f.Add("POST", "/orders", "application/json", "", `{"productId":"26","qty":0,"x":1}`)
	f.Add("GET", "/orders/product/1?limit=1001&after=abc", "", "", "")
	f.Add("GET", "/orders/99999999999999999999", "", "", "")
	f.Fuzz(func(t *testing.T, method, path, contentType, requestID, body string) {
		switch method {
		case "GET", "POST", "DELETE":
		default:
			return
		}
		fuzzRequest(t, h, reached, method, path, contentType, requestID, body)
	})
}
