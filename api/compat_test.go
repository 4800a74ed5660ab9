package api_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// breakingChanges lists the changes from old to cur that would break an existing client.
func breakingChanges(old, cur *openapi3.T) []string {
	var out []string
	add := func(format string, a ...any) { out = append(out, fmt.Sprintf(format, a...)) }
	for path, oldItem := range old.Paths.Map() {
		curItem := cur.Paths.Find(path)
		if curItem == nil {
			add("path %s was removed", path)
			continue
		}
		for method, oldOp := range oldItem.Operations() {
			op := curItem.GetOperation(method)
			where := method + " " + path
			if op == nil {
				add("operation %s was removed", where)
				continue
			}
			compareParams(add, where, append(oldItem.Parameters, oldOp.Parameters...), append(curItem.Parameters, op.Parameters...))
			if oldOp.RequestBody != nil && op.RequestBody != nil {
				for ct, mt := range oldOp.RequestBody.Value.Content {
					cmt := op.RequestBody.Value.Content.Get(ct)
					if cmt == nil {
						add("%s no longer accepts %s", where, ct)
						continue
					}
					compareRequestSchema(add, where+" request", mt.Schema, cmt.Schema)
				}
			} else if oldOp.RequestBody == nil && op.RequestBody != nil && op.RequestBody.Value.Required {
				add("%s now requires a body", where)
			}
			for code, oldResp := range oldOp.Responses.Map() {
				resp := op.Responses.Value(code)
				if resp == nil {
					add("%s no longer documents status %s", where, code)
					continue
				}
				for ct, mt := range oldResp.Value.Content {
					cmt := resp.Value.Content.Get(ct)
					if cmt == nil {
						add("%s %s no longer answers %s", where, code, ct)
						continue
					}
					compareResponseSchema(add, where+" "+code, mt.Schema, cmt.Schema)
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

func compareParams(add func(string, ...any), where string, old, cur openapi3.Parameters) {
	find := func(ps openapi3.Parameters, in, name string) *openapi3.Parameter {
		for _, p := range ps {
			if p.Value.In == in && p.Value.Name == name {
				return p.Value
			}
		}
		return nil
	}
	for _, p := range cur {
		if p.Value.Required && find(old, p.Value.In, p.Value.Name) == nil {
			add("%s has a new required %s parameter %s", where, p.Value.In, p.Value.Name)
		}
	}
	for _, p := range old {
		cp := find(cur, p.Value.In, p.Value.Name)
		if cp == nil {
			add("%s dropped the %s parameter %s", where, p.Value.In, p.Value.Name)
			continue
		}
		if cp.Required && !p.Value.Required {
			add("%s made the %s parameter %s required", where, p.Value.In, p.Value.Name)
		}
		// A parameter whose invalid values the service replaces (X-Request-ID) rejects nothing,
		// so narrowing its schema breaks no client.
		if cp.Extensions["x-invalid-value"] == "replaced" {
			continue
		}
		compareRequestSchema(add, where+" parameter "+p.Value.Name, p.Value.Schema, cp.Schema)
	}
}

// compareRequestSchema: what clients send must stay acceptable.
func compareRequestSchema(add func(string, ...any), where string, old, cur *openapi3.SchemaRef) {
	if old == nil || cur == nil || old.Value == nil || cur.Value == nil {
		return
	}
	o, c := old.Value, cur.Value
	if !typesEqual(o, c) {
		add("%s changed type from %s to %s", where, typeName(o), typeName(c))
		return
	}
	for _, r := range c.Required {
		if !slices.Contains(o.Required, r) {
			add("%s has a new required field %s", where, r)
		}
	}
	for name, op := range o.Properties {
		cp, ok := c.Properties[name]
		if !ok {
			add("%s no longer accepts field %s", where, name)
			continue
		}
		compareRequestSchema(add, where+"."+name, op, cp)
	}
	if len(c.Enum) > 0 {
		for _, v := range o.Enum {
			if !slices.ContainsFunc(c.Enum, func(x any) bool { return fmt.Sprint(x) == fmt.Sprint(v) }) {
				add("%s no longer accepts the value %v", where, v)
			}
		}
		if len(o.Enum) == 0 {
			add("%s is now restricted to an enum", where)
		}
	}
	if c.Min != nil && (o.Min == nil || *c.Min > *o.Min) {
		add("%s minimum was raised", where)
	}
	if c.Max != nil && (o.Max == nil || *c.Max < *o.Max) {
		add("%s maximum was lowered", where)
	}
	if c.MinLength > o.MinLength {
		add("%s minLength was raised", where)
	}
	if c.MaxLength != nil && (o.MaxLength == nil || *c.MaxLength < *o.MaxLength) {
		add("%s maxLength was lowered", where)
	}
	if o.Items != nil {
		compareRequestSchema(add, where+"[]", o.Items, c.Items)
	}
}

// compareResponseSchema: what clients read must stay there, with the same type.
func compareResponseSchema(add func(string, ...any), where string, old, cur *openapi3.SchemaRef) {
	if old == nil || cur == nil || old.Value == nil || cur.Value == nil {
		return
	}
	o, c := old.Value, cur.Value
	if !typesEqual(o, c) {
		add("%s changed type from %s to %s", where, typeName(o), typeName(c))
		return
	}
	for name, op := range o.Properties {
		cp, ok := c.Properties[name]
		if !ok {
			add("%s dropped field %s", where, name)
			continue
		}
		if slices.Contains(o.Required, name) && !slices.Contains(c.Required, name) {
			add("%s field %s is no longer always present", where, name)
		}
		compareResponseSchema(add, where+"."+name, op, cp)
	}
	if o.Items != nil {
		compareResponseSchema(add, where+"[]", o.Items, c.Items)
	}
}

func typesEqual(a, b *openapi3.Schema) bool {
	if a.Type == nil || b.Type == nil {
		return a.Type == nil && b.Type == nil || a.Type == nil
	}
	return slices.Equal(a.Type.Slice(), b.Type.Slice())
}

func loadDoc(t *testing.T, path string) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	loader.IsExternalRefsAllowed = true
	doc, err := loader.LoadFromFile(path)
	require.NoError(t, err)
	require.NoError(t, doc.Validate(context.Background()))
	return doc
}

// acceptedBreaks are the breaking changes made on purpose since the last release, each with why.
// The next release's notes must name them; when it ships (api/released updated) they stop being
// changes and the list is emptied.
var acceptedBreaks = map[string]string{
	"GET /products/{id}-with-orders 200.orders[] field unitPrice is no longer always present": "the BFF says only what " +
		"order-service said: the original order-service sends no unitPrice, and the zero the BFF showed instead was never sent (issue 15)",
}

// unaccepted drops the accepted breaks from changes.
func unaccepted(changes []string) []string {
	return slices.DeleteFunc(slices.Clone(changes), func(c string) bool { _, ok := acceptedBreaks[c]; return ok })
}

// TestNoBreakingChangeSinceTheLastRelease guards every client of the generated SDK.
func TestNoBreakingChangeSinceTheLastRelease(t *testing.T) {
	var all []string
	for _, name := range []string{"product-service.yaml", "order-service.yaml"} {
		t.Run(name, func(t *testing.T) {
			changes := breakingChanges(loadDoc(t, filepath.Join("released", name)), loadDoc(t, name))
			all = append(all, changes...)
			assert.Empty(t, unaccepted(changes), "breaking changes against api/released/%s", name)
		})
	}
	for c := range acceptedBreaks {
		assert.Contains(t, all, c, "an accepted break that no longer happens: drop it from acceptedBreaks")
	}
}

// TestCompatibilityCheckerCatchesBreakingChanges is the test of the checker itself.
func TestCompatibilityCheckerCatchesBreakingChanges(t *testing.T) {
	mutations := map[string]func(d *openapi3.T){
		"path /products/{id}-with-orders was removed": func(d *openapi3.T) { d.Paths.Delete("/products/{id}-with-orders") },
		"GET /products/{id} 200 dropped field price": func(d *openapi3.T) {
			delete(d.Components.Schemas["Product"].Value.Properties, "price")
		},
		"POST /products request has a new required field color": func(d *openapi3.T) {
			s := d.Components.Schemas["ProductInput"].Value
			s.Properties["color"] = openapi3.NewStringSchema().NewRef()
			s.Required = append(s.Required, "color")
		},
		"POST /products request.qty changed type from integer to string": func(d *openapi3.T) {
			d.Components.Schemas["ProductInput"].Value.Properties["qty"] = openapi3.NewStringSchema().NewRef()
		},
		"POST /products request.name maxLength was lowered": func(d *openapi3.T) {
			n := uint64(10)
			d.Components.Schemas["ProductInput"].Value.Properties["name"].Value.MaxLength = &n
		},
		"GET /products parameter limit maximum was lowered": func(d *openapi3.T) {
			limit := d.Paths.Find("/products").Get.Parameters[0].Value
			narrowed := *limit.Schema.Value
			narrowed.Max = openapi3.Ptr(10.0)
			limit.Schema = narrowed.NewRef()
		},
		"GET /products dropped the query parameter limit": func(d *openapi3.T) {
			op := d.Paths.Find("/products").Get
			op.Parameters = op.Parameters[1:]
		},
	}
	for want, mutate := range mutations {
		t.Run(want, func(t *testing.T) {
			old := loadDoc(t, filepath.Join("released", "product-service.yaml"))
			cur := loadDoc(t, "product-service.yaml")
			// Detach the mutated schemas from the shared loader cache by reloading into fresh docs.
			mutate(cur)
			assert.Contains(t, breakingChanges(old, cur), want)
		})
	}
	// Additions are not breaking.
	old := loadDoc(t, filepath.Join("released", "product-service.yaml"))
	cur := loadDoc(t, "product-service.yaml")
	cur.Components.Schemas["Product"].Value.Properties["color"] = openapi3.NewStringSchema().NewRef()
	assert.Empty(t, unaccepted(breakingChanges(old, cur)))
}

func typeName(s *openapi3.Schema) string {
	if s.Type == nil {
		return "any"
	}
	return fmt.Sprint(s.Type.Slice())[1 : len(fmt.Sprint(s.Type.Slice()))-1]
}
