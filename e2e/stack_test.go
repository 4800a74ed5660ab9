package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/stretchr/testify/require"

	apidocs "github.com/shopworks/shop/api"
	"github.com/shopworks/shop/clients/events"
	"github.com/shopworks/shop/clients/orderclient"
	"github.com/shopworks/shop/clients/productclient"
	"github.com/shopworks/shop/platform/amqpx"
	"github.com/shopworks/shop/platform/httpx/validate"
	"github.com/shopworks/shop/platform/testkit"
)

// unavailable fails under CI=true and skips elsewhere.
func unavailable(t testing.TB, what string, err error) { testkit.Unavailable(t, what, err) }

// syncBuffer collects a process's log lines for assertions (e.g. finding a request ID).
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// service is one running service process.
type service struct {
	name string
	bin  string
	env  map[string]string
	url  string
	logs *syncBuffer
	cmd  *exec.Cmd
	done chan error
}

func (s *service) start(t testing.TB) {
	t.Helper()
	cmd := exec.Command(s.bin)
	cmd.Env = append(os.Environ(), envList(s.env)...)
	cmd.Env = append(cmd.Env, "GOCOVERDIR="+binaries.coverDir)
	cmd.Stdout, cmd.Stderr = s.logs, s.logs
	require.NoError(t, cmd.Start(), "start %s", s.name)
	s.cmd = cmd
	s.done = make(chan error, 1)
	go func() { s.done <- cmd.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(s.url + "/healthz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case err := <-s.done:
			t.Fatalf("%s exited during start: %v\nenv:\n%s\nlogs:\n%s", s.name, err, redactEnv(envList(s.env)), s.logs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not healthy after 60 s\nlogs:\n%s", s.name, s.logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits for a graceful exit; a service that does not stop is a failure.
func (s *service) stop(t testing.TB) {
	t.Helper()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("%s did not exit cleanly on SIGTERM: %v\nlogs:\n%s", s.name, err, tail(s.logs.String(), 40))
		}
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
		t.Errorf("%s did not stop within 30 s of SIGTERM", s.name)
	}
	s.cmd = nil
}

// stack is one private deployment of both services.
type stack struct {
	product, order *service
	productURL     string
	orderURL       string
	products       *productclient.ClientWithResponses
	orders         *orderclient.ClientWithResponses
	exchange       string
	queuePrefix    string
	productDSN     string
	orderDSN       string
	redisPrefix    string
	tracing        bool // the services export spans (OTEL_EXPORTER_OTLP_ENDPOINT set)
}

func freePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
}

// stackOption changes the environment of a stack before it starts.
type stackOption func(productEnv, orderEnv map[string]string)

// startStack starts product-service then order-service, and stops and cleans both up at the end.
func startStack(t testing.TB, opts ...stackOption) *stack {
	t.Helper()
	testkit.RequireTCP(t, "RabbitMQ", "127.0.0.1:5672")
	_, redisPrefix := testkit.Redis(t)
	s := &stack{
		exchange:    "e2e_orders_" + testkit.Suffix(),
		queuePrefix: "e2e_" + testkit.Suffix() + "_",
		productDSN:  testkit.NewDatabase(t, "e2e_product"),
		orderDSN:    testkit.NewDatabase(t, "e2e_order"),
		redisPrefix: redisPrefix,
	}
	pPort, oPort := freePort(t), freePort(t)
	s.productURL = "http://127.0.0.1:" + pPort
	s.orderURL = "http://127.0.0.1:" + oPort
	common := map[string]string{
		"REDIS_URL":         "redis://" + testkit.RedisAddr(),
		"REDIS_KEY_PREFIX":  redisPrefix,
		"RABBIT_URL":        testkit.RabbitURL(),
		"AMQP_EXCHANGE":     s.exchange,
		"AMQP_QUEUE_PREFIX": s.queuePrefix,
		"LOG_LEVEL":         "debug",
	}
	pEnv := map[string]string{"PORT": pPort, "DATABASE_URL": s.productDSN, "ORDERS_BASE": s.orderURL}
	oEnv := map[string]string{"PORT": oPort, "MYSQL_DSN": s.orderDSN, "PRODUCT_BASE_URL": s.productURL}
	for k, v := range common {
		pEnv[k], oEnv[k] = v, v
	}
	for _, o := range opts {
		o(pEnv, oEnv)
	}
	s.tracing = oEnv["OTEL_EXPORTER_OTLP_ENDPOINT"] != "" && pEnv["OTEL_EXPORTER_OTLP_ENDPOINT"] != ""
	s.product = &service{name: "product-service", bin: binaries.product, env: pEnv, url: s.productURL, logs: &syncBuffer{}}
	s.order = &service{name: "order-service", bin: binaries.order, env: oEnv, url: s.orderURL, logs: &syncBuffer{}}
	t.Cleanup(func() {
		s.order.stop(t)
		s.product.stop(t)
		if t.Failed() {
			t.Logf("product-service logs:\n%s", tail(s.product.logs.String(), 60))
			t.Logf("order-service logs:\n%s", tail(s.order.logs.String(), 60))
		}
		s.deleteBrokerObjects(t)
	})
	s.product.start(t)
	s.order.start(t)

	var err error
	s.products, err = productclient.New(s.productURL, productclient.Options{HTTPClient: &http.Client{
		Timeout: 10 * time.Second, Transport: testkit.NewContractTransport(t, loadSpec(t, "product-service.yaml")),
	}})
	require.NoError(t, err)
	s.orders, err = orderclient.New(s.orderURL, orderclient.Options{HTTPClient: &http.Client{
		Timeout: 10 * time.Second, Transport: testkit.NewContractTransport(t, loadSpec(t, "order-service.yaml")),
	}})
	require.NoError(t, err)
	return s
}

// queueNames are the durable queues a stack declares (and their dead-letter queues).
func (s *stack) queueNames() []string {
	var out []string
	for _, q := range []string{events.QueueOrderCreated, events.QueueStockResults} {
		out = append(out, s.queuePrefix+q, s.queuePrefix+q+".dlq")
	}
	return append(out, s.queuePrefix+events.QueueProductChangesDLQ)
}

func (s *stack) deleteBrokerObjects(t testing.TB) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	conn, err := amqpx.Dial(ctx, amqpx.Config{URL: testkit.RabbitURL(), Exchange: s.exchange, ConnectionName: "e2e-cleanup"}, nil, nil)
	if err != nil {
		t.Logf("cleanup: %v", err)
		return
	}
	defer conn.Close()
	for _, q := range append(s.queueNames(), s.queuePrefix+"e2e-probe.dlq") { // and the probe's
		_ = conn.DeleteQueue(q)
	}
	_ = conn.DeleteExchange(s.exchange)
	_ = conn.DeleteExchange(s.exchange + ".dlx")
}

var specs sync.Map

// loadSpec parses one of the documents the services serve (api/bundled, through the api module).
func loadSpec(t testing.TB, name string) *openapi3.T {
	t.Helper()
	if v, ok := specs.Load(name); ok {
		return v.(*openapi3.T)
	}
	docs := map[string]func() []byte{
		"product-service.yaml": apidocs.ProductService, "order-service.yaml": apidocs.OrderService,
		"event-schemas.yaml": apidocs.EventSchemas,
	}
	raw, ok := docs[name]
	require.True(t, ok, "no document %s", name)
	doc, err := validate.LoadSpec(raw())
	require.NoError(t, err)
	specs.Store(name, doc)
	return doc
}

func tail(s string, lines int) string {
	parts := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}
