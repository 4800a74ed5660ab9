package outbox_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/prometheus/client_golang/prometheus"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

	"github.com/shopworks/shop/platform/amqpx"
	"github.com/shopworks/shop/platform/amqpx/amqpxtest"
	"github.com/shopworks/shop/platform/outbox"
	"github.com/shopworks/shop/platform/testkit"
)

const defaultMySQLDSN = "root@tcp(127.0.0.1:3306)/"

// testDB creates a database of its own with the outbox table and drops it after the test.
func testDB(t *testing.T) *sql.DB {
	t.Helper()
	dsn := os.Getenv("MYSQL_TEST_DSN")
	if dsn == "" {
		dsn = defaultMySQLDSN
	}
	cfg, err := mysql.ParseDSN(dsn)
	require.NoError(t, err, "MYSQL_TEST_DSN")
	cfg.Timeout = 2 * time.Second
	cfg.DBName = ""
	admin := openDB(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		testkit.Unavailable(t, "MySQL at "+cfg.Addr, err)
	}
	name := amqpxtest.Name("test_outbox")
	_, err = admin.ExecContext(ctx, "CREATE DATABASE `"+name+"`")
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP DATABASE `"+name+"`"); err != nil {
			t.Errorf("drop test database: %v", err)
		}
	})
	cfg.DBName = name
	cfg.MultiStatements, cfg.InterpolateParams = true, true // the relay's pool, as dbx.Open makes it
	db := openDB(t, cfg)                                    // closed before the DROP (cleanups are LIFO)
	_, err = db.ExecContext(ctx, outbox.TableDDL)
	require.NoError(t, err)
	return db
}

func openDB(t *testing.T, cfg *mysql.Config) *sql.DB {
	t.Helper()
	connector, err := mysql.NewConnector(cfg)
	require.NoError(t, err)
	db := sql.OpenDB(connector)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// broker is one test's exchange and Conns.
type broker struct {
	t        *testing.T
	url      string
	exchange string
	conn     *amqpx.Conn
}

func newBroker(t *testing.T) *broker {
	t.Helper()
	b := &broker{t: t, url: amqpxtest.URL(t), exchange: amqpxtest.Name("test_outbox")}
	b.conn = b.dial(b.url)
	t.Cleanup(func() {
		for _, x := range []string{b.exchange, b.exchange + ".dlx"} {
			if err := b.conn.DeleteExchange(x); err != nil {
				t.Logf("cleanup: %v", err)
			}
		}
	})
	return b
}

func (b *broker) dial(url string) *amqpx.Conn {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := amqpx.Dial(ctx, amqpx.Config{URL: url, Exchange: b.exchange, ConnectionName: b.t.Name(),
		DialTimeout: 2 * time.Second}, amqpxtest.Logger(b.t), nil)
	require.NoError(b.t, err)
	b.t.Cleanup(func() { _ = c.Close() })
	return c
}

// sink counts every message published on the test exchange, by message_id.
type sink struct {
	mu     sync.Mutex
	counts map[string]int
	last   map[string]amqp.Delivery
}

func (b *broker) sink() *sink {
	t := b.t
	t.Helper()
	conn, err := amqp.DialConfig(b.url, amqp.Config{Dial: amqp.DefaultDial(2 * time.Second)})
	require.NoError(t, err)
	ch, err := conn.Channel()
	require.NoError(t, err)
	q, err := ch.QueueDeclare("", false, true, true, false, nil) // exclusive: deleted with conn
	require.NoError(t, err)
	require.NoError(t, ch.QueueBind(q.Name, "#", b.exchange, false, nil))
	deliveries, err := ch.Consume(q.Name, "", true, true, false, false, nil)
	require.NoError(t, err)
	s := &sink{counts: map[string]int{}, last: map[string]amqp.Delivery{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for d := range deliveries {
			s.mu.Lock()
			s.counts[d.MessageId]++
			s.last[d.MessageId] = d
			s.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = conn.Close()
		<-done
	})
	return s
}

// waitUnique waits until n distinct message ids arrived.
func (s *sink) waitUnique(t *testing.T, n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.counts) >= n
	}, 30*time.Second, 10*time.Millisecond, "expected %d distinct messages", n)
}

// snapshot returns the counts by message id and the total number of messages.
func (s *sink) snapshot() (map[string]int, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.counts))
	total := 0
	for k, v := range s.counts {
		out[k] = v
		total += v
	}
	return out, total
}

// run runs relay.Run until the test ends (or stop is called) and checks it returned nil.
func run(t *testing.T, relay *outbox.Relay) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- relay.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				require.NoError(t, err)
			case <-time.After(30 * time.Second):
				t.Error("Relay.Run did not return after cancel")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// addEvents commits n events with ids prefix-0..n-1 in one transaction.
func addEvents(t *testing.T, db *sql.DB, prefix string, n int) []outbox.Event {
	t.Helper()
	events := make([]outbox.Event, n)
	for i := range events {
		id := fmt.Sprintf("%s-%d", prefix, i)
		events[i] = outbox.Event{ID: id, RoutingKey: "order.created", Payload: []byte(`{"eventId":"` + id + `"}`), CorrelationID: "req-" + prefix}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tx, err := db.BeginTx(ctx, nil)
	require.NoError(t, err)
	require.NoError(t, outbox.Add(ctx, tx, events...))
	require.NoError(t, tx.Commit())
	return events
}

// gauge returns a metric's value from reg (0 if absent).
func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			m := mf.GetMetric()[0]
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

func fastOptions() outbox.RelayOptions {
	return outbox.RelayOptions{PollInterval: 50 * time.Millisecond, RetryDelay: 50 * time.Millisecond, MaxBackoff: 300 * time.Millisecond}
}

func backlog(t *testing.T, relay *outbox.Relay) int {
	t.Helper()
	n, err := relay.Backlog(context.Background())
	require.NoError(t, err)
	return n
}
