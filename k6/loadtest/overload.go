package loadtest

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// OverloadPlan is the overload scenario's schedule: a warm-up at BaseRate, the overload at Rate
// for Duration, then the services watched without load for at most Recovery.
type OverloadPlan struct {
	BaseRate float64       `json:"baseRate"`
	Rate     float64       `json:"rate"`
	Warm     time.Duration `json:"warmNs"`
	Duration time.Duration `json:"durationNs"`
	Recovery time.Duration `json:"recoveryNs"`
}

// End is when the overload ends, since the start of the run: the recovery is counted from here.
func (p OverloadPlan) End() time.Duration { return p.Warm + p.Duration }

// Stages is the rate schedule: flat at BaseRate, then a step to Rate.
func (p OverloadPlan) Stages() []Stage {
	var s []Stage
	if p.Warm > 0 {
		s = append(s, Stage{Duration: p.Warm, Target: p.BaseRate})
	}
	return append(s, Stage{Duration: 0, Target: p.Rate}, Stage{Duration: p.Duration, Target: p.Rate})
}

// StartRate is the rate the schedule starts at.
func (p OverloadPlan) StartRate() float64 {
	if p.Warm > 0 {
		return p.BaseRate
	}
	return p.Rate
}

// Phases are the warm-up and the overload, reported apart.
func (p OverloadPlan) Phases() []PhaseSpan {
	overload := PhaseSpan{Name: "overload", From: p.Warm, To: p.End()}
	if p.Warm <= 0 {
		return []PhaseSpan{overload}
	}
	return []PhaseSpan{{Name: "warm-up", From: 0, To: p.Warm}, overload}
}

// Shape is the schedule in words.
func (p OverloadPlan) Shape() string {
	return fmt.Sprintf("%.0f/s for %s, then %.0f/s for %s, then up to %s without load", p.BaseRate, p.Warm, p.Rate, p.Duration, p.Recovery)
}

// OverloadLimits are the overload's thresholds.
type OverloadLimits struct {
	ShedP95     time.Duration `json:"shedP95MaxNs"`     // the 503s' p95 is at most this
	AcceptedP95 time.Duration `json:"acceptedP95MaxNs"` // the 201s' p95 is below this
	RSSBytes    float64       `json:"rssMaxBytes"`      // each service's resident memory stays at most this
	Recovery    time.Duration `json:"recoveryMaxNs"`    // each service's goroutines are back within this after the overload
}

// GoroutinesBack is the goroutine count at which a service is back at its baseline: within 20
// or 20 % of it, whichever is more (a few connections or pool workers come and go at rest).
func GoroutinesBack(baseline float64) float64 { return max(baseline+20, baseline*1.2) }

// Check is one threshold: what must hold, what the run measured, whether it held.
type Check struct {
	Name  string `json:"name"`
	Value string `json:"value"`
	OK    bool   `json:"ok"`
}

// ServiceOverload is what one service did under and after the overload, from its /metrics.
type ServiceOverload struct {
	Service
	Scrapes      int      `json:"scrapes"`
	ScrapeErrors int      `json:"scrapeErrors"`
	LastError    string   `json:"lastError,omitempty"`
	Missing      []string `json:"missing,omitempty"` // metrics the service does not expose
	// BaselineGoroutines is the most goroutines at rest, before the run (0: never scraped then).
	BaselineGoroutines float64 `json:"baselineGoroutines"`
	GoroutinesBackAt   float64 `json:"goroutinesBackAt"` // GoroutinesBack(BaselineGoroutines)
	MaxGoroutines      float64 `json:"maxGoroutines"`    // from the start of the run on
	MaxRSSBytes        float64 `json:"maxRssBytes"`      // from the start of the run on
	// Shed is how much shop_http_shed_total rose over the run: the 503s the service counted.
	Shed float64 `json:"shed"`
	// MinConcurrencyLimit is the lowest the shedder's adaptive limit went during the run.
	MinConcurrencyLimit float64 `json:"minConcurrencyLimit"`
	// Served is the service's own timing of what it answered from the start of the overload on.
	Served []Served `json:"served,omitempty"`
	// Recovered: from RecoveredAfter after the end of the overload on, every scrape found the
	// goroutines at most GoroutinesBackAt.
	Recovered      bool          `json:"recovered"`
	RecoveredAfter time.Duration `json:"recoveredAfterNs"`
	ScrapeLog      []Scrape      `json:"scrapeLog"`

	backFor time.Duration // how long the scrapes have found it back so far
}

// Served is how a service timed the requests of one route it answered from the start of the
// overload on, from its own histogram (shop_http_request_duration_seconds): the time in its
// handlers, without the waits before them — in the accept queue, for the CPU, reading the request
// — that the runner's latency includes. Route "unmatched" holds what was answered before routing:
// the shed requests.
type Served struct {
	Route string `json:"route"` // "METHOD route template"
	Count uint64 `json:"count"`
	// P50, P95 and P99 are the upper bounds of the buckets the quantiles fall in; -1: above the
	// last bucket.
	P50 time.Duration `json:"p50AtMostNs"`
	P95 time.Duration `json:"p95AtMostNs"`
	P99 time.Duration `json:"p99AtMostNs"`
}

// served is the difference of the services' histograms between the last scrape before from and
// the last scrape, by route, the busiest first; the scrapes of /metrics are left out.
func served(ok []Scrape, from time.Time) []Served {
	var base map[string][]Bucket
	for _, sc := range ok {
		if sc.At.Before(from) {
			base = sc.Durations
		}
	}
	var out []Served
	for route, final := range ok[len(ok)-1].Durations {
		if route == "GET /metrics" {
			continue
		}
		delta := append([]Bucket(nil), final...)
		if b := base[route]; len(b) == len(delta) {
			for i := range delta {
				delta[i].Count -= min(b[i].Count, delta[i].Count)
			}
		}
		n := delta[len(delta)-1].Count
		if n == 0 {
			continue
		}
		at := func(q float64) time.Duration {
			for _, b := range delta {
				if float64(b.Count) >= q*float64(n) {
					if math.IsInf(b.UpperBound, 1) {
						return -1
					}
					return time.Duration(b.UpperBound * float64(time.Second))
				}
			}
			return -1
		}
		out = append(out, Served{Route: route, Count: n, P50: at(0.5), P95: at(0.95), P99: at(0.99)})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Route < out[j].Route
	})
	return out
}

// Overload is the overload scenario's report beside the summary of its requests.
type Overload struct {
	Plan     OverloadPlan      `json:"plan"`
	Limits   OverloadLimits    `json:"limits"`
	Services []ServiceOverload `json:"services"`
	Checks   []Check           `json:"thresholds"`
	Enforced bool              `json:"thresholdsEnforced"` // false: reported only (-no-thresholds)
}

// AnalyzeOverload judges the run: phase is the overload phase's requests, start the start of the
// run (Summary.Started), series the services' scrapes from before the run to the end of the
// recovery.
func AnalyzeOverload(plan OverloadPlan, limits OverloadLimits, phase Phase, start time.Time, series []ServiceSeries, enforced bool) Overload {
	o := Overload{Plan: plan, Limits: limits, Enforced: enforced}
	end := start.Add(plan.End())
	for _, s := range series {
		o.Services = append(o.Services, analyzeService(s, start, start.Add(plan.Warm), end))
	}

	shed, accepted := phase.Status(http.StatusServiceUnavailable), phase.Status(http.StatusCreated)
	shedCheck := Check{Name: fmt.Sprintf("503 p(95) ≤ %s", limits.ShedP95), Value: "no 503 in the overload phase", OK: true}
	if shed.Count > 0 {
		shedCheck.Value = fmt.Sprintf("%s (%d answered 503)", fmtDuration(shed.Latency.P95), shed.Count)
		shedCheck.OK = shed.Latency.P95 <= limits.ShedP95
	}
	acceptedCheck := Check{Name: fmt.Sprintf("201 p(95) < %s", limits.AcceptedP95), Value: "no 201 in the overload phase: nothing accepted"}
	if accepted.Count > 0 {
		acceptedCheck.Value = fmt.Sprintf("%s (%d accepted)", fmtDuration(accepted.Latency.P95), accepted.Count)
		acceptedCheck.OK = accepted.Latency.P95 < limits.AcceptedP95
	}
	o.Checks = append(o.Checks, shedCheck, acceptedCheck, Check{Name: "every 503 carries Retry-After",
		Value: fmt.Sprintf("%d of %d without", phase.ShedWithoutRetryAfter, shed.Count), OK: phase.ShedWithoutRetryAfter == 0})
	for _, s := range o.Services {
		rss := Check{Name: fmt.Sprintf("%s RSS ≤ %s", s.Name, fmtBytes(limits.RSSBytes)), Value: "not measured (" + metricRSS + " not scraped)"}
		if s.MaxRSSBytes > 0 {
			rss.Value, rss.OK = "max "+fmtBytes(s.MaxRSSBytes), s.MaxRSSBytes <= limits.RSSBytes
		}
		back := Check{Name: fmt.Sprintf("%s goroutines back within %s", s.Name, limits.Recovery)}
		switch {
		case s.BaselineGoroutines == 0:
			back.Value = "no baseline: /metrics not scraped before the run"
		case !s.Recovered:
			back.Value = fmt.Sprintf("not back within the %s watched (%.0f at rest, back at ≤ %.0f, max %.0f)",
				plan.Recovery, s.BaselineGoroutines, s.GoroutinesBackAt, s.MaxGoroutines)
		default:
			back.Value = fmt.Sprintf("%s after (%.0f at rest, back at ≤ %.0f, max %.0f)",
				fmtDuration(s.RecoveredAfter), s.BaselineGoroutines, s.GoroutinesBackAt, s.MaxGoroutines)
			back.OK = s.RecoveredAfter <= limits.Recovery
		}
		o.Checks = append(o.Checks, rss, back)
	}
	return o
}

func analyzeService(s ServiceSeries, start, from, end time.Time) ServiceOverload {
	out := ServiceOverload{Service: s.Service, Scrapes: len(s.Scrapes), ScrapeLog: s.Scrapes}
	var ok []Scrape
	for _, sc := range s.Scrapes {
		if sc.Error != "" {
			out.ScrapeErrors++
			out.LastError = sc.Error
			continue
		}
		ok = append(ok, sc)
		for _, m := range sc.Missing {
			if !slices.Contains(out.Missing, m) {
				out.Missing = append(out.Missing, m)
			}
		}
	}
	if len(ok) == 0 {
		return out
	}
	first, last := ok[0], ok[len(ok)-1]
	if first.Has(metricShed) && last.Has(metricShed) {
		out.Shed = last.ShedTotal - first.ShedTotal
	}
	out.MinConcurrencyLimit = -1
	for _, sc := range ok {
		if sc.At.Before(start) {
			out.BaselineGoroutines = max(out.BaselineGoroutines, sc.Goroutines)
			continue
		}
		out.MaxGoroutines = max(out.MaxGoroutines, sc.Goroutines)
		out.MaxRSSBytes = max(out.MaxRSSBytes, sc.RSSBytes)
		if sc.Has(metricLimit) && (out.MinConcurrencyLimit < 0 || sc.ConcurrencyLimit < out.MinConcurrencyLimit) {
			out.MinConcurrencyLimit = sc.ConcurrencyLimit
		}
	}
	if out.MinConcurrencyLimit < 0 {
		out.MinConcurrencyLimit = 0
	}
	out.Served = served(ok, from)
	if out.BaselineGoroutines == 0 {
		return out
	}
	out.GoroutinesBackAt = GoroutinesBack(out.BaselineGoroutines)
	// Back from the first scrape after the end of the overload from which on every scrape is
	// within the tolerance.
	var backSince *Scrape
	for i, sc := range ok {
		if sc.At.Before(end) {
			continue
		}
		if sc.Goroutines > out.GoroutinesBackAt {
			backSince = nil
		} else if backSince == nil {
			backSince = &ok[i]
		}
	}
	if backSince != nil {
		out.Recovered, out.RecoveredAfter, out.backFor = true, backSince.At.Sub(end), last.At.Sub(backSince.At)
	}
	return out
}

// BackFor reports whether every service's goroutines have been back at their baseline for at
// least hold: the recovery need not be watched longer.
func (o Overload) BackFor(hold time.Duration) bool {
	for _, s := range o.Services {
		if !s.Recovered || s.backFor < hold {
			return false
		}
	}
	return len(o.Services) > 0
}

// Crossed is the thresholds that did not hold.
func (o Overload) Crossed() []Check {
	var out []Check
	for _, c := range o.Checks {
		if !c.OK {
			out = append(out, c)
		}
	}
	return out
}

// PrintChecks writes the thresholds k6-style, ✓ or ✗ each.
func (o Overload) PrintChecks(w io.Writer) {
	note := ""
	if !o.Enforced {
		note = " (reported, not enforced)"
	}
	fmt.Fprintf(w, "  thresholds of the overload%s:\n", note)
	for _, c := range o.Checks {
		mark := "✓ "
		if !c.OK {
			mark = "✗ "
		}
		fmt.Fprintf(w, "  %s%s: %s\n", mark, c.Name, c.Value)
	}
	fmt.Fprintln(w)
}

// PrintServices writes what each service's /metrics said.
func (o Overload) PrintServices(w io.Writer) {
	fmt.Fprintf(w, "\n  services, from /metrics every %s (overload from %s to %s, then up to %s without load):\n",
		ScrapeEvery, o.Plan.Warm, o.Plan.End(), o.Plan.Recovery)
	for _, s := range o.Services {
		fmt.Fprintf(w, "  %s (%s): %d scrapes, %d failed", s.Name, s.URL, s.Scrapes, s.ScrapeErrors)
		if s.LastError != "" {
			fmt.Fprintf(w, " (last: %s)", s.LastError)
		}
		fmt.Fprintln(w)
		back := "not back within the watch"
		if s.Recovered {
			back = "back " + fmtDuration(s.RecoveredAfter) + " after the overload"
		}
		fmt.Fprintf(w, "%s%.0f at rest → max %.0f; %s (≤ %.0f)\n", dots("  goroutines"), s.BaselineGoroutines, s.MaxGoroutines, back, s.GoroutinesBackAt)
		fmt.Fprintf(w, "%smax %s\n", dots("  RSS"), fmtBytes(s.MaxRSSBytes))
		if slices.Contains(s.Missing, metricShed) {
			fmt.Fprintf(w, "%snot exposed (shedding off?)\n", dots("  shed"))
		} else {
			fmt.Fprintf(w, "%s%.0f (%s over the run); concurrency limit down to %.0f (%s)\n",
				dots("  shed"), s.Shed, metricShed, s.MinConcurrencyLimit, metricLimit)
		}
		if len(s.Missing) > 0 {
			fmt.Fprintf(w, "%s%v\n", dots("  not exposed"), s.Missing)
		}
		for i, r := range s.Served {
			head := dots("  its own timing")
			if i > 0 {
				head = strings.Repeat(" ", utf8.RuneCountInString(head))
			}
			fmt.Fprintf(w, "%s%s: %d, p50 %s p95 %s p99 %s\n", head, r.Route, r.Count, atMost(r.P50), atMost(r.P95), atMost(r.P99))
		}
	}
}

// ScrapeEvery is how often an overload run reads the services' /metrics.
const ScrapeEvery = 250 * time.Millisecond

// atMost is a histogram bucket's bound as a quantile's.
func atMost(d time.Duration) string {
	if d < 0 {
		return "above the last bucket"
	}
	return "≤ " + fmtDuration(d)
}

// fmtBytes is in MB of 10⁶ bytes.
func fmtBytes(b float64) string { return fmt.Sprintf("%.1f MB", b/1e6) }
