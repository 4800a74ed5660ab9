package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every scenario that needs the services fails its setup clearly when they are not there.
func TestScenariosWithoutServicesFailClearly(t *testing.T) {
	t.Setenv("BASE_URL_PRODUCTS", "http://127.0.0.1:1")
	t.Setenv("BASE_URL_ORDERS", "http://127.0.0.1:1")
	for _, scenario := range []string{"mixed", "max", "get", "overload"} {
		var stdout bytes.Buffer
		err := run(context.Background(), []string{"-scenario", scenario, "-out", t.TempDir()}, &stdout)
		assert.ErrorContains(t, err, "setup", scenario)
	}
}

func TestResultsThatCannotBeWrittenFailTheRun(t *testing.T) {
	var stdout bytes.Buffer
	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	err := run(context.Background(), []string{"-scenario", "bare", "-rate", "50", "-duration", "200ms", "-out", filepath.Join(file, "sub")}, &stdout)
	require.ErrorContains(t, err, "results directory")

	for _, blocker := range []string{"summary.json", "plot.html", "plot.svg"} {
		out := t.TempDir()
		require.NoError(t, os.Mkdir(filepath.Join(out, blocker), 0o755)) // a directory where a file must go
		err = run(context.Background(), []string{"-scenario", "bare", "-rate", "50", "-duration", "200ms", "-out", out}, &stdout)
		require.Error(t, err, blocker)
		assert.Contains(t, err.Error(), "write", blocker)
	}
}

func TestBaselineWithoutMySQLFails(t *testing.T) {
	var stdout bytes.Buffer
	err := run(context.Background(), []string{"-scenario", "baseline", "-rate", "50", "-duration", "200ms", "-out", t.TempDir(),
		"-mysql-dsn", "root@tcp(127.0.0.1:1)/?timeout=500ms"}, &stdout)
	require.Error(t, err)
	err = run(context.Background(), []string{"-scenario", "baseline", "-rate", "50", "-duration", "200ms", "-out", t.TempDir(),
		"-mysql-dsn", "not a dsn"}, &stdout)
	require.ErrorContains(t, err, "mysql DSN")
}
