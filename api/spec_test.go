package api_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// The API documents are the source of truth; these tests keep them loadable, valid and honest.

func loadSpec(t *testing.T, name string) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	loader.IsExternalRefsAllowed = true
	doc, err := loader.LoadFromFile(filepath.Join(".", name))
	require.NoError(t, err, "load %s", name)
	return doc
}

func TestOpenAPIDocumentsAreValid(t *testing.T) {
	for _, name := range []string{"product-service.yaml", "order-service.yaml", "event-schemas.yaml"} {
		t.Run(name, func(t *testing.T) {
			doc := loadSpec(t, name)
			require.NoError(t, doc.Validate(context.Background(), openapi3.EnableExamplesValidation()))
			assert.Equal(t, "3.0.3", doc.OpenAPI)
		})
	}
}

// TestEveryExampleMatchesItsSchema walks every example of every schema, parameter and media type
// and validates it, so that Swagger UI never shows a payload the service would reject.
func TestEveryExampleMatchesItsSchema(t *testing.T) {
	for _, name := range []string{"product-service.yaml", "order-service.yaml", "event-schemas.yaml"} {
		t.Run(name, func(t *testing.T) {
			doc := loadSpec(t, name)
			checked := 0
			var visitSchema func(path string, s *openapi3.SchemaRef)
			seen := map[*openapi3.Schema]bool{}
			visitSchema = func(path string, s *openapi3.SchemaRef) {
				if s == nil || s.Value == nil || seen[s.Value] {
					return
				}
				seen[s.Value] = true
				if s.Value.Example != nil {
					checked++
					assert.NoError(t, s.Value.VisitJSON(s.Value.Example), "example of %s", path)
				}
				for p, ps := range s.Value.Properties {
					visitSchema(path+"."+p, ps)
				}
				if s.Value.Items != nil {
					visitSchema(path+"[]", s.Value.Items)
				}
				for i, sub := range s.Value.AllOf {
					visitSchema(path+".allOf"+string(rune('0'+i)), sub)
				}
			}
			for n, s := range doc.Components.Schemas {
				visitSchema(n, s)
			}
			visitMedia := func(where string, content openapi3.Content) {
				for ct, mt := range content {
					if mt.Example != nil && mt.Schema != nil {
						checked++
						assert.NoError(t, mt.Schema.Value.VisitJSON(mt.Example), "example of %s %s", where, ct)
					}
					for en, ex := range mt.Examples {
						checked++
						assert.NoError(t, mt.Schema.Value.VisitJSON(ex.Value.Value), "example %s of %s %s", en, where, ct)
					}
				}
			}
			for _, r := range doc.Components.Responses {
				visitMedia("response", r.Value.Content)
			}
			for path, item := range doc.Paths.Map() {
				for method, op := range item.Operations() {
					where := method + " " + path
					if op.RequestBody != nil {
						visitMedia(where+" request", op.RequestBody.Value.Content)
					}
					for code, r := range op.Responses.Map() {
						visitMedia(where+" "+code, r.Value.Content)
					}
					for _, p := range append(item.Parameters, op.Parameters...) {
						if p.Value.Example != nil {
							checked++
							assert.NoError(t, p.Value.Schema.Value.VisitJSON(p.Value.Example), "example of %s param %s", where, p.Value.Name)
						}
					}
				}
			}
			assert.Greater(t, checked, 10, "examples checked")
		})
	}
}

// TestEveryErrorResponseIsAProblem: every 4xx/5xx of every operation is application/problem+json
// with the Problem schema and carries X-Request-ID.
func TestEveryErrorResponseIsAProblem(t *testing.T) {
	for _, name := range []string{"product-service.yaml", "order-service.yaml"} {
		doc := loadSpec(t, name)
		for path, item := range doc.Paths.Map() {
			for method, op := range item.Operations() {
				for code, r := range op.Responses.Map() {
					assert.Contains(t, r.Value.Headers, "X-Request-ID", "%s %s %s %s", name, method, path, code)
					if code[0] != '4' && code[0] != '5' || path == "/readyz" {
						continue
					}
					mt := r.Value.Content.Get("application/problem+json")
					if assert.NotNil(t, mt, "%s %s %s %s is not a problem", name, method, path, code) {
						assert.Contains(t, mt.Schema.Ref, "Problem")
					}
				}
			}
		}
	}
}

// TestAsyncAPIDocument checks the event catalogue: AsyncAPI 3.0, the five channels on exchange
// orders, every message with headers and a payload that exists in event-schemas.yaml, and a
// sender and a receiver for every channel.
func TestAsyncAPIDocument(t *testing.T) {
	raw, err := os.ReadFile("events.yaml")
	require.NoError(t, err)
	var doc struct {
		AsyncAPI string `yaml:"asyncapi"`
		Channels map[string]struct {
			Address  string                       `yaml:"address"`
			Messages map[string]map[string]string `yaml:"messages"`
			Bindings struct {
				AMQP struct {
					Exchange struct {
						Name string `yaml:"name"`
						Type string `yaml:"type"`
					} `yaml:"exchange"`
				} `yaml:"amqp"`
			} `yaml:"bindings"`
		} `yaml:"channels"`
		Operations map[string]struct {
			Action  string            `yaml:"action"`
			Channel map[string]string `yaml:"channel"`
		} `yaml:"operations"`
		Components struct {
			Messages map[string]struct {
				Headers map[string]string `yaml:"headers"`
				Payload map[string]string `yaml:"payload"`
			} `yaml:"messages"`
		} `yaml:"components"`
	}
	require.NoError(t, yaml.Unmarshal(raw, &doc))
	assert.Equal(t, "3.0.0", doc.AsyncAPI)
	schemas := loadSpec(t, "event-schemas.yaml").Components.Schemas

	addresses := map[string]string{}
	for id, ch := range doc.Channels {
		addresses[id] = ch.Address
		assert.Equal(t, "orders", ch.Bindings.AMQP.Exchange.Name, id)
		assert.Equal(t, "topic", ch.Bindings.AMQP.Exchange.Type, id)
		for _, m := range ch.Messages {
			name := strings.TrimPrefix(m["$ref"], "#/components/messages/")
			msg, ok := doc.Components.Messages[name]
			require.True(t, ok, "channel %s references unknown message %s", id, name)
			assert.NotEmpty(t, msg.Headers["$ref"], "message %s has headers", name)
			schema := strings.TrimPrefix(msg.Payload["$ref"], "./event-schemas.yaml#/components/schemas/")
			assert.Contains(t, schemas, schema, "payload of %s", name)
		}
	}
	want := []string{"order.created", "stock.reserved", "stock.rejected", "product.updated", "product.deleted"}
	var got []string
	for _, a := range addresses {
		got = append(got, a)
	}
	assert.ElementsMatch(t, want, got)

	sends, receives := map[string]bool{}, map[string]bool{}
	for id, op := range doc.Operations {
		ch := strings.TrimPrefix(op.Channel["$ref"], "#/channels/")
		require.Contains(t, addresses, ch, "operation %s", id)
		switch op.Action {
		case "send":
			sends[ch] = true
		case "receive":
			receives[ch] = true
		default:
			t.Errorf("operation %s has action %q", id, op.Action)
		}
	}
	for ch := range addresses {
		assert.True(t, sends[ch], "nobody sends %s", ch)
		assert.True(t, receives[ch], "nobody receives %s", ch)
	}
}
