package ordering

import (
	"context"
	"sync"
	"time"
)

// waiters lets requests wait for a PENDING order's status to change in this process: a commit
// that changes orders wakes their waiters, so a wait costs no query per waiting request. Another
// replica's change is seen when the wait ends (at the latest by its deadline). At most max
// requests wait at once; beyond that a wait is not taken.
type waiters struct {
	mu  sync.Mutex
	byO map[int64][]chan struct{}
	n   int
	max int
}

func newWaiters(max int) *waiters { return &waiters{byO: map[int64][]chan struct{}{}, max: max} }

// add registers a waiter for id; ok is false when the cap is reached.
func (w *waiters) add(id int64) (ch chan struct{}, ok bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.n >= w.max {
		return nil, false
	}
	ch = make(chan struct{})
	w.byO[id] = append(w.byO[id], ch)
	w.n++
	return ch, true
}

// remove unregisters ch (woken or not).
func (w *waiters) remove(id int64, ch chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	list := w.byO[id]
	for i, c := range list {
		if c == ch {
			list = append(list[:i], list[i+1:]...)
			w.n--
			break
		}
	}
	if len(list) == 0 {
		delete(w.byO, id)
	} else {
		w.byO[id] = list
	}
}

// wake wakes every waiter of the orders.
func (w *waiters) wake(ids ...int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, id := range ids {
		for _, ch := range w.byO[id] {
			close(ch)
		}
		w.n -= len(w.byO[id])
		delete(w.byO, id)
	}
}

// WaitForOutcome returns the order once it is no longer PENDING, or as it is when max has passed
// (waited says whether the wait was taken: false when the order was already final or too many
// requests are waiting). The wait ends early when ctx ends.
func (s *Service) WaitForOutcome(ctx context.Context, id int64, max time.Duration) (o Order, waited bool, err error) {
	o, err = s.d.Store.Get(ctx, id)
	if err != nil || o.Status.Final() || max <= 0 {
		return o, false, err
	}
	ch, ok := s.waiting.add(id)
	if !ok {
		return o, false, nil
	}
	defer s.waiting.remove(id, ch)
	// Read again now that a change would wake us: one that committed between the first read and
	// the registration must not be missed.
	if o, err = s.d.Store.Get(ctx, id); err != nil || o.Status.Final() {
		return o, true, err
	}
	t := time.NewTimer(max)
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
	case <-ctx.Done():
		return o, true, nil
	}
	o, err = s.d.Store.Get(context.WithoutCancel(ctx), id)
	return o, true, err
}
