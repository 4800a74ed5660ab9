package httpapi_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/shopworks/shop/clients/money"
	"github.com/shopworks/shop/clients/transport"
)

// go test -bench CreateOrder -run '^$' ./internal/httpapi/ — POST /orders through the full
// handler (validation, price cache warm, MySQL transaction with the outbox row, Redis invalidation).
func BenchmarkCreateOrder(b *testing.B) {
	f := newFixture(b)
	p := f.catalog.Add("Bench", money.FromCents(1000), 1<<30)
	body := fmt.Sprintf(`{"productId":%d,"qty":1}`, p.Id)
	client := transport.NewHTTPClient(0)
	b.ReportAllocs()
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := client.Post(f.server.URL+"/orders", "application/json", strings.NewReader(body))
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}
