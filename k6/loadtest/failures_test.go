package loadtest_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shopworks/shop/k6/loadtest"
	"github.com/shopworks/shop/platform/testkit"
)

func TestQueuesEmptyReportsWhatItFinds(t *testing.T) {
	require.ErrorContains(t, loadtest.QueuesEmpty("amqp://guest:guest@127.0.0.1:1/", []string{"q"}, time.Second), "connect to RabbitMQ")

	name := "loadtest_q_" + testkit.Suffix()
	require.ErrorContains(t, loadtest.QueuesEmpty(testkit.RabbitURL(), []string{name}, time.Second), "queue "+name, "a queue that does not exist")

	conn, err := amqp.Dial(testkit.RabbitURL())
	require.NoError(t, err)
	defer conn.Close()
	ch, err := conn.Channel()
	require.NoError(t, err)
	defer ch.Close()
	_, err = ch.QueueDeclare(name, false, true, false, false, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = ch.QueueDelete(name, false, false, false) })
	require.NoError(t, loadtest.QueuesEmpty(testkit.RabbitURL(), []string{name}, time.Second))

	require.NoError(t, ch.PublishWithContext(context.Background(), "", name, false, false, amqp.Publishing{Body: []byte("x")}))
	require.Eventually(t, func() bool {
		q, err := ch.QueueDeclarePassive(name, false, true, false, false, nil)
		return err == nil && q.Messages == 1
	}, 5*time.Second, 20*time.Millisecond)
	err = loadtest.QueuesEmpty(testkit.RabbitURL(), []string{name}, 300*time.Millisecond)
	require.ErrorContains(t, err, name+" holds 1")
}

func TestSetupReportsServicesThatRefuse(t *testing.T) {
	// A shop whose APIs answer errors: the setup says which step failed and with what status.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"type":"about:blank","title":"down","status":503,"code":"SERVICE_UNAVAILABLE"}`))
	}))
	defer srv.Close()
	shop, err := loadtest.NewShop(srv.URL+"/", srv.URL)
	require.NoError(t, err)
	assert.Equal(t, srv.URL, shop.ProductsURL, "trailing slash trimmed")
	_, _, err = shop.Setup(context.Background(), 10)
	require.ErrorContains(t, err, "create product answered 503")
}

// MeasureBroker is the broker line of `make bench-baseline`: it must move real messages through
// a quorum queue, never count more than it published, and leave no queue behind.
func TestMeasureBrokerMovesMessagesAndCleansUp(t *testing.T) {
	testkit.RequireTCP(t, "RabbitMQ", "127.0.0.1:5672")
	_, err := loadtest.MeasureBroker(context.Background(), "amqp://guest:guest@127.0.0.1:1/", "x", time.Second)
	require.ErrorContains(t, err, "connect to RabbitMQ")

	b, err := loadtest.MeasureBroker(context.Background(), testkit.RabbitURL(), "loadtest-"+testkit.Suffix()+"-", 500*time.Millisecond)
	require.NoError(t, err)
	assert.Positive(t, b.Consumed)
	assert.LessOrEqual(t, b.Consumed, b.Published)
	assert.Positive(t, b.Rate())
	assert.Zero(t, loadtest.BrokerBaseline{}.Rate())

	conn, err := amqp.Dial(testkit.RabbitURL())
	require.NoError(t, err)
	defer conn.Close()
	ch, err := conn.Channel()
	require.NoError(t, err)
	_, err = ch.QueueDeclarePassive(b.Queue, true, false, false, false, nil)
	var amqpErr *amqp.Error
	require.ErrorAs(t, err, &amqpErr, "the scratch queue %s must be gone", b.Queue)
	assert.Equal(t, amqp.NotFound, amqpErr.Code)
}
