package testkit

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// AssertConfigDocumented fails the test for every name in vars that the "## Configuration"
// section of the README at readmePath does not name in backquotes: an operator who reads that
// table must find every variable a service reads.
func AssertConfigDocumented(t testing.TB, readmePath string, vars []string) {
	t.Helper()
	readme, err := os.ReadFile(readmePath)
	require.NoError(t, err)
	_, table, found := strings.Cut(string(readme), "\n## Configuration\n")
	require.True(t, found, `%s has no "## Configuration" section`, readmePath)
	table, _, _ = strings.Cut(table, "\n## ")
	require.NotEmpty(t, vars)
	for _, k := range vars {
		assert.True(t, strings.Contains(table, "`"+k+"`"), "%s's configuration table does not name %s", readmePath, k)
	}
}
