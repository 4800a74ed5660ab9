package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shopworks/shop/clients/events"
	"github.com/shopworks/shop/clients/money"
	"github.com/shopworks/shop/clients/orderclient"
	"github.com/shopworks/shop/clients/productclient"
	"github.com/shopworks/shop/platform/amqpx"
	"github.com/shopworks/shop/platform/testkit"
)

// hostileMessage is a body no consumer may act on, published with the routing key key.
type hostileMessage struct {
	key, name string
	body      []byte
}

// hostileMessages builds, for each routing key the services consume, bodies that break the
// key's payload schema one way each (every required field missing, wrong types, out of range,
// bad formats and enums, unknown fields where the schema forbids them) and bodies that are no
// valid JSON object at all (empty, not JSON, trailing data, invalid UTF-8, NUL, a BOM, duplicate
// members, deep nesting, 2 MiB, another event's body). valid holds one valid body per key, the
// templates of the mutations.
func hostileMessages(t *testing.T, valid map[string]string) []hostileMessage {
	var out []hostileMessage
	add := func(key, name, body string) { out = append(out, hostileMessage{key, name, []byte(body)}) }
	replace := func(key, name, old, new string) {
		if !strings.Contains(valid[key], old) {
			t.Fatalf("%s %s: %q is not in %s", key, name, old, valid[key])
		}
		add(key, name, strings.Replace(valid[key], old, new, 1))
	}
	keys := []string{events.KeyOrderCreated, events.KeyOrderCancelled, events.KeyStockResults, events.KeyProductUpdated, events.KeyProductDeleted}
	for i, key := range keys {
		v := valid[key]
		add(key, "empty", ``)
		add(key, "whitespace", " \n\t ")
		add(key, "not JSON", `this is not JSON`)
		add(key, "XML", `<order id="1"/>`)
		add(key, "null", `null`)
		add(key, "an array", `[`+v+`]`)
		add(key, "a string", `"order"`)
		add(key, "a number", `42`)
		add(key, "an empty object", `{}`)
		add(key, "cut off", v[:len(v)/2])
		add(key, "trailing JSON", v+`{"x":1}`)
		add(key, "trailing garbage", v+` xyz`)
		add(key, "invalid UTF-8", strings.Replace(v, `"eventId":"`, `"eventId":"`+"\xff\xfe", 1))
		add(key, "NUL", strings.Replace(v, `"eventId":"`, `"eventId":"\u0000`, 1))
		add(key, "BOM", "\xef\xbb\xbf"+v)
		add(key, "duplicate member", strings.Replace(v, `{"eventId":`, `{"eventId":"x","eventId":`, 1))
		add(key, "deep nesting", strings.Repeat(`{"a":`, 20000)+`1`+strings.Repeat(`}`, 20000))
		add(key, "2 MiB", `{"eventId":"`+strings.Repeat("a", 2<<20)+`"}`)
		add(key, "another event's body", valid[keys[(i+1)%len(keys)]])
	}

	c := events.KeyOrderCreated
	for _, m := range [][3]string{
		{"orderId 0", `"orderId":1,`, `"orderId":0,`}, {"orderId negative", `"orderId":1,`, `"orderId":-1,`},
		{"orderId a string", `"orderId":1,`, `"orderId":"1",`}, {"orderId a fraction", `"orderId":1,`, `"orderId":1.5,`},
		{"orderId beyond int64", `"orderId":1,`, `"orderId":9223372036854775808,`}, {"orderId missing", `"orderId":1,`, ``},
		{"productId 0", `"productId":`, `"productId":0,"x":`}, {"productId missing", `"productId":`, `"x":`},
		{"qty 0", `"qty":2,`, `"qty":0,`}, {"qty negative", `"qty":2,`, `"qty":-2,`}, {"qty 10001", `"qty":2,`, `"qty":10001,`},
		{"qty a fraction", `"qty":2,`, `"qty":2.5,`}, {"qty a string", `"qty":2,`, `"qty":"2",`}, {"qty missing", `"qty":2,`, ``},
		{"totalPrice negative", `"totalPrice":20,`, `"totalPrice":-20,`}, {"totalPrice 0", `"totalPrice":20,`, `"totalPrice":0,`},
		{"totalPrice a string", `"totalPrice":20,`, `"totalPrice":"20",`}, {"totalPrice of a mill", `"totalPrice":20,`, `"totalPrice":20.001,`},
		{"totalPrice missing", `"totalPrice":20,`, ``}, {"unitPrice negative", `"unitPrice":10,`, `"unitPrice":-10,`},
		{"unitPrice 0", `"unitPrice":10,`, `"unitPrice":0,`}, {"status CONFIRMED", `"PENDING"`, `"CONFIRMED"`},
		{"status empty", `"PENDING"`, `""`}, {"createdAt not a time", `"2026-11-25T10:00:00Z"`, `"yesterday"`},
		{"createdAt a number", `"2026-11-25T10:00:00Z"`, `1764064800`}, {"eventId not a UUID", `"eventId":"`, `"eventId":"x`},
		{"eventId a number", `"eventId":"`, `"eventId":1,"y":"`},
	} {
		replace(c, m[0], m[1], m[2])
	}
	c = events.KeyOrderCancelled
	for _, m := range [][3]string{
		{"eventId missing", `"eventId":"`, `"x":"`}, {"orderId missing", `"orderId":1,`, ``}, {"productId missing", `"productId":`, `"x":`},
		{"qty missing", `"qty":2,`, ``}, {"reason missing", `"reason":`, `"x":`}, {"cancelledAt missing", `"cancelledAt":`, `"x":`},
		{"unknown reason", `"CANCELLED_BY_CLIENT"`, `"BECAUSE"`}, {"unknown field", `"qty":2,`, `"qty":2,"extra":1,`},
		{"qty 0", `"qty":2,`, `"qty":0,`}, {"qty 10001", `"qty":2,`, `"qty":10001,`}, {"qty a string", `"qty":2,`, `"qty":"2",`},
		{"orderId 0", `"orderId":1,`, `"orderId":0,`}, {"orderEventId not a UUID", `"orderEventId":"`, `"orderEventId":"x`},
		{"orderEventId NUL", `"orderEventId":"`, `"orderEventId":"\u0000`}, {"cancelledAt not a time", `"cancelledAt":"2026`, `"cancelledAt":"x2026`},
	} {
		replace(c, m[0], m[1], m[2])
	}
	c = events.KeyStockResults
	thousand := strings.TrimSuffix(strings.Repeat(`{"orderId":1,"productId":1,"qty":1,"outcome":"RESERVED"},`, 1001), ",")
	for _, m := range [][3]string{
		{"no results", `"results":[{`, `"results":[],"x":[{`}, {"results an object", `"results":[`, `"results":{"a":[`},
		{"a null result", `"results":[`, `"results":[null,`}, {"1001 results", `"results":[`, `"results":[` + thousand + `,`},
		{"unknown outcome", `"RESERVED"`, `"SHIPPED"`}, {"outcome missing", `,"outcome":"RESERVED"`, ``},
		{"qty 0", `"qty":2,`, `"qty":0,`}, {"orderId 0", `"orderId":1,`, `"orderId":0,`}, {"orderEventId not a UUID", `"orderEventId":"`, `"orderEventId":"x`},
		{"unknown field in a result", `"qty":2,`, `"qty":2,"price":1,`}, {"unknown field", `"decidedAt":`, `"x":1,"decidedAt":`},
		{"eventId missing", `"eventId":"`, `"y":"`}, {"decidedAt not a time", `"decidedAt":"2026`, `"decidedAt":"x2026`},
	} {
		replace(c, m[0], m[1], m[2])
	}
	c = events.KeyProductUpdated
	for _, m := range [][3]string{
		{"price negative", `"price":1,`, `"price":-5,`}, {"price 0", `"price":1,`, `"price":0,`}, {"price of a mill", `"price":1,`, `"price":0.001,`},
		{"price a string", `"price":1,`, `"price":"1",`}, {"price above the maximum", `"price":1,`, `"price":10000000000,`}, {"price missing", `"price":1,`, ``},
		{"name empty", `"name":"Forged"`, `"name":""`}, {"name too long", `"name":"Forged"`, `"name":"` + strings.Repeat("n", 201) + `"`},
		{"name with NUL", `"name":"Forged"`, `"name":"For\u0000ged"`}, {"name missing", `"name":"Forged",`, ``},
		{"qty negative", `"qty":5,`, `"qty":-1,`}, {"qty missing", `"qty":5,`, ``}, {"productId 0", `"productId":`, `"productId":0,"x":`},
		{"unknown field", `"qty":5,`, `"qty":5,"extra":1,`}, {"updatedAt not a time", `"updatedAt":"2030`, `"updatedAt":"x2030`},
	} {
		replace(c, m[0], m[1], m[2])
	}
	c = events.KeyProductDeleted
	for _, m := range [][3]string{
		{"productId 0", `"productId":`, `"productId":0,"x":`}, {"productId a string", `"productId":`, `"productId":"1","x":`},
		{"productId missing", `"productId":`, `"x":`}, {"eventId missing", `"eventId":"`, `"y":"`},
		{"deletedAt missing", `"deletedAt":`, `"x":`}, {"deletedAt not a time", `"deletedAt":"20`, `"deletedAt":"x20`},
		{"unknown field", `"deletedAt":`, `"extra":1,"deletedAt":`}, {"eventId not a UUID", `"eventId":"`, `"eventId":"x`},
	} {
		replace(c, m[0], m[1], m[2])
	}
	return out
}

const (
	hostileCorrelationID = "e2e-hostile"
	hostilePrefix        = "hostile " // of the message IDs, which name each hostile message
)

// TestHostileMessagesChangeNothing publishes 25+ hostile bodies on every routing key the services
// consume, through the broker to a running stack: each ends in the right dead-letter queue with
// the reason in x-death-reason, nothing changes (products, orders, stock, what order-service
// charges), and the queues keep flowing (an order is reserved and cancelled, a price change
// reaches order-service). Then a forged order.created in our format for an order that does not
// exist: its reservation is given back, the stock unchanged within 10 s.
func TestHostileMessagesChangeNothing(t *testing.T) {
	s := startStack(t)
	probe := newBrokerProbeOn(t, testkit.RabbitURL(), s.exchange, s.queuePrefix+"e2e-probe.dlq", s.tracing,
		func(d amqpx.Delivery) bool { return strings.HasPrefix(d.MessageID, hostilePrefix) })
	p := s.createProduct(t, "Target", money.FromCents(1000), 100)
	placed := s.placeOrders(t, p.Id, 2, 2)
	for id, st := range s.waitFinal(t, placed, 30*time.Second) {
		require.Equal(t, orderclient.OrderStatusCONFIRMED, st, "order %d", id)
	}
	before := s.snapshot(t, p.Id)
	require.EqualValues(t, 96, before.stock)

	ev := func() string { return uuid.NewString() }
	valid := map[string]string{
		events.KeyOrderCreated: fmt.Sprintf(`{"eventId":%q,"orderId":1,"productId":%d,"qty":2,"unitPrice":10,"totalPrice":20,"status":"PENDING","createdAt":"2026-11-25T10:00:00Z"}`, ev(), p.Id),
		events.KeyOrderCancelled: fmt.Sprintf(`{"eventId":%q,"orderId":1,"orderEventId":%q,"productId":%d,"qty":2,"reason":"CANCELLED_BY_CLIENT","cancelledAt":"2026-11-25T10:00:01Z"}`,
			ev(), ev(), p.Id),
		events.KeyStockResults: fmt.Sprintf(`{"eventId":%q,"results":[{"orderId":1,"orderEventId":%q,"productId":%d,"qty":2,"outcome":"RESERVED"}],"decidedAt":"2026-11-25T10:00:01Z"}`,
			ev(), ev(), p.Id),
		events.KeyProductUpdated: fmt.Sprintf(`{"eventId":%q,"productId":%d,"name":"Forged","price":1,"qty":5,"updatedAt":"2030-01-01T00:00:00Z"}`, ev(), p.Id),
		events.KeyProductDeleted: fmt.Sprintf(`{"eventId":%q,"productId":%d,"deletedAt":"2030-01-01T00:00:00Z"}`, ev(), p.Id),
	}
	hostile := hostileMessages(t, valid)
	perKey := map[string]int{}
	msgs := make([]amqpx.Message, 0, len(hostile))
	for _, h := range hostile {
		perKey[h.key]++
		msgs = append(msgs, amqpx.Message{RoutingKey: h.key, MessageID: hostilePrefix + h.key + " " + h.name, CorrelationID: hostileCorrelationID, Body: h.body})
	}
	for key, n := range perKey {
		require.GreaterOrEqual(t, n, 25, "hostile messages on %s", key)
	}
	t.Logf("hostile messages per routing key: %v", perKey)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for chunk := range slices.Chunk(msgs, 50) {
		require.NoError(t, probe.conn.Publish(ctx, chunk))
	}

	// Each is dead-lettered by the queue of its consumer, with the reason.
	dlqs := map[string][]string{
		s.queuePrefix + events.QueueOrderCreated + ".dlq": {events.KeyOrderCreated, events.KeyOrderCancelled},
		s.queuePrefix + events.QueueStockResults + ".dlq": {events.KeyStockResults},
		s.queuePrefix + events.QueueProductChangesDLQ:     {events.KeyProductUpdated, events.KeyProductDeleted},
	}
	for dlq, keys := range dlqs {
		want := 0
		for _, k := range keys {
			want += perKey[k]
		}
		require.Eventually(t, func() bool {
			n, err := probe.conn.QueueDepth(dlq)
			return err == nil && n >= want
		}, 60*time.Second, 200*time.Millisecond, "%d hostile messages in %s", want, dlq)
		got := drainDeadLetters(t, dlq)
		require.Len(t, got, want, "%s holds exactly the hostile messages of %v", dlq, keys)
		for id, reason := range got {
			key := strings.SplitN(strings.TrimPrefix(id, hostilePrefix), " ", 2)[0]
			assert.Contains(t, keys, key, "%s in %s", id, dlq)
			assert.NotEmpty(t, reason, "%s: x-death-reason", id)
		}
	}

	// Nothing changed.
	after := s.snapshot(t, p.Id)
	assert.Equal(t, before, after, "products, orders, stock and records unchanged")

	// The queues keep flowing: an order is priced as before, reserved and cancelled; a price
	// change reaches order-service's price cache through the per-replica queue.
	o := s.placeOrders(t, p.Id, 1, 3)[0]
	assert.Equal(t, orderclient.OrderStatusCONFIRMED, s.waitFinal(t, []int64{o}, 30*time.Second)[o])
	got, err := s.orders.GetOrderWithResponse(context.Background(), o, &orderclient.GetOrderParams{})
	require.NoError(t, err)
	assert.Equal(t, "10", got.JSON200.UnitPrice.String(), "no forged price in order-service's price cache")
	assert.EqualValues(t, 93, s.stock(t, p.Id))
	cancelled, err := s.orders.CancelOrderWithResponse(context.Background(), o, &orderclient.CancelOrderParams{})
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, cancelled.StatusCode(), string(cancelled.Body))
	assert.Eventually(t, func() bool { return s.stock(t, p.Id) == 96 }, 15*time.Second, 50*time.Millisecond, "the cancellation gave the stock back")
	price := money.FromCents(1200)
	patched, err := s.products.UpdateProductWithResponse(context.Background(), p.Id, &productclient.UpdateProductParams{}, productclient.ProductPatch{Price: &price})
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, patched.StatusCode(), string(patched.Body))
	require.Eventually(t, func() bool {
		resp, err := s.orders.CreateOrderWithResponse(context.Background(), &orderclient.CreateOrderParams{}, orderclient.OrderInput{ProductId: p.Id, Qty: 1})
		return err == nil && resp.StatusCode() == http.StatusCreated && resp.JSON201.UnitPrice.String() == "12"
	}, 15*time.Second, 100*time.Millisecond, "the new price reached order-service")
	for dlq := range dlqs {
		n, err := probe.conn.QueueDepth(dlq)
		require.NoError(t, err)
		assert.Zero(t, n, "%s: nothing dead-lettered since", dlq)
	}

	// A forged order.created in our format for an order that does not exist: reserved, then given
	// back (order-service answers UNKNOWN_ORDER), the stock unchanged within 10 s.
	s.waitAllFinal(t, p.Id)
	stock := s.stock(t, p.Id)
	start := time.Now()
	forgedID := ev()
	forged := fmt.Sprintf(`{"eventId":%q,"orderId":999999,"productId":%d,"qty":7,"unitPrice":12,"totalPrice":84,"status":"PENDING","createdAt":"2026-11-25T10:00:00Z"}`, forgedID, p.Id)
	require.NoError(t, probe.conn.Publish(ctx, []amqpx.Message{{RoutingKey: events.KeyOrderCreated, MessageID: forgedID, CorrelationID: hostileCorrelationID, Body: []byte(forged)}}))
	require.Eventually(t, func() bool {
		return probe.cancelled(999999, "UNKNOWN_ORDER") && s.stock(t, p.Id) == stock
	}, 10*time.Second, 50*time.Millisecond, "the forged reservation is given back")
	t.Logf("forged order.created: reserved and given back in %v", time.Since(start).Round(time.Millisecond))
	assert.True(t, slices.ContainsFunc(probe.results("RESERVED"), func(r map[string]any) bool { return r["orderId"] == float64(999999) }),
		"the forged order was reserved before it was given back")
}

// stackSnapshot is what hostile messages must not change.
type stackSnapshot struct {
	product          string // GET /products/{id}, as served
	stock            int32
	orders           string // GET /orders/product/{id}, as served
	processed, rows  int    // product-service's records of orders; order-service's orders
	productsListBody string // GET /products
}

func (s *stack) snapshot(t *testing.T, productID int64) stackSnapshot {
	t.Helper()
	var snap stackSnapshot
	p, err := s.products.GetProductWithResponse(context.Background(), productID, &productclient.GetProductParams{})
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, p.StatusCode())
	snap.product, snap.stock = string(p.Body), p.JSON200.Qty
	list, err := s.products.ListProductsWithResponse(context.Background(), &productclient.ListProductsParams{})
	require.NoError(t, err)
	snap.productsListBody = string(list.Body)
	o, err := s.orders.ListOrdersByProductWithResponse(context.Background(), productID, &orderclient.ListOrdersByProductParams{})
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, o.StatusCode())
	snap.orders = string(o.Body)
	pdb, err := sql.Open("mysql", s.productDSN)
	require.NoError(t, err)
	defer pdb.Close()
	require.NoError(t, pdb.QueryRow("SELECT COUNT(*) FROM processed_orders").Scan(&snap.processed))
	require.NoError(t, s.ordersDB(t).QueryRow("SELECT COUNT(*) FROM orders").Scan(&snap.rows))
	return snap
}

// waitAllFinal waits until no order of the product is PENDING.
func (s *stack) waitAllFinal(t *testing.T, productID int64) {
	t.Helper()
	require.Eventually(t, func() bool {
		o, err := s.orders.ListOrdersByProductWithResponse(context.Background(), productID, &orderclient.ListOrdersByProductParams{})
		if err != nil || o.JSON200 == nil {
			return false
		}
		for _, x := range *o.JSON200 {
			if x.Status == orderclient.OrderStatusPENDING {
				return false
			}
		}
		return true
	}, 30*time.Second, 100*time.Millisecond)
}

// cancelled reports whether the probe saw an order.cancelled for the order with the reason.
func (p *brokerProbe) cancelled(orderID int64, reason string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, m := range p.seen[events.KeyOrderCancelled] {
		if m["orderId"] == float64(orderID) && m["reason"] == reason {
			return true
		}
	}
	return false
}

// drainDeadLetters takes every message of the dead-letter queue dlq and returns the reason of
// each (x-death-reason) by message ID.
func drainDeadLetters(t *testing.T, dlq string) map[string]string {
	t.Helper()
	conn, err := amqp.DialConfig(testkit.RabbitURL(), amqp.Config{Dial: amqp.DefaultDial(5 * time.Second)})
	require.NoError(t, err)
	defer conn.Close()
	ch, err := conn.Channel()
	require.NoError(t, err)
	defer ch.Close()
	out := map[string]string{}
	for {
		d, ok, err := ch.Get(dlq, false)
		require.NoError(t, err)
		if !ok {
			return out
		}
		reason, _ := d.Headers[amqpx.HeaderDeathReason].(string)
		if _, dup := out[d.MessageId]; dup {
			t.Errorf("%s dead-lettered twice", d.MessageId)
		}
		out[d.MessageId] = reason
		require.NoError(t, d.Ack(false))
	}
}
