package outbox

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/shopworks/shop/platform/amqpx"
)

// Publisher publishes a batch and returns nil only when the broker confirmed all of it.
// *amqpx.Conn satisfies it.
type Publisher interface {
	Publish(ctx context.Context, msgs []amqpx.Message) error
}

var _ Publisher = (*amqpx.Conn)(nil)

// RelayOptions tune a Relay; zero values mean the defaults.
type RelayOptions struct {
	BatchSize int // rows per transaction and publish; default 200
	// PollInterval is how often an idle relay looks for rows nobody told it about (left by a
	// replica that stopped before publishing them); default 5 s. Commits in this process wake it
	// at once (Notify), so the poll costs the database almost nothing.
	PollInterval   time.Duration
	RetryDelay     time.Duration // first retry delay after a failed publish; default 200 ms
	MaxBackoff     time.Duration // cap of the retry delay; default 5 s
	PublishTimeout time.Duration // bound of one batch's publish and confirms; default 10 s
	FlushTimeout   time.Duration // bound of the final flush after ctx is done; default 5 s
	// Linger is how long the relay waits after a Notify before claiming, so that the events of
	// the commits made meanwhile go out in one batch (one claim, one publish round, one mark)
	// instead of one batch per commit. 0 claims at once.
	Linger time.Duration
	// TracerProvider, when not nil, gives every published batch a span linked to the trace of
	// each of its events (see trace.go); nil is tracing off.
	TracerProvider trace.TracerProvider
}

func (o RelayOptions) withDefaults() RelayOptions {
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 200
	}
	def(&o.PollInterval, 5*time.Second)
	def(&o.RetryDelay, 200*time.Millisecond)
	def(&o.MaxBackoff, 5*time.Second)
	def(&o.PublishTimeout, 10*time.Second)
	def(&o.FlushTimeout, 5*time.Second)
	o.MaxBackoff = max(o.MaxBackoff, o.RetryDelay)
	return o
}

// dbTimeout bounds each bookkeeping statement (claim, delete, count).
const dbTimeout = 5 * time.Second

// gaugeInterval limits how often the backlog gauges are recomputed (two queries).
const gaugeInterval = 5 * time.Second

// Relay moves committed outbox rows to the broker and deletes them. Run one per replica; they
// share the work. Its pool must be opened with dbx.PoolConfig{MultiStatements: true}.
type Relay struct {
	db   *sql.DB
	pub  Publisher
	opts RelayOptions
	log  *slog.Logger
	m    *metrics
	wake chan struct{} // size 1: Notify calls coalesce into one wake-up
	// tracer is nil when tracing is off.
	tracer trace.Tracer
}

// NewRelay builds a relay over db's outbox table (a multi-statement pool). log may be nil (no logs), reg may be nil (no
// metrics); a registration conflict is logged and leaves the metrics unexported.
func NewRelay(db *sql.DB, pub Publisher, opts RelayOptions, log *slog.Logger, reg prometheus.Registerer) *Relay {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "outbox-relay")
	m, err := newMetrics(reg)
	if err != nil {
		log.Warn("outbox metrics not registered", "error", err)
	}
	r := &Relay{db: db, pub: pub, opts: opts.withDefaults(), log: log, m: m, wake: make(chan struct{}, 1)}
	if opts.TracerProvider != nil {
		r.tracer = opts.TracerProvider.Tracer(instrumentation)
	}
	return r
}

// Notify wakes the relay now instead of at the next poll. Call it after committing a
// transaction that added events. Never blocks.
func (r *Relay) Notify() {
	select {
	case r.wake <- struct{}{}:
	default: // a wake-up is already pending; it will see these rows too
	}
}

// Run relays until ctx is done, then makes one last bounded attempt to publish what is pending
// and returns nil. Publish failures are retried with exponential backoff, never returned.
func (r *Relay) Run(ctx context.Context) error {
	if r.db == nil || r.pub == nil {
		return errors.New("outbox: Relay needs a *sql.DB and a Publisher")
	}
	r.log.InfoContext(ctx, "outbox relay started", "batchSize", r.opts.BatchSize, "pollInterval", r.opts.PollInterval)
	var nextGauges time.Time
	var backoff time.Duration
	for ctx.Err() == nil {
		// An in-flight batch is finished even if ctx ends meanwhile (it is bounded by
		// PublishTimeout): interrupting it between publish and delete would only cause
		// duplicates.
		n, err := r.relayBatch(context.WithoutCancel(ctx))
		// After a failure too: a growing backlog is what operators watch during an outage.
		if now := time.Now(); (err != nil || !now.Before(nextGauges)) && ctx.Err() == nil {
			r.refreshGauges(ctx)
			nextGauges = now.Add(gaugeInterval)
		}
		switch {
		case err != nil:
			backoff = min(max(2*backoff, r.opts.RetryDelay), r.opts.MaxBackoff)
			r.log.WarnContext(ctx, "outbox relay: batch failed; retrying", "error", err, "retryIn", backoff)
			// Notify does not cut a backoff short: a down broker must not be hammered.
			sleepCtx(ctx, backoff)
		case n == r.opts.BatchSize:
			backoff = 0 // a full batch: more are probably waiting
		default:
			backoff = 0
			r.idle(ctx)
		}
	}
	r.flush()
	return nil
}

// idle waits for Notify, the poll interval or ctx.
func (r *Relay) idle(ctx context.Context) {
	t := time.NewTimer(r.opts.PollInterval)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-r.wake:
		if r.opts.Linger > 0 {
			sleepCtx(ctx, r.opts.Linger)
		}
	case <-t.C:
	}
}

// flush publishes what is pending within FlushTimeout, for a graceful shutdown. Whatever it
// cannot publish stays in the table for the next relay.
func (r *Relay) flush() {
	ctx, cancel := context.WithTimeout(context.Background(), r.opts.FlushTimeout)
	defer cancel()
	total := 0
	for {
		n, err := r.relayBatch(ctx)
		total += n
		if err != nil {
			r.log.Warn("outbox relay: final flush incomplete; the rest is published by the next relay",
				"published", total, "error", err)
			return
		}
		if n < r.opts.BatchSize {
			break
		}
	}
	r.log.Info("outbox relay stopped", "flushed", total)
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
