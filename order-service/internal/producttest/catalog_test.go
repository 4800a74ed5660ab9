package producttest_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shopworks/shop/clients/money"
	"github.com/shopworks/shop/order-service/internal/producttest"
)

// The stand-in answers the parts of the product API order-service uses like product-service does,
// and refuses the rest loudly (500), so a test that starts relying on them fails.
func TestCatalogStandIn(t *testing.T) {
	c, ts := producttest.Start(t)
	p := c.Add("Lamp", money.FromCents(1999), 3)

	get := func(path string) int {
		resp, err := http.Get(ts.URL + path)
		require.NoError(t, err)
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	assert.Equal(t, 200, get("/products/1"))
	assert.Equal(t, int64(1), c.Gets.Load())
	c.Remove(p.Id)
	assert.Equal(t, 404, get("/products/1"))
	assert.Equal(t, 200, get("/healthz"))
	for _, path := range []string{"/products", "/products/1-with-orders", "/readyz"} {
		assert.Equal(t, 500, get(path), path)
	}
	for _, m := range []struct{ method, path, body string }{
		{"POST", "/products", `{"name":"x","price":1,"qty":1}`},
		{"DELETE", "/products/1", ""},
		{"PATCH", "/products/1", `{"qty":1}`},
		{"PUT", "/products/1", `{"name":"x","price":1,"qty":1}`},
	} {
		req, err := http.NewRequestWithContext(context.Background(), m.method, ts.URL+m.path, strings.NewReader(m.body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		_ = resp.Body.Close()
		assert.Equal(t, 500, resp.StatusCode, m.method+" "+m.path)
	}
}
