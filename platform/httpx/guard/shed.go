package guard

import (
	"container/list"
	"context"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shopworks/shop/platform/httpx/problem"
	"github.com/shopworks/shop/platform/httpx/telemetry"
)

// Shedding bounds the work a service takes on by time, not by a count of queued requests, so that
// an overloaded service answers its 503s fast and keeps the latency of what it accepts bounded:
//
//   - A limit of requests run at once adapts to how long requests hold their slot: when the
//     average over a short window exceeds an eighth of MaxWait while requests found no free slot,
//     the limit falls in proportion (the machine is saturated: taking on less lets the accepted
//     work finish, and leaves CPU for refusing the rest); when requests are fast, it rises again,
//     up to Limit. Slow requests alone — a pause of the database or of the garbage collector
//     with slots to spare — do not lower it: that is latency, not overload, and a lower limit
//     would turn it into refusals. So under overload the service accepts what it can finish in
//     time, not what fits in memory.
//   - A request that finds no free slot waits only when its predicted wait — the requests ahead
//     of it times the recent time a request holds a slot, over the limit — is within MaxWait (and
//     never longer than MaxWait). Others are answered 503 with Retry-After at once, and so is
//     every request that finds no slot once a waiter was refused after its wait, until a window
//     passes in which every request found a slot: under sustained overload a queue only turns
//     fast refusals into slow ones.
//   - Shed requests are counted (shop_http_shed_total) and summarised in one log line at most
//     every 10 s, not logged one by one: at thousands per second that would be the overload.
//
// Paths under Exempt (probes, metrics) are never shed.
type Shedding struct {
	Limit   int           // most requests running at once; <= 0 disables shedding
	MaxWait time.Duration // longest wait for a slot; default 100 ms
	Exempt  []string      // path prefixes that bypass the limit
	// Log gets the summary of shed requests; nil: no summary.
	Log *slog.Logger
	// Registry gets shop_http_shed_total and shop_http_concurrency_limit; nil: none.
	Registry prometheus.Registerer
}

const (
	shedWindow      = 100 * time.Millisecond // how often the limit adapts
	shedMinSamples  = 8                      // completions a window needs to judge the hold time
	shedMinLimit    = 8                      // the floor of the adaptive limit (group commit needs company)
	shedSummaryEach = 10 * time.Second
)

type shedder struct {
	cfg    Shedding
	target time.Duration // the window's average hold time the limit steers to: MaxWait/8 (a saturated machine answers its 503s late: the accepted work must leave it CPU)

	mu       sync.Mutex
	limit    int
	running  int
	waiters  list.List // of *waiter, oldest first
	window   time.Time // start of the current window
	held     time.Duration
	done     int
	starved  bool  // a request found no free slot in this window
	timedOut bool  // a waiter was refused after waiting MaxWait in this window
	noWait   bool  // waiters timed out since the last window without a shortage: refuse at once
	holdEWMA int64 // moving average of how long a request holds a slot, in ns

	shed        atomic.Int64 // since the last summary
	lastSummary atomic.Int64 // unix ns
	shedTotal   prometheus.Counter
	limitGauge  prometheus.Gauge
}

type waiter struct {
	ready   chan struct{}
	granted bool // under shedder.mu
}

// Shed returns the load-shedding middleware of cfg.
func Shed(cfg Shedding) func(http.Handler) http.Handler {
	if cfg.Limit <= 0 {
		return func(next http.Handler) http.Handler { return next }
	}
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = 100 * time.Millisecond
	}
	s := &shedder{cfg: cfg, target: cfg.MaxWait / 8, limit: cfg.Limit, window: time.Now(),
		shedTotal: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "shop_http_shed_total", Help: "Requests answered 503 at once because the service was at capacity (load shedding)."}),
		limitGauge: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "shop_http_concurrency_limit", Help: "Requests the service runs at once now (adapts to their latency; at most MAX_IN_FLIGHT)."}),
	}
	s.limitGauge.Set(float64(cfg.Limit))
	if cfg.Registry != nil {
		cfg.Registry.MustRegister(s.shedTotal, s.limitGauge)
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if s.exempt(r.URL.Path) {
				next.ServeHTTP(w, r)
				return
			}
			if !s.acquire() {
				s.refuse(w, r)
				return
			}
			slot := &heldSlot{s: s, start: time.Now()}
			defer slot.leave()
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), slotKey{}, slot)))
		})
	}
}

func (s *shedder) exempt(path string) bool { return hasAnyPrefix(path, s.cfg.Exempt) }

func (s *shedder) refuse(w http.ResponseWriter, r *http.Request) {
	telemetry.SkipAccessLog(r)
	s.shedTotal.Inc()
	n := s.shed.Add(1)
	now := time.Now().UnixNano()
	if last := s.lastSummary.Load(); now-last >= int64(shedSummaryEach) && s.lastSummary.CompareAndSwap(last, now) && s.cfg.Log != nil {
		s.shed.Add(-n)
		s.mu.Lock()
		limit := s.limit
		s.mu.Unlock()
		s.cfg.Log.WarnContext(r.Context(), "shedding load: requests answered 503 at once",
			slog.Int64("shed", n), slog.Int("limit", limit), slog.Int("maxInFlight", s.cfg.Limit))
	}
	p := problem.New(http.StatusServiceUnavailable, problem.CodeServiceUnavailable, "Overloaded",
		"The service is at capacity; retry shortly.")
	p.RetryAfter = 1
	problem.Write(w, r, p)
}

// acquire takes a slot, waiting only when the predicted wait is within MaxWait.
func (s *shedder) acquire() bool {
	s.mu.Lock()
	if s.running < s.limit {
		s.running++
		s.mu.Unlock()
		return true
	}
	s.starved = true
	ahead := int64(s.waiters.Len() + 1)
	if s.noWait || time.Duration(ahead*s.holdEWMA/int64(s.limit)) > s.cfg.MaxWait {
		s.mu.Unlock()
		return false
	}
	wt := &waiter{ready: make(chan struct{})}
	e := s.waiters.PushBack(wt)
	s.mu.Unlock()

	t := time.NewTimer(s.cfg.MaxWait)
	defer t.Stop()
	select {
	case <-wt.ready:
		return true
	case <-t.C:
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if wt.granted { // granted as the timer fired: the slot is ours
		return true
	}
	s.waiters.Remove(e)
	s.timedOut = true
	return false
}

// release gives a slot back after it was held for held, adapts the limit at the end of a window,
// and hands free slots to the oldest waiters.
func (s *shedder) release(held time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.running--
	s.holdEWMA += (int64(held) - s.holdEWMA) / 16
	s.held += held
	s.done++
	if now := time.Now(); now.Sub(s.window) >= shedWindow {
		s.adapt()
		s.noWait = s.timedOut || (s.noWait && s.starved) // until a window in which every request found a slot
		s.window, s.held, s.done, s.starved, s.timedOut = now, 0, 0, false, false
	}
	for s.running < s.limit && s.waiters.Len() > 0 {
		wt := s.waiters.Remove(s.waiters.Front()).(*waiter)
		wt.granted = true
		s.running++
		close(wt.ready)
	}
}

// adapt moves the limit at the end of a window: down in proportion when requests held their
// slot longer than the target on average and some found no free slot, up by an eighth when they
// were fast. Called with s.mu held.
func (s *shedder) adapt() {
	if s.done < shedMinSamples {
		return
	}
	avg := s.held / time.Duration(s.done)
	limit := s.limit
	switch {
	case avg > s.target && s.starved:
		limit = int(float64(limit) * max(0.5, float64(s.target)/float64(avg)))
	case avg <= s.target:
		limit += max(1, limit/8)
	}
	limit = min(max(limit, min(shedMinLimit, s.cfg.Limit)), s.cfg.Limit)
	if limit != s.limit {
		s.limit = limit
		s.limitGauge.Set(float64(limit))
	}
}

// heldSlot is a request's slot, given back once: when the request ends, or earlier by LeaveSlot.
type heldSlot struct {
	s     *shedder
	start time.Time
	once  sync.Once
}

type slotKey struct{}

func (h *heldSlot) leave() { h.once.Do(func() { h.s.release(time.Since(h.start)) }) }

// LeaveSlot gives the request's shedding slot back before the request ends: for a handler that
// is about to wait (for an event, not for work), so that waiting requests neither occupy the
// capacity of working ones nor teach the shedder that requests are slow. Whoever lets requests
// wait bounds their number itself. Without a slot (shedding off, or an exempt path) it does
// nothing.
func LeaveSlot(ctx context.Context) {
	if h, ok := ctx.Value(slotKey{}).(*heldSlot); ok {
		h.leave()
	}
}
