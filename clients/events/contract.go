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
