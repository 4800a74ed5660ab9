package infra

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBrokerUsersAreLeastPrivilege checks infra/rabbitmq/definitions.json offline: one user per
// service, no administrator tag, no configure permission on the shared exchanges, no write on
// the default exchange (which reaches any queue by name, past the topic permissions), and topic
// permissions that let each service publish exactly its own routing keys. The broker enforcing
// them is tested in platform/amqpx (TestServiceBrokerUsers), with this very file.
func TestBrokerUsersAreLeastPrivilege(t *testing.T) {
	var defs rabbitDefinitions
	require.NoError(t, json.Unmarshal([]byte(readFile(t, filepath.Join(infraDir(t), "rabbitmq", "definitions.json"))), &defs))

	users := brokerUsers(t)
	require.Len(t, users, len(services))
	for _, u := range defs.Users {
		assert.Empty(t, u.Tags, "%s: no management tags", u.Name)
	}
	exchanges := map[string]string{}
	for _, x := range defs.Exchanges {
		exchanges[x.Name] = x.Type
		assert.True(t, x.Durable, x.Name)
		assert.Equal(t, "/", x.Vhost)
	}
	assert.Equal(t, map[string]string{"orders": "topic", "orders.dlx": "direct"}, exchanges,
		"the shared exchanges exist before the services, which may not configure them")

	// What each service publishes and consumes (api/events.yaml) and must not publish.
	publishes := map[string][]string{
		"order-service":   {"order.created", "order.cancelled"},
		"product-service": {"stock.results", "product.updated", "product.deleted"},
	}
	binds := map[string][]string{
		// order-service also declares (and binds) product-service's queue, so that an
		// order.created published before product-service ever ran is kept.
		"order-service":   {"stock.results", "product.updated", "product.deleted", "order.created", "order.cancelled"},
		"product-service": {"order.created", "order.cancelled"},
	}
	ownQueues := map[string][]string{
		"order-service":   {"order-service__stock-results", "order-service__stock-results.dlq", "order-service__stock-results.migrating", "order-service__product-changes.dlq", "amq.gen-Xy1"},
		"product-service": {"product-service__order-created", "product-service__order-created.dlq", "product-service__order-created.migrating", "product-service__order-created.migration-lock"},
	}
	for _, s := range services {
		t.Run(s.Name, func(t *testing.T) {
			require.Contains(t, users, s.Name)
			var perm, topic int
			for _, p := range defs.Permissions {
				if p.User != s.Name {
					continue
				}
				perm++
				assert.Equal(t, "/", p.Vhost)
				configure, write, read := regexp.MustCompile(p.Configure), regexp.MustCompile(p.Write), regexp.MustCompile(p.Read)
				for _, x := range []string{"orders", "orders.dlx", "amq.default", "amq.topic"} {
					assert.False(t, configure.MatchString(x), "may configure (delete) the exchange %s", x)
				}
				assert.False(t, write.MatchString("amq.default"), "may write to the default exchange")
				assert.True(t, write.MatchString("orders") && write.MatchString("orders.dlx"), "publishes and dead-letters")
				assert.True(t, read.MatchString("orders") && read.MatchString("orders.dlx"), "binds its queues")
				for _, q := range ownQueues[s.Name] {
					assert.True(t, configure.MatchString(q) && write.MatchString(q), "its queue %s", q)
				}
				for other, qs := range ownQueues {
					if other == s.Name {
						continue
					}
					for _, q := range qs {
						assert.False(t, read.MatchString(q), "may read %s's queue %s", other, q)
					}
				}
			}
			for _, p := range defs.TopicPermissions {
				if p.User != s.Name {
					continue
				}
				topic++
				assert.Equal(t, "orders", p.Exchange)
				write, read := regexp.MustCompile(p.Write), regexp.MustCompile(p.Read)
				for svc, keys := range publishes {
					for _, k := range keys {
						assert.Equal(t, svc == s.Name, write.MatchString(k), "%s publishing %s", s.Name, k)
					}
				}
				for _, k := range binds[s.Name] {
					assert.True(t, read.MatchString(k), "%s binding %s", s.Name, k)
				}
			}
			assert.Equal(t, 1, perm, "one permission entry")
			assert.Equal(t, 1, topic, "one topic permission entry")
		})
	}
}
