package main

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shopworks/shop/platform/testkit"
)

// `make load` runs the load runner through infra/local/tune-for-load.sh, which changes a
// SERVER-WIDE MariaDB setting. These tests run the script against the machine's MariaDB and
// check that it says what it changes and that the setting is back afterwards — when the
// command succeeds, fails, or is interrupted like Ctrl-C. Other tests share the server, so
// each change lasts well under a second, except while the interrupted command waits for its
// signal.

const tuneScript = "../../../infra/local/tune-for-load.sh"

func flushSetting(t *testing.T, db *sql.DB) string {
	t.Helper()
	var v string
	require.NoError(t, db.QueryRow("SELECT @@GLOBAL.innodb_flush_log_at_trx_commit").Scan(&v))
	return v
}

func tuneEnv(want string) []string {
	return append(os.Environ(), "LOAD_FLUSH_LOG_AT_TRX_COMMIT="+want)
}

func TestTuneForLoadRestoresTheServerSetting(t *testing.T) {
	testkit.RequireTCP(t, "MariaDB", "127.0.0.1:3306")
	if _, err := exec.LookPath("mysql"); err != nil {
		testkit.Unavailable(t, "the mysql client", err)
	}
	db, err := sql.Open("mysql", testkit.MySQLRootDSN())
	require.NoError(t, err)
	defer db.Close()
	before := flushSetting(t, db)
	want := "2" // what make load runs with; a value it does not have now, so a change is visible
	if before == "2" {
		want = "0"
	}
	defer func() { assert.Equal(t, before, flushSetting(t, db), "the server-wide setting is what it was") }()

	t.Run("the command ends", func(t *testing.T) {
		cmd := exec.Command(tuneScript, "sh", "-c", `echo "inside: $(mysql -N -B -uroot -e 'SELECT @@GLOBAL.innodb_flush_log_at_trx_commit')"; exit 3`)
		cmd.Env = tuneEnv(want)
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		require.ErrorAs(t, err, &exit, string(out))
		assert.Equal(t, 3, exit.ExitCode(), "the command's exit status")
		assert.Contains(t, string(out), "innodb_flush_log_at_trx_commit "+before+" → "+want)
		assert.Contains(t, string(out), "SERVER-WIDE")
		assert.Contains(t, string(out), "TUNE= leaves the server alone")
		assert.Contains(t, string(out), "inside: "+want)
		assert.Contains(t, string(out), "restored to "+before)
		assert.Equal(t, before, flushSetting(t, db))
	})

	t.Run("Ctrl-C", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, tuneScript, "sleep", "25")
		cmd.Env = tuneEnv(want)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // a process group, as a terminal's job
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		require.NoError(t, cmd.Start())
		require.Eventually(t, func() bool { return flushSetting(t, db) == want }, 10*time.Second, 20*time.Millisecond)
		require.NoError(t, syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)) // what Ctrl-C sends
		err := cmd.Wait()
		require.Error(t, err, out.String())
		require.NoError(t, ctx.Err(), "the script ended on the interrupt, not on the test's timeout")
		assert.Contains(t, out.String(), "restored to "+before)
		assert.Equal(t, before, flushSetting(t, db))
	})

	t.Run("already at the value: nothing changed, nothing to restore", func(t *testing.T) {
		cmd := exec.Command(tuneScript, "true")
		cmd.Env = tuneEnv(before)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, string(out))
		assert.Contains(t, string(out), "already "+before)
		assert.NotContains(t, string(out), "restored")
	})

	t.Run("no command", func(t *testing.T) {
		out, err := exec.Command(tuneScript).CombinedOutput()
		var exit *exec.ExitError
		require.True(t, errors.As(err, &exit), string(out))
		assert.Equal(t, 2, exit.ExitCode())
		assert.Contains(t, string(out), "usage")
	})
}

// The Makefile's load targets go through the script unless TUNE= is given.
func TestMakeLoadTunesOnlyThroughTheScript(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		testkit.Unavailable(t, "make", err)
	}
	root, err := filepath.Abs("../../..")
	require.NoError(t, err)
	for _, target := range []string{"load", "load-mixed", "load-max", "load-steady", "load-overload"} {
		out, err := exec.Command("make", "-s", "-n", "-C", root, target).CombinedOutput()
		require.NoError(t, err, string(out))
		assert.Contains(t, string(out), "infra/local/tune-for-load.sh go run ./k6/cmd/loadrunner", target)
		out, err = exec.Command("make", "-s", "-n", "-C", root, target, "TUNE=").CombinedOutput()
		require.NoError(t, err, string(out))
		assert.NotContains(t, string(out), "tune-for-load", target)
		assert.Contains(t, string(out), "go run ./k6/cmd/loadrunner", target)
	}
}
