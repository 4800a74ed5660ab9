package amqpx

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"

	amqp "github.com/rabbitmq/amqp091-go"
)

// deliveryLimit is the quorum queue's x-delivery-limit: how many times the broker redelivers a
// message (nack-requeue, channel or process death) before it dead-letters it itself. It is the
// safety net for a message that kills the process before our own retry logic can run; it is
// far above MaxAttempts because ordinary shutdowns and DLQ-publish failures also count.
const deliveryLimit = 20

// dlqName is the dead-letter queue of queue, also its routing key on the dlx.
func dlqName(queue string) string { return queue + ".dlq" }

// declareExchanges declares the topic exchange and its direct dead-letter exchange, both durable.
func declareExchanges(ch *amqp.Channel, cfg Config) error {
	if err := ch.ExchangeDeclare(cfg.Exchange, amqp.ExchangeTopic, true, false, false, false, nil); err != nil {
		return fmt.Errorf("declare exchange %q: %w", cfg.Exchange, err)
	}
	if err := ch.ExchangeDeclare(cfg.dlx(), amqp.ExchangeDirect, true, false, false, false, nil); err != nil {
		return fmt.Errorf("declare exchange %q: %w", cfg.dlx(), err)
	}
	return nil
}

// declareConsumerTopology declares what spec consumes from and returns the queue name (server
// generated for an unnamed exclusive queue). Idempotent; run on every (re)start of a consumer.
func declareConsumerTopology(conn *amqp.Connection, cfg Config, spec ConsumerSpec, log *slog.Logger) (string, error) {
	if spec.Exclusive {
		// Exclusive queues live and die with this connection, so they go on the consuming
		// connection and need no DLQ; auto-delete removes them when the consumer goes.
		var name string
		err := withChannel(conn, func(ch *amqp.Channel) error {
			if err := declareExchanges(ch, cfg); err != nil {
				return err
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

	dlq := dlqName(spec.Queue)
	if err := declareDurableQueue(conn, dlq, nil, 0, log); err != nil {
		return "", err
	}
	args := amqp.Table{
		"x-dead-letter-exchange":    cfg.dlx(),
		"x-dead-letter-routing-key": dlq,
	}
	if err := declareDurableQueue(conn, spec.Queue, args, deliveryLimit, log); err != nil {
		return "", err
	}
	err := withChannel(conn, func(ch *amqp.Channel) error {
		if err := declareExchanges(ch, cfg); err != nil {
			return err
		}
		if err := ch.QueueBind(dlq, dlq, cfg.dlx(), false, nil); err != nil {
			return fmt.Errorf("bind %q to %q: %w", dlq, cfg.dlx(), err)
		}
		return bindAll(ch, spec.Queue, cfg.Exchange, spec.Bindings)
	})
	return spec.Queue, err
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
// and falls back to a classic durable queue when the broker refuses: quorum queues need
// RabbitMQ ≥ 3.8, and a queue that already exists as classic cannot change type.
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

// isBrokerRefusal reports a channel exception sent by the broker (e.g. 406 PRECONDITION_FAILED),
// as opposed to a network failure.
func isBrokerRefusal(err error) bool {
	var ae *amqp.Error
	return errors.As(err, &ae) && ae.Server
}
