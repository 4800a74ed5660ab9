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

func write(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
	return p
}

func TestMergeCountsABlockCoveredWhenAnyProfileCoversItAndDropsGeneratedCode(t *testing.T) {
	dir := t.TempDir()
	a := write(t, dir, "a.out", "mode: atomic\nm/p/x.go:1.1,2.2 3 0\nm/p/x.go:3.1,4.2 1 2\nm/api/api.gen.go:1.1,9.9 100 0\n")
	b := write(t, dir, "b.out", "mode: atomic\nm/p/x.go:1.1,2.2 3 5\nm/q/y.go:1.1,2.2 4 0\n")
	floor := write(t, dir, "floor", "50\n")
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"-o", filepath.Join(dir, "m.out"), "-floor", floor, a, b}, &out))
	assert.Contains(t, out.String(), "total: 50.0% of 8 statements")
	assert.Contains(t, out.String(), "100.0%      4 stmts  m/p")
	merged, err := os.ReadFile(filepath.Join(dir, "m.out"))
	require.NoError(t, err)
	assert.NotContains(t, string(merged), "api.gen.go")

	write(t, dir, "floor", "50.1")
	err = run(context.Background(), []string{"-o", filepath.Join(dir, "m.out"), "-floor", floor, a, b}, &out)
	assert.ErrorContains(t, err, "below the floor")
}

func TestRejectsMalformedInput(t *testing.T) {
	dir := t.TempDir()
	bad := write(t, dir, "bad.out", "mode: set\nnot a profile line\n")
	assert.Error(t, run(context.Background(), []string{"-o", filepath.Join(dir, "m.out"), bad}, &bytes.Buffer{}))
	assert.Error(t, run(context.Background(), []string{"-o", filepath.Join(dir, "m.out"), filepath.Join(dir, "missing")}, &bytes.Buffer{}))
	assert.Error(t, run(context.Background(), nil, &bytes.Buffer{}))
}

func TestFloorFileAndOutputProblemsAreErrors(t *testing.T) {
	dir := t.TempDir()
	p := write(t, dir, "p.out", "mode: set\nm/p/x.go:1.1,2.2 2 1\n")
	out := filepath.Join(dir, "m.out")
	assert.ErrorContains(t, run(context.Background(), []string{"-o", out, "-floor", filepath.Join(dir, "nofloor"), p}, &bytes.Buffer{}), "read coverage floor")
	garbage := write(t, dir, "floor", "ninety")
	assert.ErrorContains(t, run(context.Background(), []string{"-o", out, "-floor", garbage, p}, &bytes.Buffer{}), "coverage floor")
	assert.ErrorContains(t, run(context.Background(), []string{"-o", filepath.Join(dir, "no", "such", "dir.out"), p}, &bytes.Buffer{}), "write merged profile")
	assert.Error(t, run(context.Background(), []string{"-no-such-flag"}, &bytes.Buffer{}))
	bad := write(t, dir, "bad.out", "mode: set\nm/p/x.go:1.1,2.2 two 1\n")
	assert.ErrorContains(t, run(context.Background(), []string{"-o", out, bad}, &bytes.Buffer{}), "malformed line")

	var quiet bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"-o", out, "-packages=false", p}, &quiet))
	assert.Equal(t, "total: 100.0% of 2 statements of hand-written code (generated *.gen.go excluded)\n", quiet.String())
}
