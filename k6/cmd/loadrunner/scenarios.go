package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/shopworks/shop/k6/loadtest"
)

// runMax steps the order rate up until p95 ≥ the threshold or failures ≥ the limit and reports
// the last rate that held — with the invariants checked over every order of all steps.
func runMax(ctx context.Context, o options, stdout io.Writer) error {
	shop, productID, firstOrder, err := setUp(ctx, o)
	if err != nil {
		return err
	}
	onResult, accepted := loadtest.OrderIDCollector(nil)
	m := meter(o, stdout)
	held := 0.0
	var last loadtest.Summary
	for _, rate := range []float64{1000, 1500, 2000, 2500, 3000, 3500, 4000, 5000, 6000, 8000} {
		if ctx.Err() != nil {
			break
		}
		fmt.Fprintf(stdout, "step %.0f/s for %s\n", rate, o.step)
		// The first fifth of a step lets the services catch up with the new rate; the CPU
		// is measured over the rest.
		sum := loadtest.Attack{Name: "max@" + strconv.Itoa(int(rate)), StartRate: rate,
			Stages:   []loadtest.Stage{{Duration: o.step, Target: rate}},
			Targeter: loadtest.OrderTargeter(shop.OrdersURL, productID, 1), Progress: stdout, OnResult: onResult,
			Meter: m, MeasureFrom: o.step / 5}.Run(ctx)
		last = sum
		p95 := float64(sum.Latency.P95) / float64(time.Millisecond)
		achieved := sum.Rate >= 0.95*rate
		fmt.Fprintf(stdout, "  → %.0f/s achieved, p95 %.2f ms, failed %.2f%%%s\n", sum.Rate, p95, 100*sum.FailedRate, cpuNote(sum))
		if p95 >= o.p95Max || sum.FailedRate >= o.failMax || !achieved {
			break
		}
		held = rate
	}
	fmt.Fprintf(stdout, "\nmax sustainable POST /orders rate: %.0f/s (p95 < %.0f ms, failed < %.1f%%)\n", held, o.p95Max, 100*o.failMax)
	o.noThresholds = true // the last step crossed them by design
	last.Scenario = fmt.Sprintf("max (held %.0f/s)", held)
	last.Shape = "the summary is the last step's, the one that crossed a threshold"
	return finish(ctx, o, stdout, shop, last, productID, append(accepted(), firstOrder))
}

// cpuNote is a step's CPU in one phrase.
func cpuNote(s loadtest.Summary) string {
	if s.CPU == nil || s.CPU.Orders == 0 {
		return ""
	}
	return fmt.Sprintf("; machine CPU %.3f ms per order = %.0f orders/s per core", s.CPU.Box.MsPerOrder, s.CPU.OrdersPerSecPerCore)
}

func runGet(ctx context.Context, o options, stdout io.Writer) error {
	shop, productID, _, err := setUp(ctx, o)
	if err != nil {
		return err
	}
	url := shop.ProductsURL + "/products/" + strconv.FormatInt(productID, 10)
	sum := loadtest.Attack{Name: "get", StartRate: o.rate, Stages: []loadtest.Stage{{Duration: o.duration, Target: o.rate}},
		Targeter: loadtest.GetTargeter(url), Progress: stdout, Meter: meter(o, stdout)}.Run(ctx)
	sum.Shape = fmt.Sprintf("%.0f/s for %s", o.rate, o.duration)
	return finish(ctx, o, stdout, nil, sum, 0, nil)
}

func runBare(ctx context.Context, o options, stdout io.Writer) (loadtest.Summary, error) {
	url, stop, err := loadtest.BareServer()
	if err != nil {
		return loadtest.Summary{}, err
	}
	defer stop()
	sum := loadtest.Attack{Name: "bare net/http", StartRate: o.rate, Stages: []loadtest.Stage{{Duration: o.duration, Target: o.rate}},
		Targeter: loadtest.GetTargeter(url + "/products/1"), Progress: stdout, Meter: infraMeter(o, stdout)}.Run(ctx)
	sum.Shape = fmt.Sprintf("%.0f/s for %s; the handler runs inside the runner", o.rate, o.duration)
	return sum, finish(ctx, o, stdout, nil, sum, 0, nil)
}

// runBaseline measures the raw limits the targets are ratios of, in one run: a bare net/http
// handler under the same runner, MySQL INSERT + INSERT + COMMIT at concurrency 16 and, with
// -amqp-url, the broker's confirmed publish + ack rate through a quorum queue — each with its
// CPU per operation — and the broker's CPU per order at the saga's messages per order.
// sagaMessagesPerOrder is what an order costs the broker: its order.created, plus its share of
// a stock.results message, which carries the results of one reservation transaction (ADR 0012:
// 0.105 per order measured at 1000/s; fewer at higher rates, more at low ones).
const sagaMessagesPerOrder = 1.1

func runBaseline(ctx context.Context, o options, stdout io.Writer) error {
	o.noThresholds = true
	bare, err := runBare(ctx, o, stdout)
	if err != nil {
		return err
	}
	m := infraMeter(o, stdout)
	var tps float64
	dbCPU, err := measureCPU(m, func() (int, error) {
		var err error
		tps, err = insertInsertCommit(ctx, o.mysqlDSN, 16, o.duration)
		return int(tps * o.duration.Seconds()), err
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nbaseline: bare net/http %.0f req/s at p95 %.2f ms (offered %.0f/s)\n", bare.Rate, float64(bare.Latency.P95)/1e6, o.rate)
	fmt.Fprintf(stdout, "baseline:   CPU per request: %s (client and handler both in the runner)\n", perOp(bare.CPU, "load runner"))
	fmt.Fprintf(stdout, "baseline: MySQL INSERT+INSERT+COMMIT ×16: %.0f tx/s\n", tps)
	fmt.Fprintf(stdout, "baseline:   CPU per transaction: %s\n", perOp(dbCPU, "MariaDB"))
	if o.amqpURL == "" {
		fmt.Fprintln(stdout, "baseline: RabbitMQ not measured (no -amqp-url)")
		return nil
	}
	var b loadtest.BrokerBaseline
	mqCPU, err := measureCPU(m, func() (int, error) {
		var err error
		b, err = loadtest.MeasureBroker(ctx, o.amqpURL, o.queuePrefix, o.duration)
		return b.Consumed, err
	})
	if err != nil {
		return fmt.Errorf("broker baseline: %w", err)
	}
	fmt.Fprintf(stdout, "baseline: RabbitMQ quorum queue, persistent, confirmed publish + ack: %.0f msg/s (%d consumed of %d published in %s) → at most %.0f orders/s at %.1f saga messages per order\n",
		b.Rate(), b.Consumed, b.Published, b.Duration.Round(time.Millisecond), b.Rate()/sagaMessagesPerOrder, sagaMessagesPerOrder)
	fmt.Fprintf(stdout, "baseline:   CPU per message: %s (publisher and consumer in the runner)\n", perOp(mqCPU, "RabbitMQ"))
	// The broker's share of an order at its limit: what RabbitMQ alone spends per confirmed,
	// persistent, acked message, times the messages an order costs. A load run's CPU table shows
	// how far RabbitMQ's ms/order is from it.
	if mq, ok := mqCPU.Process("RabbitMQ"); ok && mq.MsPerRequest > 0 {
		n := sagaMessagesPerOrder
		fmt.Fprintf(stdout, "baseline: broker limit at %.1f message(s) per order: RabbitMQ ≥ %.3f ms of CPU per order = at most %.0f orders/s per broker core\n",
			n, n*mq.MsPerRequest, 1000/(n*mq.MsPerRequest))
	}
	return nil
}

// measureCPU runs op, which reports how many operations it did, between two CPU samples; the
// returned table is per operation (nil when the meter is nil or could not sample).
func measureCPU(m *loadtest.CPUMeter, op func() (int, error)) (*loadtest.CPU, error) {
	if m == nil {
		_, err := op()
		return nil, err
	}
	from, ferr := m.Sample()
	n, err := op()
	if err != nil || ferr != nil {
		return nil, err
	}
	to, terr := m.Sample()
	if terr != nil {
		return nil, nil // the figure is missing; the measurement itself did not fail
	}
	c := m.CPUUsage(from, to, from.At, n, 0)
	return &c, nil
}

// perOp is "<process> x ms, the measured processes y ms, machine z ms" per operation.
func perOp(c *loadtest.CPU, process string) string {
	if c == nil || c.Requests == 0 {
		return "not measured"
	}
	out := ""
	if p, ok := c.Process(process); ok {
		out += fmt.Sprintf("%s %.3f ms, ", p.Name, p.MsPerRequest)
	}
	return out + fmt.Sprintf("measured processes %.3f ms, whole machine %.3f ms (other processes busy %.2f cores)",
		c.Listed.MsPerRequest, c.Box.MsPerRequest, c.Other.Cores)
}

func insertInsertCommit(ctx context.Context, rootDSN string, workers int, d time.Duration) (float64, error) {
	cfg, err := mysql.ParseDSN(rootDSN)
	if err != nil {
		return 0, fmt.Errorf("mysql DSN: %w", err)
	}
	root, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return 0, err
	}
	defer root.Close()
	name := fmt.Sprintf("loadrunner_baseline_%d", time.Now().UnixNano())
	if _, err := root.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		return 0, fmt.Errorf("create scratch database: %w", err)
	}
	defer func() { _, _ = root.Exec("DROP DATABASE IF EXISTS " + name) }()
	cfg.DBName = name
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return 0, err
	}
	defer db.Close()
	db.SetMaxOpenConns(workers)
	for _, ddl := range []string{
		"CREATE TABLE a (id BIGINT AUTO_INCREMENT PRIMARY KEY, v INT NOT NULL, created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3))",
		"CREATE TABLE b (id BIGINT AUTO_INCREMENT PRIMARY KEY, payload BLOB NOT NULL)",
	} {
		if _, err := db.ExecContext(ctx, ddl); err != nil {
			return 0, fmt.Errorf("create scratch table: %w", err)
		}
	}
	var n atomic.Int64
	var wg sync.WaitGroup
	deadline := time.Now().Add(d)
	errs := make(chan error, workers)
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) && ctx.Err() == nil {
				tx, err := db.BeginTx(ctx, nil)
				if err == nil {
					_, err = tx.ExecContext(ctx, "INSERT INTO a (v) VALUES (1)")
				}
				if err == nil {
					_, err = tx.ExecContext(ctx, "INSERT INTO b (payload) VALUES (REPEAT('x', 200))")
				}
				if err == nil {
					err = tx.Commit()
				}
				if err != nil {
					errs <- err
					return
				}
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, fmt.Errorf("insert+insert+commit: %w", err)
	}
	return float64(n.Load()) / d.Seconds(), nil
}
