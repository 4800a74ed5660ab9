// Package amqpx owns the RabbitMQ connection, topology, confirmed publishing and reliable consuming
// shared by the services; it contains no domain code and knows nothing about event payloads.
//
// # Connection
//
// A service opens exactly one [Conn] with [Dial]. A background goroutine owned by the Conn
// keeps it connected: when the broker goes away it redials with exponential backoff (capped at
// 5 s, jittered) and, on every (re)connect, makes sure the topic exchange [Config.Exchange] and its
// dead-letter exchange "<Exchange>.dlx" (direct) exist — looking first, so that a service whose
// broker user may not configure the shared exchanges (infra/rabbitmq/definitions.json) still
// starts, and declaring them on a bare broker. Publishing and consuming channels are opened on
// whatever connection is current, so they recover too. [Conn.Ready] reports the current state
// for /readyz.
//
// The reconnect loop is ours rather than amqp091-go's Config.Recovery because that feature is
// marked experimental, and because recovery here needs our own semantics: a confirm channel whose
// in-flight publishes fail loudly (so the outbox relay retries them) and consumers that re-run
// their quorum/classic topology declaration instead of replaying a recorded one.
//
// # Publishing
//
// [Conn.Publish] sends a batch on a dedicated confirm-mode channel and returns nil only when the
// broker acked every message. Messages of the routing keys [Config.MustRoute] names go out
// mandatory, and one the broker returns as unroutable fails the batch too ([ErrUnroutable]).
// A nack, a lost channel or connection, or ctx expiring is an error and the caller retries the
// whole batch, so delivery is at-least-once: consumers must be
// idempotent. Publish does not wait for a connection; while disconnected it fails
// at once with [ErrNotConnected], which lets the outbox relay back off instead of holding its
// row locks.
//
// # Consuming
//
// [Conn.Consume] declares the consumer's topology, then hands deliveries to a [Handler] and acks
// only after the handler returned nil. A durable queue Q is a quorum queue (classic durable when
// the broker refuses quorum) dead-lettering to "<Exchange>.dlx" with key "Q.dlq", and "Q.dlq" is
// bound there. Handler errors are retried in-process with exponential backoff up to
// [ConsumerSpec.MaxAttempts]; errors wrapped with [Permanent] skip the retries. After that the
// message is republished, with confirm, to Q.dlq carrying the reason in the x-death-reason header,
// and only then acked; if that publish fails the message is requeued, never dropped. The quorum
// queue's x-delivery-limit catches the remaining case, a message that crashes the process
// every time: the broker itself dead-letters it after deliveryLimit redeliveries.
//
// Exclusive consumers (cache-invalidation broadcasts) get a per-replica auto-delete queue; what
// they give up on goes, the same way, to [ConsumerSpec.DeadLetterQueue], one durable queue shared
// by the replicas (a per-replica DLQ would vanish with the replica or pile up after it).
//
// # Changed queue arguments
//
// A queue's arguments cannot change on the broker, so a configuration that changes them (a
// renamed exchange changes x-dead-letter-exchange) would be refused with 406 PRECONDITION_FAILED.
// The consumer that owns the queue migrates it at start instead — moves its messages through a
// holding queue, recreates it, moves them back — under a lock so that replicas take turns and
// resumably after a crash; see migrate.go and docs/adr/0010-queue-migration.md.
package amqpx
