// Package loadtest plays the original k6 scenarios with vegeta as a library: open-loop arrival
// rates (constant and k6-style ramping stages), a live progress line, a k6-like summary,
// summary.json, a latency-and-throughput plot, and — after every run — the invariants that make
// a fast run a correct one (every accepted order exists once, reaches a final status, and the
// stock adds up).
package loadtest

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"time"
)

// Sample is one request's outcome.
type Sample struct {
	At      time.Duration // since the start of the run
	Latency time.Duration
	Code    int
	Failed  bool
}

// Percentiles of a set of latencies.
type Percentiles struct {
	Min, Avg, Med, P90, P95, P99, Max time.Duration
}

// Summarize computes percentiles (nearest rank) of latencies.
func Summarize(latencies []time.Duration) Percentiles {
	if len(latencies) == 0 {
		return Percentiles{}
	}
	s := append([]time.Duration(nil), latencies...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	var sum time.Duration
	for _, l := range s {
		sum += l
	}
	at := func(q float64) time.Duration {
		i := int(math.Ceil(q*float64(len(s)))) - 1
		if i < 0 {
			i = 0
		}
		return s[i]
	}
	return Percentiles{Min: s[0], Avg: sum / time.Duration(len(s)), Med: at(0.5), P90: at(0.9), P95: at(0.95), P99: at(0.99), Max: s[len(s)-1]}
}

// Second is one second of a run, for the progress line and the plot.
type Second struct {
	Second   int     `json:"second"`
	Target   float64 `json:"targetRate"`
	Requests int     `json:"requests"`
	Failed   int     `json:"failed"`
	P50ms    float64 `json:"p50Ms"`
	P95ms    float64 `json:"p95Ms"`
	P99ms    float64 `json:"p99Ms"`
}

// Summary is the result of a run, written to summary.json.
type Summary struct {
	Scenario    string         `json:"scenario"`
	Requests    int            `json:"requests"`
	Failed      int            `json:"failed"`
	FailedRate  float64        `json:"failedRate"`
	Duration    time.Duration  `json:"durationNs"`
	Rate        float64        `json:"rate"`
	Latency     Percentiles    `json:"latencyNs"`
	StatusCodes map[int]int    `json:"statusCodes"`
	Seconds     []Second       `json:"seconds"`
	Thresholds  map[string]any `json:"thresholds,omitempty"`
	Invariants  string         `json:"invariants,omitempty"`
}

// Collector aggregates samples as they arrive.
type Collector struct {
	samples []Sample
	codes   map[int]int
}

// NewCollector returns an empty collector.
func NewCollector() *Collector { return &Collector{codes: map[int]int{}} }

// Add records one sample.
func (c *Collector) Add(s Sample) {
	c.samples = append(c.samples, s)
	c.codes[s.Code]++
}

// SecondStats summarizes the samples that started in second sec.
func (c *Collector) SecondStats(sec int, target float64) Second {
	var lat []time.Duration
	out := Second{Second: sec, Target: target}
	for i := len(c.samples) - 1; i >= 0; i-- {
		s := c.samples[i]
		if int(s.At/time.Second) != sec {
			if int(s.At/time.Second) < sec-2 {
				break
			}
			continue
		}
		out.Requests++
		if s.Failed {
			out.Failed++
		}
		lat = append(lat, s.Latency)
	}
	p := Summarize(lat)
	out.P50ms, out.P95ms, out.P99ms = ms(p.Med), ms(p.P95), ms(p.P99)
	return out
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Summary builds the run's summary.
func (c *Collector) Summary(scenario string, duration time.Duration, seconds []Second) Summary {
	lat := make([]time.Duration, 0, len(c.samples))
	failed := 0
	for _, s := range c.samples {
		lat = append(lat, s.Latency)
		if s.Failed {
			failed++
		}
	}
	sum := Summary{Scenario: scenario, Requests: len(c.samples), Failed: failed, Duration: duration,
		Latency: Summarize(lat), StatusCodes: c.codes, Seconds: seconds}
	if sum.Requests > 0 {
		sum.FailedRate = float64(failed) / float64(sum.Requests)
	}
	if duration > 0 {
		sum.Rate = float64(sum.Requests) / duration.Seconds()
	}
	return sum
}

// Print writes a k6-like summary.
func (s Summary) Print(w io.Writer) {
	l := s.Latency
	f := func(d time.Duration) string { return fmt.Sprintf("%.2fms", ms(d)) }
	fmt.Fprintf(w, "\n  scenario: %s\n\n", s.Scenario)
	fmt.Fprintf(w, "  http_req_duration..: avg=%s min=%s med=%s p(90)=%s p(95)=%s p(99)=%s max=%s\n",
		f(l.Avg), f(l.Min), f(l.Med), f(l.P90), f(l.P95), f(l.P99), f(l.Max))
	fmt.Fprintf(w, "  http_req_failed....: %.2f%%  %d out of %d\n", 100*s.FailedRate, s.Failed, s.Requests)
	fmt.Fprintf(w, "  http_reqs..........: %d  %.1f/s over %s\n", s.Requests, s.Rate, s.Duration.Round(time.Millisecond))
	var codes []string
	for code, n := range s.StatusCodes {
		codes = append(codes, fmt.Sprintf("%d×%d", code, n))
	}
	sort.Strings(codes)
	fmt.Fprintf(w, "  status codes.......: %s\n", strings.Join(codes, " "))
	for name, v := range s.Thresholds {
		fmt.Fprintf(w, "  threshold %-9s: %v\n", name, v)
	}
	if s.Invariants != "" {
		fmt.Fprintf(w, "  invariants.........: %s\n", s.Invariants)
	}
}
