// Package health owns what a service says about its own health: the readiness of its
// dependencies for /readyz (Readiness), and the healthcheck subcommand that asks a running
// service for /healthz (Healthcheck).
package health

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// Check is one dependency probe for /readyz. A failing Required check makes the service
// unavailable (503); a failing optional one (Redis: reads fall back to MySQL) only degrades it.
type Check struct {
	Name     string
	Required bool
	Probe    func(ctx context.Context) error
}

// CheckResult is the outcome of one Check.
type CheckResult struct {
	Name   string
	Status string // up, down, degraded
	Error  string
}

// Readiness runs all checks concurrently, each bounded by timeout, and returns the overall status
// (ready, degraded, unavailable), the per-check results in the given order, and whether to answer 200.
func Readiness(ctx context.Context, checks []Check, timeout time.Duration) (string, []CheckResult, bool) {
	results := make([]CheckResult, len(checks))
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			res := CheckResult{Name: c.Name, Status: "up"}
			if err := c.Probe(cctx); err != nil {
				res.Status, res.Error = "down", err.Error()
				if !c.Required {
					res.Status = "degraded"
				}
			}
			results[i] = res
		}()
	}
	wg.Wait()
	status, ok := "ready", true
	for i, r := range results {
		switch {
		case r.Status == "down" && checks[i].Required:
			status, ok = "unavailable", false
		case r.Status == "degraded" && status == "ready":
			status = "degraded"
		}
	}
	return status, results, ok
}

// Healthcheck GETs http://127.0.0.1:port/healthz and fails unless it answers 200: the
// `healthcheck` subcommand of both binaries, for container health checks in images without curl.
func Healthcheck(ctx context.Context, port int) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/healthz", port), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: /healthz answered %d", resp.StatusCode)
	}
	return nil
}
