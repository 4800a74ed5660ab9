package e2e

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shopworks/shop/clients/money"
	"github.com/shopworks/shop/clients/orderclient"
	"github.com/shopworks/shop/clients/productclient"
	"github.com/shopworks/shop/platform/amqpx/amqpxtest"
	"github.com/shopworks/shop/platform/testkit"
)

// TestBFFDegradesWhenOrderServiceIsDown: the product is still served, with the degradation said.
func TestBFFDegradesWhenOrderServiceIsDown(t *testing.T) {
	s := startStack(t)
	p := s.createProduct(t, "Lonely", money.FromCents(500), 5)
	s.order.stop(t)

	resp, err := s.products.GetProductWithOrdersWithResponse(context.Background(), p.Id, &productclient.GetProductWithOrdersParams{})
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode(), string(resp.Body))
	assert.True(t, resp.JSON200.OrdersDegraded)
	assert.Empty(t, resp.JSON200.Orders)
	assert.Equal(t, "true", resp.HTTPResponse.Header.Get("X-Orders-Degraded"))

	resp, err = s.products.GetProductWithOrdersWithResponse(context.Background(), p.Id+1000, &productclient.GetProductWithOrdersParams{})
	require.NoError(t, err)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode())
}

// TestOrderingWhileProductServiceIsDown answers 503, never 400, and stores nothing.
func TestOrderingWhileProductServiceIsDown(t *testing.T) {
	s := startStack(t)
	s.product.stop(t)
	resp, err := s.orders.CreateOrderWithResponse(context.Background(), &orderclient.CreateOrderParams{}, orderclient.OrderInput{ProductId: 1, Qty: 1})
	require.NoError(t, err)
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode(), string(resp.Body))
	assert.Contains(t, string(resp.Body), "PRODUCT_SERVICE_UNAVAILABLE")

	list, err := s.orders.ListOrdersByProductWithResponse(context.Background(), 1, &orderclient.ListOrdersByProductParams{})
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, list.StatusCode())
	assert.Empty(t, *list.JSON200)
}

// TestBrokerOutageLosesNothing: with both services' RabbitMQ connections cut, orders are still
// accepted; when the broker is reachable again every order reaches a final status and the stock
// is exact.
func TestBrokerOutageLosesNothing(t *testing.T) {
	proxy := testkit.NewProxy(t, amqpxtest.HostPort(t, testkit.RabbitURL()))
	viaProxy := amqpxtest.WithHost(t, testkit.RabbitURL(), proxy.Addr())
	s := startStack(t, func(p, o map[string]string) { p["RABBIT_URL"], o["RABBIT_URL"] = viaProxy, viaProxy })
	p := s.createProduct(t, "Outage", money.FromCents(1000), 100)
	// Warm the price cache while everything is up.
	ids := s.placeOrders(t, p.Id, 1, 1)

	proxy.Down()
	ids = append(ids, s.placeOrders(t, p.Id, 20, 1)...)
	time.Sleep(500 * time.Millisecond)
	proxy.Up()

	statuses := s.waitFinal(t, ids, 30*time.Second)
	for id, st := range statuses {
		assert.Equal(t, orderclient.OrderStatusCONFIRMED, st, "order %d", id)
	}
	assert.Equal(t, int32(100-len(ids)), s.stock(t, p.Id))
}

// TestRestartMidStreamLosesNothing restarts product-service while orders are being placed.
func TestRestartMidStreamLosesNothing(t *testing.T) {
	s := startStack(t)
	p := s.createProduct(t, "Restart", money.FromCents(1000), 1000)
	ids := s.placeOrders(t, p.Id, 1, 1) // warms order-service's price cache
	var statusCodes []int
	done := make(chan struct{})
	go func() { // the test goroutine restarts the service meanwhile
		defer close(done)
		for i := 0; i < 40; i++ {
			resp, err := s.orders.CreateOrderWithResponse(context.Background(), &orderclient.CreateOrderParams{}, orderclient.OrderInput{ProductId: p.Id, Qty: 1})
			if err != nil {
				statusCodes = append(statusCodes, -1)
				continue
			}
			statusCodes = append(statusCodes, resp.StatusCode())
			if resp.StatusCode() == http.StatusCreated {
				ids = append(ids, resp.JSON201.Id)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	time.Sleep(200 * time.Millisecond)
	s.product.stop(t)
	s.product.start(t)
	<-done
	for _, c := range statusCodes {
		assert.Equal(t, http.StatusCreated, c, "the price cache keeps ordering up while product-service restarts")
	}
	statuses := s.waitFinal(t, ids, 30*time.Second)
	confirmed := 0
	for _, st := range statuses {
		if st == orderclient.OrderStatusCONFIRMED {
			confirmed++
		}
	}
	assert.Equal(t, int32(1000-confirmed), s.stock(t, p.Id), "initial stock = stock + Σ confirmed")
	assert.Equal(t, len(ids), confirmed, "stock was plentiful: every accepted order is confirmed")
}

// TestTwoReplicasApplyEveryOrderOnce runs a second replica of each service on other ports,
// sharing databases, Redis and queues, and spreads concurrent orders over both.
func TestTwoReplicasApplyEveryOrderOnce(t *testing.T) {
	s := startStack(t)
	p := s.createProduct(t, "Replicated", money.FromCents(250), 60)

	p2 := &service{name: "product-service#2", bin: binaries.product, env: clone(s.product.env), logs: &syncBuffer{}}
	o2 := &service{name: "order-service#2", bin: binaries.order, env: clone(s.order.env), logs: &syncBuffer{}}
	p2.env["PORT"], o2.env["PORT"] = freePort(t), freePort(t)
	p2.url, o2.url = "http://127.0.0.1:"+p2.env["PORT"], "http://127.0.0.1:"+o2.env["PORT"]
	o2.env["PRODUCT_BASE_URL"] = p2.url
	p2.start(t)
	defer p2.stop(t)
	o2.start(t)
	defer o2.stop(t)
	second, err := orderclient.New(o2.url, orderclient.Options{HTTPClient: &http.Client{
		Timeout: 10 * time.Second, Transport: testkit.NewContractTransport(t, loadSpec(t, "order-service.yaml")),
	}})
	require.NoError(t, err)

	var mu sync.Mutex
	var ids []int64
	var wg sync.WaitGroup
	for i := 0; i < 80; i++ {
		c := s.orders
		if i%2 == 1 {
			c = second
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := c.CreateOrderWithResponse(context.Background(), &orderclient.CreateOrderParams{}, orderclient.OrderInput{ProductId: p.Id, Qty: 1})
			if !assert.NoError(t, err) {
				return
			}
			if resp.StatusCode() == http.StatusCreated {
				mu.Lock()
				ids = append(ids, resp.JSON201.Id)
				mu.Unlock()
			} else {
				assert.Equal(t, http.StatusConflict, resp.StatusCode(), string(resp.Body))
			}
		}()
	}
	wg.Wait()
	statuses := s.waitFinal(t, ids, 30*time.Second)
	confirmed := 0
	for _, st := range statuses {
		if st == orderclient.OrderStatusCONFIRMED {
			confirmed++
		}
	}
	assert.Equal(t, 60, confirmed, "stock 60, 80 orders: exactly 60 confirmed")
	// Reservations made by replica #2 reach replica #1's in-process cache within LOCAL_CACHE_TTL.
	assert.Eventually(t, func() bool { return s.stock(t, p.Id) == 0 }, 5*time.Second, 50*time.Millisecond)
}

func (s *stack) placeOrders(t *testing.T, productID int64, n int, qty int32) []int64 {
	t.Helper()
	var ids []int64
	for i := 0; i < n; i++ {
		resp, err := s.orders.CreateOrderWithResponse(context.Background(), &orderclient.CreateOrderParams{}, orderclient.OrderInput{ProductId: productID, Qty: qty})
		require.NoError(t, err)
		require.Equal(t, http.StatusCreated, resp.StatusCode(), string(resp.Body))
		ids = append(ids, resp.JSON201.Id)
	}
	return ids
}

func clone(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
