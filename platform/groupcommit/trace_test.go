package groupcommit_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/shopworks/shop/platform/groupcommit"
)

// Each caller's wait is a span of its own request's trace, linked to the batch that applied it;
// a batch is a trace of its own, linked to every wait it served, and the apply runs in it.
func TestWaitsAndBatchesAreTracedAndLinked(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	r := &recorder{hold: make(chan struct{}), entered: make(chan struct{}, 100)}
	applied := make(chan trace.SpanContext, 10)
	apply := func(ctx context.Context, reqs []int) ([]int, error) {
		applied <- trace.SpanContextFromContext(ctx)
		return r.apply(ctx, reqs)
	}
	b := groupcommit.New(apply, groupcommit.Options{MaxBatch: 16, Name: "orders.create", TracerProvider: tp})
	start(t, b)

	tracer := tp.Tracer("test")
	requests := make([]trace.SpanContext, 4)
	var wg sync.WaitGroup
	for i := range requests {
		ctx, span := tracer.Start(context.Background(), "request")
		requests[i] = span.SpanContext()
		wg.Go(func() {
			defer span.End()
			_, err := b.Do(ctx, i)
			assert.NoError(t, err)
		})
		if i == 0 {
			<-r.entered // the first request's batch is held: the others queue behind it
		}
	}
	require.Eventually(t, func() bool { return b.Queued() == 3 }, 10*time.Second, time.Millisecond)
	go func() {
		for range r.entered {
		}
	}()
	close(r.hold)
	wg.Wait()

	var waits, batches []tracetest.SpanStub
	for _, s := range exp.GetSpans() {
		switch s.Name {
		case "orders.create wait":
			waits = append(waits, s)
		case "orders.create batch":
			batches = append(batches, s)
		}
	}
	require.Len(t, waits, 4)
	require.Len(t, batches, 2, "one held batch, one of the three that queued")
	byID := map[trace.SpanID]tracetest.SpanStub{}
	for _, s := range batches {
		assert.False(t, s.Parent.IsValid(), "a batch is a trace of its own")
		byID[s.SpanContext.SpanID()] = s
	}
	assert.Len(t, batches[1].Links, 3, "linked to each wait it served")
	assert.Contains(t, batches[1].Attributes, attribute.Int("groupcommit.batch.size", 3))
	assert.Equal(t, batches[0].SpanContext, <-applied, "apply runs in the batch's span")
	traces := map[trace.TraceID]bool{}
	for _, r := range requests {
		traces[r.TraceID()] = true
	}
	for _, w := range waits {
		assert.True(t, traces[w.SpanContext.TraceID()], "a wait belongs to its request's trace")
		require.Len(t, w.Links, 1)
		_, ok := byID[w.Links[0].SpanContext.SpanID()]
		assert.True(t, ok, "a wait links to the batch that applied it")
	}
}

func TestAFailedBatchIsAnErrorOnItsSpans(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	r := &recorder{fail: func([]int) error { return errors.New("database gone") }}
	b := groupcommit.New(r.apply, groupcommit.Options{TracerProvider: tp})
	start(t, b)
	_, err := b.DoAll(context.Background(), []int{1, 2})
	require.Error(t, err)
	spans := exp.GetSpans()
	require.NotEmpty(t, spans)
	for _, s := range spans {
		assert.Equal(t, codes.Error, s.Status.Code, s.Name)
	}
}
