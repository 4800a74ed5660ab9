package amqpx_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shopworks/shop/platform/amqpx"
	"github.com/shopworks/shop/platform/amqpx/amqpxtest"
	"github.com/shopworks/shop/platform/testkit"
)

func TestReconnectsAfterOutage(t *testing.T) {
	e := newEnv(t)
	proxy := testkit.NewProxy(t, amqpxtest.HostPort(t, e.url))
	reg := prometheus.NewRegistry()
	c := e.dial(amqpxtest.WithHost(t, e.url, proxy.Addr()), reg)

	spec := amqpx.ConsumerSpec{Queue: e.queue(), Bindings: []string{"order.#"}}
	require.NoError(t, e.conn.DeclareTopology(spec))
	rec := newRecorder()
	e.consume(c, spec, func(_ context.Context, d amqpx.Delivery) error {
		rec.add(d)
		return nil
	})
	e.publish(c, "order.created", "before", `{}`)
	rec.wait(t, "before")
	require.NoError(t, c.Ready(context.Background()))

	proxy.Down()
	require.Eventually(t, func() bool { return c.Ready(context.Background()) != nil }, 10*time.Second, 10*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	err := c.Publish(ctx, []amqpx.Message{{RoutingKey: "order.created", MessageID: "during", Body: []byte(`{}`)}})
	cancel()
	require.Error(t, err)
	assert.ErrorIs(t, err, amqpx.ErrNotConnected)
	// The gauge follows once the reconnect loop has seen the close (Ready looks at the socket).
	require.Eventually(t, func() bool { return metric(t, reg, "shop_amqp_connected", nil) == 0 },
		5*time.Second, 10*time.Millisecond)

	proxy.Up()
	require.Eventually(t, func() bool { return c.Ready(context.Background()) == nil }, 15*time.Second, 20*time.Millisecond)
	e.publish(c, "order.created", "after", `{}`)
	rec.wait(t, "after") // the consumer re-subscribed on the new connection
	assert.Equal(t, 1.0, metric(t, reg, "shop_amqp_connected", nil))
	assert.GreaterOrEqual(t, metric(t, reg, "shop_amqp_reconnects_total", nil), 1.0)
}

// A publish whose connection dies before the confirm arrives must fail, not hang or succeed.
func TestPublishInFlightDuringOutageFails(t *testing.T) {
	e := newEnv(t)
	proxy := testkit.NewProxy(t, amqpxtest.HostPort(t, e.url))
	c := e.dial(amqpxtest.WithHost(t, e.url, proxy.Addr()), nil)

	var failed atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		body := make([]byte, 64<<10)
		for i := 0; i < 200 && !failed.Load(); i++ {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			msgs := make([]amqpx.Message, 20)
			for j := range msgs {
				msgs[j] = amqpx.Message{RoutingKey: "bulk", MessageID: "b", Body: body}
			}
			if c.Publish(ctx, msgs) != nil {
				failed.Store(true)
			}
			cancel()
		}
	}()
	time.Sleep(50 * time.Millisecond)
	proxy.Down()
	<-done
	assert.True(t, failed.Load(), "some publish must report the outage")
	proxy.Up()
	require.Eventually(t, func() bool { return c.Ready(context.Background()) == nil }, 15*time.Second, 20*time.Millisecond)
}
