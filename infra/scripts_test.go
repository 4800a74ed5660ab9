package infra

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// shellScripts returns every *.sh under infra/.
func shellScripts(t *testing.T) []string {
	t.Helper()
	var scripts []string
	err := filepath.WalkDir(infraDir(t), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".sh") {
			scripts = append(scripts, p)
		}
		return err
	})
	require.NoError(t, err)
	require.NotEmpty(t, scripts)
	return scripts
}

func TestShellScripts(t *testing.T) {
	bash, err := exec.LookPath("bash")
	require.NoError(t, err)
	for _, s := range shellScripts(t) {
		rel, _ := filepath.Rel(infraDir(t), s)
		t.Run(rel, func(t *testing.T) {
			out, err := exec.Command(bash, "-n", s).CombinedOutput()
			require.NoError(t, err, "bash -n:\n%s", out)

			info, err := os.Stat(s)
			require.NoError(t, err)
			assert.NotZero(t, info.Mode().Perm()&0o111, "executable bit (scripts/ and .ci/ call it directly)")

			src := readFile(t, s)
			assert.True(t, strings.HasPrefix(src, "#!/usr/bin/env bash\n"), "bash shebang")
			assert.Contains(t, src, "\nset -euo pipefail\n")
		})
	}
}

// TestShellcheck runs shellcheck (Debian package `shellcheck`) over every shell script of the
// repository; under CI=true it must be installed.
func TestShellcheck(t *testing.T) {
	sc, err := exec.LookPath("shellcheck")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("shellcheck not installed: .ci/run installs it (apt-get install shellcheck)")
		}
		t.Skip("shellcheck not installed (apt-get install shellcheck): only bash -n was checked")
	}
	// infra/'s scripts and the ones make test, make run and CI run (scripts/, .ci/run).
	scripts, err := filepath.Glob(filepath.Join(repoRoot(t), "scripts", "*.sh"))
	require.NoError(t, err)
	require.NotEmpty(t, scripts)
	scripts = append(append(scripts, filepath.Join(repoRoot(t), ".ci", "run")), shellScripts(t)...)
	args := append([]string{"--external-sources", "--severity=info"}, scripts...)
	out, err := exec.Command(sc, args...).CombinedOutput()
	require.NoError(t, err, "shellcheck:\n%s", out)
}
