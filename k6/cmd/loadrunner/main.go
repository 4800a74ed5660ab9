// Command loadrunner plays the k6 scenarios of this directory with vegeta, here where k6 cannot
// be installed: `orders` (the original: warm ramp 200→1000/s over 30 s, then 1000/s for 30 s;
// with -start-rate equal to -rate the warm-up is flat), `mixed`, `max` (steps the order rate up
// until p95 ≥ 300 ms or ≥ 1 % fail), `get` (cached GET /products/{id}), `bare` (a bare net/http
// handler, the baseline) and `baseline` (bare plus MySQL INSERT+INSERT+COMMIT at concurrency 16
// and the broker alone) and `overload` (a warm-up at -base-rate, then -rate — 3× capacity — for
// -duration, then no load, both services' /metrics watched throughout: the 503s and the accepted
// requests apart, each service's RSS and goroutines and how soon they are back). Every run
// accounts for the CPU of the shop's processes and the whole machine over its measured (steady)
// phase, from /proc. Every order run ends with the invariant check; a run whose invariants fail
// exits non-zero whatever its latency.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/shopworks/shop/k6/loadtest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadrunner:", err)
		os.Exit(1)
	}
}

type options struct {
	scenario, products, orders, out, amqpURL, queuePrefix, mysqlDSN, redisURL, cpuProfile string
	rate, startRate, p95Max, failMax                                                      float64
	duration, warm, settle, step                                                          time.Duration
	stock                                                                                 int
	noThresholds                                                                          bool
	// overload
	baseRate, shedP95Max, rssMaxMB float64
	recovery, recoveryMax          time.Duration
}

// overloadDefaults are the overload scenario's own defaults for the flags it shares with the
// others: 3000/s (3× what the services sustain here) for 10 s after a 5 s warm-up.
var overloadDefaults = map[string]string{"rate": "3000", "warm": "5s", "duration": "10s"}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	o, err := parseFlags(args)
	if err != nil {
		return err
	}
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return fmt.Errorf("results directory: %w", err)
	}
	switch o.scenario {
	case "orders", "mixed":
		return runOrders(ctx, o, stdout)
	case "max":
		return runMax(ctx, o, stdout)
	case "get":
		return runGet(ctx, o, stdout)
	case "bare":
		_, err := runBare(ctx, o, stdout)
		return err
	case "baseline":
		return runBaseline(ctx, o, stdout)
	case "overload":
		return runOverload(ctx, o, stdout)
	default:
		return fmt.Errorf("unknown scenario %q", o.scenario)
	}
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("loadrunner", flag.ContinueOnError)
	fs.StringVar(&o.scenario, "scenario", "orders", "orders | mixed | max | get | bare | baseline | overload")
	fs.StringVar(&o.products, "products", env("BASE_URL_PRODUCTS", "http://localhost:3000"), "product-service base URL")
	fs.StringVar(&o.orders, "orders", env("BASE_URL_ORDERS", "http://localhost:4000"), "order-service base URL")
	fs.StringVar(&o.out, "out", "k6/results", "directory for summary.json, plot.html and plot.svg")
	fs.StringVar(&o.amqpURL, "amqp-url", "", "RabbitMQ URL; when set, saga queues and DLQs must be empty after the run")
	fs.StringVar(&o.queuePrefix, "queue-prefix", "", "prefix of the services' queue names")
	fs.StringVar(&o.mysqlDSN, "mysql-dsn", "root@tcp(127.0.0.1:3306)/", "MySQL DSN (no database) for the baseline's scratch database")
	fs.StringVar(&o.redisURL, "redis-url", "redis://127.0.0.1:6379", "Redis URL (only to find Redis's process for the CPU table)")
	fs.Float64Var(&o.rate, "rate", 1000, "steady rate (requests/s); overload: the overload's rate (default there 3000)")
	fs.Float64Var(&o.startRate, "start-rate", 200, "rate at which the warm-up starts (= -rate: a flat warm-up)")
	fs.DurationVar(&o.duration, "duration", 30*time.Second, "steady phase duration (the CPU is measured over it); overload: the overload's (default there 10s)")
	fs.DurationVar(&o.warm, "warm", 30*time.Second, "warm-up duration before the steady phase (0 = none); overload: at -base-rate (default there 5s)")
	fs.Float64Var(&o.baseRate, "base-rate", 1000, "overload: the warm-up's rate")
	fs.DurationVar(&o.recovery, "recovery", 15*time.Second, "overload: how long to watch the services without load after the overload (less once all are back)")
	fs.Float64Var(&o.shedP95Max, "shed-p95-max", 50, "overload threshold: p95 of the 503s in ms (at most)")
	fs.Float64Var(&o.rssMaxMB, "rss-max", 100, "overload threshold: each service's RSS in MB (at most)")
	fs.DurationVar(&o.recoveryMax, "recovery-max", 10*time.Second, "overload threshold: each service's goroutines back at its baseline within this after the overload")
	fs.DurationVar(&o.step, "step", 10*time.Second, "max: duration of each rate step")
	fs.DurationVar(&o.settle, "settle", 30*time.Second, "how long orders may take to reach a final status")
	fs.IntVar(&o.stock, "stock", 999999, "stock of the setup product")
	fs.Float64Var(&o.p95Max, "p95-max", 300, "threshold: p95 in ms; overload: p95 of the accepted requests (201)")
	fs.Float64Var(&o.failMax, "fail-max", 0.01, "threshold: failed request rate")
	fs.BoolVar(&o.noThresholds, "no-thresholds", false, "report thresholds without failing the run")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write the runner's own CPU profile to this file (go tool pprof)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.scenario == "overload" {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		for name, v := range overloadDefaults {
			if !set[name] {
				if err := fs.Set(name, v); err != nil {
					return o, err
				}
			}
		}
	}
	return o, nil
}

func env(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// stages is the k6 original's warm ramp — three equal legs to 40 %, 70 % and 100 % of the rate,
// never below the start rate (so -start-rate = -rate warms up flat) — then the steady phase.
func stages(o *options) []loadtest.Stage {
	if o.warm <= 0 {
		o.startRate = o.rate // no warm-up: start at the steady rate
	}
	var s []loadtest.Stage
	if o.warm > 0 {
		third := o.warm / 3
		for _, f := range []float64{0.4, 0.7, 1} {
			s = append(s, loadtest.Stage{Duration: third, Target: max(o.rate*f, min(o.startRate, o.rate))})
		}
	}
	return append(s, loadtest.Stage{Duration: o.duration, Target: o.rate})
}

// shape describes the rate schedule in words, for the summary.
func shape(o options) string {
	steady := fmt.Sprintf("%.0f/s for %s", o.rate, o.duration)
	switch {
	case o.warm <= 0:
		return steady + ", no warm-up"
	case o.startRate >= o.rate:
		return fmt.Sprintf("warm-up %s at %.0f/s, then %s", o.warm, o.rate, steady)
	default:
		return fmt.Sprintf("ramp %.0f→%.0f/s over %s, then %s", o.startRate, o.rate, o.warm, steady)
	}
}

// meter finds the shop's processes for the CPU table; nil (and a note) where /proc is not there.
func meter(o options, stdout io.Writer) *loadtest.CPUMeter {
	mysqlAddr, amqpURL := infraAddrs(o)
	return newMeter(loadtest.ShopProcs(o.products, o.orders, mysqlAddr, amqpURL, o.redisURL), stdout)
}

// infraMeter is meter without the services, for the baseline.
func infraMeter(o options, stdout io.Writer) *loadtest.CPUMeter {
	mysqlAddr, amqpURL := infraAddrs(o)
	return newMeter(loadtest.InfraProcs(mysqlAddr, amqpURL, o.redisURL), stdout)
}

func infraAddrs(o options) (mysqlAddr, amqpURL string) {
	mysqlAddr, amqpURL = "127.0.0.1:3306", o.amqpURL
	if cfg, err := mysql.ParseDSN(o.mysqlDSN); err == nil && cfg.Net == "tcp" {
		mysqlAddr = cfg.Addr
	}
	if amqpURL == "" {
		amqpURL = "amqp://127.0.0.1:5672/"
	}
	return mysqlAddr, amqpURL
}

func newMeter(procs []loadtest.Proc, stdout io.Writer) *loadtest.CPUMeter {
	m, err := loadtest.NewCPUMeter("/proc", procs)
	if err != nil {
		fmt.Fprintf(stdout, "CPU not measured: %v\n", err)
		return nil
	}
	return m
}

func runOrders(ctx context.Context, o options, stdout io.Writer) error {
	shop, productID, firstOrder, err := setUp(ctx, o)
	if err != nil {
		return err
	}
	var placed *loadtest.Placed // orders the mixed scenario may cancel
	targeter := loadtest.OrderTargeter(shop.OrdersURL, productID, 1)
	if o.scenario == "mixed" {
		placed = &loadtest.Placed{}
		targeter = loadtest.MixedTargeter(shop.ProductsURL, shop.OrdersURL, productID, placed)
	}
	onResult, accepted := loadtest.OrderIDCollector(placed)
	st := stages(&o)
	fmt.Fprintf(stdout, "scenario %s: product %d, %s; CPU measured over the steady phase\n", o.scenario, productID, shape(o))
	sum := loadtest.Attack{Name: o.scenario, StartRate: o.startRate, Stages: st, Targeter: targeter, Progress: stdout, OnResult: onResult,
		Meter: meter(o, stdout), MeasureFrom: max(o.warm, 0)}.Run(ctx)
	sum.Shape = shape(o)
	return finish(ctx, o, stdout, shop, sum, productID, append(accepted(), firstOrder))
}

// finish checks thresholds and invariants, writes the results and prints the summary.
func finish(ctx context.Context, o options, stdout io.Writer, shop *loadtest.Shop, sum loadtest.Summary, productID int64, accepted []int64) error {
	var problems []error
	if ov := sum.Overload; ov != nil {
		// Its own thresholds: under overload most requests fail with 503 by design.
		if crossed := ov.Crossed(); ov.Enforced && len(crossed) > 0 {
			var what []string
			for _, c := range crossed {
				what = append(what, c.Name+": "+c.Value)
			}
			problems = append(problems, fmt.Errorf("thresholds crossed: %s", strings.Join(what, "; ")))
		}
	} else {
		sum.Check(time.Duration(o.p95Max*float64(time.Millisecond)), o.failMax, !o.noThresholds)
		if t := sum.Thresholds; t.Enforced && (!t.P95OK || !t.FailedOK) {
			problems = append(problems, fmt.Errorf("thresholds crossed: p95 %.2f ms (max %.0f), failed %.2f%% (max %.1f%%)",
				float64(sum.Latency.P95)/1e6, o.p95Max, 100*sum.FailedRate, 100*o.failMax))
		}
	}
	if shop != nil {
		sum.Setup = &loadtest.Setup{Requests: loadtest.SetupRequests, Orders: 1}
		v, err := shop.Verify(ctx, productID, int32(o.stock), accepted, o.settle)
		sum.Invariants, sum.Settled = v.String(), v.Waited
		if err == nil && o.amqpURL != "" {
			if err = loadtest.QueuesEmpty(o.amqpURL, loadtest.SagaQueues(o.queuePrefix), o.settle); err == nil {
				sum.Invariants += "; queues and dead-letter queues empty"
			}
		}
		if err != nil {
			sum.Invariants += " — FAILED: " + err.Error()
			problems = append(problems, fmt.Errorf("invariants: %w", err))
		}
		sum.InvariantOK = err == nil
	}
	sum.Print(stdout)
	if err := writeResults(o.out, sum); err != nil {
		problems = append(problems, err)
	}
	return errors.Join(problems...)
}

func writeResults(dir string, sum loadtest.Summary) error {
	b, err := json.MarshalIndent(sum, "", "  ")
	if err != nil {
		return fmt.Errorf("encode summary: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "summary.json"), b, 0o644); err != nil {
		return fmt.Errorf("write summary: %w", err)
	}
	f, err := os.Create(filepath.Join(dir, "plot.html"))
	if err != nil {
		return fmt.Errorf("write plot: %w", err)
	}
	defer f.Close()
	if err := loadtest.WriteReport(f, sum); err != nil {
		return fmt.Errorf("write plot: %w", err)
	}
	img, err := os.Create(filepath.Join(dir, "plot.svg"))
	if err != nil {
		return fmt.Errorf("write plot: %w", err)
	}
	defer img.Close()
	if err := loadtest.WritePlotSVG(img, sum); err != nil {
		return fmt.Errorf("write plot: %w", err)
	}
	return nil
}

// setUp reaches the services of o and prepares a run: a product with o.stock and one order of it
// (see loadtest.Shop.Setup).
func setUp(ctx context.Context, o options) (shop *loadtest.Shop, productID, firstOrder int64, err error) {
	shop, err = loadtest.NewShop(o.products, o.orders)
	if err != nil {
		return nil, 0, 0, err
	}
	productID, firstOrder, err = shop.Setup(ctx, int32(o.stock))
	return shop, productID, firstOrder, err
}
