package events

// The event contract of api/events.yaml in one place: the exchange both services publish to by
// default, the routing key of every event, and the durable queue each consumer owns (a
// deployment may prefix queue names, e.g. AMQP_QUEUE_PREFIX; dead-letter queues add ".dlq").
const (
	// DefaultExchange is the durable topic exchange all events go through.
	DefaultExchange = "orders"

	KeyOrderCreated   = "order.created"   // order-service → product-service
	KeyOrderCancelled = "order.cancelled" // order-service → product-service
	KeyStockResults   = "stock.results"   // product-service → order-service, one per reservation transaction
	KeyProductUpdated = "product.updated" // product-service → every order-service replica
	KeyProductDeleted = "product.deleted" // product-service → every order-service replica

	// QueueOrderCreated is product-service's queue of order.created and order.cancelled.
	QueueOrderCreated = "product-service__order-created"
	// QueueStockResults is order-service's queue of stock.results.
	QueueStockResults = "order-service__stock-results"
	// QueueProductChangesDLQ is the dead-letter queue that every order-service replica's own
	// (exclusive, per replica) queue of product.updated and product.deleted shares.
	QueueProductChangesDLQ = "order-service__product-changes.dlq"
)

// MustRoute says whether an event with this routing key must reach a queue to count as
// published: the saga's events, which a durable queue always awaits. A publisher sends them
// mandatory and treats a message the broker could not route (no queue bound yet, e.g. right
// after the exchange was renamed and before the consumer migrated its queue) as not published,
// to be retried, instead of letting the broker drop it. product.* events go to per-replica
// queues: with no order-service running nobody needs them, so they are not mandatory.
func MustRoute(routingKey string) bool {
	switch routingKey {
	case KeyOrderCreated, KeyOrderCancelled, KeyStockResults:
		return true
	}
	return false
}
