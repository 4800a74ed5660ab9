package health_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/shopworks/shop/platform/httpx/health"
)

func TestReadinessNamesTheFailingDependency(t *testing.T) {
	up := func(context.Context) error { return nil }
	down := func(context.Context) error { return errors.New("connection refused") }
	slow := func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }

	status, res, ok := health.Readiness(context.Background(), []health.Check{
		{Name: "mysql", Required: true, Probe: up}, {Name: "redis", Probe: down}, {Name: "rabbitmq", Required: true, Probe: up},
	}, time.Second)
	assert.True(t, ok)
	assert.Equal(t, "degraded", status)
	assert.Equal(t, "degraded", res[1].Status)

	status, res, ok = health.Readiness(context.Background(), []health.Check{
		{Name: "mysql", Required: true, Probe: slow}, {Name: "redis", Probe: up},
	}, 50*time.Millisecond)
	assert.False(t, ok)
	assert.Equal(t, "unavailable", status)
	assert.Equal(t, "down", res[0].Status)
	assert.Contains(t, res[0].Error, "deadline")
}
