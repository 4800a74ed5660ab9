package loadtest_test

import (
	"bytes"
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shopworks/shop/k6/loadtest"
	"github.com/shopworks/shop/platform/httpx/guard"
	"github.com/shopworks/shop/platform/httpx/telemetry"
)

// A service's /metrics as the services serve it: Go's and the process's collectors (as
// platform/boot registers them) and the load shedder's, through telemetry's handler.
func serviceMetrics(t *testing.T, limit int) *httptest.Server {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	guard.Shed(guard.Shedding{Limit: limit, Registry: reg})
	srv := httptest.NewServer(telemetry.MetricsHandler(reg))
	t.Cleanup(srv.Close)
	return srv
}

// The runner reads the figures an overload is judged by under the names the services use.
func TestScrapeReadsTheServicesMetrics(t *testing.T) {
	srv := serviceMetrics(t, 64)
	m, err := loadtest.ScrapeMetrics(context.Background(), srv.Client(), srv.URL+"/")
	require.NoError(t, err)
	assert.Positive(t, m.Goroutines)
	assert.Equal(t, 64.0, m.ConcurrencyLimit, "shop_http_concurrency_limit starts at MAX_IN_FLIGHT")
	assert.Zero(t, m.ShedTotal)
	if runtime.GOOS == "linux" {
		assert.Positive(t, m.RSSBytes)
		assert.Empty(t, m.Missing)
	}

	// Shedding off (MAX_IN_FLIGHT=0): its metrics are missing, and said to be.
	off := serviceMetrics(t, 0)
	m, err = loadtest.ScrapeMetrics(context.Background(), off.Client(), off.URL)
	require.NoError(t, err)
	assert.Contains(t, m.Missing, "shop_http_shed_total")
	assert.Contains(t, m.Missing, "shop_http_concurrency_limit")
	assert.False(t, m.Has("shop_http_shed_total"))
	assert.True(t, m.Has("go_goroutines"))
}

func TestParseMetrics(t *testing.T) {
	m, err := loadtest.ParseMetrics(strings.NewReader(`# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 73
# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes 5.3e+07
# TYPE shop_http_shed_total counter
shop_http_shed_total 21034
# TYPE shop_http_concurrency_limit gauge
shop_http_concurrency_limit 12
# TYPE shop_http_request_duration_seconds histogram
shop_http_request_duration_seconds_bucket{method="POST",route="/orders",le="0.0005"} 0
shop_http_request_duration_seconds_bucket{method="POST",route="/orders",le="0.1"} 2
shop_http_request_duration_seconds_bucket{method="POST",route="/orders",le="+Inf"} 3
shop_http_request_duration_seconds_sum{method="POST",route="/orders"} 0.1
shop_http_request_duration_seconds_count{method="POST",route="/orders"} 3
shop_http_request_duration_seconds_bucket{method="POST",route="unmatched",le="0.0005"} 7
shop_http_request_duration_seconds_bucket{method="POST",route="unmatched",le="0.1"} 7
shop_http_request_duration_seconds_bucket{method="POST",route="unmatched",le="+Inf"} 7
shop_http_request_duration_seconds_sum{method="POST",route="unmatched"} 0.001
shop_http_request_duration_seconds_count{method="POST",route="unmatched"} 7
`))
	require.NoError(t, err)
	assert.Equal(t, map[string][]loadtest.Bucket{
		"POST /orders":   {{UpperBound: 0.0005, Count: 0}, {UpperBound: 0.1, Count: 2}, {UpperBound: math.Inf(1), Count: 3}},
		"POST unmatched": {{UpperBound: 0.0005, Count: 7}, {UpperBound: 0.1, Count: 7}, {UpperBound: math.Inf(1), Count: 7}},
	}, m.Durations)
	m.Durations = nil
	assert.Equal(t, loadtest.ServiceMetrics{Goroutines: 73, RSSBytes: 53e6, ShedTotal: 21034, ConcurrencyLimit: 12}, m)

	_, err = loadtest.ParseMetrics(strings.NewReader("go_goroutines seventy\n"))
	require.ErrorContains(t, err, "parse metrics")

	_, err = loadtest.ScrapeMetrics(context.Background(), http.DefaultClient, "http://127.0.0.1:1")
	require.ErrorContains(t, err, "scrape http://127.0.0.1:1/metrics")
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) }))
	defer down.Close()
	_, err = loadtest.ScrapeMetrics(context.Background(), down.Client(), down.URL)
	require.ErrorContains(t, err, "answered 503")
}

// The watch scrapes every service until stopped, and records the failures of one that does not
// answer beside the other's figures.
func TestWatchMetricsScrapesEachServiceUntilStopped(t *testing.T) {
	var n atomic.Int64
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("go_goroutines " + strings.Repeat("1", int(n.Add(1)%3)+1) + "\n"))
	}))
	defer up.Close()
	w := loadtest.WatchMetrics([]loadtest.Service{{Name: "up", URL: up.URL}, {Name: "down", URL: "http://127.0.0.1:1"}}, 5*time.Millisecond, time.Second)
	require.Eventually(t, func() bool {
		s := w.Series()
		return len(s[0].Scrapes) >= 3 && len(s[1].Scrapes) >= 3
	}, 10*time.Second, 5*time.Millisecond)
	series := w.Stop()
	require.Len(t, series, 2)
	assert.Equal(t, "up", series[0].Name)
	for _, sc := range series[0].Scrapes {
		assert.Empty(t, sc.Error)
		assert.Positive(t, sc.Goroutines)
		assert.Contains(t, sc.Missing, "process_resident_memory_bytes")
	}
	for _, sc := range series[1].Scrapes {
		assert.Contains(t, sc.Error, "scrape http://127.0.0.1:1/metrics")
	}
	scraped := n.Load()
	assert.Equal(t, len(series[0].Scrapes), len(w.Series()[0].Scrapes), "no scrape after Stop")
	assert.LessOrEqual(t, scraped, int64(len(series[0].Scrapes))+1, "at most the scrape Stop cut short was not recorded")
}

// The overload's phases are reported apart: the warm-up's and the overload's requests by
// status, and the 503s that did not say when to retry.
func TestPhasesSplitTheRunByStatus(t *testing.T) {
	plan := loadtest.OverloadPlan{BaseRate: 100, Rate: 300, Warm: time.Second, Duration: 2 * time.Second, Recovery: time.Second}
	c := loadtest.NewCollector()
	for i := range 10 { // the warm-up: all accepted
		c.Add(loadtest.Sample{At: time.Duration(i) * 100 * time.Millisecond, Latency: 10 * time.Millisecond, Code: 201, Order: true})
	}
	for i := range 20 { // the overload: 5 accepted, 14 shed (one of them without Retry-After), 1 no response
		s := loadtest.Sample{At: time.Second + time.Duration(i)*100*time.Millisecond, Latency: time.Duration(i+1) * time.Millisecond, Code: 503, Failed: true, RetryAfter: i != 7}
		switch {
		case i%4 == 0:
			s = loadtest.Sample{At: s.At, Latency: 200 * time.Millisecond, Code: 201, Order: true}
		case i == 19:
			s = loadtest.Sample{At: s.At, Latency: 10 * time.Second, Failed: true}
		}
		c.Add(s)
	}
	c.Add(loadtest.Sample{At: 3 * time.Second, Latency: time.Millisecond, Code: 201, Order: true}) // the pacer's hit at the end
	require.Len(t, plan.Phases(), 2)
	var phases []loadtest.Phase
	for _, p := range plan.Phases() {
		phases = append(phases, c.Between(p.Name, p.From, p.To))
	}
	warm, overload := phases[0], phases[1]
	assert.Equal(t, "warm-up", warm.Name)
	assert.Equal(t, 10, warm.Requests)
	assert.Equal(t, map[int]int{201: 10}, counts(warm))
	assert.Equal(t, "overload", overload.Name)
	assert.Equal(t, time.Second, overload.From)
	assert.Equal(t, 3*time.Second, overload.To)
	assert.Equal(t, 20, overload.Requests)
	assert.Equal(t, 5, overload.Orders)
	assert.Equal(t, map[int]int{201: 5, 503: 14, 0: 1}, counts(overload))
	assert.Equal(t, 1, overload.ShedWithoutRetryAfter)
	assert.Equal(t, 200*time.Millisecond, overload.Status(201).Latency.P95)
	assert.Equal(t, 19*time.Millisecond, overload.Status(503).Latency.Max)
	assert.Zero(t, overload.Status(500).Count)

	var out bytes.Buffer
	overload.Print(&out)
	assert.Contains(t, out.String(), "overload phase, from 1s to 3s: 20 requests, 5 accepted orders")
	assert.Contains(t, out.String(), "503s without Retry-After...: 1 of 14")
	assert.Regexp(t, `no response\.+: 1 `, out.String())

	assert.Len(t, loadtest.OverloadPlan{Rate: 300, Duration: time.Second}.Phases(), 1, "no warm-up, no warm-up phase")
}

func counts(p loadtest.Phase) map[int]int {
	out := map[int]int{}
	for code, s := range p.ByStatus {
		out[code] = s.Count
	}
	return out
}

// A zero-length stage is a step: the rate jumps, and the schedule's count of hits stays finite.
func TestTheOverloadScheduleSteps(t *testing.T) {
	plan := loadtest.OverloadPlan{BaseRate: 1000, Rate: 3000, Warm: 5 * time.Second, Duration: 10 * time.Second}
	p := loadtest.StagedPacer{Start: plan.StartRate(), Stages: plan.Stages()}
	assert.Equal(t, 1000.0, p.Rate(4*time.Second))
	assert.Equal(t, 3000.0, p.Rate(5*time.Second+time.Millisecond))
	assert.Equal(t, 3000.0, p.Rate(14*time.Second))
	// By 6 s the schedule has sent 5 × 1000 + 1 × 3000 hits: one fewer is due at once, that many
	// waits a third of a millisecond.
	wait, stop := p.Pace(6*time.Second, 7999)
	assert.Zero(t, wait)
	assert.False(t, stop)
	wait, _ = p.Pace(6*time.Second, 8000)
	assert.InDelta(t, float64(time.Second/3000), float64(wait), float64(time.Microsecond))
	_, stop = p.Pace(15*time.Second, 35000)
	assert.True(t, stop)
	assert.Equal(t, 3000.0, loadtest.OverloadPlan{Rate: 3000}.StartRate(), "no warm-up starts at the overload's rate")
}

func timed(sc loadtest.Scrape, d map[string][]loadtest.Bucket) loadtest.Scrape {
	sc.Durations = d
	return sc
}

// overloadSeries is two services' scrapes around an overload from 1 s to 3 s after start: one
// comes back at rest half a second after it (after a dip and a rise), the other never does and
// grows past the memory limit.
func overloadSeries(start time.Time) []loadtest.ServiceSeries {
	at := func(ms int) time.Time { return start.Add(time.Duration(ms) * time.Millisecond) }
	scrape := func(ms int, goroutines, rssMB, shed float64) loadtest.Scrape {
		return loadtest.Scrape{At: at(ms), ServiceMetrics: loadtest.ServiceMetrics{Goroutines: goroutines, RSSBytes: rssMB * 1e6, ShedTotal: shed, ConcurrencyLimit: 128 - shed/10}}
	}
	// The order-service's own timing: 100 orders before the overload, all within 10 ms; at the
	// end 200 more (150 within 10 ms, 40 more within 250 ms, 10 slower than its last bucket),
	// 1000 shed within 0.5 ms, and the scrapes of /metrics, which are not reported.
	buckets := func(c ...uint64) []loadtest.Bucket {
		return []loadtest.Bucket{{UpperBound: 0.0005, Count: c[0]}, {UpperBound: 0.01, Count: c[1]}, {UpperBound: 0.25, Count: c[2]}, {UpperBound: math.Inf(1), Count: c[3]}}
	}
	before := map[string][]loadtest.Bucket{"POST /orders": buckets(0, 100, 100, 100), "GET /metrics": buckets(5, 5, 5, 5)}
	after := map[string][]loadtest.Bucket{"POST /orders": buckets(0, 250, 290, 300), "POST unmatched": buckets(1000, 1000, 1000, 1000), "GET /metrics": buckets(20, 20, 20, 20)}
	order := loadtest.ServiceSeries{Service: loadtest.Service{Name: "order-service", URL: "http://o"}, Scrapes: []loadtest.Scrape{
		scrape(-500, 40, 30, 0), scrape(-250, 50, 30, 0), // at rest: baseline 50, back at ≤ 70
		timed(scrape(500, 90, 35, 0), before), scrape(1500, 900, 60, 400), scrape(2500, 1200, 70, 900),
		{At: at(2750), Error: "scrape http://o/metrics: context deadline exceeded"},
		scrape(3000, 60, 65, 1000), scrape(3250, 300, 65, 1000), // back, then up again: not yet back
		scrape(3500, 70, 60, 1000), scrape(3750, 55, 55, 1000), timed(scrape(4750, 52, 50, 1000), after),
	}}
	product := loadtest.ServiceSeries{Service: loadtest.Service{Name: "product-service", URL: "http://p"}, Scrapes: []loadtest.Scrape{
		scrape(-250, 30, 20, 0), scrape(2000, 400, 120, 0), scrape(4000, 400, 130, 0),
	}}
	return []loadtest.ServiceSeries{product, order}
}

func overloadPhase() loadtest.Phase {
	return loadtest.Phase{Name: "overload", From: time.Second, To: 3 * time.Second, Requests: 1000, ByStatus: map[int]loadtest.StatusStats{
		201: {Count: 100, Latency: loadtest.Percentiles{Med: 40 * time.Millisecond, P95: 120 * time.Millisecond}},
		503: {Count: 900, Latency: loadtest.Percentiles{Med: 2 * time.Millisecond, P95: 30 * time.Millisecond}},
	}}
}

var limits = loadtest.OverloadLimits{ShedP95: 50 * time.Millisecond, AcceptedP95: 300 * time.Millisecond, RSSBytes: 100e6, Recovery: 10 * time.Second}

func TestAnalyzeOverloadJudgesEachService(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	plan := loadtest.OverloadPlan{BaseRate: 100, Rate: 300, Warm: time.Second, Duration: 2 * time.Second, Recovery: 2 * time.Second}
	o := loadtest.AnalyzeOverload(plan, limits, overloadPhase(), start, overloadSeries(start), true)

	require.Len(t, o.Services, 2)
	product, order := o.Services[0], o.Services[1]
	assert.Equal(t, 50.0, order.BaselineGoroutines, "the most at rest, before the run")
	assert.Equal(t, 70.0, order.GoroutinesBackAt, "baseline + 20 (more than × 1.2)")
	assert.Equal(t, 1200.0, order.MaxGoroutines)
	assert.Equal(t, 70e6, order.MaxRSSBytes)
	assert.Equal(t, 1000.0, order.Shed)
	assert.Equal(t, 28.0, order.MinConcurrencyLimit)
	assert.Equal(t, 11, order.Scrapes)
	assert.Equal(t, 1, order.ScrapeErrors)
	assert.Contains(t, order.LastError, "deadline exceeded")
	assert.True(t, order.Recovered)
	assert.Equal(t, 500*time.Millisecond, order.RecoveredAfter, "from the scrape at 3.5 s on, every one is back")
	assert.Equal(t, []loadtest.Served{
		{Route: "POST unmatched", Count: 1000, P50: 500 * time.Microsecond, P95: 500 * time.Microsecond, P99: 500 * time.Microsecond},
		{Route: "POST /orders", Count: 200, P50: 10 * time.Millisecond, P95: 250 * time.Millisecond, P99: -1},
	}, order.Served, "from the last scrape before the overload to the last one; not the scrapes")
	assert.Empty(t, product.Served, "no histogram")
	assert.False(t, product.Recovered)
	assert.Equal(t, 130e6, product.MaxRSSBytes)
	assert.Equal(t, 1200.0, loadtest.GoroutinesBack(1000), "× 1.2 when that is more than + 20")

	checks := map[string]loadtest.Check{}
	for _, c := range o.Checks {
		checks[c.Name] = c
	}
	assert.Equal(t, loadtest.Check{Name: "503 p(95) ≤ 50ms", Value: "30.00ms (900 answered 503)", OK: true}, checks["503 p(95) ≤ 50ms"])
	assert.Equal(t, loadtest.Check{Name: "201 p(95) < 300ms", Value: "120.00ms (100 accepted)", OK: true}, checks["201 p(95) < 300ms"])
	assert.Equal(t, loadtest.Check{Name: "every 503 carries Retry-After", Value: "0 of 900 without", OK: true}, checks["every 503 carries Retry-After"])
	assert.Equal(t, loadtest.Check{Name: "order-service RSS ≤ 100.0 MB", Value: "max 70.0 MB", OK: true}, checks["order-service RSS ≤ 100.0 MB"])
	assert.Equal(t, loadtest.Check{Name: "product-service RSS ≤ 100.0 MB", Value: "max 130.0 MB"}, checks["product-service RSS ≤ 100.0 MB"])
	assert.True(t, checks["order-service goroutines back within 10s"].OK)
	assert.Equal(t, "500.00ms after (50 at rest, back at ≤ 70, max 1200)", checks["order-service goroutines back within 10s"].Value)
	assert.False(t, checks["product-service goroutines back within 10s"].OK)
	assert.Equal(t, "not back within the 2s watched (30 at rest, back at ≤ 50, max 400)", checks["product-service goroutines back within 10s"].Value)

	var crossed []string
	for _, c := range o.Crossed() {
		crossed = append(crossed, c.Name)
	}
	assert.Equal(t, []string{"product-service RSS ≤ 100.0 MB", "product-service goroutines back within 10s"}, crossed)
	assert.False(t, o.BackFor(0), "product-service is not back")

	// Only the order-service: back since 3.5 s, and the last scrape is 1.25 s later.
	o = loadtest.AnalyzeOverload(plan, limits, overloadPhase(), start, overloadSeries(start)[1:], true)
	assert.True(t, o.BackFor(time.Second))
	assert.False(t, o.BackFor(2*time.Second))
	// Back later than the limit allows.
	strict := limits
	strict.Recovery = 100 * time.Millisecond
	o = loadtest.AnalyzeOverload(plan, strict, overloadPhase(), start, overloadSeries(start)[1:], true)
	require.Len(t, o.Crossed(), 1)
	assert.Equal(t, "order-service goroutines back within 100ms", o.Crossed()[0].Name)
}

// What cannot be measured does not pass: no 201 at all, 503s without Retry-After, a service
// never scraped before the run or without a memory figure.
func TestAnalyzeOverloadFailsWhatItCannotMeasure(t *testing.T) {
	start := time.Now()
	plan := loadtest.OverloadPlan{Rate: 300, Duration: time.Second, Recovery: time.Second}
	phase := loadtest.Phase{Name: "overload", ByStatus: map[int]loadtest.StatusStats{503: {Count: 10}}, ShedWithoutRetryAfter: 3}
	late := loadtest.ServiceSeries{Service: loadtest.Service{Name: "order-service"}, Scrapes: []loadtest.Scrape{
		{At: start.Add(2 * time.Second), ServiceMetrics: loadtest.ServiceMetrics{Goroutines: 10, Missing: []string{"process_resident_memory_bytes"}}},
	}}
	o := loadtest.AnalyzeOverload(plan, limits, phase, start, []loadtest.ServiceSeries{late}, false)
	values := map[string]string{}
	for _, c := range o.Crossed() {
		values[c.Name] = c.Value
	}
	assert.Equal(t, map[string]string{
		"201 p(95) < 300ms":                        "no 201 in the overload phase: nothing accepted",
		"every 503 carries Retry-After":            "3 of 10 without",
		"order-service RSS ≤ 100.0 MB":             "not measured (process_resident_memory_bytes not scraped)",
		"order-service goroutines back within 10s": "no baseline: /metrics not scraped before the run",
	}, values)
	assert.False(t, o.Enforced)

	none := loadtest.AnalyzeOverload(plan, limits, loadtest.Phase{}, start, nil, true)
	assert.Equal(t, "no 503 in the overload phase", none.Checks[0].Value)
	assert.True(t, none.Checks[0].OK)
	assert.False(t, none.BackFor(0), "no service watched: nothing is known to be back")
}

// The summary marks the overload's thresholds ✓/✗ at the top, gives the overload phase by status
// and what each service's /metrics said; the plot draws each service's goroutines and memory.
func TestOverloadSummaryAndPlot(t *testing.T) {
	start := time.Now()
	plan := loadtest.OverloadPlan{BaseRate: 100, Rate: 300, Warm: time.Second, Duration: 2 * time.Second, Recovery: 2 * time.Second}
	phase := overloadPhase()
	report := loadtest.AnalyzeOverload(plan, limits, phase, start, overloadSeries(start), false)
	s := loadtest.Summary{Scenario: "overload", Shape: plan.Shape(), Started: start, Requests: 1100, Duration: 3 * time.Second,
		StatusCodes: map[int]int{201: 200, 503: 900}, Phases: []loadtest.Phase{phase}, Overload: &report}
	for i := range 3 {
		s.Seconds = append(s.Seconds, loadtest.Second{Second: i, Target: 100, Requests: 100, P50ms: 2, P95ms: 30, P99ms: 40})
	}
	var out bytes.Buffer
	s.Print(&out)
	text := out.String()
	t.Log(text)
	assert.Contains(t, text, "overload — 100/s for 1s, then 300/s for 2s, then up to 2s without load")
	assert.Contains(t, text, "thresholds of the overload (reported, not enforced):\n  ✓ 503 p(95) ≤ 50ms: 30.00ms (900 answered 503)\n")
	assert.Contains(t, text, "✗ product-service RSS ≤ 100.0 MB: max 130.0 MB")
	assert.Contains(t, text, "overload phase, from 1s to 3s: 1000 requests")
	assert.Regexp(t, `503s\.+: 900  med=2\.00ms p\(95\)=30\.00ms`, text)
	assert.Contains(t, text, "order-service (http://o): 11 scrapes, 1 failed")
	assert.Contains(t, text, "50 at rest → max 1200; back 500.00ms after the overload (≤ 70)")
	assert.Contains(t, text, "30 at rest → max 400; not back within the watch (≤ 50)")
	assert.Contains(t, text, "max 130.0 MB")
	assert.Contains(t, text, "1000 (shop_http_shed_total over the run); concurrency limit down to 28")
	assert.Contains(t, text, "    its own timing............: POST unmatched: 1000, p50 ≤ 500.00µs p95 ≤ 500.00µs p99 ≤ 500.00µs\n"+
		"                                POST /orders: 200, p50 ≤ 10.00ms p95 ≤ 250.00ms p99 above the last bucket\n")
	assert.NotContains(t, text, "http_req_duration p(95)<", "the overall thresholds do not apply under overload")

	var img bytes.Buffer
	require.NoError(t, loadtest.WritePlotSVG(&img, s))
	texts := svgTexts(t, img.Bytes())
	for _, want := range []string{
		"goroutines per service (go_goroutines) — product-service not back, order-service back 500.00ms after",
		"resident memory per service (process_resident_memory_bytes)", "RSS (MB)", "goroutines (log scale)",
		"overload (300/s)", "order-service back at ≤ 70", "threshold RSS ≤ 100 MB", "order-service", "product-service",
	} {
		assert.Contains(t, texts, want)
	}
}
