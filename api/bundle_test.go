package api_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/shopworks/shop/api"
)

// resolver inlines every $ref of a YAML/JSON document, across files, so that a source document
// and its bundle can be compared as what they mean rather than how they are split.
type resolver struct {
	t     *testing.T
	files map[string]any
}

func (r *resolver) file(path string) any {
	if doc, ok := r.files[path]; ok {
		return doc
	}
	raw, err := os.ReadFile(path)
	require.NoError(r.t, err)
	var doc any
	require.NoError(r.t, yaml.Unmarshal(raw, &doc), path)
	r.files[path] = doc
	return doc
}

// resolve returns node with every reference replaced by what it points at; file is the document
// node belongs to (relative references are relative to it).
func (r *resolver) resolve(file string, node any, depth int) any {
	require.Less(r.t, depth, 64, "reference cycle in %s", file)
	switch n := node.(type) {
	case map[string]any:
		if ref, ok := n["$ref"].(string); ok && len(n) == 1 {
			target, pointer, _ := strings.Cut(ref, "#")
			if target != "" {
				file = filepath.Join(filepath.Dir(file), target)
			}
			at := r.file(file)
			for _, tok := range strings.Split(strings.TrimPrefix(pointer, "/"), "/") {
				if tok == "" {
					continue
				}
				tok = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
				switch c := at.(type) {
				case map[string]any:
					at = c[tok]
				case []any:
					i, err := strconv.Atoi(tok)
					require.NoError(r.t, err)
					at = c[i]
				}
				require.NotNil(r.t, at, "%s: unresolvable reference %s", file, ref)
			}
			return r.resolve(file, at, depth+1)
		}
		out := make(map[string]any, len(n))
		for k, v := range n {
			out[k] = r.resolve(file, v, depth+1)
		}
		return out
	case []any:
		out := make([]any, len(n))
		for i, v := range n {
			out[i] = r.resolve(file, v, depth+1)
		}
		return out
	}
	return node
}

// TestBundlesAreTheSources: each bundle in api/bundled (what the services serve and what the Go
// code is generated from) says exactly what its source in api/*.yaml says, once every reference
// is inlined on both sides. Checked here with a resolver of our own, not with the bundler.
func TestBundlesAreTheSources(t *testing.T) {
	for name, served := range map[string]func() []byte{
		"product-service": api.ProductService, "order-service": api.OrderService,
		"events": api.Events, "event-schemas": api.EventSchemas,
	} {
		t.Run(name, func(t *testing.T) {
			bundleFile := filepath.Join("bundled", name+".json")
			raw, err := os.ReadFile(bundleFile)
			require.NoError(t, err)
			require.Equal(t, string(raw), string(served()), "the api package embeds the committed bundle")

			r := &resolver{t: t, files: map[string]any{}}
			source := r.resolve(name+".yaml", r.file(name+".yaml"), 0).(map[string]any)
			bundle := r.resolve(bundleFile, r.file(bundleFile), 0).(map[string]any)
			for key, want := range source {
				if key == "components" {
					continue
				}
				assert.Equal(t, want, bundle[key], "%s of %s", key, name)
			}
			for key := range bundle {
				assert.Contains(t, source, key, "the bundle of %s adds %s", name, key)
			}
			// The bundle's components are the source's plus the shared ones it references.
			srcComponents, _ := source["components"].(map[string]any)
			bundleComponents, _ := bundle["components"].(map[string]any)
			for kind, entries := range srcComponents {
				for id, want := range entries.(map[string]any) {
					assert.Equal(t, want, bundleComponents[kind].(map[string]any)[id], "components.%s.%s of %s", kind, id, name)
				}
			}
		})
	}
}
