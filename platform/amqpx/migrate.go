package amqpx

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// A queue's arguments cannot change: once Q exists with x-dead-letter-exchange "orders.dlx", a
// declaration with "shop.dlx" (AMQP_EXCHANGE renamed) or with another x-delivery-limit or type is
// refused with 406 PRECONDITION_FAILED. The consumer that owns Q therefore migrates it at start,
// with nothing but AMQP and without losing a message (docs/adr/0010-queue-migration.md), holding
// a lock so that replicas starting together take turns:
//
//  1. declare the holding queue Q.migrating and bind it like Q on the exchange: our events land
//     there from now on; bind it on the dead-letter exchange under its own name;
//  2. unbind Q from the exchange, move every message of Q to Q.migrating (get, publish with
//     confirm and mandatory through the dead-letter exchange, then ack), and delete Q once a
//     check finds it empty;
//  3. declare Q with the configured arguments and bind it;
//  4. finishMigration: unbind Q.migrating, move its messages into Q, delete it.
//
// Step 4 runs whenever the owner starts and Q.migrating exists, so a crash anywhere resumes.
// Delivery stays at-least-once: a message published while both queues are bound, or moved when
// the process dies between publish and ack, arrives twice, which idempotent consumers absorb.
// The moves go through the dead-letter exchange because the services' broker users may write
// to it (they dead-letter) but not to the default exchange, which would let them write to any
// queue. Quorum queues refuse queue.delete if-empty, so the delete in step 2 follows an
// emptiness check with nothing of ours routed to Q any more; only a message published in that
// millisecond to an exchange Q was bound to before (the old exchange, which the configuration
// has just abandoned) can be dropped, and the log says how many were.

// migrationRounds bounds the move-and-check loops: a queue still receiving after that many rounds
// is fed by something we do not control (e.g. an old replica still running).
const migrationRounds = 20

// moveBatch is how many messages one round trip of a move carries; moveTimeout bounds the wait
// for its confirms; lockWait bounds the wait for another replica's migration.
const (
	moveBatch   = 256
	moveTimeout = 30 * time.Second
	lockWait    = 5 * time.Minute
)

func holdingQueue(queue string) string { return queue + ".migrating" }

// headerMovedRoutingKey carries a moved message's routing key: the moves go through the
// dead-letter exchange under the holding queue's name, so a message comes back with that name as
// its routing key, and the consumer restores the original from here (restoreRoutingKey).
const headerMovedRoutingKey = "x-moved-routing-key"

// restoreRoutingKey gives a delivery that came back through a migration of spec.Queue the routing
// key it was published with. Only a key the queue is bound with is restored: while a migration
// runs, whoever may write to the dead-letter exchange (every service dead-letters) can put a
// message into the holding queue, and it reaches the handler under no key the queue does not
// consume (others stay as they came, and the handler refuses them as unexpected).
func restoreRoutingKey(d *Delivery, spec ConsumerSpec) {
	if spec.Queue == "" || d.RoutingKey != holdingQueue(spec.Queue) {
		return
	}
	key, _ := d.Headers[headerMovedRoutingKey].(string)
	for _, b := range spec.Bindings {
		if key == b {
			d.RoutingKey = key
			delete(d.Headers, headerMovedRoutingKey)
			return
		}
	}
}

// needsMigration reports whether the owner must run the migration: the declaration was refused
// as inequivalent, or a holding queue is left from an earlier one.
func needsMigration(conn *amqp.Connection, queue string, declareErr error) (bool, error) {
	if isInequivalent(declareErr) {
		return true, nil
	}
	if declareErr != nil {
		return false, declareErr
	}
	err := withChannel(conn, func(ch *amqp.Channel) error {
		_, err := ch.QueueDeclarePassive(holdingQueue(queue), true, false, false, false, nil)
		return err
	})
	if isNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("look for %q: %w", holdingQueue(queue), err)
	}
	return true, nil
}

// migrate runs the whole migration of spec.Queue under the lock; it re-checks first, since the
// replica that held the lock before may have done it all.
func migrate(conn *amqp.Connection, cfg Config, spec ConsumerSpec, args amqp.Table, log *slog.Logger) error {
	return withMigrationLock(conn, spec.Queue, log, func() error {
		err := declareDurableQueue(conn, spec.Queue, args, deliveryLimit, log)
		switch {
		case isInequivalent(err):
			if err := migrateQueue(conn, cfg, spec, args, log); err != nil {
				return err
			}
		case err != nil:
			return err
		}
		if err := bindQueue(conn, cfg, spec); err != nil {
			return err
		}
		return finishMigration(conn, cfg, spec, log)
	})
}

// withMigrationLock runs fn while this connection holds the exclusive queue Q.migration-lock:
// the broker lets one connection at a time declare it (others get 405 RESOURCE_LOCKED) and
// deletes it when that connection dies, so a crashed migrator never blocks the others.
func withMigrationLock(conn *amqp.Connection, queue string, log *slog.Logger, fn func() error) error {
	lock := queue + ".migration-lock"
	deadline := time.Now().Add(lockWait)
	for logged := false; ; {
		err := withChannel(conn, func(ch *amqp.Channel) error {
			_, err := ch.QueueDeclare(lock, false, true, true, false, nil)
			return err
		})
		if err == nil {
			break
		}
		var ae *amqp.Error
		if !errors.As(err, &ae) || ae.Code != amqp.ResourceLocked || conn.IsClosed() {
			return fmt.Errorf("take the migration lock %q: %w", lock, err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("another replica has held the migration lock %q for %s", lock, lockWait)
		}
		if !logged {
			log.Info("another replica is migrating the queue; waiting", "queue", queue)
			logged = true
		}
		time.Sleep(250 * time.Millisecond)
	}
	defer func() {
		_ = withChannel(conn, func(ch *amqp.Channel) error {
			_, err := ch.QueueDelete(lock, false, false, false)
			return err
		})
	}()
	return fn()
}

// bindQueue binds the durable queue and its DLQ (the exchanges exist).
func bindQueue(conn *amqp.Connection, cfg Config, spec ConsumerSpec) error {
	return withChannel(conn, func(ch *amqp.Channel) error {
		if err := ch.QueueBind(spec.DeadLetterQueue, spec.DeadLetterQueue, cfg.dlx(), false, nil); err != nil {
			return fmt.Errorf("bind %q to %q: %w", spec.DeadLetterQueue, cfg.dlx(), err)
		}
		return bindAll(ch, spec.Queue, cfg.Exchange, spec.Bindings)
	})
}

func migrateQueue(conn *amqp.Connection, cfg Config, spec ConsumerSpec, args amqp.Table, log *slog.Logger) error {
	q, h := spec.Queue, holdingQueue(spec.Queue)
	log = log.With("queue", q, "holdingQueue", h)
	log.Warn("queue exists with other arguments than configured; migrating it (ADR 0010)")
	if err := declareOrKeep(conn, h, log); err != nil {
		return fmt.Errorf("migrate %q: %w", q, err)
	}
	err := withChannel(conn, func(ch *amqp.Channel) error {
		if err := bindAll(ch, h, cfg.Exchange, spec.Bindings); err != nil {
			return err
		}
		if err := ch.QueueBind(h, h, cfg.dlx(), false, nil); err != nil {
			return fmt.Errorf("bind %q to %q: %w", h, cfg.dlx(), err)
		}
		for _, key := range spec.Bindings {
			if err := ch.QueueUnbind(q, key, cfg.Exchange, nil); err != nil {
				return fmt.Errorf("unbind %q from %q: %w", q, cfg.Exchange, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("migrate %q: %w", q, err)
	}
	moved, err := drainAndDelete(conn, q, cfg.dlx(), h, log)
	if err != nil {
		return fmt.Errorf("migrate %q: %w", q, err)
	}
	log.Info("old queue emptied and deleted; declaring it with the configured arguments", "moved", moved)
	if err := declareDurableQueue(conn, q, args, deliveryLimit, log); err != nil {
		return fmt.Errorf("migrate %q: %w", q, err)
	}
	return nil
}

// finishMigration moves what a migration left in the holding queue into spec.Queue, which is
// declared and bound.
func finishMigration(conn *amqp.Connection, cfg Config, spec ConsumerSpec, log *slog.Logger) error {
	q, h := spec.Queue, holdingQueue(spec.Queue)
	if left, err := needsMigration(conn, q, nil); err != nil || !left {
		return err
	}
	log = log.With("queue", q, "holdingQueue", h)
	err := withChannel(conn, func(ch *amqp.Channel) error {
		for _, key := range spec.Bindings {
			if err := ch.QueueUnbind(h, key, cfg.Exchange, nil); err != nil {
				return err
			}
		}
		if err := ch.QueueUnbind(h, h, cfg.dlx(), nil); err != nil {
			return err
		}
		// The way back: Q takes the holding queue's key on the dead-letter exchange while it drains.
		return ch.QueueBind(q, h, cfg.dlx(), false, nil)
	})
	if err != nil {
		return fmt.Errorf("finish migrating %q: %w", q, err)
	}
	moved, err := drainAndDelete(conn, h, cfg.dlx(), h, log)
	if err != nil {
		return fmt.Errorf("finish migrating %q: %w", q, err)
	}
	if err := withChannel(conn, func(ch *amqp.Channel) error { return ch.QueueUnbind(q, h, cfg.dlx(), nil) }); err != nil {
		return fmt.Errorf("finish migrating %q: %w", q, err)
	}
	log.Info("queue migrated", "movedBack", moved)
	return nil
}

// drainAndDelete moves the messages of from to exchange/key until a check finds from empty, then
// deletes it. Nothing of ours is routed to from any more when it is called.
func drainAndDelete(conn *amqp.Connection, from, exchange, key string, log *slog.Logger) (int, error) {
	total := 0
	for round := 1; ; round++ {
		n, err := moveAll(conn, from, exchange, key)
		total += n
		if err != nil {
			return total, fmt.Errorf("move the messages of %q: %w", from, err)
		}
		var depth int
		err = withChannel(conn, func(ch *amqp.Channel) error {
			st, err := ch.QueueDeclarePassive(from, true, false, false, false, nil)
			depth = st.Messages
			return err
		})
		if err != nil {
			return total, fmt.Errorf("check %q: %w", from, err)
		}
		if depth == 0 {
			break
		}
		if round == migrationRounds {
			return total, fmt.Errorf("%q still receives messages after %d rounds (bound to an exchange we do not know, or an old replica is still running?)", from, round)
		}
	}
	var dropped int
	err := withChannel(conn, func(ch *amqp.Channel) error {
		n, err := ch.QueueDelete(from, false, false, false)
		dropped = n
		return err
	})
	if err != nil {
		return total, fmt.Errorf("delete %q: %w", from, err)
	}
	if dropped > 0 {
		log.Error("messages arrived through an old binding while the queue was deleted and were dropped", "queue", from, "dropped", dropped)
	}
	return total, nil
}

// errReturned is a moved message the broker could not route (mandatory): the move stops and
// the message stays in its queue.
var errReturned = errors.New("a moved message was unroutable; left in its queue")

// moveAll moves every message of queue from to the queues bound to exchange with key, in
// batches: get (unacked), publish with confirm and mandatory, then ack the batch. A message is
// acked only after the broker confirmed its copy was routed, so nothing is lost; a failure
// leaves the unacked ones in from (the channel closes, the broker requeues them).
func moveAll(conn *amqp.Connection, from, exchange, key string) (int, error) {
	moved := 0
	err := withChannel(conn, func(ch *amqp.Channel) error {
		if err := ch.Confirm(false); err != nil {
			return fmt.Errorf("enable publisher confirms: %w", err)
		}
		returns := ch.NotifyReturn(make(chan amqp.Return, moveBatch))
		for {
			var batch []amqp.Delivery
			for len(batch) < moveBatch {
				d, ok, err := ch.Get(from, false)
				if err != nil {
					return fmt.Errorf("get from %q: %w", from, err)
				}
				if !ok {
					break
				}
				batch = append(batch, d)
			}
			if len(batch) == 0 {
				return nil
			}
			pending := make([]*amqp.DeferredConfirmation, 0, len(batch))
			for _, d := range batch {
				headers := maps.Clone(d.Headers)
				if headers == nil {
					headers = amqp.Table{}
				}
				if d.RoutingKey != key { // not moved before: its key is the one it was published with
					headers[headerMovedRoutingKey] = d.RoutingKey
				}
				dc, err := ch.PublishWithDeferredConfirm(exchange, key, true, false, republish(d, headers))
				if err != nil {
					return fmt.Errorf("publish to %q: %w", exchange, err)
				}
				pending = append(pending, dc)
			}
			if err := waitConfirms(pending); err != nil {
				return fmt.Errorf("publish to %q: %w", exchange, err)
			}
			// The broker sends basic.return before the ack of an unroutable message, and the
			// library hands it to returns before it resolves the confirm.
			select {
			case <-returns:
				return errReturned
			default:
			}
			if err := ch.Ack(batch[len(batch)-1].DeliveryTag, true); err != nil {
				return fmt.Errorf("ack on %q: %w", from, err)
			}
			moved += len(batch)
		}
	})
	return moved, err
}

// waitConfirms waits for every confirm, at most moveTimeout in all.
func waitConfirms(pending []*amqp.DeferredConfirmation) error {
	ctx, cancel := context.WithTimeout(context.Background(), moveTimeout)
	defer cancel()
	for _, dc := range pending {
		ack, err := dc.WaitContext(ctx)
		if err != nil {
			return fmt.Errorf("wait for confirms: %w", err)
		}
		if !ack {
			return errors.New("nacked by the broker")
		}
	}
	return nil
}

// republish is d as a new publishing with headers, keeping its body and properties.
func republish(d amqp.Delivery, headers amqp.Table) amqp.Publishing {
	return amqp.Publishing{
		Headers:         headers,
		ContentType:     d.ContentType,
		ContentEncoding: d.ContentEncoding,
		DeliveryMode:    amqp.Persistent,
		Priority:        d.Priority,
		CorrelationId:   d.CorrelationId,
		ReplyTo:         d.ReplyTo,
		MessageId:       d.MessageId,
		Timestamp:       d.Timestamp,
		Type:            d.Type,
		AppId:           d.AppId,
		Body:            d.Body,
		// Expiration is dropped so that nothing expires in transit or in a DLQ; UserId is
		// dropped because the broker rejects a user-id that is not the publishing
		// connection's user.
	}
}
