package amqpx

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Outcomes of a consumed message, the values of the "outcome" label.
const (
	outcomeOK           = "ok"
	outcomeRetried      = "retried"       // one failed attempt that will be retried in-process
	outcomeDeadLettered = "dead_lettered" // moved to the DLQ
	outcomeRequeued     = "requeued"      // DLQ publish failed or shutdown: back to the queue
)

// metrics belong to one Conn; two Conns on one registry share the collectors.
type metrics struct {
	published  *prometheus.CounterVec
	consumed   *prometheus.CounterVec
	connected  prometheus.Gauge
	reconnects prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		published: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shop_events_published_total",
			Help: "Events published and confirmed by the broker.",
		}, []string{"routing_key"}),
		consumed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shop_events_consumed_total",
			Help: "Handler outcomes per consumer queue (ok, retried, dead_lettered, requeued, dropped).",
		}, []string{"queue", "outcome"}),
		connected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "shop_amqp_connected",
			Help: "1 while the AMQP connection is up.",
		}),
		reconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "shop_amqp_reconnects_total",
			Help: "Successful AMQP connections after the first one.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	if m.published, err = register(reg, m.published); err != nil {
		return nil, err
	}
	if m.consumed, err = register(reg, m.consumed); err != nil {
		return nil, err
	}
	if m.connected, err = register(reg, m.connected); err != nil {
		return nil, err
	}
	if m.reconnects, err = register(reg, m.reconnects); err != nil {
		return nil, err
	}
	return m, nil
}

// register registers c, or returns the identical collector registered before (a second Conn in
// the same process, or a test creating several), instead of failing.
func register[T prometheus.Collector](reg prometheus.Registerer, c T) (T, error) {
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(T); ok {
			return existing, nil
		}
	}
	return c, fmt.Errorf("amqpx: register metrics: %w", err)
}
