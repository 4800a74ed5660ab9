// Package loadtest plays the original k6 scenarios with vegeta as a library: open-loop arrival
// rates (constant and k6-style ramping stages), a live progress line, a k6-like summary,
// summary.json, a report with throughput, latency, errors and the CPU per order over the
// measured (steady) phase — sampled from /proc for every process of the shop and the whole
// machine — and, after every run, the invariants that make a fast run a correct one (every
// accepted order exists once, reaches a final status, and the stock adds up).
package loadtest

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// Sample is one request's outcome.
type Sample struct {
	At      time.Duration // since the start of the run
	Latency time.Duration
	Code    int
	Failed  bool
	Order   bool // an accepted order: POST answered 201
	// RetryAfter: the response said when to retry. A 503 must: the clients' back-off reads it.
	RetryAfter bool
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

// Second is one second of a run: the requests sent in it and their outcome.
type Second struct {
	Second   int     `json:"second"`
	Target   float64 `json:"targetRate"`
	Requests int     `json:"requests"`
	Failed   int     `json:"failed"`
	P50ms    float64 `json:"p50Ms"`
	P95ms    float64 `json:"p95Ms"`
	P99ms    float64 `json:"p99Ms"`
}

// Thresholds are the run's pass criteria (k6's thresholds) and whether they held.
type Thresholds struct {
	P95Max        time.Duration `json:"p95MaxNs"`
	P95OK         bool          `json:"p95Ok"`
	FailedRateMax float64       `json:"failedRateMax"`
	FailedOK      bool          `json:"failedOk"`
	// Enforced is false when the run only reports them (-no-thresholds, the max search).
	Enforced bool `json:"enforced"`
}

// Setup counts the requests made before the measured run (create the product, read it back,
// place the first order): they are not in Requests, but the setup order is among the orders
// the invariant check counts.
type Setup struct {
	Requests int `json:"requests"`
	Orders   int `json:"orders"`
}

// Summary is the result of a run, written to summary.json.
type Summary struct {
	Scenario    string        `json:"scenario"`
	Shape       string        `json:"shape,omitempty"` // the rate schedule, in words
	Started     time.Time     `json:"startedAt"`       // the first request's schedule starts here
	Requests    int           `json:"requests"`
	Failed      int           `json:"failed"`
	FailedRate  float64       `json:"failedRate"`
	Orders      int           `json:"orders"` // orders accepted (201) during the run
	Duration    time.Duration `json:"durationNs"`
	Rate        float64       `json:"rate"`
	Latency     Percentiles   `json:"latencyNs"`
	StatusCodes map[int]int   `json:"statusCodes"`
	// ByStatus is the latency of each status code's responses: under overload, how fast the
	// shed requests (503) were answered beside the accepted ones.
	ByStatus    map[int]Percentiles `json:"latencyByStatusNs,omitempty"`
	Seconds     []Second            `json:"seconds"`
	Setup       *Setup              `json:"setup,omitempty"`
	Thresholds  *Thresholds         `json:"thresholds,omitempty"`
	Invariants  string              `json:"invariants,omitempty"`
	InvariantOK bool                `json:"invariantsOk,omitempty"`
	// Settled is how long after the run the last order became final: the saga's backlog.
	Settled  time.Duration `json:"settledNs,omitempty"`
	Steady   *Phase        `json:"steady,omitempty"` // the measured window's requests
	CPU      *CPU          `json:"cpu,omitempty"`
	CPUError string        `json:"cpuError,omitempty"` // why the CPU could not be measured
	// Phases are the named parts of the scenario's schedule (Attack.Phases), each reported apart.
	Phases []Phase `json:"phases,omitempty"`
	// Overload is what the services did under and after an overload (the overload scenario).
	Overload *Overload `json:"overload,omitempty"`
}

// Check evaluates the thresholds against the run.
func (s *Summary) Check(p95Max time.Duration, failedRateMax float64, enforced bool) {
	s.Thresholds = &Thresholds{P95Max: p95Max, P95OK: s.Latency.P95 < p95Max,
		FailedRateMax: failedRateMax, FailedOK: s.FailedRate < failedRateMax, Enforced: enforced}
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

// SecondStats summarizes the samples that started in second sec and have completed: the live
// progress line (Seconds counts them all once the run is over).
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

// Seconds summarizes every second of the run from all samples, once the run is over: the live
// line of a second cannot count the requests of that second still waiting for their response.
func (c *Collector) Seconds(duration time.Duration, target func(sec int) float64) []Second {
	n := int(duration / time.Second) // whole seconds; the pacer's last hit may fall just after
	if n == 0 && duration > 0 {
		n = 1
	}
	lat := make([][]time.Duration, n)
	out := make([]Second, n)
	for _, s := range c.samples {
		i := int(s.At / time.Second)
		if i < 0 || i >= n {
			continue
		}
		out[i].Requests++
		if s.Failed {
			out[i].Failed++
		}
		lat[i] = append(lat[i], s.Latency)
	}
	for i := range out {
		p := Summarize(lat[i])
		out[i].Second, out[i].Target = i, target(i)
		out[i].P50ms, out[i].P95ms, out[i].P99ms = ms(p.Med), ms(p.P95), ms(p.P99)
	}
	return out
}

// Phase is the part of a run between two moments: the steady phase after the warm-up, whose
// latency is the one to compare at a given rate and whose orders the CPU table divides by, or a
// named phase of a scenario (the overload of `overload`), whose responses are told apart by
// status — under overload, how fast the shed requests (503) were answered beside the accepted.
type Phase struct {
	Name     string        `json:"name,omitempty"`
	From     time.Duration `json:"fromNs"`         // since the start of the run
	To       time.Duration `json:"toNs,omitempty"` // 0: the end of the run
	Requests int           `json:"requests"`
	Failed   int           `json:"failed"`
	Orders   int           `json:"orders"` // accepted (201)
	Latency  Percentiles   `json:"latencyNs"`
	// ByStatus counts each status code's responses (0: no response) and gives their latency.
	ByStatus map[int]StatusStats `json:"byStatus,omitempty"`
	// ShedWithoutRetryAfter counts the 503s that did not say when to retry.
	ShedWithoutRetryAfter int `json:"shedWithoutRetryAfter"`
}

// StatusStats is the responses of one status code in a phase.
type StatusStats struct {
	Count   int         `json:"count"`
	Latency Percentiles `json:"latencyNs"`
}

// PhaseSpan names a part of a run's schedule, for the summary to report apart.
type PhaseSpan struct {
	Name     string
	From, To time.Duration // since the start of the run
}

// Since summarizes the requests sent from `from` on.
func (c *Collector) Since(from time.Duration) Phase {
	p := c.Between("", from, math.MaxInt64)
	p.To = 0
	return p
}

// Between summarizes the requests sent in [from, to).
func (c *Collector) Between(name string, from, to time.Duration) Phase {
	p := Phase{Name: name, From: from, To: to}
	var lat []time.Duration
	byStatus := map[int][]time.Duration{}
	for _, s := range c.samples {
		if s.At < from || s.At >= to {
			continue
		}
		p.Requests++
		lat = append(lat, s.Latency)
		byStatus[s.Code] = append(byStatus[s.Code], s.Latency)
		if s.Failed {
			p.Failed++
		}
		if s.Order {
			p.Orders++
		}
		if s.Code == http.StatusServiceUnavailable && !s.RetryAfter {
			p.ShedWithoutRetryAfter++
		}
	}
	p.Latency = Summarize(lat)
	if len(byStatus) > 0 {
		p.ByStatus = map[int]StatusStats{}
		for code, l := range byStatus {
			p.ByStatus[code] = StatusStats{Count: len(l), Latency: Summarize(l)}
		}
	}
	return p
}

// Phase is the named phase of the summary.
func (s Summary) Phase(name string) (Phase, bool) {
	for _, p := range s.Phases {
		if p.Name == name {
			return p, true
		}
	}
	return Phase{}, false
}

// Status is the phase's responses of one status code (zero when there were none).
func (p Phase) Status(code int) StatusStats { return p.ByStatus[code] }

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Summary builds the run's summary.
func (c *Collector) Summary(scenario string, duration time.Duration, seconds []Second) Summary {
	lat := make([]time.Duration, 0, len(c.samples))
	sum := Summary{Scenario: scenario, Requests: len(c.samples), Duration: duration, StatusCodes: c.codes, Seconds: seconds}
	byStatus := map[int][]time.Duration{}
	for _, s := range c.samples {
		lat = append(lat, s.Latency)
		byStatus[s.Code] = append(byStatus[s.Code], s.Latency)
		if s.Failed {
			sum.Failed++
		}
		if s.Order {
			sum.Orders++
		}
	}
	sum.Latency = Summarize(lat)
	if len(byStatus) > 1 {
		sum.ByStatus = map[int]Percentiles{}
		for code, l := range byStatus {
			sum.ByStatus[code] = Summarize(l)
		}
	}
	if sum.Requests > 0 {
		sum.FailedRate = float64(sum.Failed) / float64(sum.Requests)
	}
	if duration > 0 {
		sum.Rate = float64(sum.Requests) / duration.Seconds()
	}
	return sum
}

// Print writes a k6-like end-of-test summary: ✓/✗ marks the thresholds, then the CPU table of
// the measured window.
func (s Summary) Print(w io.Writer) {
	l := s.Latency
	f := func(d time.Duration) string { return fmtDuration(d) }
	mark := func(ok bool) string {
		if ok {
			return "✓ "
		}
		return "✗ "
	}
	fmt.Fprintf(w, "\n  scenario: %s", s.Scenario)
	if s.Shape != "" {
		fmt.Fprintf(w, " — %s", s.Shape)
	}
	fmt.Fprintf(w, "\n\n")
	if t := s.Thresholds; t != nil {
		note := ""
		if !t.Enforced {
			note = "  (reported, not enforced)"
		}
		fmt.Fprintf(w, "  %shttp_req_duration p(95)<%s%s\n", mark(t.P95OK), t.P95Max, note)
		fmt.Fprintf(w, "  %shttp_req_failed rate<%.2f%%%s\n\n", mark(t.FailedOK), 100*t.FailedRateMax, note)
	}
	if s.Overload != nil {
		s.Overload.PrintChecks(w)
	}
	fmt.Fprintf(w, "%savg=%s min=%s med=%s p(90)=%s p(95)=%s p(99)=%s max=%s\n", dots("http_req_duration"),
		f(l.Avg), f(l.Min), f(l.Med), f(l.P90), f(l.P95), f(l.P99), f(l.Max))
	fmt.Fprintf(w, "%s%.2f%%  %d of %d\n", dots("http_req_failed"), 100*s.FailedRate, s.Failed, s.Requests)
	fmt.Fprintf(w, "%s%d  %.1f/s over %s\n", dots("http_reqs"), s.Requests, s.Rate, s.Duration.Round(time.Millisecond))
	var codes []string
	for code, n := range s.StatusCodes {
		name := fmt.Sprint(code)
		if code == 0 {
			name = "no response"
		}
		codes = append(codes, fmt.Sprintf("%s: %d", name, n))
	}
	sort.Strings(codes)
	fmt.Fprintf(w, "%s%s\n", dots("status codes"), strings.Join(codes, ", "))
	statuses := make([]int, 0, len(s.ByStatus))
	for code := range s.ByStatus {
		statuses = append(statuses, code)
	}
	sort.Ints(statuses)
	for _, code := range statuses {
		l := s.ByStatus[code]
		fmt.Fprintf(w, "%smed=%s p(95)=%s p(99)=%s max=%s\n", dots(fmt.Sprintf("  duration of %ds", code)),
			f(l.Med), f(l.P95), f(l.P99), f(l.Max))
	}
	if s.Setup != nil {
		fmt.Fprintf(w, "%s%d requests before the run (create the product, read it back, place %d order), not counted above\n",
			dots("setup"), s.Setup.Requests, s.Setup.Orders)
		fmt.Fprintf(w, "%s%d accepted in the run + %d setup = %d\n", dots("orders"), s.Orders, s.Setup.Orders, s.Orders+s.Setup.Orders)
	}
	if s.Invariants != "" {
		fmt.Fprintf(w, "%s%s%s\n", dots("invariants"), mark(s.InvariantOK), s.Invariants)
	}
	for _, p := range s.Phases {
		p.Print(w)
	}
	if s.Overload != nil {
		s.Overload.PrintServices(w)
	}
	if p := s.Steady; p != nil && p.From > 0 {
		l := p.Latency
		fmt.Fprintf(w, "\n  steady phase, from %s on (the warm-up excluded):\n", p.From.Round(100*time.Millisecond))
		fmt.Fprintf(w, "%savg=%s med=%s p(90)=%s p(95)=%s p(99)=%s max=%s\n", dots("http_req_duration"),
			fmtDuration(l.Avg), fmtDuration(l.Med), fmtDuration(l.P90), fmtDuration(l.P95), fmtDuration(l.P99), fmtDuration(l.Max))
		fmt.Fprintf(w, "%s%.2f%%  %d of %d\n", dots("http_req_failed"), 100*float64(p.Failed)/float64(max(p.Requests, 1)), p.Failed, p.Requests)
	}
	if s.CPU != nil {
		s.CPU.Print(w)
		if s.Settled > behind {
			fmt.Fprintf(w, "  ! the services were behind: the last order became final %s after the run, so part of the\n"+
				"    window's work fell outside it and the CPU per order above is understated; measure at a rate\n"+
				"    the machine sustains.\n", s.Settled.Round(100*time.Millisecond))
		}
	} else if s.CPUError != "" {
		fmt.Fprintf(w, "\n  CPU not measured: %s\n", s.CPUError)
	}
}

// Print writes the phase's requests by status.
func (p Phase) Print(w io.Writer) {
	fmt.Fprintf(w, "\n  %s phase, from %s to %s: %d requests, %d accepted orders\n", p.Name,
		p.From.Round(100*time.Millisecond), p.To.Round(100*time.Millisecond), p.Requests, p.Orders)
	codes := make([]int, 0, len(p.ByStatus))
	for code := range p.ByStatus {
		codes = append(codes, code)
	}
	sort.Ints(codes)
	for _, code := range codes {
		st := p.ByStatus[code]
		name := fmt.Sprintf("  %ds", code)
		if code == 0 {
			name = "  no response"
		}
		l := st.Latency
		fmt.Fprintf(w, "%s%d  med=%s p(95)=%s p(99)=%s max=%s\n", dots(name), st.Count, fmtDuration(l.Med), fmtDuration(l.P95), fmtDuration(l.P99), fmtDuration(l.Max))
	}
	if n := p.Status(http.StatusServiceUnavailable).Count; n > 0 {
		fmt.Fprintf(w, "%s%d of %d\n", dots("  503s without Retry-After"), p.ShedWithoutRetryAfter, n)
	}
}

// behind is how long the saga may take to settle after a run before the CPU window is known to
// have missed a noticeable part of its orders' work (the relays linger 25 ms, a consumer batch
// takes a few ms; a backlog takes seconds).
const behind = 2 * time.Second

// Print writes the CPU table.
func (c CPU) Print(w io.Writer) {
	perOrder := c.Orders > 0
	what, n := "request", c.Requests
	if perOrder {
		what, n = "order", c.Orders
	}
	fmt.Fprintf(w, "\n  CPU over the measured window (%s from %s on): %d %ss, %.1f/s; %d cores\n",
		c.Window.Round(100*time.Millisecond), c.From.Round(100*time.Millisecond), n, what, float64(n)/max(c.Window.Seconds(), 1e-9), c.Cores)
	fmt.Fprintf(w, "    %-20s %8s %9s %7s %12s\n", "process", "pid", "CPU s", "cores", "ms/"+what)
	row := func(p ProcessCPU) {
		per := p.MsPerRequest
		if perOrder {
			per = p.MsPerOrder
		}
		pid := ""
		if p.PID > 0 {
			pid = fmt.Sprint(p.PID)
		}
		fmt.Fprintf(w, "    %-20s %8s %9.2f %7.2f %12.3f\n", p.Name, pid, p.Seconds, p.Cores, per)
	}
	for _, p := range c.Processes {
		if p.Missing != "" {
			fmt.Fprintf(w, "    %-20s %8s not measured: %s\n", p.Name, "", p.Missing)
			continue
		}
		row(p)
	}
	row(c.Listed)
	row(c.Other)
	row(c.Box)
	if perOrder {
		fmt.Fprintf(w, "%s%.0f  (1000 ÷ %.3f ms of machine CPU per order)\n", dots("orders/s per core"), c.OrdersPerSecPerCore, c.Box.MsPerOrder)
		fmt.Fprintf(w, "%s%.0f  (1000 ÷ %.3f ms; read this one when other work shares the machine: other processes %.2f cores)\n",
			dots("… the processes above only"), c.OrdersPerSecPerCoreListed, c.Listed.MsPerOrder, c.Other.Cores)
	}
}

// dots pads a metric name with dots, as k6 does.
func dots(name string) string {
	return "  " + name + strings.Repeat(".", max(3, 28-utf8.RuneCountInString(name))) + ": "
}

// fmtDuration prints like k6: µs below a millisecond, ms below a second, else seconds.
func fmtDuration(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%.2fµs", float64(d)/float64(time.Microsecond))
	case d < time.Second:
		return fmt.Sprintf("%.2fms", ms(d))
	default:
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
}
