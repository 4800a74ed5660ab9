package e2e

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shopworks/shop/k6/loadtest"
	"github.com/shopworks/shop/platform/testkit"
)

// TestLoadSmoke is the short version of `make load` that runs in `make test`: 200 orders/s for
// 5 s through the Go load runner, then the invariant check. It asserts correctness, never
// latency: a change that loses or double-applies orders fails CI.
func TestLoadSmoke(t *testing.T) {
	s := startStack(t)
	shop, err := loadtest.NewShop(s.productURL, s.orderURL)
	require.NoError(t, err)
	ctx := context.Background()
	const stock = 999999
	productID, first, err := shop.Setup(ctx, stock)
	require.NoError(t, err)
	onResult, accepted := loadtest.OrderIDCollector()
	var progress bytes.Buffer
	sum := loadtest.Attack{Name: "smoke", StartRate: 200, Stages: []loadtest.Stage{{Duration: 5 * time.Second, Target: 200}},
		Targeter: loadtest.OrderTargeter(s.orderURL, productID, 1), Progress: &progress, OnResult: onResult}.Run(ctx)
	t.Log(progress.String())
	assert.InDelta(t, 1000, sum.Requests, 2, "the schedule is 1000 orders; the pacer may send one more")
	assert.Zero(t, sum.Failed, "status codes: %v", sum.StatusCodes)

	v, err := shop.Verify(ctx, productID, stock, append(accepted(), first), 30*time.Second)
	require.NoError(t, err, v.String())
	assert.Equal(t, len(accepted())+1, v.Confirmed)
	assert.NoError(t, loadtest.QueuesEmpty(testkit.RabbitURL(), loadtest.SagaQueues(s.queuePrefix), 10*time.Second))
	t.Log(v.String())
}
