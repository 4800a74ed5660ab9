package loadtest

import (
	"github.com/shopworks/shop/clients/events"

	"fmt"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// QueuesEmpty checks that no queue holds undelivered messages and no dead-letter queue holds any.
// Queues are looked up passively; a queue that does not exist is an error.
func QueuesEmpty(url string, queues []string, settle time.Duration) error {
	conn, err := amqp.DialConfig(url, amqp.Config{Dial: amqp.DefaultDial(5 * time.Second)})
	if err != nil {
		return fmt.Errorf("connect to RabbitMQ: %w", err)
	}
	defer conn.Close()
	deadline := time.Now().Add(settle)
	for {
		var busy []string
		for _, q := range queues {
			ch, err := conn.Channel()
			if err != nil {
				return fmt.Errorf("open channel: %w", err)
			}
			st, err := ch.QueueDeclarePassive(q, false, false, false, false, nil)
			_ = ch.Close()
			if err != nil {
				return fmt.Errorf("queue %s: %w", q, err)
			}
			if st.Messages > 0 {
				busy = append(busy, fmt.Sprintf("%s holds %d", q, st.Messages))
			}
		}
		if len(busy) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("queues not empty: %v", busy)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// SagaQueues are the durable queues of the saga and their dead-letter queues.
func SagaQueues(prefix string) []string {
	var out []string
	for _, q := range []string{events.QueueOrderCreated, events.QueueStockResults} {
		out = append(out, prefix+q, prefix+q+".dlq")
	}
	return out
}
