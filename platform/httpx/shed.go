package httpx

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Shedding bounds the work a service takes on by how long a request would wait to start, not by
// a count of waiting requests: at most Limit requests run at once, and a request that finds no
// free slot waits only if its predicted wait — the requests ahead of it times the recent time a
// request holds a slot, over Limit — is within MaxWait (and never longer than MaxWait). Others are
// answered 503 with Retry-After at once. So an overloaded or stalled service answers its 503s
// fast, keeps the accepted requests' latency bounded, and holds a bounded number of goroutines and
// memory. Paths under Exempt (probes, metrics) are never shed.
type Shedding struct {
	Limit   int           // requests running at once; <= 0 disables shedding
	MaxWait time.Duration // longest wait for a slot; default 100 ms
	Exempt  []string      // path prefixes that bypass the limit
}

type shedder struct {
	cfg     Shedding
	slots   chan struct{}
	waiting atomic.Int64
	hold    atomic.Int64 // moving average of how long a request holds a slot, in ns
}

// Shed returns the load-shedding middleware of cfg.
func Shed(cfg Shedding) func(http.Handler) http.Handler {
	if cfg.Limit <= 0 {
		return func(next http.Handler) http.Handler { return next }
	}
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = 100 * time.Millisecond
	}
	s := &shedder{cfg: cfg, slots: make(chan struct{}, cfg.Limit)}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if s.exempt(r.URL.Path) {
				next.ServeHTTP(w, r)
				return
			}
			if !s.acquire() {
				p := NewProblem(http.StatusServiceUnavailable, CodeServiceUnavailable, "Overloaded",
					"The service is at capacity; retry shortly.")
				p.RetryAfter = 1
				WriteProblem(w, r, p)
				return
			}
			slot := &heldSlot{s: s, start: time.Now()}
			defer slot.leave()
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), slotKey{}, slot)))
		})
	}
}

func (s *shedder) exempt(path string) bool { return hasAnyPrefix(path, s.cfg.Exempt) }

// acquire takes a slot, waiting only when the predicted wait is within MaxWait.
func (s *shedder) acquire() bool {
	select {
	case s.slots <- struct{}{}:
		return true
	default:
	}
	ahead := s.waiting.Add(1)
	defer s.waiting.Add(-1)
	if time.Duration(ahead*s.hold.Load()/int64(s.cfg.Limit)) > s.cfg.MaxWait {
		return false
	}
	t := time.NewTimer(s.cfg.MaxWait)
	defer t.Stop()
	select {
	case s.slots <- struct{}{}:
		return true
	case <-t.C:
		return false
	}
}

// heldSlot is a request's slot, given back once: when the request ends, or earlier by LeaveSlot.
type heldSlot struct {
	s     *shedder
	start time.Time
	once  sync.Once
}

type slotKey struct{}

// leave frees the slot and folds the time it was held into the average (1/16 weight; a lost
// update between concurrent releases only delays the average a little).
func (h *heldSlot) leave() {
	h.once.Do(func() {
		<-h.s.slots
		held := int64(time.Since(h.start))
		old := h.s.hold.Load()
		h.s.hold.Store(old + (held-old)/16)
	})
}

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
