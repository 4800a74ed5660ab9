package outbox

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics belong to one Relay; relays sharing a registry share the collectors.
type metrics struct {
	backlog   prometheus.Gauge
	oldestAge prometheus.Gauge
	published prometheus.Counter
	failures  prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		backlog: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "shop_outbox_backlog",
			Help: "Outbox rows not yet published.",
		}),
		oldestAge: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "shop_outbox_oldest_age_seconds",
			Help: "Age of the oldest unpublished outbox row (0 when none).",
		}),
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "shop_outbox_published_total",
			Help: "Outbox rows published with confirm and deleted.",
		}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "shop_outbox_publish_failures_total",
			Help: "Relay batches whose publish failed and will be retried.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	if m.backlog, err = register(reg, m.backlog); err != nil {
		return m, err
	}
	if m.oldestAge, err = register(reg, m.oldestAge); err != nil {
		return m, err
	}
	if m.published, err = register(reg, m.published); err != nil {
		return m, err
	}
	if m.failures, err = register(reg, m.failures); err != nil {
		return m, err
	}
	return m, nil
}

// register registers c, or returns the identical collector registered before (several relays
// in one process) instead of failing.
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
	return c, fmt.Errorf("outbox: register metrics: %w", err)
}
