package main

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
)

// readmeBlock returns the first fenced block of lang in the README's "## Go SDK" section.
func readmeBlock(t *testing.T, lang string) string {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	_, section, found := strings.Cut(string(readme), "\n## Go SDK\n")
	require.True(t, found, `README.md has no "## Go SDK" section`)
	section, _, _ = strings.Cut(section, "\n## ")
	_, block, found := strings.Cut(section, "\n```"+lang+"\n")
	require.True(t, found, "the Go SDK section of README.md has no ```%s block", lang)
	block, _, found = strings.Cut(block, "\n```\n")
	require.True(t, found, "the ```%s block of the Go SDK section is not closed", lang)
	return block + "\n"
}

// The README's "Go SDK" section shows this program, whole, so that what a reader copies is what
// `make test` builds and runs against the services (scripts/readme-walkthrough.sh).
func TestReadmeShowsThisProgram(t *testing.T) {
	program, err := os.ReadFile("main.go")
	require.NoError(t, err)
	assert.Equal(t, string(program), readmeBlock(t, "go"),
		"README.md's Go SDK block differs from examples/sdk/main.go: copy the file into the block")
}

// The go.mod lines the README tells a reader to add are the ones this module builds with.
func TestReadmeShowsThisGoMod(t *testing.T) {
	raw, err := os.ReadFile("../go.mod")
	require.NoError(t, err)
	ours, err := modfile.Parse("go.mod", raw, nil)
	require.NoError(t, err)
	shown, err := modfile.Parse("README.md", []byte(readmeBlock(t, "go.mod")), nil)
	require.NoError(t, err)
	require.NotEmpty(t, shown.Require)
	require.NotEmpty(t, shown.Replace)
	for _, r := range shown.Require {
		assert.Contains(t, modules(ours.Require), r.Mod, "README.md requires what examples/go.mod does not")
	}
	for _, r := range shown.Replace {
		assert.Contains(t, replacements(ours.Replace), modfile.Replace{Old: r.Old, New: r.New}, "README.md replaces what examples/go.mod does not")
	}
}

func modules(rs []*modfile.Require) []module.Version {
	out := make([]module.Version, len(rs))
	for i, r := range rs {
		out[i] = r.Mod
	}
	return out
}

func replacements(rs []*modfile.Replace) []modfile.Replace {
	out := make([]modfile.Replace, len(rs))
	for i, r := range rs {
		out[i] = modfile.Replace{Old: r.Old, New: r.New}
	}
	return out
}
