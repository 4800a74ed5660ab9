package httpapi_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/shopworks/shop/clients/transport"
)

// benchGet hammers url from parallel clients sharing one tuned http.Client, the same way for
// both benchmarks, so their ratio is what the middleware, validation and cache cost.
func benchGet(b *testing.B, url string) {
	client := transport.NewHTTPClient(0)
	b.ReportAllocs()
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := client.Get(url)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}

// go test -bench 'GetProductCached|BareHandler' -run '^$' ./internal/httpapi/
func BenchmarkGetProductCached(b *testing.B) {
	f := newFixture(b)
	resp, p := f.do(b, "POST", "/products", `{"name":"Bench","price":1000,"qty":50}`)
	if resp.StatusCode != 201 {
		b.Fatalf("create: %d", resp.StatusCode)
	}
	url := fmt.Sprintf("%s/products/%v", f.server.URL, p["id"])
	f.do(b, "GET", fmt.Sprintf("/products/%v", p["id"]), "") // warm the cache
	benchGet(b, url)
}

func BenchmarkBareHandler(b *testing.B) {
	body := []byte(`{"createdAt":"2026-11-25T02:19:53.523Z","id":1,"name":"BFF Test","price":1000,"qty":50,"updatedAt":"2026-11-25T02:19:53.523Z"}` + "\n")
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	defer ts.Close()
	benchGet(b, ts.URL+"/products/1")
}
