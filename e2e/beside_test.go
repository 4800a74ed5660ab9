package e2e

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shopworks/shop/clients/events"
	"github.com/shopworks/shop/clients/money"
	"github.com/shopworks/shop/clients/orderclient"
	"github.com/shopworks/shop/clients/productclient"
	"github.com/shopworks/shop/platform/amqpx"
	"github.com/shopworks/shop/platform/amqpx/amqpxtest"
)

// originalOrderService stands in for the original Go order-service, as the seed's contract
// describes it: POST /orders {productId, qty} looks the price up at product-service
// (GET /products/{id}, read into a float64), stores the order under its own ids 1, 2, 3…, publishes
// order.created to the exchange "orders" — exactly {orderId, productId, qty, totalPrice,
// createdAt}: no eventId, totalPrice the float64 price × qty, no message_id or correlation_id,
// transient, fire and forget — and answers 201 {orderId, productId, qty, totalPrice, createdAt};
// GET /orders/product/{id} lists its orders newest first as {id, productId, qty, totalPrice,
// status: CREATED, createdAt}, unbounded.
type originalOrderService struct {
	server *httptest.Server
	ch     *amqp.Channel
	http   *http.Client

	mu          sync.Mutex // guards what follows and publishing on ch
	productBase string
	orders      []originalOrder
}

// originalOrder is the original's order row and, field for field, its order.created payload.
type originalOrder struct {
	OrderID    int64     `json:"orderId"`
	ProductID  int64     `json:"productId"`
	Qty        int       `json:"qty"`
	TotalPrice float64   `json:"totalPrice"`
	CreatedAt  time.Time `json:"createdAt"`
}

func startOriginalOrderService(t *testing.T, rabbitURL string) *originalOrderService {
	t.Helper()
	conn, err := amqp.DialConfig(rabbitURL, amqp.Config{Dial: amqp.DefaultDial(5 * time.Second)})
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	ch, err := conn.Channel()
	require.NoError(t, err)
	require.NoError(t, ch.ExchangeDeclare("orders", amqp.ExchangeTopic, true, false, false, false, nil))
	o := &originalOrderService{ch: ch, http: &http.Client{Timeout: 5 * time.Second}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /orders", o.create)
	mux.HandleFunc("GET /orders/product/{id}", o.list)
	o.server = httptest.NewServer(mux)
	t.Cleanup(o.server.Close)
	return o
}

func (o *originalOrderService) pointAt(productBase string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.productBase = productBase
}

func (o *originalOrderService) create(w http.ResponseWriter, r *http.Request) {
	var in struct {
		ProductID int64 `json:"productId"`
		Qty       int   `json:"qty"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.ProductID <= 0 || in.Qty <= 0 {
		http.Error(w, `{"error":{"code":"BAD_JSON","message":"invalid body"}}`, http.StatusBadRequest)
		return
	}
	o.mu.Lock()
	base := o.productBase
	o.mu.Unlock()
	resp, err := o.http.Get(fmt.Sprintf("%s/products/%d", base, in.ProductID))
	if err != nil {
		http.Error(w, `{"error":{"code":"PRODUCT_INVALID","message":"product-service unreachable"}}`, http.StatusBadRequest)
		return
	}
	defer resp.Body.Close()
	var p struct {
		Price float64 `json:"price"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&p) != nil {
		http.Error(w, `{"error":{"code":"PRODUCT_INVALID","message":"product not found"}}`, http.StatusBadRequest)
		return
	}
	o.mu.Lock()
	order := originalOrder{OrderID: int64(len(o.orders) + 1), ProductID: in.ProductID, Qty: in.Qty,
		TotalPrice: p.Price * float64(in.Qty), CreatedAt: time.Now().UTC().Truncate(time.Second)}
	o.orders = append(o.orders, order)
	body, _ := json.Marshal(order)
	err = o.ch.PublishWithContext(r.Context(), "orders", "order.created", false, false, amqp.Publishing{ContentType: "application/json", Body: body})
	o.mu.Unlock()
	if err != nil { // the original logged and answered 201 anyway (its defect 2); the test must know
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(order)
}

func (o *originalOrderService) list(w http.ResponseWriter, r *http.Request) {
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	type row struct {
		ID         int64     `json:"id"`
		ProductID  int64     `json:"productId"`
		Qty        int       `json:"qty"`
		TotalPrice float64   `json:"totalPrice"`
		Status     string    `json:"status"`
		CreatedAt  time.Time `json:"createdAt"`
	}
	var rows []row // null when empty, as the original's nil slice
	o.mu.Lock()
	for _, x := range slices.Backward(o.orders) {
		if x.ProductID == id {
			rows = append(rows, row{x.OrderID, x.ProductID, x.Qty, x.TotalPrice, "CREATED", x.CreatedAt})
		}
	}
	o.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(rows)
}

// placed returns a copy of the original's orders.
func (o *originalOrderService) placed() []originalOrder {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.orders)
}

// order places an order with the original, as its clients did.
func (o *originalOrderService) order(productID int64, qty int) error {
	resp, err := http.Post(o.server.URL+"/orders", "application/json", strings.NewReader(fmt.Sprintf(`{"productId":%d,"qty":%d}`, productID, qty)))
	if err != nil {
		return err
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("the original answered %d", resp.StatusCode)
	}
	return nil
}

// TestBesideTheOriginal is the documented migration mode: the original order-service and ours
// take orders at once through one exchange named "orders", both pointed at our product-service,
// whose BFF is pointed at the original. The services run as their least-privilege broker users
// (infra/rabbitmq/definitions.json) in a private virtual host, and find the exchange through the
// original's variable, RABBIT_EXCHANGE. The two systems' order ids collide (1, 2, 3… on both
// sides) and the original's totals carry float noise (0.15 × 3 = 0.44999999999999996). Every
// order of each system is reserved or rejected exactly once, the stock is exact, nothing is
// dead-lettered or compensated, and order-service counts the original's results as foreign.
func TestBesideTheOriginal(t *testing.T) {
	broker := amqpxtest.ImportUsers(t, filepath.Join("..", "infra", "rabbitmq", "definitions.json"))
	original := startOriginalOrderService(t, broker.Admin)
	s := startStack(t, func(p, o map[string]string) {
		p["RABBIT_URL"], o["RABBIT_URL"] = broker.Users["product-service"], broker.Users["order-service"]
		for _, env := range []map[string]string{p, o} {
			delete(env, "AMQP_EXCHANGE")
			env["RABBIT_EXCHANGE"] = "orders"
			env["AMQP_QUEUE_PREFIX"] = "" // the users may only touch the queues of their own names
		}
		p["ORDERS_BASE"] = original.server.URL
	})
	original.pointAt(s.productURL)
	fromTheOriginal := func(d amqpx.Delivery) bool { return d.RoutingKey == events.KeyOrderCreated && d.MessageID == "" }
	probe := newBrokerProbeOn(t, broker.Admin, "orders", "e2e-probe.dlq", s.tracing, fromTheOriginal)

	plenty := s.createProduct(t, "Plenty", money.FromCents(15), 10000)
	scarce := s.createProduct(t, "Scarce", money.FromCents(229), 30)
	initial := map[int64]int32{plenty.Id: 10000, scarce.Id: 30}

	// Both systems take 40 orders at once, every other one for the scarce product.
	const n = 40
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		ours = map[int64]orderclient.OrderInput{}
	)
	for part := 0; part < 2; part++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := part; i < n; i += 2 {
				pid := []int64{plenty.Id, scarce.Id}[i%2]
				in := orderclient.OrderInput{ProductId: pid, Qty: int32(1 + i%3)}
				resp, err := s.orders.CreateOrderWithResponse(context.Background(), &orderclient.CreateOrderParams{}, in)
				if !assert.NoError(t, err) {
					return
				}
				switch resp.StatusCode() {
				case http.StatusCreated:
					mu.Lock()
					ours[resp.JSON201.Id] = in
					mu.Unlock()
				case http.StatusConflict: // the scarce product's stock pre-check
				default:
					t.Errorf("our order: %d %s", resp.StatusCode(), resp.Body)
				}
			}
		}()
		go func() {
			defer wg.Done()
			for i := part; i < n; i += 2 {
				assert.NoError(t, original.order([]int64{plenty.Id, scarce.Id}[i%2], 1+i%3))
			}
		}()
	}
	wg.Wait()
	originals := original.placed()
	require.Len(t, originals, n)
	require.NotEmpty(t, ours)
	collide, noisy := 0, 0
	for _, o := range originals {
		if _, ok := ours[o.OrderID]; ok {
			collide++
		}
		if b, _ := json.Marshal(o.TotalPrice); !strings.Contains(fmt.Sprintf("%.2f", o.TotalPrice), string(b)) {
			noisy++
		}
	}
	require.Positive(t, collide, "order ids of the two systems collide")
	require.Positive(t, noisy, "some of the original's totals carry float noise")

	ids := make([]int64, 0, len(ours))
	for id := range ours {
		ids = append(ids, id)
	}
	statuses := s.waitFinal(t, ids, 60*time.Second)
	require.Eventually(t, func() bool { return len(probe.stockResults(false)) >= n }, 60*time.Second, 100*time.Millisecond,
		"a stock result for every order of the original")
	time.Sleep(time.Second) // a wrongly repeated reservation would show now

	// Each order of each system has exactly one result, for its product and quantity.
	theirs := probe.stockResults(false)
	require.Len(t, theirs, n, "one result per order of the original")
	taken := map[int64]int32{}
	for _, o := range originals {
		r := onlyResult(t, theirs, o.OrderID, "the original's")
		assert.EqualValues(t, o.ProductID, r["productId"])
		assert.EqualValues(t, o.Qty, r["qty"])
		if r["outcome"] == "RESERVED" {
			taken[o.ProductID] += int32(o.Qty)
		}
	}
	mine := probe.stockResults(true)
	require.Len(t, mine, len(ours), "one result per order of ours")
	for id, in := range ours {
		r := onlyResult(t, mine, id, "our")
		assert.EqualValues(t, in.ProductId, r["productId"])
		assert.EqualValues(t, in.Qty, r["qty"])
		assert.Equal(t, r["outcome"] == "RESERVED", statuses[id] == orderclient.OrderStatusCONFIRMED,
			"our order %d: %s, its result %s", id, statuses[id], r["outcome"])
		if statuses[id] == orderclient.OrderStatusCONFIRMED {
			taken[in.ProductId] += in.Qty
		}
	}
	for pid, qty := range initial {
		assert.Equal(t, qty-taken[pid], s.stock(t, pid), "product %d: initial − Σ our CONFIRMED − Σ the original's RESERVED", pid)
	}
	assert.Positive(t, initial[scarce.Id]-s.stock(t, scarce.Id), "the scarce product sold")

	// product-service recorded each order once, in the two systems' namespaces.
	db, err := sql.Open("mysql", s.productDSN)
	require.NoError(t, err)
	defer db.Close()
	var byEvent, byOrderID int
	require.NoError(t, db.QueryRow(`SELECT COUNT(CASE WHEN order_key LIKE 'e:%' THEN 1 END), COUNT(CASE WHEN order_key LIKE 'o:%' THEN 1 END) FROM processed_orders`).Scan(&byEvent, &byOrderID))
	assert.Equal(t, len(ours), byEvent, "our orders, by event id")
	assert.Equal(t, n, byOrderID, "the original's orders, by order id")

	// Nothing dead-lettered, nothing compensated; the original's results were counted, not kept.
	for _, q := range []string{events.QueueOrderCreated + ".dlq", events.QueueStockResults + ".dlq", events.QueueProductChangesDLQ} {
		depth, err := probe.conn.QueueDepth(q)
		require.NoError(t, err)
		assert.Zero(t, depth, "%s is empty", q)
	}
	assert.Zero(t, probe.count(events.KeyOrderCancelled), "no compensation of the original's reservations")
	assert.Equal(t, float64(n), metric(t, s.orderURL, "shop_stock_results_foreign_total"))

	// Our BFF, pointed at the original, shows its orders as it sent them: no unit price.
	resp, err := s.products.GetProductWithOrdersWithResponse(context.Background(), plenty.Id, &productclient.GetProductWithOrdersParams{})
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode(), string(resp.Body))
	require.False(t, resp.JSON200.OrdersDegraded)
	require.Len(t, resp.JSON200.Orders, n/2)
	assert.NotContains(t, string(resp.Body), "unitPrice")
	for _, o := range resp.JSON200.Orders {
		assert.Nil(t, o.UnitPrice)
		assert.Equal(t, productclient.ReportedOrderStatusCREATED, o.Status)
		assert.Equal(t, money.FromCents(15*int64(o.Qty)), o.TotalPrice, "the original's float total, to the cent")
	}
}

// stockResults returns the entries of every stock.results seen so far by order id: ours (with
// orderEventId) or the original's (without).
func (p *brokerProbe) stockResults(ours bool) map[int64][]map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[int64][]map[string]any{}
	for _, m := range p.seen[events.KeyStockResults] {
		for _, r := range m["results"].([]any) {
			e := r.(map[string]any)
			if _, has := e["orderEventId"]; has == ours {
				id := int64(e["orderId"].(float64))
				out[id] = append(out[id], e)
			}
		}
	}
	return out
}

// onlyResult is the one result of an order; a second one fails the test.
func onlyResult(t *testing.T, results map[int64][]map[string]any, id int64, whose string) map[string]any {
	t.Helper()
	rs := results[id]
	if !assert.Len(t, rs, 1, "%s order %d: exactly one stock result", whose, id) || len(rs) == 0 {
		return map[string]any{}
	}
	return rs[0]
}

// metric reads one unlabelled sample from a service's /metrics.
func metric(t *testing.T, baseURL, name string) float64 {
	t.Helper()
	resp, err := http.Get(baseURL + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			require.NoError(t, err)
			return f
		}
	}
	require.NoError(t, sc.Err())
	t.Fatalf("no metric %s", name)
	return 0
}
