package loadtest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// Stage is one leg of a k6-style ramping arrival rate: the rate moves linearly from the
// previous stage's target to Target over Duration.
type Stage struct {
	Duration time.Duration
	Target   float64
}

// OriginalStages is the original k6 scenario: warm 200 → 400 → 700 → 1000 iterations/s over
// 30 s, then steady 1000/s for 30 s.
func OriginalStages() []Stage {
	return []Stage{{10 * time.Second, 400}, {10 * time.Second, 700}, {10 * time.Second, 1000}, {30 * time.Second, 1000}}
}

// Attack is one open-loop run of a request mix at a rate schedule.
type Attack struct {
	Name      string
	StartRate float64
	Stages    []Stage
	Targeter  vegeta.Targeter
	Timeout   time.Duration
	Progress  io.Writer // a line per second; nil for none
	// OnResult sees every result (e.g. to collect the ids of created orders).
	OnResult func(*vegeta.Result)
	// Meter, when set, measures CPU from MeasureFrom (the start of the steady phase) to the
	// end of the attack; the summary's CPU table covers only that window.
	Meter       *CPUMeter
	MeasureFrom time.Duration
	// Phases are parts of the schedule the summary reports apart (Summary.Phases).
	Phases []PhaseSpan
}

// Failed reports whether a result counts as failed: a transport error or a status >= 400
// (k6's http_req_failed with the default expected statuses).
func Failed(r *vegeta.Result) bool { return r.Error != "" || r.Code == 0 || r.Code >= 400 }

// AcceptedOrder reports whether a result is an accepted order: the runs' only POST is
// POST /orders, and 201 means the order was stored.
func AcceptedOrder(r *vegeta.Result) bool {
	return r.Method == http.MethodPost && r.Code == http.StatusCreated
}

// Run plays the attack and returns its summary.
func (a Attack) Run(ctx context.Context) Summary {
	timeout := a.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	// The attack's own transport (keep-alive, its default), so that its connections are closed
	// when it ends: the clients leave, as after a real burst, and the services' per-connection
	// goroutines end. Left idle they would stay open until the server's idle timeout (120 s).
	transport := &http.Transport{Proxy: http.ProxyFromEnvironment, DialContext: (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext}
	defer transport.CloseIdleConnections()
	attacker := vegeta.NewAttacker(vegeta.Client(&http.Client{Transport: transport}), vegeta.Timeout(timeout),
		vegeta.Connections(10000), vegeta.MaxConnections(0), vegeta.Workers(64), vegeta.MaxWorkers(4096), vegeta.HTTP2(false))
	col := NewCollector()
	pacer := StagedPacer{Start: a.StartRate, Stages: a.Stages}
	targetAt := func(sec int) float64 { return pacer.Rate(time.Duration(sec)*time.Second + time.Second/2) }
	var mu sync.Mutex
	var cpuFrom *CPUSample
	var cpuErr error
	start := time.Now()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // owned by Run: stopped and waited for before Run returns
		defer close(done)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		var measure <-chan time.Time
		if a.Meter != nil {
			t := time.NewTimer(a.MeasureFrom)
			defer t.Stop()
			measure = t.C
		}
		for sec := 0; ; {
			select {
			case <-stop:
				return
			case <-measure:
				s, err := a.Meter.Sample()
				mu.Lock()
				cpuFrom, cpuErr = &s, err
				mu.Unlock()
			case <-tick.C:
				mu.Lock()
				st := col.SecondStats(sec, targetAt(sec))
				mu.Unlock()
				if a.Progress != nil {
					fmt.Fprintf(a.Progress, "  %3ds  target %6.0f/s  achieved %6d/s  p50 %7.2fms  p95 %7.2fms  p99 %7.2fms  errors %d\n",
						sec+1, st.Target, st.Requests, st.P50ms, st.P95ms, st.P99ms, st.Failed)
				}
				sec++
			}
		}
	}()

	for r := range attacker.Attack(a.Targeter, pacer, 0, a.Name) {
		if a.OnResult != nil {
			a.OnResult(r)
		}
		mu.Lock()
		col.Add(Sample{At: r.Timestamp.Sub(start), Latency: r.Latency, Code: int(r.Code), Failed: Failed(r), Order: AcceptedOrder(r),
			RetryAfter: r.Headers.Get("Retry-After") != ""})
		mu.Unlock()
		if ctx.Err() != nil {
			attacker.Stop()
		}
	}
	elapsed := time.Since(start)
	close(stop)
	<-done
	sum := col.Summary(a.Name, elapsed, col.Seconds(elapsed, targetAt))
	sum.Started = start
	for _, p := range a.Phases {
		sum.Phases = append(sum.Phases, col.Between(p.Name, p.From, p.To))
	}
	from := a.MeasureFrom
	if cpuFrom != nil {
		from = cpuFrom.At.Sub(start) // the window the CPU was sampled over
	}
	if from < elapsed {
		steady := col.Since(from)
		sum.Steady = &steady
	}
	switch {
	case a.Meter == nil:
	case cpuErr != nil:
		sum.CPUError = cpuErr.Error()
	case cpuFrom == nil:
		sum.CPUError = fmt.Sprintf("the run ended before the measured window (from %s)", a.MeasureFrom)
	default:
		to, err := a.Meter.Sample()
		if err != nil {
			sum.CPUError = err.Error()
			break
		}
		c := a.Meter.CPUUsage(*cpuFrom, to, start, sum.Steady.Requests, sum.Steady.Orders)
		sum.CPU = &c
	}
	return sum
}

// OrderTargeter posts {productId, qty} to ordersURL/orders.
func OrderTargeter(ordersURL string, productID int64, qty int) vegeta.Targeter {
	body := []byte(fmt.Sprintf(`{"productId":%d,"qty":%d}`, productID, qty))
	return vegeta.NewStaticTargeter(vegeta.Target{
		Method: http.MethodPost, URL: ordersURL + "/orders", Body: body,
		Header: http.Header{"Content-Type": []string{"application/json"}},
	})
}

// MixedTargeter mixes reads with orders: 50 % GET /products/{id}, 20 % GET /orders/product/{id},
// 10 % the BFF, 15 % POST /orders and 5 % POST /orders/{id}/cancel of an order placed earlier in
// the run (taken from placed; a POST /orders while none is there yet) — the shape of
// k6/mixed.test.js.
func MixedTargeter(productsURL, ordersURL string, productID int64, placed *Placed) vegeta.Targeter {
	id := strconv.FormatInt(productID, 10)
	order := OrderTargeter(ordersURL, productID, 1)
	var n atomic.Uint64
	return func(t *vegeta.Target) error {
		switch i := n.Add(1) % 20; {
		case i < 10:
			*t = vegeta.Target{Method: http.MethodGet, URL: productsURL + "/products/" + id}
		case i < 14:
			*t = vegeta.Target{Method: http.MethodGet, URL: ordersURL + "/orders/product/" + id}
		case i < 16:
			*t = vegeta.Target{Method: http.MethodGet, URL: productsURL + "/products/" + id + "-with-orders"}
		case i == 19:
			if oid, ok := placed.Take(); ok {
				*t = vegeta.Target{Method: http.MethodPost, URL: ordersURL + "/orders/" + strconv.FormatInt(oid, 10) + "/cancel"}
				return nil
			}
			return order(t)
		default:
			return order(t)
		}
		return nil
	}
}

// Placed holds orders placed during a run, for the mixed scenario to cancel some of them.
type Placed struct {
	mu  sync.Mutex
	ids []int64
}

// Add records a placed order.
func (p *Placed) Add(id int64) {
	p.mu.Lock()
	p.ids = append(p.ids, id)
	p.mu.Unlock()
}

// Take returns the most recent placed order not taken yet.
func (p *Placed) Take() (int64, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.ids) == 0 {
		return 0, false
	}
	id := p.ids[len(p.ids)-1]
	p.ids = p.ids[:len(p.ids)-1]
	return id, true
}

// GetTargeter reads one URL.
func GetTargeter(url string) vegeta.Targeter {
	return vegeta.NewStaticTargeter(vegeta.Target{Method: http.MethodGet, URL: url})
}

// OrderIDCollector returns an OnResult that records the id of every 201 from POST /orders.
// placed, when not nil, gets every id too.
func OrderIDCollector(placed *Placed) (func(*vegeta.Result), func() []int64) {
	var mu sync.Mutex
	var ids []int64
	on := func(r *vegeta.Result) {
		if !AcceptedOrder(r) {
			return
		}
		var o struct {
			ID int64 `json:"id"`
		}
		if json.Unmarshal(r.Body, &o) == nil && o.ID > 0 {
			mu.Lock()
			ids = append(ids, o.ID)
			mu.Unlock()
			if placed != nil {
				placed.Add(o.ID)
			}
		}
	}
	return on, func() []int64 {
		mu.Lock()
		defer mu.Unlock()
		return append([]int64(nil), ids...)
	}
}

// BareServer serves a small JSON body from a bare net/http handler on a random port: the
// baseline the targets are ratios of. Close it with the returned function.
func BareServer() (string, func() error, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("listen: %w", err)
	}
	body := []byte(`{"createdAt":"2026-11-25T02:19:53.523Z","id":1,"name":"BFF Test","price":1000,"qty":50,"updatedAt":"2026-11-25T02:19:53.523Z"}` + "\n")
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() error {
		err := srv.Close()
		<-done
		return err
	}, nil
}
