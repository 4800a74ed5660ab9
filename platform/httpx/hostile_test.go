package httpx_test

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shopworks/shop/platform/httpx"
	"github.com/shopworks/shop/platform/httpx/httpserver"
	"github.com/shopworks/shop/platform/httpx/httpxtest"
	"github.com/shopworks/shop/platform/httpx/problem"
	"github.com/shopworks/shop/platform/httpx/validate"
	"github.com/shopworks/shop/platform/strictjson"
)

// ProductTarget and OrderTarget aim the hostile catalogue at the two real specs.
var (
	productTarget = httpxtest.Target{
		Create: "/products", Valid: `{"name":"a","price":1,"qty":1}`,
		WithString: func(s string) string { return `{"name":"` + s + `","price":1,"qty":1}` },
		Duplicate:  `{"name":"a","price":1,"qty":1,"price":-5}`,
		Deep:       func(v string) string { return `{"name":"a","price":1,"qty":` + v + `}` },
		HugeNumber: `{"name":"a","price":1e400,"qty":1}`,
		Item:       "/products/1", Update: "/products/1", UpdateMethods: []string{"PUT", "PATCH"},
	}
	orderTarget = httpxtest.Target{
		Create: "/orders", Valid: `{"productId":1,"qty":1}`,
		WithString: func(s string) string { return `{"productId":1,"qty":1,"note":"` + s + `"}` },
		Duplicate:  `{"productId":1,"qty":1,"qty":100000000}`,
		Deep:       func(v string) string { return `{"productId":1,"qty":` + v + `}` },
		HugeNumber: `{"productId":1e400,"qty":1}`,
		Item:       "/orders/1",
	}
)

// specRouter serves spec's operations through the real platform router with handlers that
// only count the requests that reached them.
func specRouter(t *testing.T, spec string) (http.Handler, *atomic.Int64) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "api", "bundled", strings.TrimSuffix(spec, ".yaml")+".json"))
	require.NoError(t, err)
	doc, err := validate.LoadSpec(raw)
	require.NoError(t, err)
	r, err := httpx.NewRouter(httpx.RouterConfig{Service: "hostile", OpenAPI: raw, Log: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	reached := new(atomic.Int64)
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			r.Method(method, path, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				reached.Add(1)
				w.WriteHeader(http.StatusNoContent)
			}))
		}
	}
	return r, reached
}

func TestHostileRequestsGetProblemsAndReachNoHandler(t *testing.T) {
	for _, tc := range []struct {
		spec   string
		target httpxtest.Target
	}{{"product-service.yaml", productTarget}, {"order-service.yaml", orderTarget}} {
		t.Run(tc.spec, func(t *testing.T) {
			h, reached := specRouter(t, tc.spec)
			addr := httpxtest.Serve(t, h)
			reqs := httpxtest.Hostile(tc.target)
			require.GreaterOrEqual(t, len(reqs), 60)
			got := httpxtest.Check(t, addr, reqs)
			assert.Zero(t, reached.Load(), "a hostile request reached a handler")

			// The answers say what was wrong.
			for name, want := range map[string]string{
				"trailing object":                     problem.CodeBadJSON,
				"trailing garbage":                    problem.CodeBadJSON,
				"string with escaped NUL":             problem.CodeValidationFailed,
				"string with invalid UTF-8 byte":      problem.CodeBadJSON,
				"duplicate member":                    problem.CodeValidationFailed,
				"bad percent-escape in the path":      httpserver.CodeBadRequest,
				"2 MB header":                         httpserver.CodeHeaderTooLarge,
				"control character in a header value": httpserver.CodeBadRequest,
				"HTTP/2.0 request line":               httpserver.CodeBadRequest,
				"Expect other than 100-continue":      httpserver.CodeExpectationFailed,
				"body over the 1 MiB limit":           problem.CodePayloadTooLarge,
				"nested 40 deep":                      problem.CodeBadJSON,
			} {
				assert.Equal(t, want, got[name].Code, name)
			}
			assert.Contains(t, got["trailing garbage"].Detail, "after the JSON value")
			assert.Contains(t, got["string with invalid UTF-8 byte"].Detail, "UTF-8")
		})
	}
}

func TestAValidRequestStillPassesTheRealServer(t *testing.T) {
	h, reached := specRouter(t, "product-service.yaml")
	addr := httpxtest.Serve(t, h)
	for _, body := range []string{
		`{"name":"a","price":1,"qty":1}`,
		" \n{\"name\":\"Käse – ü €\",\"price\":1,\"qty\":1}\r\n ",
		`{"name":"emoji \ud83d\ude00 and \"quotes\" and \\ and \/","price":1,"qty":1}`,
	} {
		resp := httpxtest.Send(addr, httpxtest.Request{Raw: []byte("POST /products HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: " +
			strconv.Itoa(len(body)) + "\r\n\r\n" + body)})
		require.NoError(t, resp.Err)
		assert.Equal(t, http.StatusNoContent, resp.Status, "%s: %s", body, resp.Body)
	}
	assert.EqualValues(t, 3, reached.Load())
}

func TestControlCharactersNameTheFieldWithTheSpecErrors(t *testing.T) {
	h, _ := specRouter(t, "product-service.yaml")
	addr := httpxtest.Serve(t, h)
	body := `{"name":"a\u0000b","price":-1,"qty":1}`
	resp := httpxtest.Send(addr, httpxtest.Request{Raw: []byte("POST /products HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: " +
		strconv.Itoa(len(body)) + "\r\n\r\n" + body)})
	p, why := httpxtest.CheckProblem(resp)
	require.Empty(t, why)
	assert.Equal(t, problem.CodeValidationFailed, p.Code)
	var fields []string
	for _, f := range p.Errors {
		fields = append(fields, f.Field+": "+f.Message)
	}
	assert.Len(t, fields, 2, "both the control character and the spec's error: %v", fields)
	assert.Contains(t, strings.Join(fields, "\n"), "name: must not contain control characters")
	assert.Contains(t, strings.Join(fields, "\n"), "price:")
}

// FuzzRawHTTP sends arbitrary bytes to the real server (the connection-level rewriting, the
// router, the strict body rules, the spec validation): no answer is a 5xx, every 4xx is a problem
// document, and no request whose body breaks the strict JSON rules reaches a handler.
func FuzzRawHTTP(f *testing.F) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "api", "bundled", "product-service.json"))
	require.NoError(f, err)
	doc, err := validate.LoadSpec(raw)
	require.NoError(f, err)
	r, err := httpx.NewRouter(httpx.RouterConfig{Service: "fuzz", OpenAPI: raw, Log: slog.New(slog.DiscardHandler)})
	require.NoError(f, err)
	var lenient atomic.Value
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			r.Method(method, path, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				if body, _ := io.ReadAll(req.Body); len(body) > 0 && strictjson.Check(body) != nil {
					lenient.Store(string(body))
				}
				w.WriteHeader(http.StatusNoContent)
			}))
		}
	}
	addr := httpxtest.Serve(f, r)
	for _, req := range httpxtest.Hostile(productTarget) {
		if len(req.Raw) < 4096 {
			f.Add(req.Raw)
		}
	}
	f.Add([]byte("POST /products HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 30\r\n\r\n{\"name\":\"a\",\"price\":1,\"qty\":1}"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		conn, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		_, _ = conn.Write(raw)
		_ = conn.(*net.TCPConn).CloseWrite() // the request ends here: nothing waits for a timeout
		br := bufio.NewReader(conn)
		for {
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				break // no (further) answer: the server closed the connection
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode >= 500 {
				t.Fatalf("%q → %d: %s", raw, resp.StatusCode, body)
			}
			if resp.StatusCode >= 400 {
				if _, why := httpxtest.CheckProblem(httpxtest.Response{Status: resp.StatusCode, Header: resp.Header, Body: body}); why != "" {
					t.Fatalf("%q → %d: %s: %s", raw, resp.StatusCode, why, body)
				}
			}
		}
		if v := lenient.Load(); v != nil {
			t.Fatalf("a body that breaks the strict JSON rules reached a handler: %q", v)
		}
	})
}
