// Package outbox implements the transactional outbox: a service writes its events into the
// outbox table in the same MySQL transaction as the state change ([Add], or [Insert] inside a
// multi-statement batch), and a [Relay] publishes committed rows to RabbitMQ with publisher
// confirms and deletes them. An event therefore leaves the service if and only if its
// transaction committed, and a broker outage only delays it (POST /orders keeps working while
// RabbitMQ is down).
//
// # Delivery guarantees
//
// At-least-once. The relay claims a batch with SELECT ... FOR UPDATE SKIP LOCKED, publishes it,
// waits for the broker's confirms, then deletes the rows and commits, all in one transaction, so
// several replicas never publish the same row at the same time. A crash between the confirms and
// the commit publishes the batch again later: consumers deduplicate on message_id (= event ID).
// The relay transaction runs at READ COMMITTED so InnoDB takes no gap locks: services can keep
// inserting new outbox rows while a relay holds its batch during a slow publish.
//
// # Operation
//
// Each service copies [TableDDL] into its own migrations, runs one Relay per replica (in an
// errgroup, stopped by cancelling its ctx: it then makes a last bounded attempt to flush) and
// calls [Relay.Notify] after each commit that added events, so latency does not depend on the
// poll interval, and an idle service does not query its database more than every few seconds.
package outbox
