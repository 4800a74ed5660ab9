// Package groupcommit owns group commit: concurrent callers queue one request each, a single
// loop applies whatever queued while the previous batch ran in one call (typically one database
// transaction), and each caller gets its own result. Under load this turns N transactions, N
// commits and N round trips of bookkeeping into one, without delaying a lone request: a batch
// never waits for more requests to arrive.
//
// Tracing (Options.TracerProvider): each caller's wait is a span of its request's trace, and each
// batch a span of a trace of its own, linked to the waits it applies (a batch serves many
// traces); each wait links back to the batch that applied it.
//
// Deadlines are the callers': a request whose context ends while it is still queued is withdrawn
// and never applied (Do returns the context's error, which therefore always means "not applied"),
// and a batch runs under the earliest deadline of its requests (capped by Options.Timeout), so a
// stuck database answers every caller by its deadline instead of holding the queue.
package groupcommit

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"
)

// ErrStopped is returned to callers whose request was still queued when the batcher stopped.
var ErrStopped = errors.New("groupcommit: batcher stopped")

// ApplyFunc applies a batch and returns one result per request, in order. An error fails the
// whole batch (nothing of it may have been committed).
type ApplyFunc[Req, Res any] func(ctx context.Context, reqs []Req) ([]Res, error)

// Options tune a Batcher; zero values mean the defaults.
type Options struct {
	MaxBatch int // requests per batch; default 64
	// Workers is how many batches may run at once (each on its own connection); default 1.
	// More than one keeps throughput up when a batch's round trips, not its commit, are the
	// limit; requests of concurrent batches must not conflict with each other.
	Workers int
	// Timeout bounds one ApplyFunc call; default 10 s. A batch whose requests have earlier
	// deadlines runs under the earliest of them.
	Timeout time.Duration
	// SplitOn says whether a failed batch of several requests is replayed one request at a
	// time (an error one request can cause, such as a conflict), so it cannot fail the others.
	// nil: never; every request of a failed batch gets the batch's error.
	SplitOn func(error) bool
	// Name names the spans: "<Name> wait" per caller, "<Name> batch" per batch.
	Name string
	// TracerProvider, when not nil, traces the waits and batches; nil is tracing off.
	TracerProvider trace.TracerProvider
}

// Batcher queues requests and applies them in batches. Run must be running for Do to return.
type Batcher[Req, Res any] struct {
	in      chan pending[Req, Res]
	apply   ApplyFunc[Req, Res]
	opts    Options
	stopped chan struct{} // closed when Run returns
	tracer  trace.Tracer  // nil: tracing off
}

type pending[Req, Res any] struct {
	ctx   context.Context
	req   Req
	done  chan outcome[Res]
	state *atomic.Int32 // queued → taken (by a batch) or withdrawn (by its caller); never both
}

const (
	queued int32 = iota
	taken
	withdrawn
)

type outcome[Res any] struct {
	res   Res
	err   error
	batch trace.SpanContext // the batch's span, when traced
}

// New returns a Batcher over apply.
func New[Req, Res any](apply ApplyFunc[Req, Res], opts Options) *Batcher[Req, Res] {
	if opts.MaxBatch < 1 {
		opts.MaxBatch = 64
	}
	if opts.Workers < 1 {
		opts.Workers = 1
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.Name == "" {
		opts.Name = "groupcommit"
	}
	b := &Batcher[Req, Res]{in: make(chan pending[Req, Res], opts.MaxBatch*opts.Workers), apply: apply, opts: opts, stopped: make(chan struct{})}
	if opts.TracerProvider != nil {
		b.tracer = opts.TracerProvider.Tracer(instrumentation)
	}
	return b
}

// Do queues req and waits for the batch that applies it. When ctx ends before a batch took req,
// req is withdrawn and ctx's error returned: it is certainly not applied. Once its batch runs,
// Do waits for the outcome (the batch runs under ctx's deadline at the latest), so a nil error
// always means applied and a context error always means not applied.
func (b *Batcher[Req, Res]) Do(ctx context.Context, req Req) (Res, error) {
	if b.tracer != nil {
		var span trace.Span
		ctx, span = b.startWait(ctx, 1)
		defer span.End()
	}
	p, err := b.enqueue(ctx, req)
	if err != nil {
		var zero Res
		return zero, err
	}
	return b.await(ctx, p)
}

// DoAll is Do for several requests of one caller, queued back to back so that they usually share
// a batch; it returns their results in order, or the first error (each request's outcome is its
// own, as with separate Do calls: others may have been applied).
func (b *Batcher[Req, Res]) DoAll(ctx context.Context, reqs []Req) ([]Res, error) {
	if b.tracer != nil {
		var span trace.Span
		ctx, span = b.startWait(ctx, len(reqs))
		defer span.End()
	}
	ps := make([]pending[Req, Res], 0, len(reqs))
	var qerr error
	for _, r := range reqs {
		p, err := b.enqueue(ctx, r)
		if err != nil {
			qerr = err
			break
		}
		ps = append(ps, p)
	}
	out := make([]Res, len(reqs))
	errs := []error{qerr}
	for i, p := range ps {
		var err error
		if out[i], err = b.await(ctx, p); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

func (b *Batcher[Req, Res]) enqueue(ctx context.Context, req Req) (pending[Req, Res], error) {
	p := pending[Req, Res]{ctx: ctx, req: req, done: make(chan outcome[Res], 1), state: new(atomic.Int32)}
	select {
	case b.in <- p:
		return p, nil
	case <-ctx.Done():
		return p, ctx.Err()
	case <-b.stopped:
		return p, ErrStopped
	}
}

func (b *Batcher[Req, Res]) await(ctx context.Context, p pending[Req, Res]) (Res, error) {
	var zero Res
	select {
	case o := <-p.done:
		if b.tracer != nil {
			endWait(ctx, o.batch, o.err)
		}
		return o.res, o.err
	case <-ctx.Done():
		if p.state.CompareAndSwap(queued, withdrawn) {
			return zero, ctx.Err()
		}
		o := <-p.done // taken by a batch: its outcome comes by the batch's deadline
		if b.tracer != nil {
			endWait(ctx, o.batch, o.err)
		}
		return o.res, o.err
	case <-b.stopped:
		// Run has returned: whatever it answered is in done; what it never took is not applied.
		select {
		case o := <-p.done:
			return o.res, o.err
		default:
			return zero, ErrStopped
		}
	}
}

// Run applies batches with Options.Workers loops until ctx is done; requests still queued then,
// or queued later, get ErrStopped. Run once per Batcher.
func (b *Batcher[Req, Res]) Run(ctx context.Context) error {
	defer close(b.stopped)
	var wg sync.WaitGroup
	for range b.opts.Workers {
		wg.Go(func() { b.loop(ctx) })
	}
	wg.Wait()
	b.drain()
	return nil
}

func (b *Batcher[Req, Res]) loop(ctx context.Context) {
	batch := make([]pending[Req, Res], 0, b.opts.MaxBatch)
	for {
		batch = batch[:0]
		if ctx.Err() != nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case p := <-b.in:
			batch = append(batch, p)
		}
	fill:
		for len(batch) < b.opts.MaxBatch {
			select {
			case p := <-b.in:
				batch = append(batch, p)
			default:
				break fill
			}
		}
		b.run(batch)
	}
}

// run applies one batch, leaving out requests whose caller has gone.
func (b *Batcher[Req, Res]) run(batch []pending[Req, Res]) {
	live := batch[:0]
	for _, p := range batch {
		if !p.state.CompareAndSwap(queued, taken) {
			continue // withdrawn: its caller has already been answered
		}
		if err := p.ctx.Err(); err != nil {
			p.done <- outcome[Res]{err: err}
			continue
		}
		live = append(live, p)
	}
	if len(live) == 0 {
		return
	}
	results, bsc, err := b.applyBounded(live)
	if err == nil && len(results) != len(live) {
		err = errors.New("groupcommit: apply returned a result count different from the request count")
	}
	if err == nil {
		for i, p := range live {
			p.done <- outcome[Res]{res: results[i], batch: bsc}
		}
		return
	}
	if len(live) == 1 || b.opts.SplitOn == nil || !b.opts.SplitOn(err) {
		for _, p := range live {
			p.done <- outcome[Res]{err: err, batch: bsc}
		}
		return
	}
	for _, p := range live {
		one, bsc, err := b.applyBounded([]pending[Req, Res]{p})
		switch {
		case err != nil:
			p.done <- outcome[Res]{err: err, batch: bsc}
		case len(one) != 1:
			p.done <- outcome[Res]{err: errors.New("groupcommit: apply returned a result count different from the request count"), batch: bsc}
		default:
			p.done <- outcome[Res]{res: one[0], batch: bsc}
		}
	}
}

// applyBounded applies batch under the earliest deadline of its requests, capped by
// Options.Timeout, and returns the batch's span context when traced. The context carries no
// cancellation of any one caller: a caller that leaves does not abort a transaction that also
// holds the others' requests.
func (b *Batcher[Req, Res]) applyBounded(batch []pending[Req, Res]) (res []Res, sc trace.SpanContext, err error) {
	deadline := time.Now().Add(b.opts.Timeout)
	for _, p := range batch {
		if d, ok := p.ctx.Deadline(); ok && d.Before(deadline) {
			deadline = d
		}
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	reqs := make([]Req, len(batch))
	for i, p := range batch {
		reqs[i] = p.req
	}
	if b.tracer != nil {
		var end func(error)
		ctx, end = b.startBatch(ctx, batch)
		defer func() { end(err) }()
		sc = trace.SpanContextFromContext(ctx)
	}
	res, err = b.apply(ctx, reqs)
	return res, sc, err
}

func (b *Batcher[Req, Res]) drain() {
	for {
		select {
		case p := <-b.in:
			if p.state.CompareAndSwap(queued, taken) {
				p.done <- outcome[Res]{err: ErrStopped}
			}
		default:
			return
		}
	}
}

// Queued is the number of requests waiting for a batch (a gauge for metrics and tests).
func (b *Batcher[Req, Res]) Queued() int { return len(b.in) }
