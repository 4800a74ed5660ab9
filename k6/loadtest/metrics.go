package loadtest

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// The figures of a service's /metrics an overload run watches: Go's and the process collector's
// (platform/boot) and the load shedder's (platform/httpx/shed.go).
const (
	metricGoroutines = "go_goroutines"
	metricRSS        = "process_resident_memory_bytes"
	metricShed       = "shop_http_shed_total"
	metricLimit      = "shop_http_concurrency_limit"
	metricDuration   = "shop_http_request_duration_seconds" // by route and method (platform/httpx/metrics.go)
)

// ServiceMetrics is what one scrape of a service's /metrics says about its load.
type ServiceMetrics struct {
	Goroutines       float64 `json:"goroutines"`
	RSSBytes         float64 `json:"rssBytes"`
	ShedTotal        float64 `json:"shedTotal"`        // requests answered 503 at once since the start
	ConcurrencyLimit float64 `json:"concurrencyLimit"` // requests the service runs at once now
	// Missing names the metrics the service does not expose (e.g. the shedder's when
	// MAX_IN_FLIGHT=0 turns shedding off, the process's where there is no /proc).
	Missing []string `json:"missing,omitempty"`
	// Durations is the service's own histogram of its requests' time in its handlers, by
	// "METHOD route" (cumulative buckets); only differences between two scrapes are read.
	Durations map[string][]Bucket `json:"-"`
}

// Bucket is one cumulative bucket of a histogram: Count observations took at most UpperBound.
type Bucket struct {
	UpperBound float64 // seconds; +Inf for the last
	Count      uint64
}

// Has reports whether the scrape found the metric.
func (m ServiceMetrics) Has(name string) bool {
	for _, n := range m.Missing {
		if n == name {
			return false
		}
	}
	return true
}

// ParseMetrics reads the Prometheus text format. A metric with several label sets is their sum
// (the services expose each of these once, without labels).
func ParseMetrics(r io.Reader) (ServiceMetrics, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(r)
	if err != nil {
		return ServiceMetrics{}, fmt.Errorf("parse metrics: %w", err)
	}
	var m ServiceMetrics
	for _, f := range []struct {
		name string
		dst  *float64
	}{{metricGoroutines, &m.Goroutines}, {metricRSS, &m.RSSBytes}, {metricShed, &m.ShedTotal}, {metricLimit, &m.ConcurrencyLimit}} {
		v, ok := familyValue(families[f.name])
		if !ok {
			m.Missing = append(m.Missing, f.name)
			continue
		}
		*f.dst = v
	}
	if f := families[metricDuration]; f != nil {
		m.Durations = map[string][]Bucket{}
		for _, h := range f.GetMetric() {
			if h.Histogram == nil {
				continue
			}
			labels := map[string]string{}
			for _, l := range h.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			var buckets []Bucket
			for _, b := range h.GetHistogram().GetBucket() {
				buckets = append(buckets, Bucket{UpperBound: b.GetUpperBound(), Count: b.GetCumulativeCount()})
			}
			if n := len(buckets); n == 0 || !math.IsInf(buckets[n-1].UpperBound, 1) {
				buckets = append(buckets, Bucket{UpperBound: math.Inf(1), Count: h.GetHistogram().GetSampleCount()})
			}
			m.Durations[labels["method"]+" "+labels["route"]] = buckets
		}
	}
	return m, nil
}

// familyValue is the sum of a gauge, counter or untyped family's samples.
func familyValue(f *dto.MetricFamily) (float64, bool) {
	if f == nil || len(f.GetMetric()) == 0 {
		return 0, false
	}
	sum := 0.0
	for _, m := range f.GetMetric() {
		switch {
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Untyped != nil:
			sum += m.GetUntyped().GetValue()
		default:
			return 0, false // a histogram or summary has no one value
		}
	}
	return sum, true
}

// ScrapeMetrics reads baseURL/metrics once.
func ScrapeMetrics(ctx context.Context, client *http.Client, baseURL string) (ServiceMetrics, error) {
	url := strings.TrimRight(baseURL, "/") + "/metrics"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return ServiceMetrics{}, fmt.Errorf("scrape %s: %w", url, err)
	}
	req.Header.Set("Accept", string(expfmt.NewFormat(expfmt.TypeTextPlain))) // the text format, not protobuf
	resp, err := client.Do(req)
	if err != nil {
		return ServiceMetrics{}, fmt.Errorf("scrape %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		return ServiceMetrics{}, fmt.Errorf("scrape %s: answered %d", url, resp.StatusCode)
	}
	m, err := ParseMetrics(resp.Body)
	if err != nil {
		return ServiceMetrics{}, fmt.Errorf("scrape %s: %w", url, err)
	}
	return m, nil
}

// Service is a service whose /metrics a run watches.
type Service struct {
	Name string `json:"name"`
	URL  string `json:"url"`
}

// Scrape is one reading of a service's metrics; Error says why there is none.
type Scrape struct {
	At time.Time `json:"at"`
	ServiceMetrics
	Error string `json:"error,omitempty"`
}

// ServiceSeries is every scrape of one service, oldest first.
type ServiceSeries struct {
	Service
	Scrapes []Scrape
}

// MetricsWatch scrapes services' /metrics in the background, each service on its own so that a
// slow answer of one does not delay the other.
type MetricsWatch struct {
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	transport *http.Transport

	mu     sync.Mutex
	series []ServiceSeries
}

// WatchMetrics starts scraping every service every period (a scrape waits at most timeout); Stop
// ends it.
func WatchMetrics(services []Service, every, timeout time.Duration) *MetricsWatch {
	ctx, cancel := context.WithCancel(context.Background())
	w := &MetricsWatch{cancel: cancel, transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	client := &http.Client{Transport: w.transport, Timeout: timeout}
	// Every series exists before the first scraper runs: appending later would move the slice
	// under the scrapers' feet.
	for _, s := range services {
		w.series = append(w.series, ServiceSeries{Service: s})
	}
	for i, s := range services {
		w.wg.Add(1)
		go func() { // owned by w: Stop cancels ctx and waits
			defer w.wg.Done()
			tick := time.NewTicker(every)
			defer tick.Stop()
			for {
				at := time.Now()
				m, err := ScrapeMetrics(ctx, client, s.URL)
				if ctx.Err() != nil {
					return // a scrape cut by Stop is not a failure of the service
				}
				sc := Scrape{At: at, ServiceMetrics: m}
				if err != nil {
					sc.Error = err.Error()
				}
				w.mu.Lock()
				w.series[i].Scrapes = append(w.series[i].Scrapes, sc)
				w.mu.Unlock()
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
			}
		}()
	}
	return w
}

// Series is a copy of the scrapes so far.
func (w *MetricsWatch) Series() []ServiceSeries {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]ServiceSeries, len(w.series))
	for i, s := range w.series {
		out[i] = ServiceSeries{Service: s.Service, Scrapes: append([]Scrape(nil), s.Scrapes...)}
	}
	return out
}

// Stop ends the scraping, closes its connections and returns every scrape.
func (w *MetricsWatch) Stop() []ServiceSeries {
	w.cancel()
	w.wg.Wait()
	w.transport.CloseIdleConnections()
	return w.Series()
}
