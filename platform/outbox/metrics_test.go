package outbox_test

import (
	"bytes"
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shopworks/shop/platform/outbox"
)

func TestTwoRelaysInOneProcessShareTheirMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	outbox.NewRelay(nil, nil, outbox.RelayOptions{}, log, reg)
	outbox.NewRelay(nil, nil, outbox.RelayOptions{}, log, reg)
	families, err := reg.Gather()
	require.NoError(t, err)
	names := map[string]int{}
	for _, f := range families {
		names[f.GetName()]++
	}
	assert.Equal(t, map[string]int{"shop_outbox_backlog": 1, "shop_outbox_oldest_age_seconds": 1,
		"shop_outbox_published_total": 1, "shop_outbox_publish_failures_total": 1}, names)
	assert.NotContains(t, logs.String(), "not registered")
}

func TestAConflictingMetricIsLoggedNotFatal(t *testing.T) {
	for _, name := range []string{"shop_outbox_backlog", "shop_outbox_oldest_age_seconds", "shop_outbox_published_total", "shop_outbox_publish_failures_total"} {
		reg := prometheus.NewRegistry()
		// Same name, another type: the registry refuses the relay's collector.
		reg.MustRegister(prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: "something else"}, []string{"x"}))
		var logs bytes.Buffer
		r := outbox.NewRelay(nil, nil, outbox.RelayOptions{}, slog.New(slog.NewTextHandler(&logs, nil)), reg)
		require.NotNil(t, r)
		assert.Contains(t, logs.String(), "outbox metrics not registered", name)
	}
}
