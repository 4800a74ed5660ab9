package amqpx

import (
	"fmt"

	amqp "github.com/rabbitmq/amqp091-go"
)

// These helpers exist for tests and for the load runner's invariants ("every DLQ is empty").
// They take no ctx because channel operations have none; the connection heartbeat bounds them.

// DeleteQueue deletes the queue name, with its messages.
func (c *Conn) DeleteQueue(name string) error {
	conn, err := c.current()
	if err != nil {
		return fmt.Errorf("amqpx: delete queue %q: %w", name, err)
	}
	err = withChannel(conn, func(ch *amqp.Channel) error {
		_, err := ch.QueueDelete(name, false, false, false)
		return err
	})
	if err != nil {
		return fmt.Errorf("amqpx: delete queue %q: %w", name, err)
	}
	return nil
}

// DeleteExchange deletes the exchange name.
func (c *Conn) DeleteExchange(name string) error {
	conn, err := c.current()
	if err != nil {
		return fmt.Errorf("amqpx: delete exchange %q: %w", name, err)
	}
	err = withChannel(conn, func(ch *amqp.Channel) error { return ch.ExchangeDelete(name, false, false) })
	if err != nil {
		return fmt.Errorf("amqpx: delete exchange %q: %w", name, err)
	}
	return nil
}

// QueueDepth returns the number of ready messages in queue name (passive declare); an unknown
// queue is an error.
func (c *Conn) QueueDepth(name string) (int, error) {
	conn, err := c.current()
	if err != nil {
		return 0, fmt.Errorf("amqpx: depth of queue %q: %w", name, err)
	}
	var n int
	err = withChannel(conn, func(ch *amqp.Channel) error {
		q, err := ch.QueueDeclarePassive(name, false, false, false, false, nil)
		n = q.Messages
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("amqpx: depth of queue %q: %w", name, err)
	}
	return n, nil
}
