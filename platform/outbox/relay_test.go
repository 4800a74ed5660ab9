package outbox_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shopworks/shop/platform/amqpx"
	"github.com/shopworks/shop/platform/amqpx/amqpxtest"
	"github.com/shopworks/shop/platform/outbox"
	"github.com/shopworks/shop/platform/testkit"
)

func TestRelayPublishesCommittedEventsOnce(t *testing.T) {
	db, b := testDB(t), newBroker(t)
	s := b.sink()
	reg := prometheus.NewRegistry()
	relay := outbox.NewRelay(db, b.conn, fastOptions(), amqpxtest.Logger(t), reg)

	committed := addEvents(t, db, "ok", 3)
	ctx := context.Background()
	tx, err := db.BeginTx(ctx, nil)
	require.NoError(t, err)
	require.NoError(t, outbox.Add(ctx, tx, outbox.Event{ID: "rolled-back", RoutingKey: "order.created", Payload: []byte(`{}`)}))
	require.NoError(t, tx.Rollback())

	stop := run(t, relay)
	relay.Notify()
	s.waitUnique(t, 3)
	stop() // after Run returned, nothing else can be published

	counts, total := s.snapshot()
	assert.Equal(t, 3, total, "each event exactly once: %v", counts)
	assert.NotContains(t, counts, "rolled-back")
	for _, e := range committed {
		assert.Equal(t, 1, counts[e.ID])
		d := s.last[e.ID]
		assert.Equal(t, "req-ok", d.CorrelationId)
		assert.Equal(t, "order.created", d.RoutingKey)
		assert.Equal(t, "order.created", d.Type)
		assert.Equal(t, "application/json", d.ContentType)
		assert.Equal(t, amqp.Persistent, d.DeliveryMode)
		assert.JSONEq(t, string(e.Payload), string(d.Body))
		assert.WithinDuration(t, time.Now(), d.Timestamp, time.Minute)
	}
	assert.Zero(t, backlog(t, relay))
	var left int
	require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM outbox").Scan(&left))
	assert.Zero(t, left, "published rows are deleted")
	assert.Equal(t, 3.0, gauge(t, reg, "shop_outbox_published_total"))
}

func TestTwoRelaysPublishEachEventExactlyOnce(t *testing.T) {
	db, b := testDB(t), newBroker(t)
	s := b.sink()
	opts := fastOptions()
	opts.BatchSize = 25 // many small batches, so the relays really interleave
	relays := []*outbox.Relay{
		outbox.NewRelay(db, b.conn, opts, amqpxtest.Logger(t), nil),
		outbox.NewRelay(db, b.dial(b.url), opts, amqpxtest.Logger(t), nil),
	}
	stops := []func(){run(t, relays[0]), run(t, relays[1])}

	const txs, perTx = 10, 50
	for i := range txs {
		addEvents(t, db, fmt.Sprintf("tx%d", i), perTx)
		for _, r := range relays {
			r.Notify()
		}
	}
	s.waitUnique(t, txs*perTx)
	for _, stop := range stops {
		stop()
	}

	counts, total := s.snapshot()
	assert.Len(t, counts, txs*perTx)
	assert.Equal(t, txs*perTx, total, "no event may be published twice")
	for id, n := range counts {
		if n != 1 {
			t.Errorf("event %s published %d times", id, n)
		}
	}
	assert.Zero(t, backlog(t, relays[0]))
}

func TestRelaySurvivesBrokerOutage(t *testing.T) {
	db, b := testDB(t), newBroker(t)
	s := b.sink()
	proxy := testkit.NewProxy(t, amqpxtest.HostPort(t, b.url))
	viaProxy := b.dial(amqpxtest.WithHost(t, b.url, proxy.Addr()))
	reg := prometheus.NewRegistry()
	relay := outbox.NewRelay(db, viaProxy, fastOptions(), amqpxtest.Logger(t), reg)
	run(t, relay)

	proxy.Down()
	require.Eventually(t, func() bool { return viaProxy.Ready(context.Background()) != nil }, 10*time.Second, 10*time.Millisecond)

	const n = 50
	addEvents(t, db, "outage", n) // the business transaction commits while the broker is away
	relay.Notify()
	require.Eventually(t, func() bool { return gauge(t, reg, "shop_outbox_publish_failures_total") >= 2 },
		10*time.Second, 10*time.Millisecond, "the relay keeps retrying")
	assert.Equal(t, n, backlog(t, relay))
	require.Eventually(t, func() bool { return gauge(t, reg, "shop_outbox_backlog") == n }, 5*time.Second, 10*time.Millisecond)
	assert.Positive(t, gauge(t, reg, "shop_outbox_oldest_age_seconds"))
	var attempts int
	require.NoError(t, db.QueryRow("SELECT MIN(attempts) FROM outbox").Scan(&attempts))
	assert.Positive(t, attempts, "failed publishes are counted on the rows")
	_, total := s.snapshot()
	assert.Zero(t, total)

	proxy.Up()
	s.waitUnique(t, n)
	require.Eventually(t, func() bool { return backlog(t, relay) == 0 }, 10*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool { return gauge(t, reg, "shop_outbox_backlog") == 0 }, 5*time.Second, 10*time.Millisecond)
	counts, total := s.snapshot()
	assert.Len(t, counts, n)
	assert.Equal(t, n, total)
}

func TestRelayFlushesPendingEventsOnShutdown(t *testing.T) {
	db, b := testDB(t), newBroker(t)
	s := b.sink()
	relay := outbox.NewRelay(db, b.conn, outbox.RelayOptions{PollInterval: time.Hour}, amqpxtest.Logger(t), nil)
	stop := run(t, relay)
	time.Sleep(100 * time.Millisecond) // let the first (empty) iteration pass; not a timing assertion

	addEvents(t, db, "late", 5) // no Notify: only the shutdown flush can publish these now
	stop()
	s.waitUnique(t, 5)
	assert.Zero(t, backlog(t, relay))
}

// The relay holds its row locks while it waits for confirms; new business transactions must
// still be able to insert outbox rows meanwhile (no gap locks).
func TestAddIsNotBlockedByAnInFlightBatch(t *testing.T) {
	db, b := testDB(t), newBroker(t)
	s := b.sink()
	gate := &gatedPublisher{inner: b.conn, entered: make(chan struct{}, 1), release: make(chan struct{})}
	relay := outbox.NewRelay(db, gate, fastOptions(), amqpxtest.Logger(t), nil)
	addEvents(t, db, "first", 3)
	run(t, relay)
	select {
	case <-gate.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("relay never published")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	tx, err := db.BeginTx(ctx, nil)
	require.NoError(t, err)
	require.NoError(t, outbox.Add(ctx, tx, outbox.Event{ID: "second", RoutingKey: "order.created", Payload: []byte(`{}`)}),
		"insert blocked by the relay's locks")
	require.NoError(t, tx.Commit())

	close(gate.release)
	relay.Notify()
	s.waitUnique(t, 4)
}

// gatedPublisher publishes through the real Conn but holds the first batch until released.
type gatedPublisher struct {
	inner   *amqpx.Conn
	entered chan struct{}
	release chan struct{}
}

func (g *gatedPublisher) Publish(ctx context.Context, msgs []amqpx.Message) error {
	select {
	case g.entered <- struct{}{}:
	default:
	}
	select {
	case <-g.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return g.inner.Publish(ctx, msgs)
}

// countingPublisher records the size of every batch it forwards.
type countingPublisher struct {
	next  outbox.Publisher
	mu    sync.Mutex
	sizes []int
}

func (p *countingPublisher) Publish(ctx context.Context, msgs []amqpx.Message) error {
	p.mu.Lock()
	p.sizes = append(p.sizes, len(msgs))
	p.mu.Unlock()
	return p.next.Publish(ctx, msgs)
}

func (p *countingPublisher) batches() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]int(nil), p.sizes...)
}

// With a Linger, the events of commits made shortly after a Notify go out with the notified one
// in one batch (one claim, one publish round, one mark) instead of one batch per commit.
func TestRelayLingerGathersTheCommitsOfTheLingerIntoOneBatch(t *testing.T) {
	db, b := testDB(t), newBroker(t)
	s := b.sink()
	pub := &countingPublisher{next: b.conn}
	// Long poll interval: only Notify wakes the relay. The linger is far longer than the ~50 ms
	// the five commits take, so the batching does not depend on the machine's speed.
	relay := outbox.NewRelay(db, pub, outbox.RelayOptions{PollInterval: time.Minute, Linger: 2 * time.Second}, amqpxtest.Logger(t), nil)
	run(t, relay)
	for i := range 5 {
		addEvents(t, db, fmt.Sprintf("linger%d", i), 1)
		relay.Notify()
		time.Sleep(10 * time.Millisecond)
	}
	s.waitUnique(t, 5)
	// One batch of five; two if the relay's first claim at start raced the first commit.
	sizes := pub.batches()
	assert.LessOrEqual(t, len(sizes), 2, "batches: %v", sizes)
	sum := 0
	for _, n := range sizes {
		sum += n
	}
	assert.Equal(t, 5, sum, "batches: %v", sizes)
	_, total := s.snapshot()
	assert.Equal(t, 5, total, "each event once")
}
