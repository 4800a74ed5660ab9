package amqpx

import (
	"log/slog"

	amqp "github.com/rabbitmq/amqp091-go"
)

// acker acknowledges the deliveries of one subscription that were handled successfully, as few
// frames as possible: it waits for the first completion, takes whatever else completed
// meanwhile, and acks the longest run of settled delivery tags with one multiple=true ack (every
// tag up to it is then either acked by it or was settled on its own: nacked, or acked after
// dead-lettering). A handler that takes long (retrying) holds the run back; once more than
// spill successes wait behind it, they are acked one by one so that the prefetch window does not
// fill with work that is done.
type acker struct {
	ch    acknowledger
	log   *slog.Logger
	spill int
	in    chan ackEvent
	done  chan struct{}
	onAck func(n int) // counts acked successes
}

// acknowledger is the part of *amqp.Channel the acker uses.
type acknowledger interface {
	Ack(tag uint64, multiple bool) error
}

type ackEvent struct {
	tag uint64
	ok  bool // handled successfully (to be acked); false: settled on its own already
}

func newAcker(ch acknowledger, log *slog.Logger, spill int, onAck func(int)) *acker {
	a := &acker{ch: ch, log: log, spill: max(spill, 1), in: make(chan ackEvent, 4*spill), done: make(chan struct{}), onAck: onAck}
	go a.run()
	return a
}

// succeeded records a delivery handled successfully; the acker acks it.
func (a *acker) succeeded(tag uint64) { a.in <- ackEvent{tag: tag, ok: true} }

// settled records a delivery nacked or acked on its own.
func (a *acker) settled(tag uint64) { a.in <- ackEvent{tag: tag} }

// close acks what is pending and stops; call it after every worker has returned.
func (a *acker) close() {
	close(a.in)
	<-a.done
}

func (a *acker) run() {
	defer close(a.done)
	var (
		next    uint64 = 1 // the lowest tag not known settled
		waiting        = map[uint64]bool{}
	)
	for e := range a.in {
		waiting[e.tag] = e.ok
	drain:
		for {
			select {
			case e, ok := <-a.in:
				if !ok {
					break drain
				}
				waiting[e.tag] = e.ok
			default:
				break drain
			}
		}
		var last uint64 // highest success in the run
		n := 0
		for {
			ok, found := waiting[next]
			if !found {
				break
			}
			delete(waiting, next)
			if ok {
				last = next
				n++
			}
			next++
		}
		if last > 0 {
			a.ack(last, true, n)
		}
		if len(waiting) > a.spill { // held back by a slow delivery: ack the successes one by one
			for tag, ok := range waiting {
				if ok {
					a.ack(tag, false, 1)
					waiting[tag] = false // settled now; the run passes it later
				}
			}
		}
	}
	for tag, ok := range waiting { // shutting down: whatever succeeded is acked
		if ok {
			a.ack(tag, false, 1)
		}
	}
}

func (a *acker) ack(tag uint64, multiple bool, n int) {
	if err := a.ch.Ack(tag, multiple); err != nil {
		// The channel is gone: the broker redelivers, and idempotent handlers make that harmless.
		a.log.Warn("acking deliveries failed; the broker will redeliver them", "tag", tag, "multiple", multiple, "error", err)
		return
	}
	a.onAck(n)
}

var _ acknowledger = (*amqp.Channel)(nil)
