package e2e

import (
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	"google.golang.org/protobuf/proto"

	"github.com/shopworks/shop/clients/money"
	"github.com/shopworks/shop/clients/orderclient"
	"github.com/shopworks/shop/clients/productclient"
	"github.com/shopworks/shop/clients/requestid"
)

// collector is a tiny OTLP/HTTP receiver (what Jaeger or an OpenTelemetry Collector listens
// with on port 4318): it decodes the protobuf export requests the services send and keeps every
// span with the name of the service that sent it.
type collector struct {
	url   string
	mu    sync.Mutex
	spans []span
}

// span is what the assertions need of an exported span.
type span struct {
	service, name, kind   string
	traceID, id, parentID string
	links                 []string // "traceID/spanID"
	attrs                 map[string]string
	start, end            time.Time
}

func newCollector(t *testing.T) *collector {
	t.Helper()
	c := &collector{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/traces" || r.Method != http.MethodPost {
			http.NotFound(w, r)
			return
		}
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			gz, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			body = gz
		}
		raw, err := io.ReadAll(body)
		var req collectortrace.ExportTraceServiceRequest
		if err == nil {
			err = proto.Unmarshal(raw, &req)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		c.add(&req)
		out, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	}))
	t.Cleanup(srv.Close)
	c.url = srv.URL
	return c
}

func (c *collector) add(req *collectortrace.ExportTraceServiceRequest) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		service := ""
		for _, a := range rs.GetResource().GetAttributes() {
			if a.GetKey() == "service.name" {
				service = a.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				sp := span{service: service, name: s.GetName(), kind: s.GetKind().String(),
					traceID: hex.EncodeToString(s.GetTraceId()), id: hex.EncodeToString(s.GetSpanId()),
					parentID: hex.EncodeToString(s.GetParentSpanId()), attrs: map[string]string{},
					start: time.Unix(0, int64(s.GetStartTimeUnixNano())), end: time.Unix(0, int64(s.GetEndTimeUnixNano()))}
				for _, l := range s.GetLinks() {
					sp.links = append(sp.links, hex.EncodeToString(l.GetTraceId())+"/"+hex.EncodeToString(l.GetSpanId()))
				}
				for _, a := range s.GetAttributes() {
					sp.attrs[a.GetKey()] = attrString(a.GetValue())
				}
				c.spans = append(c.spans, sp)
			}
		}
	}
}

// attrString renders an attribute's value; of an array, its first element.
func attrString(v *commonpb.AnyValue) string {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_IntValue:
		return strconv.FormatInt(x.IntValue, 10)
	case *commonpb.AnyValue_BoolValue:
		return strconv.FormatBool(x.BoolValue)
	case *commonpb.AnyValue_ArrayValue:
		if vs := x.ArrayValue.GetValues(); len(vs) > 0 {
			return attrString(vs[0])
		}
	}
	return ""
}

// trace returns the spans of one trace.
func (c *collector) trace(traceID string) []span {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []span
	for _, s := range c.spans {
		if s.traceID == traceID {
			out = append(out, s)
		}
	}
	return out
}

// all returns every span received so far.
func (c *collector) all() []span {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.spans)
}

func find(spans []span, service, name string) (span, bool) {
	for _, s := range spans {
		if s.service == service && s.name == name {
			return s, true
		}
	}
	return span{}, false
}

// withTracing points both services at the collector, as OTEL_EXPORTER_OTLP_ENDPOINT would at
// Jaeger, and has them export every 100 ms instead of every 5 s.
func withTracing(c *collector) stackOption {
	return func(p, o map[string]string) {
		for _, env := range []map[string]string{p, o} {
			env["OTEL_EXPORTER_OTLP_ENDPOINT"] = c.url
			env["OTEL_BSP_SCHEDULE_DELAY"] = "100"
		}
	}
}

func newTraceID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// TestOneOrderIsOneTraceAcrossBothServices: with OTEL_EXPORTER_OTLP_ENDPOINT pointing at a
// collector, an order placed with a W3C traceparent produces one trace that covers both
// services: POST /orders (the child of the client's span) → its order.created through the
// outbox relay (whose batch span links to it) and RabbitMQ → product-service's consumer and
// reservation → the stock result (one stock.results per reservation batch, a trace of its own
// linked to the orders') → order-service's settlement of that order, back in the order's trace.
// The HTTP calls between the services (the BFF) join the caller's trace too, and the message
// headers carry the trace context and nothing else.
func TestOneOrderIsOneTraceAcrossBothServices(t *testing.T) {
	c := newCollector(t)
	s := startStack(t, withTracing(c))
	probe := newBrokerProbe(t, s)
	p := s.createProduct(t, "Traced", money.FromCents(1500), 10)

	traceID, clientSpan := newTraceID(), "00f067aa0ba902b7"
	traced := func(_ context.Context, req *http.Request) error {
		req.Header.Set("traceparent", "00-"+traceID+"-"+clientSpan+"-01")
		return nil
	}
	ctx := requestid.NewContext(context.Background(), "trace-e2e-1")
	resp, err := s.orders.CreateOrderWithResponse(ctx, &orderclient.CreateOrderParams{}, orderclient.OrderInput{ProductId: p.Id, Qty: 2}, traced)
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, resp.StatusCode(), string(resp.Body))
	order := resp.JSON201.Id
	assert.Equal(t, orderclient.OrderStatusCONFIRMED, s.waitFinal(t, []int64{order}, 15*time.Second)[order])

	var spans []span
	require.Eventually(t, func() bool {
		spans = c.trace(traceID)
		_, settled := find(spans, "order-service", "settle order")
		return settled
	}, 20*time.Second, 50*time.Millisecond, "the order's settlement in the order's trace")

	post, ok := find(spans, "order-service", "POST /orders")
	require.True(t, ok, "spans: %v", names(spans))
	assert.Equal(t, clientSpan, post.parentID, "POST /orders continues the client's trace")
	assert.Equal(t, "SPAN_KIND_SERVER", post.kind)
	assert.Equal(t, "/orders", post.attrs["http.route"])
	assert.Equal(t, "trace-e2e-1", post.attrs["http.request.header.x-request-id"], "X-Request-ID works beside it")
	assert.Regexp(t, `"requestId":"trace-e2e-1".*"traceId":"`+traceID+`"`, s.order.logs.String(), "the request's log line leads to its trace")

	wait, ok := find(spans, "order-service", "orders.create wait")
	require.True(t, ok, "spans: %v", names(spans))
	assert.Equal(t, post.traceID, wait.traceID)
	require.Len(t, wait.links, 1, "the wait links to the group commit that stored the order")

	consumed, ok := find(spans, "product-service", "process order.created")
	require.True(t, ok, "spans: %v", names(spans))
	assert.Equal(t, post.id, consumed.parentID, "product-service handles order.created as a child of POST /orders")
	assert.Equal(t, "SPAN_KIND_CONSUMER", consumed.kind)
	assert.Equal(t, "trace-e2e-1", consumed.attrs["messaging.message.conversation_id"])
	reserve, ok := find(spans, "product-service", "stock.apply wait")
	require.True(t, ok, "spans: %v", names(spans))
	assert.Equal(t, consumed.id, reserve.parentID)

	settled, _ := find(spans, "order-service", "settle order")
	assert.Equal(t, consumed.id, settled.parentID, "the settlement is the child of the reservation, in the order's trace")
	assert.Equal(t, "CONFIRMED", settled.attrs["order.status"])

	services := map[string]bool{}
	for _, sp := range spans {
		services[sp.service] = true
	}
	assert.Equal(t, map[string]bool{"order-service": true, "product-service": true}, services, "one trace, both services")

	// The hops that serve many orders are traces of their own, linked to the order's.
	all := c.all()
	linksTo := func(service, name, target string) bool {
		for _, sp := range all {
			if sp.service == service && sp.name == name && slices.Contains(sp.links, target) {
				return true
			}
		}
		return false
	}
	assert.True(t, linksTo("order-service", "outbox publish", traceID+"/"+post.id), "the relay's batch links to the order")
	assert.True(t, linksTo("product-service", "stock.apply batch", traceID+"/"+reserve.id), "the reservation batch links to the order")
	var batch span
	for _, sp := range all {
		if sp.name == "stock.apply batch" && slices.Contains(sp.links, traceID+"/"+reserve.id) {
			batch = sp
		}
	}
	results, ok := find(c.trace(batch.traceID), "order-service", "process stock.results")
	require.True(t, ok, "the stock.results is consumed in the reservation batch's trace: %v", names(c.trace(batch.traceID)))
	assert.Contains(t, settled.links, results.traceID+"/"+results.id, "the settlement links to the stock.results that carried it")

	// Service to service HTTP: the BFF's call to order-service continues the caller's trace.
	bffTrace := newTraceID()
	bff, err := s.products.GetProductWithOrdersWithResponse(context.Background(), p.Id, &productclient.GetProductWithOrdersParams{},
		func(_ context.Context, req *http.Request) error {
			req.Header.Set("traceparent", "00-"+bffTrace+"-"+clientSpan+"-01")
			return nil
		})
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, bff.StatusCode())
	var client span
	require.Eventually(t, func() bool {
		got := c.trace(bffTrace)
		server, ok := find(got, "order-service", "GET /orders/product/{id}")
		for _, sp := range got {
			if ok && sp.id == server.parentID {
				client = sp
				return true
			}
		}
		return false
	}, 10*time.Second, 50*time.Millisecond, "order-service's side of the BFF call, and its caller's span, in the caller's trace")
	assert.Equal(t, "product-service", client.service, "the call's client span is product-service's")
	assert.Equal(t, "SPAN_KIND_CLIENT", client.kind)

	// On the wire: order.created carried POST /orders' context, and no header but that.
	require.Eventually(t, func() bool { return probe.count("order.created") >= 1 }, 10*time.Second, 50*time.Millisecond)
	probe.mu.Lock()
	assert.Equal(t, "00-"+traceID+"-"+post.id+"-01", probe.traceparents["order.created"][0])
	probe.mu.Unlock()
}

func names(spans []span) []string {
	out := make([]string, len(spans))
	for i, s := range spans {
		out[i] = s.service + ": " + s.name
	}
	return out
}

var traceparentPattern = regexp.MustCompile(`^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$`)

// checkTraceHeaders asserts what api/events.yaml says of a published message's headers
// (TraceHeaders): none, or traceparent alone — and that only when the stack traces.
func checkTraceHeaders(t *testing.T, tracing bool, key string, headers map[string]any) string {
	if !tracing {
		assert.Empty(t, headers, "%s: no AMQP headers", key)
		return ""
	}
	keys := make([]string, 0, len(headers))
	for k := range headers {
		keys = append(keys, k)
	}
	assert.Subset(t, []string{"traceparent"}, keys, "%s: no header but the trace context", key)
	tp, _ := headers["traceparent"].(string)
	if _, ok := headers["traceparent"]; ok {
		assert.Regexp(t, traceparentPattern, tp, "%s: traceparent", key)
	}
	return strings.TrimSpace(tp)
}
