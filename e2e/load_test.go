package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shopworks/shop/platform/testkit"
)

// loadRun is what a load runner run printed and wrote.
type loadRun struct {
	stdout  string
	err     error
	summary struct {
		Scenario    string         `json:"scenario"`
		Requests    int            `json:"requests"`
		Failed      int            `json:"failed"`
		StatusCodes map[string]int `json:"statusCodes"`
		Invariants  string         `json:"invariants"`
		Overload    *struct {
			Services []struct {
				Name               string   `json:"name"`
				ScrapeErrors       int      `json:"scrapeErrors"`
				Missing            []string `json:"missing"`
				BaselineGoroutines float64  `json:"baselineGoroutines"`
				MaxGoroutines      float64  `json:"maxGoroutines"`
				MaxRSSBytes        float64  `json:"maxRssBytes"`
				Recovered          bool     `json:"recovered"`
				Served             []struct {
					Route string `json:"route"`
					Count int    `json:"count"`
				} `json:"served"`
			} `json:"services"`
		} `json:"overload"`
		CPU *struct {
			Orders    int `json:"orders"`
			Processes []struct {
				Name    string `json:"name"`
				PID     int    `json:"pid"`
				Missing string `json:"missing"`
			} `json:"processes"`
			Box struct {
				MsPerOrder float64 `json:"msPerOrder"`
			} `json:"box"`
			OrdersPerSecPerCore float64 `json:"ordersPerSecPerCore"`
		} `json:"cpu"`
	}
	plot []byte
}

// runLoad runs the load runner binary — what `make load*` runs — against the stack.
func runLoad(t *testing.T, s *stack, args ...string) loadRun {
	t.Helper()
	out := t.TempDir()
	cmd := exec.Command(binaries.loadrunner, append([]string{
		"-products", s.productURL, "-orders", s.orderURL, "-out", out,
		"-amqp-url", testkit.RabbitURL(), "-queue-prefix", s.queuePrefix,
	}, args...)...)
	cmd.Env = append(os.Environ(), "GOCOVERDIR="+binaries.coverDir)
	b, err := cmd.CombinedOutput()
	r := loadRun{stdout: string(b), err: err}
	if raw, rerr := os.ReadFile(filepath.Join(out, "summary.json")); rerr == nil {
		require.NoError(t, json.Unmarshal(raw, &r.summary))
	}
	r.plot, _ = os.ReadFile(filepath.Join(out, "plot.html"))
	t.Log(tail(r.stdout, 20))
	return r
}

// TestLoadSmoke is the short version of `make load` that runs in `make test`: 200 orders/s for
// 5 s through the load runner binary, then its invariant check (every accepted order exists once
// and is final, stock + Σ confirmed = initial, saga queues and DLQs empty). It asserts
// correctness, never latency: a change that loses or double-applies orders fails CI.
func TestLoadSmoke(t *testing.T) {
	s := startStack(t)
	r := runLoad(t, s, "-scenario", "orders", "-warm", "0", "-rate", "200", "-duration", "5s", "-no-thresholds")
	require.NoError(t, r.err, r.stdout)
	assert.InDelta(t, 1000, r.summary.Requests, 2, "the schedule is 1000 orders; the pacer may send one more")
	assert.Zero(t, r.summary.Failed, "status codes: %v", r.summary.StatusCodes)
	assert.Contains(t, r.summary.Invariants, "0 PENDING")
	assert.Contains(t, r.summary.Invariants, "queues and dead-letter queues empty")
	assert.Contains(t, r.stdout, "http_req_duration")
	assert.Contains(t, string(r.plot), "<svg", "the latency-and-throughput plot is written")

	// The CPU table found this stack's own services by their ports, even with other copies of
	// the services running on the machine, and accounted the orders of the steady phase.
	require.NotNil(t, r.summary.CPU, r.stdout)
	pids := map[string]int{}
	for _, p := range r.summary.CPU.Processes {
		pids[p.Name] = p.PID
	}
	assert.Equal(t, s.product.cmd.Process.Pid, pids["product-service"], r.stdout)
	assert.Equal(t, s.order.cmd.Process.Pid, pids["order-service"], r.stdout)
	assert.Positive(t, r.summary.CPU.Orders)
	assert.Positive(t, r.summary.CPU.Box.MsPerOrder)
	assert.Positive(t, r.summary.CPU.OrdersPerSecPerCore)
	assert.Contains(t, r.stdout, "orders/s per core")
}

// TestLoadRunnerScenarios runs the other scenarios of the Makefile briefly: reads mixed with
// orders, the stepped maximum-rate search, cached GETs, the overload (its figures read from the
// services' own /metrics), and the thresholds that fail a run.
func TestLoadRunnerScenarios(t *testing.T) {
	s := startStack(t)

	mixed := runLoad(t, s, "-scenario", "mixed", "-warm", "2s", "-start-rate", "20", "-rate", "60", "-duration", "2s")
	require.NoError(t, mixed.err, mixed.stdout)
	assert.Equal(t, "mixed", mixed.summary.Scenario)
	assert.Contains(t, mixed.summary.Invariants, "queues and dead-letter queues empty")

	// A p95 limit no run can meet stops the search after the first step; the orders of that step
	// are still checked.
	maxRun := runLoad(t, s, "-scenario", "max", "-step", "1s", "-p95-max", "0.001")
	require.NoError(t, maxRun.err, maxRun.stdout)
	assert.Contains(t, maxRun.stdout, "max sustainable POST /orders rate: 0/s")
	assert.Contains(t, maxRun.summary.Invariants, "0 PENDING")

	// Not an overload at this rate: the run shows that the services' /metrics are read — every
	// figure found, both at rest and under load — and that the invariants still hold.
	overload := runLoad(t, s, "-scenario", "overload", "-base-rate", "20", "-rate", "60", "-warm", "1s", "-duration", "1s",
		"-recovery", "5s", "-no-thresholds")
	require.NoError(t, overload.err, overload.stdout)
	require.NotNil(t, overload.summary.Overload, overload.stdout)
	require.Len(t, overload.summary.Overload.Services, 2)
	for _, svc := range overload.summary.Overload.Services {
		assert.Empty(t, svc.Missing, svc.Name)
		assert.Zero(t, svc.ScrapeErrors, svc.Name)
		assert.Positive(t, svc.BaselineGoroutines, svc.Name)
		assert.Positive(t, svc.MaxGoroutines, svc.Name)
		assert.Positive(t, svc.MaxRSSBytes, svc.Name)
	}
	order := overload.summary.Overload.Services[1]
	require.NotEmpty(t, order.Served, "the order-service's own timing of its requests")
	assert.Equal(t, "POST /orders", order.Served[0].Route)
	assert.GreaterOrEqual(t, order.Served[0].Count, 58, "at least the orders of the overload phase: 1 s at 60/s")
	assert.Contains(t, overload.summary.Invariants, "queues and dead-letter queues empty")

	get := runLoad(t, s, "-scenario", "get", "-warm", "0", "-rate", "100", "-duration", "1s")
	require.NoError(t, get.err, get.stdout)
	assert.Zero(t, get.summary.Failed)

	// Thresholds crossed fail the run (exit status 1) and say which.
	strict := runLoad(t, s, "-scenario", "orders", "-warm", "0", "-rate", "20", "-duration", "1s", "-p95-max", "0.001")
	require.Error(t, strict.err)
	assert.Contains(t, strict.stdout, "thresholds crossed")
}
