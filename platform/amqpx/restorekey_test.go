package amqpx

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// A delivery that came back through a migration gets its routing key back, but only one its
// queue is bound with: a message put into the holding queue through the dead-letter exchange
// cannot claim another.
func TestRestoreRoutingKey(t *testing.T) {
	spec := ConsumerSpec{Queue: "q", Bindings: []string{"order.created", "order.cancelled"}}
	for name, tc := range map[string]struct {
		key, header, want string
		headerLeft        bool
	}{
		"moved":                     {"q.migrating", "order.cancelled", "order.cancelled", false},
		"moved, key not consumed":   {"q.migrating", "stock.results", "q.migrating", true},
		"moved, no header":          {"q.migrating", "", "q.migrating", false},
		"not moved: header ignored": {"order.created", "order.cancelled", "order.created", true},
	} {
		d := Delivery{RoutingKey: tc.key, Headers: map[string]any{}}
		if tc.header != "" {
			d.Headers[headerMovedRoutingKey] = tc.header
		}
		restoreRoutingKey(&d, spec)
		assert.Equal(t, tc.want, d.RoutingKey, name)
		_, left := d.Headers[headerMovedRoutingKey]
		assert.Equal(t, tc.headerLeft, left, name)
	}
}
