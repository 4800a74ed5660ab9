package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/shopworks/shop/k6/loadtest"
)

// restFor is how long the services are watched at rest before the run, for their baseline
// goroutines, and how long all must stay back at it before the recovery is no longer watched.
const restFor = time.Second

// runOverload plays the overload: orders at -base-rate for -warm, then at -rate (3× what
// the services sustain) for -duration, then no load for up to -recovery, while both services'
// /metrics are read every 250 ms. It judges the overload phase's 503s and 201s apart, each
// service's RSS, and how soon its goroutines are back at their level at rest; the invariants are
// checked over every order as after every run.
func runOverload(ctx context.Context, o options, stdout io.Writer) error {
	shop, productID, firstOrder, err := setUp(ctx, o)
	if err != nil {
		return err
	}
	plan := loadtest.OverloadPlan{BaseRate: o.baseRate, Rate: o.rate, Warm: max(o.warm, 0), Duration: o.duration, Recovery: o.recovery}
	limits := loadtest.OverloadLimits{
		ShedP95:     time.Duration(o.shedP95Max * float64(time.Millisecond)),
		AcceptedP95: time.Duration(o.p95Max * float64(time.Millisecond)),
		RSSBytes:    o.rssMaxMB * 1e6,
		Recovery:    o.recoveryMax,
	}
	services := []loadtest.Service{{Name: "product-service", URL: shop.ProductsURL}, {Name: "order-service", URL: shop.OrdersURL}}
	watch := loadtest.WatchMetrics(services, loadtest.ScrapeEvery, time.Second)
	fmt.Fprintf(stdout, "scenario overload: product %d, %s; /metrics of both services every %s; CPU measured over the overload\n",
		productID, plan.Shape(), loadtest.ScrapeEvery)
	select { // the services at rest: the goroutines they are to come back to
	case <-ctx.Done():
		watch.Stop()
		return ctx.Err()
	case <-time.After(restFor):
	}
	onResult, accepted := loadtest.OrderIDCollector(nil)
	sum := loadtest.Attack{Name: "overload", StartRate: plan.StartRate(), Stages: plan.Stages(), Phases: plan.Phases(),
		Targeter: loadtest.OrderTargeter(shop.OrdersURL, productID, 1), Progress: stdout, OnResult: onResult,
		Meter: meter(o, stdout), MeasureFrom: plan.Warm}.Run(ctx)
	sum.Shape = plan.Shape()
	phase, _ := sum.Phase("overload")
	judge := func(series []loadtest.ServiceSeries) loadtest.Overload {
		return loadtest.AnalyzeOverload(plan, limits, phase, sum.Started, series, !o.noThresholds)
	}
	watchRecovery(ctx, plan, sum.Started, watch, judge, stdout)
	report := judge(watch.Stop())
	sum.Overload = &report
	return finish(ctx, o, stdout, shop, sum, productID, append(accepted(), firstOrder))
}

// watchRecovery waits, printing a line a second, until every service's goroutines have been
// back at their baseline for restFor, or plan.Recovery after the end of the overload.
func watchRecovery(ctx context.Context, plan loadtest.OverloadPlan, started time.Time, watch *loadtest.MetricsWatch,
	judge func([]loadtest.ServiceSeries) loadtest.Overload, stdout io.Writer) {
	end := started.Add(plan.End())
	deadline := end.Add(plan.Recovery)
	fmt.Fprintf(stdout, "  recovery: no load; watching the services' goroutines for up to %s\n", plan.Recovery)
	tick := time.NewTicker(loadtest.ScrapeEvery)
	defer tick.Stop()
	lastLine := time.Now()
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		series := watch.Series()
		if judge(series).BackFor(restFor) {
			fmt.Fprintf(stdout, "  %5.1fs after the overload: %s — all back\n", time.Since(end).Seconds(), latest(series))
			return
		}
		if time.Since(lastLine) >= time.Second {
			lastLine = time.Now()
			fmt.Fprintf(stdout, "  %5.1fs after the overload: %s\n", time.Since(end).Seconds(), latest(series))
		}
	}
}

// latest is each service's last scrape in a few words.
func latest(series []loadtest.ServiceSeries) string {
	var parts []string
	for _, s := range series {
		for i := len(s.Scrapes) - 1; i >= 0; i-- {
			if sc := s.Scrapes[i]; sc.Error == "" {
				parts = append(parts, fmt.Sprintf("%s %.0f goroutines, %.1f MB", s.Name, sc.Goroutines, sc.RSSBytes/1e6))
				break
			}
		}
	}
	return strings.Join(parts, "; ")
}
