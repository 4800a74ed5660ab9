package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shopworks/shop/platform/testkit"
)

// rawCall sends a request the way curl does (curl -d sets application/x-www-form-urlencoded
// unless told otherwise) and validates the response against the spec.
func rawCall(t *testing.T, spec, method, url, contentType, body string, hdr ...string) (*http.Response, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	ct := testkit.NewContractTransport(t, loadSpec(t, spec))
	resp, err := (&http.Client{Transport: ct}).Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var out map[string]any
	if len(raw) > 0 && raw[0] == '{' {
		require.NoError(t, json.Unmarshal(raw, &out), string(raw))
	}
	return resp, out
}

// TestOriginalReadmeCalls replays the original README's curl calls unchanged and checks the
// original field names are still there.
func TestOriginalReadmeCalls(t *testing.T) {
	s := startStack(t)
	resp, p := rawCall(t, "product-service.yaml", "POST", s.productURL+"/products", "application/json", `{"name":"BFF Test","price":1000,"qty":50}`)
	require.Equal(t, 201, resp.StatusCode, p)
	for _, f := range []string{"id", "name", "price", "qty", "createdAt"} {
		assert.Contains(t, p, f)
	}
	assert.Equal(t, "BFF Test", p["name"])
	assert.EqualValues(t, 1000, p["price"])
	id := int64(p["id"].(float64))

	body := `{"productId":` + jsonNum(id) + `,"qty":2}`
	resp, o := rawCall(t, "order-service.yaml", "POST", s.orderURL+"/orders", "application/json", body, "X-Request-ID", "demo-123")
	require.Equal(t, 201, resp.StatusCode, o)
	assert.Equal(t, "demo-123", resp.Header.Get("X-Request-Id"))
	for _, f := range []string{"orderId", "productId", "qty", "totalPrice", "createdAt"} {
		assert.Contains(t, o, f)
	}
	assert.EqualValues(t, 2000, o["totalPrice"])

	resp, bff := rawCall(t, "product-service.yaml", "GET", s.productURL+"/products/"+jsonNum(id)+"-with-orders", "", "")
	require.Equal(t, 200, resp.StatusCode)
	assert.Contains(t, bff, "product")
	assert.Len(t, bff["orders"], 1)

	resp, h := rawCall(t, "order-service.yaml", "GET", s.orderURL+"/health", "", "")
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "order-service up", h["status"])
}

// TestErrorsAreProblemsWithTheRequestID covers the foundation's acceptance calls.
func TestErrorsAreProblemsWithTheRequestID(t *testing.T) {
	s := startStack(t)
	cases := []struct {
		spec, method, url, ct, body string
		status                      int
		code                        string
	}{
		{"product-service.yaml", "GET", s.productURL + "/products/abc", "", "", 400, "VALIDATION_FAILED"},
		{"product-service.yaml", "GET", s.productURL + "/products/999999", "", "", 404, "PRODUCT_NOT_FOUND"},
		{"product-service.yaml", "PUT", s.productURL + "/products/1", "application/json", `{"price":-1}`, 400, "VALIDATION_FAILED"},
		{"product-service.yaml", "GET", s.productURL + "/products/abc-with-orders", "", "", 400, "VALIDATION_FAILED"},
		{"order-service.yaml", "POST", s.orderURL + "/orders", "application/x-www-form-urlencoded", "x", 415, "UNSUPPORTED_MEDIA_TYPE"},
		{"order-service.yaml", "POST", s.orderURL + "/orders", "application/json", "x", 400, "BAD_JSON"},
		{"order-service.yaml", "POST", s.orderURL + "/orders", "application/json", `{"qty":"2","extra":1}`, 400, "VALIDATION_FAILED"},
		{"order-service.yaml", "POST", s.orderURL + "/orders", "application/json", `{"productId":999999,"qty":1}`, 404, "PRODUCT_NOT_FOUND"},
	}
	for _, c := range cases {
		t.Run(c.method+" "+c.url[strings.LastIndex(c.url, ":"):], func(t *testing.T) {
			resp, p := rawCall(t, c.spec, c.method, c.url, c.ct, c.body, "X-Request-ID", "e2e-problem")
			assert.Equal(t, c.status, resp.StatusCode, p)
			assert.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"))
			assert.Equal(t, c.code, p["code"])
			assert.Equal(t, "e2e-problem", resp.Header.Get("X-Request-Id"))
			assert.Equal(t, "e2e-problem", p["requestId"])
		})
	}
	// Outside the spec: unknown route and wrong method (validated by hand: no operation to check against).
	for _, c := range []struct {
		method, url string
		status      int
		allow       string
	}{
		{"GET", s.orderURL + "/nope", 404, ""},
		{"DELETE", s.orderURL + "/orders", 405, "POST"},
	} {
		req, _ := http.NewRequest(c.method, c.url, nil)
		req.Header.Set("X-Request-ID", "e2e-problem")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		var p map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&p))
		_ = resp.Body.Close()
		assert.Equal(t, c.status, resp.StatusCode)
		assert.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"))
		assert.Equal(t, "e2e-problem", resp.Header.Get("X-Request-Id"))
		assert.Equal(t, c.allow, resp.Header.Get("Allow"))
	}
}

func jsonNum(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
