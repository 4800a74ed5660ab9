// Package e2e holds the black-box tests of the whole system: both services are built from source
// (with coverage instrumentation, so what the e2e tests exercise counts in `make cover`), started as
// real processes on free ports against the machine's MariaDB, Redis and RabbitMQ — each stack with
// its own databases, Redis key prefix, exchange and queue names — and driven through the generated
// clients, every response validated against the spec.
package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// binaries holds the paths of the service binaries built once for the whole test run.
var binaries struct {
	product, order, loadrunner string
	coverDir                   string
}

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "shop-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	binaries.coverDir = filepath.Join(dir, "cover")
	if err := os.MkdirAll(binaries.coverDir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	binaries.product = filepath.Join(dir, "product-service")
	binaries.order = filepath.Join(dir, "order-service")
	binaries.loadrunner = filepath.Join(dir, "loadrunner")
	for _, b := range []struct{ out, pkg string }{
		{binaries.product, "github.com/shopworks/shop/product-service/cmd/product-service"},
		{binaries.order, "github.com/shopworks/shop/order-service/cmd/order-service"},
		{binaries.loadrunner, "github.com/shopworks/shop/k6/cmd/loadrunner"},
	} {
		args := []string{"build", "-o", b.out}
		if cov := os.Getenv("E2E_COVERPKG"); cov != "" {
			args = append(args, "-cover", "-coverpkg="+cov)
		}
		cmd := exec.Command("go", append(args, b.pkg)...)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: build %s: %v\n", b.pkg, err)
			return 1
		}
	}
	code := m.Run()
	// Fold the coverage the running services wrote into a text profile beside the others.
	if out := os.Getenv("E2E_COVERPROFILE"); out != "" {
		entries, _ := os.ReadDir(binaries.coverDir)
		if len(entries) > 0 {
			cmd := exec.Command("go", "tool", "covdata", "textfmt", "-i", binaries.coverDir, "-o", out)
			cmd.Stderr = os.Stderr
			if err := cmd.Run(); err != nil {
				fmt.Fprintln(os.Stderr, "e2e: convert service coverage:", err)
			}
		}
	}
	return code
}

// envList renders a map as KEY=value lines for exec.Cmd.Env.
func envList(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	return out
}

// redactEnv hides passwords when a failing test prints the environment.
func redactEnv(env []string) string {
	var b strings.Builder
	for _, kv := range env {
		if i := strings.Index(kv, "://"); i >= 0 {
			if at := strings.LastIndex(kv, "@"); at > i {
				kv = kv[:i+3] + "…" + kv[at:]
			}
		}
		b.WriteString(kv + "\n")
	}
	return b.String()
}
