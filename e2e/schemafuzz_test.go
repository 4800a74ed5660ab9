package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/routers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	apidocs "github.com/shopworks/shop/api"
	"github.com/shopworks/shop/clients/money"
	"github.com/shopworks/shop/clients/orderclient"
	"github.com/shopworks/shop/platform/httpx/problem"
	"github.com/shopworks/shop/platform/httpx/validate"
	"github.com/shopworks/shop/platform/testkit"
)

// TestSchemaFuzz sends requests built from the served OpenAPI documents to both running services,
// for every operation: valid ones (bounds included) and ones that break exactly one rule of the
// schema (a parameter, a body field, the body, the media type). Every response is validated
// against the spec (testkit.ValidateResponse, kin-openapi). It fails on any 5xx, any response
// the spec does not describe, any invalid request accepted, any valid request refused (other than
// the domain's 404, 409 and 422 answers) and any well-formed request answered as malformed JSON.
//
// E2E_FUZZ_REQUESTS sets the requests per operation (default 40; `make fuzz` sends more);
// E2E_FUZZ_SEED replays a run (the seed is logged).
func TestSchemaFuzz(t *testing.T) {
	perOp := envInt(t, "E2E_FUZZ_REQUESTS", 40)
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("E2E_FUZZ_SEED"); v != "" {
		var err error
		seed, err = strconv.ParseUint(v, 10, 64)
		require.NoError(t, err, "E2E_FUZZ_SEED")
	}
	t.Logf("E2E_FUZZ_SEED=%d, %d requests per operation", seed, perOp)

	// Rate limiting on (far above what the fuzzer sends), so that every response carries the
	// X-RateLimit-* headers and they are validated too.
	s := startStack(t, func(p, o map[string]string) { p["RATE_LIMIT_RPS"], o["RATE_LIMIT_RPS"] = "1000000", "1000000" })
	t.Run("served documents", func(t *testing.T) { servedDocuments(t, s) })
	f := &fuzzer{t: t, s: s, r: rand.New(rand.NewPCG(seed, seed^0x5eed)), client: &http.Client{Timeout: 10 * time.Second}}
	// The dearest product the spec allows, with all the stock it allows: orders of up to 10,000 of
	// it have the largest totals the spec allows (issue: totals once exceeded Money's maximum).
	f.products = append(f.products, s.createProduct(t, "Fuzz max", money.FromCents(999_999_999_999), math.MaxInt32).Id,
		s.createProduct(t, "Fuzz min", money.FromCents(1), math.MaxInt32).Id)
	created, err := s.orders.CreateOrderWithResponse(context.Background(), &orderclient.CreateOrderParams{},
		orderclient.OrderInput{ProductId: f.products[0], Qty: 10000})
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, created.StatusCode(), string(created.Body))
	require.Equal(t, "99999999999900", created.JSON201.TotalPrice.String())
	f.orders = append(f.orders, created.JSON201.Id)

	for _, svc := range []struct {
		name, base string
		doc        *openapi3.T
	}{
		{"product-service", s.productURL, loadSpec(t, "product-service.yaml")},
		{"order-service", s.orderURL, loadSpec(t, "order-service.yaml")},
	} {
		router, err := testkit.NewSpecRouter(svc.doc)
		require.NoError(t, err)
		for _, path := range svc.doc.Paths.InMatchingOrder() {
			item := svc.doc.Paths.Value(path)
			for _, method := range sortedKeys(item.Operations()) {
				op := item.GetOperation(method)
				t.Run(svc.name+"/"+op.OperationID, func(t *testing.T) {
					f.t = t
					for i := 0; i < perOp && !t.Failed(); i++ {
						f.once(svc.base, router, path, method, item, op)
					}
				})
			}
		}
	}
	t.Logf("%d requests: %d valid, %d invalid; statuses %v", f.sent.Load(), f.valid.Load(), f.sent.Load()-f.valid.Load(), f.statuses)
	assert.Positive(t, f.limited.Load(), "responses carried the X-RateLimit-* headers the spec declares")
}

type fuzzer struct {
	t        *testing.T
	s        *stack
	r        *rand.Rand
	client   *http.Client
	products []int64
	orders   []int64

	sent, valid atomic.Int64
	limited     atomic.Int64 // responses with X-RateLimit-* headers
	statuses    map[int]int
}

// fuzzRequest is one generated request and what it breaks, if anything.
type fuzzRequest struct {
	method, path string
	query        url.Values
	header       http.Header
	body         []byte
	broken       string // the rule broken ("" for a valid request)
	field        string // the field or parameter that breaks it
	lenient      bool   // the broken parameter is one whose invalid values are replaced
}

func (f *fuzzer) ids(method, path string) func(name string) (int64, bool) {
	return func(name string) (int64, bool) {
		switch {
		case method == http.MethodDelete && name == "id":
			// Deleting consumes a product: give it one of its own.
			return f.s.createProduct(f.t, "Fuzz delete", money.FromCents(100), 10).Id, true
		case name == "productId" || (name == "id" && (strings.HasPrefix(path, "/products") || strings.HasPrefix(path, "/orders/product/"))):
			return f.products[f.r.IntN(len(f.products))], true
		case name == "id" && strings.HasPrefix(path, "/orders/"):
			return f.orders[f.r.IntN(len(f.orders))], true
		}
		return 0, false
	}
}

func (f *fuzzer) build(path, method string, item *openapi3.PathItem, op *openapi3.Operation) fuzzRequest {
	g := &gen{r: f.r, ids: f.ids(method, path)}
	req := fuzzRequest{method: method, path: path, query: url.Values{}, header: http.Header{}}
	params := map[string]*openapi3.Parameter{}
	for _, p := range append(append(openapi3.Parameters{}, item.Parameters...), op.Parameters...) {
		params[p.Value.In+" "+p.Value.Name] = p.Value
	}
	values := map[string]any{}
	for key, p := range params {
		if p.Required || f.r.IntN(2) == 0 {
			values[key] = g.valid(p.Schema.Value, p.Name)
		}
	}
	var body any
	var bodySchema *openapi3.Schema
	if op.RequestBody != nil {
		bodySchema = op.RequestBody.Value.Content.Get("application/json").Schema.Value
		body = g.valid(bodySchema, "body")
	}
	contentType := "application/json"

	if f.r.IntN(2) == 0 { // break one rule
		var targets []func() bool
		for _, key := range sortedKeys(params) {
			p := params[key]
			targets = append(targets, func() bool {
				v, ok := g.invalid(p.Schema.Value, p.Name)
				text := fmt.Sprint(v.value)
				// Parameters are text: "12" is a number in a URL and 7 a string in a header; and an
				// empty header is an absent one.
				if !ok || (v.rule == "type" && (isString(v.value) || p.Schema.Value.Type.Is("string"))) ||
					(p.In == "header" && strings.TrimSpace(text) == "") {
					return false
				}
				values[key], req.broken, req.field = v.value, v.rule, p.Name
				req.lenient = p.Extensions["x-invalid-value"] == "replaced"
				return true
			})
		}
		if bodySchema != nil {
			targets = append(targets,
				func() bool {
					v, ok := g.invalid(bodySchema, "body")
					if ok {
						body, req.broken, req.field = v.value, v.rule, v.field
						if req.field == "" {
							req.field = "body"
						}
					}
					return ok
				},
				func() bool {
					contentType, req.broken, req.field = "text/plain", "media type", "Content-Type"
					return true
				},
				func() bool { body, req.broken, req.field = nil, "required body", "body"; return true },
			)
		}
		for tries := 0; tries < 10 && len(targets) > 0; tries++ {
			if targets[f.r.IntN(len(targets))]() {
				break
			}
		}
	}

	for key, v := range values {
		in, name, _ := strings.Cut(key, " ")
		text := fmt.Sprint(v)
		switch in {
		case "path":
			req.path = strings.ReplaceAll(req.path, "{"+name+"}", url.PathEscape(text))
		case "query":
			req.query.Set(name, text)
		case "header":
			req.header.Set(name, text)
		}
	}
	if body != nil {
		raw, err := json.Marshal(body)
		require.NoError(f.t, err)
		req.body = raw
		req.header.Set("Content-Type", contentType)
	}
	return req
}

func isString(v any) bool { _, ok := v.(string); return ok }

func (f *fuzzer) once(base string, router routers.Router, path, method string, item *openapi3.PathItem, op *openapi3.Operation) {
	t := f.t
	fr := f.build(path, method, item, op)
	u := base + fr.path
	if len(fr.query) > 0 {
		u += "?" + fr.query.Encode()
	}
	req, err := http.NewRequest(method, u, bytes.NewReader(fr.body))
	require.NoError(t, err)
	if fr.body == nil {
		req.Body = http.NoBody
	}
	req.Header = fr.header
	resp, err := f.client.Do(req)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	require.NoError(t, err)

	f.sent.Add(1)
	if fr.broken == "" {
		f.valid.Add(1)
	}
	if f.statuses == nil {
		f.statuses = map[int]int{}
	}
	f.statuses[resp.StatusCode]++
	if resp.Header.Get("X-RateLimit-Limit") != "" {
		f.limited.Add(1)
	}
	what := fmt.Sprintf("%s %s (body %s; broken: %q on %s) → %d %s", method, u, truncate(fr.body), fr.broken, fr.field, resp.StatusCode, truncate(body))

	if verr := testkit.ValidateResponse(router, req, resp.StatusCode, resp.Header, body); verr != nil {
		t.Errorf("response does not match the spec: %v\n%s", verr, what)
	}
	var answer struct {
		Code   string               `json:"code"`
		Errors []problem.FieldError `json:"errors"`
	}
	if resp.Header.Get("Content-Type") == "application/problem+json" {
		_ = json.Unmarshal(body, &answer)
	}
	ok2xx := resp.StatusCode >= 200 && resp.StatusCode < 300
	switch {
	case resp.StatusCode >= 500:
		t.Errorf("server error\n%s", what)
	case answer.Code == problem.CodeBadJSON:
		t.Errorf("well-formed JSON answered as malformed\n%s", what)
	case fr.broken == "":
		if !ok2xx && !domainAnswer(resp.StatusCode, answer.Code) {
			t.Errorf("valid request refused\n%s", what)
		}
	case fr.lenient:
		if resp.StatusCode == http.StatusBadRequest {
			t.Errorf("a parameter whose invalid values are replaced was refused\n%s", what)
		}
		if got := resp.Header.Get(fr.field); got == fr.header.Get(fr.field) {
			t.Errorf("invalid %s %q was kept, not replaced\n%s", fr.field, got, what)
		}
	case ok2xx:
		t.Errorf("invalid request accepted\n%s", what)
	case fr.broken == "media type":
		if resp.StatusCode != http.StatusUnsupportedMediaType {
			t.Errorf("want 415\n%s", what)
		}
	default:
		if resp.StatusCode != http.StatusBadRequest || answer.Code != problem.CodeValidationFailed {
			t.Errorf("want 400 VALIDATION_FAILED\n%s", what)
			return
		}
		if !namesField(answer.Errors, fr.field) {
			t.Errorf("errors[] does not name %s\n%s", fr.field, what)
		}
	}
}

// domainAnswer: answers a valid request can get from the domain, not from validation.
func domainAnswer(status int, code string) bool {
	switch code {
	case "PRODUCT_NOT_FOUND", "ORDER_NOT_FOUND":
		return status == http.StatusNotFound
	case "INSUFFICIENT_STOCK":
		return status == http.StatusConflict
	case "IDEMPOTENCY_KEY_REUSED":
		return status == http.StatusUnprocessableEntity
	}
	return false
}

func namesField(errs []problem.FieldError, field string) bool {
	for _, e := range errs {
		if e.Field == field || strings.HasPrefix(e.Field, field+".") {
			return true
		}
	}
	return false
}

func truncate(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}

func envInt(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	require.NoError(t, err, name)
	return n
}

// servedDocuments: each service serves its OpenAPI document and the events' AsyncAPI document
// byte for byte as bundled from api/*.yaml (api/bundle_test.go compares the bundles with the
// sources), with the operationIds of the sources, which clients generated from the served
// documents and Swagger UI's deep links use.
func servedDocuments(t *testing.T, s *stack) {
	for _, d := range []struct {
		url    string
		want   []byte
		source string
	}{
		{s.productURL + "/openapi.json", apidocs.ProductService(), "product-service.yaml"},
		{s.orderURL + "/openapi.json", apidocs.OrderService(), "order-service.yaml"},
		{s.productURL + "/asyncapi.json", apidocs.Events(), ""},
		{s.orderURL + "/asyncapi.json", apidocs.Events(), ""},
	} {
		resp, err := http.Get(d.url)
		require.NoError(t, err)
		got, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, resp.StatusCode, d.url)
		assert.Equal(t, "application/json", resp.Header.Get("Content-Type"), d.url)
		assert.Equal(t, string(d.want), string(got), "%s is the bundle", d.url)
		if d.source == "" {
			continue
		}
		raw, err := os.ReadFile(filepath.Join("..", "api", d.source))
		require.NoError(t, err)
		var source struct {
			Paths map[string]map[string]yaml.Node `yaml:"paths"`
		}
		require.NoError(t, yaml.Unmarshal(raw, &source))
		served, err := validate.LoadSpec(got)
		require.NoError(t, err)
		for path, ops := range source.Paths {
			for method, node := range ops {
				var op struct {
					OperationID string `yaml:"operationId"`
				}
				if method == "parameters" || node.Decode(&op) != nil {
					continue
				}
				servedOp := served.Paths.Find(path).GetOperation(strings.ToUpper(method))
				if assert.NotNil(t, servedOp, "%s %s", method, path) {
					assert.Equal(t, op.OperationID, servedOp.OperationID, "%s %s", method, path)
				}
			}
		}
	}
}
