package amqpx_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

	"github.com/shopworks/shop/platform/amqpx"
	"github.com/shopworks/shop/platform/amqpx/amqpxtest"
)

// env is one test's exchange, connection, registry and the queues to delete afterwards.
type env struct {
	t        *testing.T
	url      string
	exchange string
	conn     *amqpx.Conn
	reg      *prometheus.Registry
}

func newEnv(t *testing.T) *env {
	t.Helper()
	url := amqpxtest.URL(t)
	e := &env{t: t, url: url, exchange: amqpxtest.Name("test_amqpx"), reg: prometheus.NewRegistry()}
	e.conn = e.dial(url, e.reg)
	t.Cleanup(func() {
		// Runs before the Conn's Close (cleanups are LIFO).
		for _, x := range []string{e.exchange, e.exchange + ".dlx"} {
			if err := e.conn.DeleteExchange(x); err != nil {
				t.Logf("cleanup: %v", err)
			}
		}
	})
	return e
}

// dial opens another Conn on the test exchange (e.g. through a proxy).
func (e *env) dial(url string, reg prometheus.Registerer) *amqpx.Conn {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := amqpx.Dial(ctx, amqpx.Config{URL: url, Exchange: e.exchange, ConnectionName: e.t.Name(),
		DialTimeout: 2 * time.Second}, amqpxtest.Logger(e.t), reg)
	require.NoError(e.t, err)
	e.t.Cleanup(func() { require.NoError(e.t, c.Close()) })
	return c
}

// queue returns a fresh queue name whose queue and DLQ are deleted after the test.
func (e *env) queue() string {
	q := amqpxtest.Name("test_amqpx_q")
	e.t.Cleanup(func() {
		for _, name := range []string{q, q + ".dlq"} {
			if err := e.conn.DeleteQueue(name); err != nil {
				e.t.Logf("cleanup: %v", err)
			}
		}
	})
	return q
}

// consume runs c.Consume in a goroutine until the test ends and checks that it returned nil.
func (e *env) consume(c *amqpx.Conn, spec amqpx.ConsumerSpec, h amqpx.Handler) {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Consume(ctx, spec, h) }()
	e.t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(e.t, err)
		case <-time.After(15 * time.Second):
			e.t.Error("Consume did not return after cancel")
		}
	})
}

// publish publishes one JSON message and requires the confirm.
func (e *env) publish(c *amqpx.Conn, key, id, body string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(e.t, c.Publish(ctx, []amqpx.Message{{RoutingKey: key, MessageID: id, CorrelationID: "corr-" + id, Body: []byte(body)}}))
}

// rawChannel opens a plain amqp091 channel for assertions the Conn API does not expose.
func (e *env) rawChannel() *amqp.Channel {
	e.t.Helper()
	conn, err := amqp.DialConfig(e.url, amqp.Config{Dial: amqp.DefaultDial(2 * time.Second)})
	require.NoError(e.t, err)
	e.t.Cleanup(func() { _ = conn.Close() })
	ch, err := conn.Channel()
	require.NoError(e.t, err)
	return ch
}

// getOne waits for one message in queue and returns it acked.
func (e *env) getOne(ch *amqp.Channel, queue string) amqp.Delivery {
	e.t.Helper()
	var got amqp.Delivery
	require.Eventually(e.t, func() bool {
		d, ok, err := ch.Get(queue, true)
		require.NoError(e.t, err)
		got = d
		return ok
	}, 10*time.Second, 20*time.Millisecond, "no message in %s", queue)
	return got
}

// metric returns the value of a counter or gauge with exactly these labels (0 if absent).
func metric(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) != len(labels) {
				continue
			}
			for _, lp := range m.GetLabel() {
				if labels[lp.GetName()] != lp.GetValue() {
					continue next
				}
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

// recorder collects handled deliveries for assertions.
type recorder struct {
	mu   sync.Mutex
	got  []amqpx.Delivery
	seen chan string
}

func newRecorder() *recorder { return &recorder{seen: make(chan string, 1000)} }

func (r *recorder) add(d amqpx.Delivery) {
	r.mu.Lock()
	r.got = append(r.got, d)
	r.mu.Unlock()
	r.seen <- d.MessageID
}

// wait returns once a delivery with message id id was recorded.
func (r *recorder) wait(t *testing.T, id string) {
	t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		select {
		case got := <-r.seen:
			if got == id {
				return
			}
		case <-timeout:
			t.Fatalf("message %q not handled in time", id)
		}
	}
}

var errBoom = errors.New("boom")
