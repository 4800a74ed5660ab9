package main

import (
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBundleCopiesReferencedComponentsAndKeepsEveryScalar: components of another file come in
// under their own name (with what they reference in turn), references become local, and numbers
// keep their text — 9223372036854775807 is not rounded to a float64.
func TestBundleCopiesReferencedComponentsAndKeepsEveryScalar(t *testing.T) {
	out, err := Bundle(filepath.Join("testdata", "root.yaml"))
	require.NoError(t, err)
	assert.Contains(t, string(out), `"maximum": 9223372036854775807`)
	assert.Contains(t, string(out), `"maximum": 9999999999.99`)

	var doc map[string]any
	require.NoError(t, json.Unmarshal(out, &doc), "the bundle is JSON")
	get := func(path ...string) any {
		var at any = doc
		for _, p := range path {
			at = at.(map[string]any)[p]
		}
		return at
	}
	params := get("paths", "/things/{id}", "get", "parameters").([]any)
	assert.Equal(t, "#/components/parameters/ID", params[0].(map[string]any)["$ref"])
	assert.Equal(t, "#/components/schemas/ID", get("components", "parameters", "ID", "schema", "$ref"))
	assert.Equal(t, "#/components/schemas/Money", get("components", "schemas", "Thing", "properties", "price", "$ref"))
	assert.Equal(t, "apiKey", get("components", "securitySchemes", "Key", "type"), "a component named by reference is replaced by the copy")
	assert.Equal(t, false, get("components", "schemas", "Money", "nullable"))
	assert.Equal(t, []any{}, get("components", "schemas", "Thing", "properties", "tags"))
	assert.Equal(t, "ok \"quoted\" \x01", get("paths", "/things/{id}", "get", "responses", "200", "description"))
}

func TestBundleRefusesAComponentNameTwice(t *testing.T) {
	_, err := Bundle(filepath.Join("testdata", "clash.yaml"))
	assert.ErrorContains(t, err, "has its own components.schemas.Money")
}
