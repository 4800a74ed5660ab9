package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shopworks/shop/clients/money"
	"github.com/shopworks/shop/clients/orderclient"
	"github.com/shopworks/shop/clients/productclient"
	"github.com/shopworks/shop/platform/testkit"
)

// The write path under faults of its dependencies, driven as a client would: a steady stream of
// orders, each with its own Idempotency-Key so that every answer can be checked against what the
// database holds afterwards. Latencies are logged, not asserted (the machine is shared); what is
// asserted is what a client relies on: no request failed that should not, every 201 order exists
// once and settles, every 503 order does not exist, stock is exact, no stale read after recovery.

// answer is what one order request got.
type answer struct {
	key    string
	status int // -1: no answer (the client gave up)
	id     int64
	took   time.Duration
}

// orderStream places orders for productID at rate per second for d, each with its own key, and
// returns every answer. fault, when not nil, runs meanwhile (it may block for part of d).
func (s *stack) orderStream(t *testing.T, productID int64, rate int, d time.Duration, fault func()) []answer {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second, Transport: testkit.NewContractTransport(t, loadSpec(t, "order-service.yaml"))}
	orders, err := orderclient.New(s.orderURL, orderclient.Options{HTTPClient: client})
	require.NoError(t, err)
	var (
		mu  sync.Mutex
		out []answer
		wg  sync.WaitGroup
	)
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	if fault != nil {
		wg.Go(fault)
	}
	end := time.Now().Add(d)
	stream := testkit.Suffix()
	for i := 0; time.Now().Before(end); i++ {
		<-tick.C
		key := fmt.Sprintf("%s-%d", stream, i)
		wg.Go(func() {
			start := time.Now()
			a := answer{key: key, status: -1}
			resp, err := orders.CreateOrderWithResponse(context.Background(), &orderclient.CreateOrderParams{IdempotencyKey: &key},
				orderclient.OrderInput{ProductId: productID, Qty: 1})
			a.took = time.Since(start)
			if err == nil {
				a.status = resp.StatusCode()
				if resp.JSON201 != nil {
					a.id = resp.JSON201.Id
				}
			}
			mu.Lock()
			out = append(out, a)
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

// summary counts answers by status and logs their latency percentiles.
func summary(t *testing.T, phase string, answers []answer) map[int]int {
	t.Helper()
	counts := map[int]int{}
	took := make([]time.Duration, 0, len(answers))
	for _, a := range answers {
		counts[a.status]++
		took = append(took, a.took)
	}
	slices.Sort(took)
	pct := func(p float64) time.Duration {
		if len(took) == 0 {
			return 0
		}
		return took[min(len(took)-1, int(p*float64(len(took))))]
	}
	t.Logf("%s: %d requests %v; p50 %v p95 %v max %v", phase, len(answers), counts, pct(0.5), pct(0.95), pct(1))
	return counts
}

// ordersDB opens order-service's database directly, for checking answers against it.
func (s *stack) ordersDB(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", s.orderDSN)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// orderOfKey is the order an Idempotency-Key stored, 0 for none.
func orderOfKey(t *testing.T, db *sql.DB, key string) int64 {
	t.Helper()
	var id int64
	err := db.QueryRow("SELECT order_id FROM idempotency_keys WHERE idem_key = ?", key).Scan(&id)
	if err == sql.ErrNoRows {
		return 0
	}
	require.NoError(t, err)
	return id
}

// checkTruthful asserts that every 201 names a stored order, every 503 stored none, and that the
// stored orders all settle with the stock exact: initial = stock + Σ confirmed. The product had
// one order before the answers (the price cache's warm-up); initial is the stock after it.
func (s *stack) checkTruthful(t *testing.T, productID int64, initial int32, answers []answer) {
	t.Helper()
	db := s.ordersDB(t)
	var stored []int64
	for _, a := range answers {
		id := orderOfKey(t, db, a.key)
		switch a.status {
		case http.StatusCreated:
			assert.Equal(t, a.id, id, "a 201 names the order its key stored (%s)", a.key)
		case http.StatusServiceUnavailable:
			assert.Zero(t, id, "a 503 order is not stored (%s)", a.key)
		case http.StatusInternalServerError: // ORDER_OUTCOME_UNKNOWN: either is the truth
		default:
			t.Errorf("unexpected answer %d for %s", a.status, a.key)
		}
		if id != 0 {
			stored = append(stored, id)
		}
	}
	var n int
	require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM orders WHERE product_id = ?", productID).Scan(&n))
	assert.Equal(t, len(stored)+1, n, "every stored order belongs to exactly one request")
	statuses := s.waitFinal(t, stored, 60*time.Second)
	confirmed := 0
	for _, st := range statuses {
		if st == orderclient.OrderStatusCONFIRMED {
			confirmed++
		}
	}
	assert.Equal(t, len(stored), confirmed, "stock was plentiful: every stored order is confirmed")
	assert.Eventually(t, func() bool { return s.stock(t, productID) == initial-int32(confirmed) }, 5*time.Second, 50*time.Millisecond,
		"initial stock = stock + Σ confirmed")
}

// Redis refusing, then frozen, while orders stream in: no request fails, nothing is lost.
func TestRedisFaultsAreNotOnTheWritePath(t *testing.T) {
	redis := testkit.NewProxy(t, testkit.RedisAddr())
	s := startStack(t, func(p, o map[string]string) {
		p["REDIS_URL"], o["REDIS_URL"] = "redis://"+redis.Addr(), "redis://"+redis.Addr()
	})
	const stock = 100000
	p := s.createProduct(t, "RedisFaults", money.FromCents(100), stock)
	s.placeOrders(t, p.Id, 1, 1) // warm the price cache
	base := s.orderStream(t, p.Id, 100, 2*time.Second, nil)
	summary(t, "baseline", base)
	refusing := s.orderStream(t, p.Id, 100, 3*time.Second, func() { redis.Down(); time.Sleep(2500 * time.Millisecond); redis.Up() })
	summary(t, "redis refusing", refusing)
	frozen := s.orderStream(t, p.Id, 100, 3*time.Second, func() { redis.Freeze(); time.Sleep(2500 * time.Millisecond); redis.Thaw() })
	summary(t, "redis frozen", frozen)
	all := slices.Concat(base, refusing, frozen)
	for _, a := range all {
		assert.Equal(t, http.StatusCreated, a.status, "%s", a.key)
	}
	s.checkTruthful(t, p.Id, stock-1, all)
}

// Redis frozen while a product and its orders change; once Redis is back with its old
// contents, the first reads already show the writes.
func TestNoStaleReadAfterRedisReturnsWithOldContents(t *testing.T) {
	redis := testkit.NewProxy(t, testkit.RedisAddr())
	s := startStack(t, func(p, o map[string]string) {
		p["REDIS_URL"], o["REDIS_URL"] = "redis://"+redis.Addr(), "redis://"+redis.Addr()
	})
	ctx := context.Background()
	p := s.createProduct(t, "Before", money.FromCents(100), 50)
	s.placeOrders(t, p.Id, 1, 1)
	cached := func() (string, int) {
		gp, err := s.products.GetProductWithResponse(ctx, p.Id, &productclient.GetProductParams{})
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, gp.StatusCode())
		lo, err := s.orders.ListOrdersByProductWithResponse(ctx, p.Id, &orderclient.ListOrdersByProductParams{})
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, lo.StatusCode())
		return gp.JSON200.Name, len(*lo.JSON200)
	}
	require.Eventually(t, func() bool {
		cached()
		gp, _ := s.products.GetProductWithResponse(ctx, p.Id, &productclient.GetProductParams{})
		lo, _ := s.orders.ListOrdersByProductWithResponse(ctx, p.Id, &orderclient.ListOrdersByProductParams{})
		return gp.HTTPResponse.Header.Get("X-Cache") == "HIT" && lo.HTTPResponse.Header.Get("X-Cache") == "HIT"
	}, 10*time.Second, 100*time.Millisecond, "both caches hold the product and its page")

	redis.Freeze()
	name := "After"
	up, err := s.products.UpdateProductWithResponse(ctx, p.Id, &productclient.UpdateProductParams{}, productclient.ProductPatch{Name: &name})
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, up.StatusCode(), string(up.Body))
	s.placeOrders(t, p.Id, 3, 1)
	redis.Thaw()
	for range 5 {
		gotName, orders := cached()
		assert.Equal(t, "After", gotName, "the product as last written")
		assert.Equal(t, 4, orders, "the orders as last written")
	}
}

// MySQL frozen under order-service while orders stream in: every request is answered by its
// deadline, and every answer is the truth once MySQL thaws.
func TestFrozenDatabaseAnswersEveryOrderTruthfully(t *testing.T) {
	var mysqlProxy *testkit.Proxy
	s := startStack(t, orderMySQLViaProxy(t, &mysqlProxy))
	const stock = 100000
	p := s.createProduct(t, "MySQLFrozen", money.FromCents(100), stock)
	s.placeOrders(t, p.Id, 1, 1)
	answers := s.orderStream(t, p.Id, 100, 6*time.Second, func() {
		time.Sleep(time.Second)
		mysqlProxy.Freeze()
		time.Sleep(3 * time.Second)
		mysqlProxy.Thaw()
	})
	counts := summary(t, "mysql frozen 3 s", answers)
	assert.Positive(t, counts[http.StatusServiceUnavailable], "the freeze was felt")
	for _, a := range answers {
		assert.NotEqual(t, -1, a.status, "every request is answered")
		assert.Less(t, a.took, 5*time.Second, "answered by the write deadline, not when MySQL thaws (%s)", a.key)
	}
	s.checkTruthful(t, p.Id, stock-1, answers)
}

// order-service's connection cut right after COMMIT was sent, again and again while orders
// stream in: no stored order is answered with an error.
func TestCommitCutIsAnsweredTruthfully(t *testing.T) {
	var mysqlProxy *testkit.Proxy
	s := startStack(t, orderMySQLViaProxy(t, &mysqlProxy))
	const stock = 100000
	p := s.createProduct(t, "CommitCut", money.FromCents(100), stock)
	s.placeOrders(t, p.Id, 1, 1)
	answers := s.orderStream(t, p.Id, 50, 4*time.Second, func() {
		for range 10 {
			mysqlProxy.CutAfter([]byte("COMMIT"))
			time.Sleep(300 * time.Millisecond)
		}
	})
	summary(t, "commits cut", answers)
	assert.Positive(t, mysqlProxy.Cuts(), "connections were cut after COMMIT")
	s.checkTruthful(t, p.Id, stock-1, answers)
}

// Clients that give up mid-request: whatever was stored settles, nothing is doubled.
func TestClientsThatDisconnectLoseNothing(t *testing.T) {
	s := startStack(t)
	const stock = 100000
	p := s.createProduct(t, "Impatient", money.FromCents(100), stock)
	s.placeOrders(t, p.Id, 1, 1)
	var wg sync.WaitGroup
	answers := make([]answer, 60)
	for i := range answers {
		wg.Go(func() {
			key := fmt.Sprintf("impatient-%d", i)
			client := &http.Client{Timeout: time.Duration(1+i%20) * 10 * time.Millisecond}
			orders, err := orderclient.New(s.orderURL, orderclient.Options{HTTPClient: client})
			require.NoError(t, err)
			a := answer{key: key, status: -1}
			resp, err := orders.CreateOrderWithResponse(context.Background(), &orderclient.CreateOrderParams{IdempotencyKey: &key},
				orderclient.OrderInput{ProductId: p.Id, Qty: 1})
			if err == nil {
				a.status = resp.StatusCode()
				if resp.JSON201 != nil {
					a.id = resp.JSON201.Id
				}
			}
			answers[i] = a
		})
	}
	wg.Wait()
	gaveUp := 0
	for i, a := range answers {
		if a.status == -1 {
			gaveUp++
			answers[i].status = http.StatusInternalServerError // unanswered: either outcome is the truth
		}
	}
	t.Logf("%d of %d clients gave up before the answer", gaveUp, len(answers))
	s.checkTruthful(t, p.Id, stock-1, answers)
}

// orderMySQLViaProxy is a startStack option that puts a fault proxy, stored in *proxy, between
// order-service and MariaDB.
func orderMySQLViaProxy(t *testing.T, proxy **testkit.Proxy) func(p, o map[string]string) {
	return func(_, o map[string]string) {
		o["MYSQL_DSN"], *proxy = testkit.MySQLViaProxy(t, o["MYSQL_DSN"])
	}
}
