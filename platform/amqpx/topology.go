package amqpx

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"

	amqp "github.com/rabbitmq/amqp091-go"
)

// deliveryLimit is the quorum queue's x-delivery-limit: how many times the broker redelivers a
// message (nack-requeue, channel or process death) before it dead-letters it itself. It is the
// safety net for a message that kills the process before our own retry logic can run; it is
// far above MaxAttempts because ordinary shutdowns and DLQ-publish failures also count.
const deliveryLimit = 20

// dlqName is the dead-letter queue of queue, also its routing key on the dlx.
func dlqName(queue string) string { return queue + ".dlq" }

// ensureExchanges makes sure the topic exchange and its direct dead-letter exchange exist, both
// durable. It looks before it declares: a broker set up from infra/rabbitmq/definitions.json has
// them already, and then the services' users need no configure permission on the shared
// exchanges (which would let them delete them); on a bare broker they are declared.
func ensureExchanges(conn *amqp.Connection, cfg Config) error {
	for _, x := range []struct{ name, kind string }{{cfg.Exchange, amqp.ExchangeTopic}, {cfg.dlx(), amqp.ExchangeDirect}} {
		err := withChannel(conn, func(ch *amqp.Channel) error {
			return ch.ExchangeDeclarePassive(x.name, x.kind, true, false, false, false, nil)
		})
		if isNotFound(err) {
			err = withChannel(conn, func(ch *amqp.Channel) error {
				return ch.ExchangeDeclare(x.name, x.kind, true, false, false, false, nil)
			})
		}
		if err != nil {
			return fmt.Errorf("declare exchange %q: %w", x.name, err)
		}
	}
	return nil
}

// declareConsumerTopology declares what spec consumes from and returns the queue name (server
// generated for an unnamed exclusive queue). Idempotent; run on every (re)start of a consumer.
//
// A durable queue that exists with other arguments than the configuration asks for (the broker
// answers 406 "inequivalent arg", e.g. after AMQP_EXCHANGE changed the dead-letter exchange) is
// migrated by its owner, the consumer (see migrate.go); anyone else (owner false: DeclareTopology,
// which a service also runs for a queue another service consumes) only makes sure it exists and
// is bound, which is all it needs, and leaves the migration to the owner.
func declareConsumerTopology(conn *amqp.Connection, cfg Config, spec ConsumerSpec, owner bool, log *slog.Logger) (string, error) {
	if err := ensureExchanges(conn, cfg); err != nil {
		return "", err
	}
	dlq := spec.DeadLetterQueue
	if err := declareOrKeep(conn, dlq, log); err != nil {
		return "", err
	}
	if spec.Exclusive {
		// Exclusive queues live and die with this connection, so they go on the consuming
		// connection; auto-delete removes them when the consumer goes. Their dead letters are
		// republished to the shared durable DLQ declared above, so they need no queue arguments.
		var name string
		err := withChannel(conn, func(ch *amqp.Channel) error {
			if err := ch.QueueBind(dlq, dlq, cfg.dlx(), false, nil); err != nil {
				return fmt.Errorf("bind %q to %q: %w", dlq, cfg.dlx(), err)
			}
			q, err := ch.QueueDeclare(spec.Queue, false, true, true, false, nil)
			if err != nil {
				return fmt.Errorf("declare exclusive queue %q: %w", spec.Queue, err)
			}
			name = q.Name
			return bindAll(ch, name, cfg.Exchange, spec.Bindings)
		})
		return name, err
	}

	args := amqp.Table{
		"x-dead-letter-exchange":    cfg.dlx(),
		"x-dead-letter-routing-key": dlq,
	}
	err := declareDurableQueue(conn, spec.Queue, args, deliveryLimit, log)
	if owner {
		needed, err := needsMigration(conn, spec.Queue, err)
		if err != nil {
			return "", err
		}
		if needed {
			if err := migrate(conn, cfg, spec, args, log); err != nil {
				return "", err
			}
			return spec.Queue, nil
		}
	} else if isInequivalent(err) {
		log.Warn("queue exists with other arguments than configured; binding it as it is until its consumer migrates it",
			"queue", spec.Queue, "reason", err)
	} else if err != nil {
		return "", err
	}
	return spec.Queue, bindQueue(conn, cfg, spec)
}

func bindAll(ch *amqp.Channel, queue, exchange string, keys []string) error {
	for _, key := range keys {
		if err := ch.QueueBind(queue, key, exchange, false, nil); err != nil {
			return fmt.Errorf("bind %q to %q with key %q: %w", queue, exchange, key, err)
		}
	}
	return nil
}

// declareDurableQueue declares a quorum queue (replicated, with a delivery limit when limit > 0)
// and falls back to a classic durable queue when the broker refuses quorum queues (RabbitMQ <
// 3.8, or a node without the feature). A queue that exists with other arguments (including
// another type) is not a refusal of quorum queues: that error is returned (isInequivalent) for
// the caller to migrate or keep it.
func declareDurableQueue(conn *amqp.Connection, name string, args amqp.Table, limit int, log *slog.Logger) error {
	quorum := amqp.Table{"x-queue-type": "quorum"}
	maps.Copy(quorum, args)
	if limit > 0 {
		quorum["x-delivery-limit"] = int64(limit)
	}
	qerr := withChannel(conn, func(ch *amqp.Channel) error {
		_, err := ch.QueueDeclare(name, true, false, false, false, quorum)
		return err
	})
	if qerr == nil {
		return nil
	}
	if isInequivalent(qerr) {
		return fmt.Errorf("declare queue %q: %w", name, qerr)
	}
	if !isBrokerRefusal(qerr) || conn.IsClosed() {
		return fmt.Errorf("declare quorum queue %q: %w", name, qerr)
	}
	classic := maps.Clone(args)
	cerr := withChannel(conn, func(ch *amqp.Channel) error {
		_, err := ch.QueueDeclare(name, true, false, false, false, classic)
		return err
	})
	if cerr != nil {
		return fmt.Errorf("declare queue %q: as quorum: %v; as classic: %w", name, qerr, cerr)
	}
	log.Warn("broker refused a quorum queue; using a classic durable queue", "queue", name, "reason", qerr)
	return nil
}

// declareOrKeep declares a durable queue without arguments (a DLQ, a holding queue), keeping
// one that already exists with other arguments: nothing depends on them.
func declareOrKeep(conn *amqp.Connection, name string, log *slog.Logger) error {
	err := declareDurableQueue(conn, name, nil, 0, log)
	if isInequivalent(err) {
		log.Info("queue exists with other arguments; kept as it is", "queue", name, "reason", err)
		return nil
	}
	return err
}

// isInequivalent reports the broker's 406 for a queue or exchange that exists with other
// arguments or properties than a declaration asks for.
func isInequivalent(err error) bool {
	var ae *amqp.Error
	return errors.As(err, &ae) && ae.Code == amqp.PreconditionFailed && strings.Contains(ae.Reason, "inequivalent arg")
}

// isNotFound reports the broker's 404 for a queue or exchange that does not exist.
func isNotFound(err error) bool {
	var ae *amqp.Error
	return errors.As(err, &ae) && ae.Code == amqp.NotFound
}

// isBrokerRefusal reports a channel exception sent by the broker (e.g. 406 PRECONDITION_FAILED),
// as opposed to a network failure.
func isBrokerRefusal(err error) bool {
	var ae *amqp.Error
	return errors.As(err, &ae) && ae.Server
}
