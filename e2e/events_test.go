package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	apidocs "github.com/shopworks/shop/api"
	"github.com/shopworks/shop/clients/money"
	"github.com/shopworks/shop/platform/amqpx"
	"github.com/shopworks/shop/platform/testkit"
)

// brokerProbe publishes to a stack's exchange and records every event the services publish,
// each validated against its payload schema in api/event-schemas.yaml and its AMQP properties
// against api/events.yaml (the headers table is empty, or holds traceparent alone when the
// services trace).
type brokerProbe struct {
	conn         *amqpx.Conn
	mu           sync.Mutex
	seen         map[string][]map[string]any
	traceparents map[string][]string // by routing key, of the messages that had one
	schemas      map[string]*openapi3.Schema
}

func newBrokerProbe(t *testing.T, s *stack) *brokerProbe {
	t.Helper()
	return newBrokerProbeOn(t, testkit.RabbitURL(), s.exchange, s.queuePrefix+"e2e-probe.dlq", s.tracing, nil)
}

// newBrokerProbeOn is newBrokerProbe on any broker URL and exchange. The messages foreign says are
// another system's (the original's stand-in, a test's hostile ones) are neither recorded nor held
// to this system's contract. tracing says whether the services trace (their messages may then
// carry traceparent).
func newBrokerProbeOn(t *testing.T, url, exchange, dlq string, tracing bool, foreign func(amqpx.Delivery) bool) *brokerProbe {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	conn, err := amqpx.Dial(ctx, amqpx.Config{URL: url, Exchange: exchange, ConnectionName: "e2e-probe"}, nil, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	doc := loadSpec(t, "event-schemas.yaml")
	p := &brokerProbe{conn: conn, seen: map[string][]map[string]any{}, traceparents: map[string][]string{}, schemas: map[string]*openapi3.Schema{
		"order.created": doc.Components.Schemas["OrderCreated"].Value, "order.cancelled": doc.Components.Schemas["OrderCancelled"].Value,
		"stock.results": doc.Components.Schemas["StockResults"].Value, "product.updated": doc.Components.Schemas["ProductUpdated"].Value,
		"product.deleted": doc.Components.Schemas["ProductDeleted"].Value,
	}}
	cctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = conn.Consume(cctx, amqpx.ConsumerSpec{Exclusive: true, Bindings: []string{"#"}, Prefetch: 100, DeadLetterQueue: dlq}, func(_ context.Context, d amqpx.Delivery) error {
			var body map[string]any
			if err := json.Unmarshal(d.Body, &body); err != nil || foreign != nil && foreign(d) {
				return nil // the malformed message this test publishes on purpose, or another system's
			}
			p.mu.Lock()
			p.seen[d.RoutingKey] = append(p.seen[d.RoutingKey], body)
			p.mu.Unlock()
			if schema, ok := p.schemas[d.RoutingKey]; ok {
				assert.NoError(t, schema.VisitJSON(body), "%s does not match its schema: %v", d.RoutingKey, body)
			}
			assert.NotEmpty(t, d.MessageID, "message_id set")
			if d.CorrelationID != probeCorrelationID { // published by a service, not by this probe
				assert.Equal(t, "application/json", d.ContentType, "%s content_type", d.RoutingKey)
				assert.Equal(t, uint8(2), d.DeliveryMode, "%s delivery_mode: persistent", d.RoutingKey)
				assert.Equal(t, d.RoutingKey, d.Type, "%s type: the routing key", d.RoutingKey)
				assert.Equal(t, body["eventId"], d.MessageID, "%s message_id: the event ID", d.RoutingKey)
				assert.False(t, d.Timestamp.IsZero(), "%s timestamp", d.RoutingKey)
				if tp := checkTraceHeaders(t, tracing, d.RoutingKey, d.Headers); tp != "" {
					p.mu.Lock()
					p.traceparents[d.RoutingKey] = append(p.traceparents[d.RoutingKey], tp)
					p.mu.Unlock()
				}
			}
			return nil
		})
	}()
	t.Cleanup(func() { stop(); <-done })
	time.Sleep(200 * time.Millisecond) // the exclusive queue is bound before the test publishes
	return p
}

func (p *brokerProbe) count(key string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.seen[key])
}

// results returns the entries of every stock.results seen so far that have the outcome.
func (p *brokerProbe) results(outcome string) []map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []map[string]any
	for _, m := range p.seen["stock.results"] {
		for _, r := range m["results"].([]any) {
			if e := r.(map[string]any); e["outcome"] == outcome {
				out = append(out, e)
			}
		}
	}
	return out
}

func (p *brokerProbe) publish(t *testing.T, body string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, p.conn.Publish(ctx, []amqpx.Message{{RoutingKey: "order.created", MessageID: uuid.NewString(), CorrelationID: probeCorrelationID, Body: []byte(body), Timestamp: time.Now()}}))
}

const probeCorrelationID = "e2e-events"

// TestEventQueuesAreTheDocumentedOnes: every durable queue api/events.yaml names exists on the
// broker once both services have started (with the stack's queue prefix), each with its DLQ.
func TestEventQueuesAreTheDocumentedOnes(t *testing.T) {
	s := startStack(t)
	var doc struct {
		Channels map[string]struct {
			Bindings struct {
				AMQP struct {
					Is    string `json:"is"`
					Queue struct {
						Name    string `json:"name"`
						Durable bool   `json:"durable"`
					} `json:"queue"`
				} `json:"amqp"`
			} `json:"bindings"`
		} `json:"channels"`
	}
	require.NoError(t, json.Unmarshal(apidocs.Events(), &doc))
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	conn, err := amqpx.Dial(ctx, amqpx.Config{URL: testkit.RabbitURL(), Exchange: s.exchange, ConnectionName: "e2e-queues"}, nil, nil)
	require.NoError(t, err)
	defer conn.Close()
	var documented []string
	for _, ch := range doc.Channels {
		if q := ch.Bindings.AMQP; q.Is == "queue" && q.Queue.Durable {
			documented = append(documented, s.queuePrefix+q.Queue.Name)
			_, err := conn.QueueDepth(s.queuePrefix + q.Queue.Name)
			assert.NoError(t, err, "queue %s is declared by the services", q.Queue.Name)
		}
	}
	assert.ElementsMatch(t, s.queueNames(), documented, "the durable queues of the document are the ones the stack declares")
}

// TestOrderCreatedIsAppliedExactlyOnce publishes the same order.created five times, and an
// original-payload message (no eventId) twice: the stock moves once per order. The first is ours
// in form but names an order order-service never created (a forged or orphaned event): its
// reservation is given back (order.cancelled, UNKNOWN_ORDER). The original's is not
// order-service's to judge: it keeps its stock. A malformed message ends in the dead-letter
// queue and the consumer keeps consuming. Every event the services publish matches its schema.
func TestOrderCreatedIsAppliedExactlyOnce(t *testing.T) {
	s := startStack(t)
	probe := newBrokerProbe(t, s)
	p := s.createProduct(t, "Events", money.FromCents(1000), 100)

	ours := fmt.Sprintf(`{"eventId":%q,"orderId":900001,"productId":%d,"qty":3,"unitPrice":10,"totalPrice":30,"status":"PENDING","createdAt":"2026-11-25T10:00:00Z"}`, uuid.NewString(), p.Id)
	for i := 0; i < 5; i++ {
		probe.publish(t, ours)
	}
	original := fmt.Sprintf(`{"orderId":900002,"productId":%d,"qty":2,"totalPrice":20,"createdAt":"2026-11-25T10:00:00Z"}`, p.Id)
	probe.publish(t, original)
	probe.publish(t, "this is not JSON")
	probe.publish(t, original)

	require.Eventually(t, func() bool { return len(probe.results("RESERVED")) >= 2 }, 15*time.Second, 50*time.Millisecond)
	require.Eventually(t, func() bool { return probe.count("order.cancelled") >= 1 }, 15*time.Second, 50*time.Millisecond)
	time.Sleep(500 * time.Millisecond) // give a wrongly applied duplicate the chance to show
	assert.Len(t, probe.results("RESERVED"), 2, "one reservation per order")
	assert.Equal(t, 1, probe.count("order.cancelled"), "the reservation of the order order-service does not have is given back")
	probe.mu.Lock()
	assert.Equal(t, "UNKNOWN_ORDER", probe.seen["order.cancelled"][0]["reason"])
	probe.mu.Unlock()
	assert.Eventually(t, func() bool { return s.stock(t, p.Id) == 98 }, 10*time.Second, 50*time.Millisecond, "100 − 2: the forged order's 3 came back")

	require.Eventually(t, func() bool {
		n, err := probe.conn.QueueDepth(s.queuePrefix + "product-service__order-created.dlq")
		return err == nil && n == 1
	}, 15*time.Second, 100*time.Millisecond, "the malformed message is dead-lettered")
	assert.GreaterOrEqual(t, probe.count("product.updated"), 1, "product.updated on create")

	// Deleting the product rejects later orders for it with a reason.
	resp, err := s.products.DeleteProductWithResponse(context.Background(), p.Id, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode())
	probe.publish(t, fmt.Sprintf(`{"orderId":900003,"productId":%d,"qty":1,"totalPrice":10,"createdAt":"2026-11-25T10:00:00Z"}`, p.Id))
	require.Eventually(t, func() bool { return len(probe.results("PRODUCT_NOT_FOUND")) == 1 }, 15*time.Second, 50*time.Millisecond)
	assert.Equal(t, 1, probe.count("product.deleted"))
}
