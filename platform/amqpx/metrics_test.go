package amqpx_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/shopworks/shop/platform/amqpx"
	"github.com/shopworks/shop/platform/testkit"
)

func TestDialRefusesAConflictingMetricsRegistry(t *testing.T) {
	for _, name := range []string{"shop_events_published_total", "shop_events_consumed_total", "shop_amqp_connected", "shop_amqp_reconnects_total"} {
		reg := prometheus.NewRegistry()
		reg.MustRegister(prometheus.NewSummary(prometheus.SummaryOpts{Name: name, Help: "something else"}))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c, err := amqpx.Dial(ctx, amqpx.Config{URL: testkit.RabbitURL(), Exchange: "unused"}, nil, reg)
		cancel()
		if c != nil {
			c.Close()
		}
		require.ErrorContains(t, err, "register metrics", name)
	}
}

func TestDialRefusesABadConfigWithoutLeakingThePassword(t *testing.T) {
	ctx := context.Background()
	_, err := amqpx.Dial(ctx, amqpx.Config{URL: "amqp://user:s3cret@host:5672/%zz", Exchange: "x"}, nil, nil)
	require.ErrorContains(t, err, "not a URL")
	require.NotContains(t, err.Error(), "s3cret")
	_, err = amqpx.Dial(ctx, amqpx.Config{Exchange: "x"}, nil, nil)
	require.ErrorContains(t, err, "URL is empty")
	_, err = amqpx.Dial(ctx, amqpx.Config{URL: testkit.RabbitURL()}, nil, nil)
	require.ErrorContains(t, err, "Exchange is empty")
}
