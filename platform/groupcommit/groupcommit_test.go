package groupcommit_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shopworks/shop/platform/groupcommit"
)

// recorder is an ApplyFunc that doubles its inputs, records every batch it saw and can be held
// at the start of a batch so that requests pile up behind it.
type recorder struct {
	mu      sync.Mutex
	batches [][]int
	hold    chan struct{} // when non-nil, every batch waits for a receive
	entered chan struct{} // signalled when a batch starts
	fail    func([]int) error
}

func (r *recorder) apply(_ context.Context, reqs []int) ([]int, error) {
	r.mu.Lock()
	r.batches = append(r.batches, append([]int(nil), reqs...))
	r.mu.Unlock()
	if r.entered != nil {
		r.entered <- struct{}{}
	}
	if r.hold != nil {
		<-r.hold
	}
	if r.fail != nil {
		if err := r.fail(reqs); err != nil {
			return nil, err
		}
	}
	out := make([]int, len(reqs))
	for i, v := range reqs {
		out[i] = 2 * v
	}
	return out, nil
}

func (r *recorder) seen() [][]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]int(nil), r.batches...)
}

func start[Req, Res any](t *testing.T, b *groupcommit.Batcher[Req, Res]) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = b.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// queueBehindHeldBatch starts a held first batch (request 0), then queues n more requests while it
// is held, and returns their outcomes once the hold is released.
func queueBehindHeldBatch(t *testing.T, r *recorder, b *groupcommit.Batcher[int, int], n int) (first result, rest []result) {
	t.Helper()
	r.hold, r.entered = make(chan struct{}), make(chan struct{}, 100)
	firstCh := make(chan result, 1)
	go func() { v, err := b.Do(context.Background(), 0); firstCh <- result{v, err} }()
	<-r.entered
	out := make(chan result, n)
	var wg sync.WaitGroup
	for i := 1; i <= n; i++ {
		wg.Add(1)
		go func(i int) { defer wg.Done(); v, err := b.Do(context.Background(), i); out <- result{v, err} }(i)
	}
	// The n requests are queued (the channel buffer holds MaxBatch) before the hold is released.
	require.Eventually(t, func() bool { return b.Queued() == n }, 10*time.Second, time.Millisecond)
	go func() {
		for range r.entered {
		}
	}()
	close(r.hold)
	wg.Wait()
	close(out)
	for res := range out {
		rest = append(rest, res)
	}
	return <-firstCh, rest
}

type result struct {
	v   int
	err error
}

func TestRequestsQueuedWhileABatchRunsShareTheNextBatch(t *testing.T) {
	r := &recorder{}
	b := groupcommit.New(r.apply, groupcommit.Options{MaxBatch: 16})
	start(t, b)

	first, rest := queueBehindHeldBatch(t, r, b, 10)
	require.NoError(t, first.err)
	assert.Equal(t, 0, first.v)
	got := map[int]bool{}
	for _, res := range rest {
		require.NoError(t, res.err)
		got[res.v] = true
	}
	for i := 1; i <= 10; i++ {
		assert.True(t, got[2*i], "request %d answered with its own result", i)
	}
	batches := r.seen()
	require.Len(t, batches, 2, "one held batch, then one batch of everything that queued meanwhile")
	assert.Len(t, batches[1], 10)
}

func TestBatchesAreCappedAtMaxBatch(t *testing.T) {
	r := &recorder{}
	b := groupcommit.New(r.apply, groupcommit.Options{MaxBatch: 4})
	start(t, b)
	_, rest := queueBehindHeldBatch(t, r, b, 4)
	require.Len(t, rest, 4)
	// Requests beyond the buffer queue up behind; no batch is ever larger than MaxBatch.
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() { defer wg.Done(); _, err := b.Do(context.Background(), i); assert.NoError(t, err) }()
	}
	wg.Wait()
	for _, batch := range r.seen() {
		assert.LessOrEqual(t, len(batch), 4)
	}
}

func TestAFailedBatchFailsEveryRequestOfIt(t *testing.T) {
	boom := errors.New("database gone")
	r := &recorder{fail: func([]int) error { return boom }}
	b := groupcommit.New(r.apply, groupcommit.Options{MaxBatch: 8})
	start(t, b)
	first, rest := queueBehindHeldBatch(t, r, b, 5)
	require.ErrorIs(t, first.err, boom)
	for _, res := range rest {
		assert.ErrorIs(t, res.err, boom)
	}
	assert.Len(t, r.seen(), 2, "no one-at-a-time replay without SplitOn")
}

func TestSplitOnReplaysOneAtATimeSoOneBadRequestFailsAlone(t *testing.T) {
	conflict := errors.New("conflict")
	r := &recorder{fail: func(reqs []int) error {
		for _, v := range reqs {
			if v == 3 {
				return fmt.Errorf("request 3: %w", conflict)
			}
		}
		return nil
	}}
	b := groupcommit.New(r.apply, groupcommit.Options{MaxBatch: 8, SplitOn: func(err error) bool { return errors.Is(err, conflict) }})
	start(t, b)
	_, rest := queueBehindHeldBatch(t, r, b, 5)
	failed := 0
	for _, res := range rest {
		if res.err != nil {
			failed++
			assert.ErrorIs(t, res.err, conflict)
			continue
		}
		assert.NotEqual(t, 6, res.v)
	}
	assert.Equal(t, 1, failed, "only request 3 fails")
	batches := r.seen()
	// held batch, the failed batch of 5, then 5 single replays
	require.Len(t, batches, 7)
	for _, batch := range batches[2:] {
		assert.Len(t, batch, 1)
	}
}

func TestAWrongResultCountIsAnErrorNotAMixUp(t *testing.T) {
	b := groupcommit.New(func(context.Context, []int) ([]int, error) { return []int{1, 2, 3}, nil }, groupcommit.Options{})
	start(t, b)
	_, err := b.Do(context.Background(), 1)
	require.ErrorContains(t, err, "result count")
}

func TestACallerThatLeftBeforeItsBatchIsNotApplied(t *testing.T) {
	r := &recorder{hold: make(chan struct{}), entered: make(chan struct{}, 10)}
	b := groupcommit.New(r.apply, groupcommit.Options{MaxBatch: 8})
	start(t, b)
	firstDone := make(chan error, 1)
	go func() { _, err := b.Do(context.Background(), 0); firstDone <- err }()
	<-r.entered
	ctx, cancel := context.WithCancel(context.Background())
	goneDone := make(chan error, 1)
	go func() { _, err := b.Do(ctx, 7); goneDone <- err }()
	require.Eventually(t, func() bool { return b.Queued() == 1 }, 10*time.Second, time.Millisecond)
	cancel()
	close(r.hold)
	require.NoError(t, <-firstDone)
	require.ErrorIs(t, <-goneDone, context.Canceled)
	// Request 7 never reached apply.
	_, err := b.Do(context.Background(), 1)
	require.NoError(t, err)
	for _, batch := range r.seen() {
		assert.NotContains(t, batch, 7)
	}
}

func TestStoppedBatcherAnswersErrStopped(t *testing.T) {
	r := &recorder{}
	b := groupcommit.New(r.apply, groupcommit.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = b.Run(ctx) }()
	v, err := b.Do(context.Background(), 21)
	require.NoError(t, err)
	assert.Equal(t, 42, v)
	cancel()
	<-done
	_, err = b.Do(context.Background(), 1)
	require.ErrorIs(t, err, groupcommit.ErrStopped)
	assert.Len(t, r.seen(), 1, "nothing is applied after Run returned")
}

func TestQueuedRequestsGetErrStoppedWhenRunStops(t *testing.T) {
	r := &recorder{}
	b := groupcommit.New(r.apply, groupcommit.Options{MaxBatch: 4})
	// Not running yet: requests wait in the queue.
	errs := make(chan error, 3)
	for i := range 3 {
		go func() { _, err := b.Do(context.Background(), i); errs <- err }()
	}
	require.Eventually(t, func() bool { return b.Queued() == 3 }, 10*time.Second, time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.NoError(t, b.Run(ctx))
	for range 3 {
		require.ErrorIs(t, <-errs, groupcommit.ErrStopped)
	}
	assert.Empty(t, r.seen())
}

func TestDoGivesUpWhenItsContextEndsBeforeItCanQueue(t *testing.T) {
	b := groupcommit.New(func(context.Context, []int) ([]int, error) { return nil, nil }, groupcommit.Options{MaxBatch: 1})
	// Not running: the buffer of one fills, the next caller cannot queue.
	go func() { _, _ = b.Do(context.Background(), 1) }()
	require.Eventually(t, func() bool { return b.Queued() == 1 }, 10*time.Second, time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := b.Do(ctx, 2)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	start(t, b)
}

func TestWorkersRunBatchesConcurrently(t *testing.T) {
	r := &recorder{hold: make(chan struct{}), entered: make(chan struct{}, 10)}
	b := groupcommit.New(r.apply, groupcommit.Options{MaxBatch: 8, Workers: 2})
	start(t, b)
	results := make(chan result, 2)
	for i := range 2 {
		go func() { v, err := b.Do(context.Background(), i+1); results <- result{v, err} }()
		<-r.entered // each request starts its own batch while the other is still held
	}
	close(r.hold)
	got := map[int]bool{}
	for range 2 {
		res := <-results
		require.NoError(t, res.err)
		got[res.v] = true
	}
	assert.Equal(t, map[int]bool{2: true, 4: true}, got)
}

func TestACallerWhoseDeadlinePassesWhileQueuedIsAnsweredAtOnceAndNeverApplied(t *testing.T) {
	r := &recorder{hold: make(chan struct{}), entered: make(chan struct{}, 10)}
	b := groupcommit.New(r.apply, groupcommit.Options{MaxBatch: 8})
	start(t, b)
	firstDone := make(chan error, 1)
	go func() { _, err := b.Do(context.Background(), 0); firstDone <- err }()
	<-r.entered // batch {0} is held: the database is "frozen"
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := b.Do(ctx, 7)
	require.ErrorIs(t, err, context.DeadlineExceeded, "answered while the held batch still runs")
	close(r.hold)
	require.NoError(t, <-firstDone)
	_, err = b.Do(context.Background(), 1)
	require.NoError(t, err)
	for _, batch := range r.seen() {
		assert.NotContains(t, batch, 7, "a withdrawn request is never applied")
	}
}

func TestABatchRunsUnderTheEarliestDeadlineOfItsRequests(t *testing.T) {
	var got time.Duration
	b := groupcommit.New(func(ctx context.Context, reqs []int) ([]int, error) {
		d, ok := ctx.Deadline()
		require.True(t, ok)
		got = time.Until(d)
		return reqs, nil
	}, groupcommit.Options{Timeout: time.Hour})
	start(t, b)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := b.Do(ctx, 1)
	require.NoError(t, err)
	assert.LessOrEqual(t, got, 5*time.Second, "the caller's deadline, not the one-hour cap")
	_, err = b.Do(context.Background(), 1)
	require.NoError(t, err)
	assert.Greater(t, got, 5*time.Second, "without a caller deadline the cap applies")
}

func TestDoAllAppliesEveryRequestAndAnswersInOrder(t *testing.T) {
	r := &recorder{}
	b := groupcommit.New(r.apply, groupcommit.Options{MaxBatch: 4})
	start(t, b)
	got, err := b.DoAll(context.Background(), []int{1, 2, 3, 4, 5, 6})
	require.NoError(t, err)
	assert.Equal(t, []int{2, 4, 6, 8, 10, 12}, got)
	failing := groupcommit.New(func(context.Context, []int) ([]int, error) { return nil, errors.New("boom") }, groupcommit.Options{})
	start(t, failing)
	_, err = failing.DoAll(context.Background(), []int{1, 2})
	require.ErrorContains(t, err, "boom")
}
