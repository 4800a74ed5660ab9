package api_test

import (
	"context"
	"fmt"
	"maps"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strconv"
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
	for _, name := range []string{"product-service.yaml", "order-service.yaml", "event-schemas.yaml", "common.yaml"} {
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
	for _, name := range []string{"product-service.yaml", "order-service.yaml", "event-schemas.yaml", "common.yaml"} {
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
			assert.Greater(t, checked, 5, "examples checked")
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

// asyncDoc is the part of events.yaml the tests read.
type asyncDoc struct {
	AsyncAPI string `yaml:"asyncapi"`
	Channels map[string]struct {
		Address  *string                      `yaml:"address"`
		Messages map[string]map[string]string `yaml:"messages"`
		Bindings map[string]any               `yaml:"bindings"` // a $ref to components, or the queue
	} `yaml:"channels"`
	Operations map[string]struct {
		Action  string            `yaml:"action"`
		Channel map[string]string `yaml:"channel"`
	} `yaml:"operations"`
	Components struct {
		ChannelBindings map[string]struct {
			AMQP struct {
				Is       string `yaml:"is"`
				Exchange struct {
					Name    string `yaml:"name"`
					Type    string `yaml:"type"`
					Durable bool   `yaml:"durable"`
				} `yaml:"exchange"`
			} `yaml:"amqp"`
		} `yaml:"channelBindings"`
		Messages map[string]struct {
			Name     string            `yaml:"name"`
			Headers  map[string]string `yaml:"headers"`
			Payload  map[string]any    `yaml:"payload"`
			Bindings struct {
				AMQP struct {
					MessageType string            `yaml:"messageType"`
					Properties  map[string]string `yaml:"x-properties"`
				} `yaml:"amqp"`
			} `yaml:"bindings"`
		} `yaml:"messages"`
	} `yaml:"components"`
}

// TestEveryErrorResponseHasItsOwnExample: Swagger UI shows each error response's own example
// (not one generated from the schema, which says 400 VALIDATION_FAILED for a 503), with the
// status of the response and a code of the Problem.code enum.
func TestEveryErrorResponseHasItsOwnExample(t *testing.T) {
	for _, name := range []string{"product-service.yaml", "order-service.yaml"} {
		doc := loadSpec(t, name)
		for path, item := range doc.Paths.Map() {
			for method, op := range item.Operations() {
				for code, r := range op.Responses.Map() {
					mt := r.Value.Content.Get("application/problem+json")
					if mt == nil {
						continue
					}
					where := fmt.Sprintf("%s %s %s %s", name, method, path, code)
					example, ok := mt.Example.(map[string]any)
					if !assert.True(t, ok, "%s has no example", where) {
						continue
					}
					assert.EqualValues(t, code, fmt.Sprint(example["status"]), where)
					assert.Contains(t, mt.Schema.Value.Properties["code"].Value.Enum, example["code"], where)
				}
			}
		}
	}
}

// TestMoneyBoundsHoldForEveryComputedAmount: a total is unitPrice × qty, so its bound is the
// largest price times the largest quantity; every total in every document (HTTP and events) is a
// TotalMoney and every price a Money, and both keep two decimals in the schema.
func TestMoneyBoundsHoldForEveryComputedAmount(t *testing.T) {
	common := loadSpec(t, "common.yaml").Components.Schemas
	price, total := common["Money"].Value, common["TotalMoney"].Value
	qty := loadSpec(t, "order-service.yaml").Components.Schemas["OrderInput"].Value.Properties["qty"].Value
	maxPrice, _ := new(big.Rat).SetString(strconv.FormatFloat(*price.Max, 'f', -1, 64))
	maxTotal := new(big.Rat).Mul(maxPrice, new(big.Rat).SetFloat64(*qty.Max))
	wantTotal, _ := new(big.Rat).SetString(strconv.FormatFloat(*total.Max, 'f', -1, 64))
	assert.Zero(t, maxTotal.Cmp(wantTotal), "TotalMoney.maximum = Money.maximum × qty.maximum = %s", maxTotal.FloatString(2))
	for _, s := range []*openapi3.Schema{price, total} {
		require.NotNil(t, s.MultipleOf)
		assert.Equal(t, 0.01, *s.MultipleOf)
	}
	for _, name := range []string{"product-service.yaml", "order-service.yaml", "event-schemas.yaml", "common.yaml"} {
		for id, s := range loadSpec(t, name).Components.Schemas {
			if id == "OriginalOrderCreated" { // the original order-service's float total: not ours, never computed with
				continue
			}
			for prop, p := range s.Value.Properties {
				switch prop {
				case "totalPrice":
					assert.True(t, strings.HasSuffix(p.Ref, "#/components/schemas/TotalMoney"), "%s %s.%s is %q", name, id, prop, p.Ref)
				case "price", "unitPrice":
					assert.True(t, strings.HasSuffix(p.Ref, "#/components/schemas/Money"), "%s %s.%s is %q", name, id, prop, p.Ref)
				}
			}
		}
	}
}

// TestAsyncAPIDocument checks the event catalogue: AsyncAPI 3.0, the five routing keys on the
// durable topic exchange orders, the queues as the services declare them (each durable one with
// its dead-letter queue), AMQP properties in the message bindings (not as headers: published
// messages carry none), every payload an OpenAPI 3.0 schema of event-schemas.yaml, and a sender
// and a receiver for every routing key.
func TestAsyncAPIDocument(t *testing.T) {
	raw, err := os.ReadFile("events.yaml")
	require.NoError(t, err)
	var doc asyncDoc
	require.NoError(t, yaml.Unmarshal(raw, &doc))
	var queues struct {
		Channels map[string]struct {
			Bindings struct {
				AMQP struct {
					Is    string `yaml:"is"`
					Queue struct {
						Name       string `yaml:"name"`
						Durable    bool   `yaml:"durable"`
						Exclusive  bool   `yaml:"exclusive"`
						AutoDelete bool   `yaml:"autoDelete"`
					} `yaml:"queue"`
				} `yaml:"amqp"`
			} `yaml:"bindings"`
		} `yaml:"channels"`
	}
	require.NoError(t, yaml.Unmarshal(raw, &queues))
	assert.Equal(t, "3.0.0", doc.AsyncAPI)
	schemas := loadSpec(t, "event-schemas.yaml").Components.Schemas

	routingKeys, durable := map[string]string{}, map[string]bool{}
	exclusive := 0
	for id, ch := range doc.Channels {
		if ref, _ := ch.Bindings["$ref"].(string); ref != "" {
			b := doc.Components.ChannelBindings[strings.TrimPrefix(ref, "#/components/channelBindings/")].AMQP
			assert.Equal(t, "routingKey", b.Is, id)
			assert.Equal(t, "orders", b.Exchange.Name, id)
			assert.Equal(t, "topic", b.Exchange.Type, id)
			assert.True(t, b.Exchange.Durable, id)
			require.NotNil(t, ch.Address, id)
			routingKeys[id] = *ch.Address
		} else {
			q := queues.Channels[id].Bindings.AMQP
			assert.Equal(t, "queue", q.Is, id)
			if q.Queue.Exclusive {
				exclusive++
				assert.True(t, q.Queue.AutoDelete && !q.Queue.Durable, "%s: exclusive queues are auto-deleted, not durable", id)
				continue
			}
			require.NotNil(t, ch.Address, id)
			assert.Equal(t, *ch.Address, q.Queue.Name, id)
			durable[q.Queue.Name] = q.Queue.Durable
		}
		for _, m := range ch.Messages {
			name := strings.TrimPrefix(m["$ref"], "#/components/messages/")
			_, ok := doc.Components.Messages[name]
			require.True(t, ok, "channel %s references unknown message %s", id, name)
		}
	}
	assert.ElementsMatch(t, []string{"order.created", "order.cancelled", "stock.results", "product.updated", "product.deleted"},
		slices.Collect(maps.Values(routingKeys)))
	assert.Equal(t, map[string]bool{
		"product-service__order-created": true, "product-service__order-created.dlq": true,
		"order-service__stock-results": true, "order-service__stock-results.dlq": true,
		"order-service__product-changes.dlq": true,
	}, durable, "the durable queues the services declare (platform/amqpx, the services' config), each with its .dlq")
	assert.Equal(t, 1, exclusive, "order-service's per-replica product-changes queue")

	for name, msg := range doc.Components.Messages {
		if name == "DeadLetter" {
			assert.NotEmpty(t, msg.Headers["$ref"], "dead letters carry the x-death-reason headers")
			continue
		}
		if name != "OriginalOrderCreated" { // published by the original order-service, without AMQP properties
			assert.Equal(t, "#/components/schemas/TraceHeaders", msg.Headers["$ref"],
				"%s: published messages have no AMQP headers but traceparent; their metadata are properties", name)
			assert.Equal(t, msg.Name, msg.Bindings.AMQP.MessageType, "%s: the AMQP type property is the routing key", name)
			assert.Equal(t, "#/components/schemas/AMQPProperties", msg.Bindings.AMQP.Properties["$ref"], name)
		} else {
			assert.Empty(t, msg.Headers, "%s: the original publishes no AMQP headers", name)
		}
		assert.Equal(t, "application/vnd.oai.openapi;version=3.0.0", msg.Payload["schemaFormat"], name)
		schema, _ := msg.Payload["schema"].(map[string]any)
		ref, _ := schema["$ref"].(string)
		assert.Contains(t, schemas, strings.TrimPrefix(ref, "./event-schemas.yaml#/components/schemas/"), "payload of %s", name)
	}

	var headers struct {
		Components struct {
			Schemas struct {
				TraceHeaders struct {
					AdditionalProperties *bool                     `yaml:"additionalProperties"`
					Properties           map[string]map[string]any `yaml:"properties"`
				} `yaml:"TraceHeaders"`
			} `yaml:"schemas"`
		} `yaml:"components"`
	}
	require.NoError(t, yaml.Unmarshal(raw, &headers))
	th := headers.Components.Schemas.TraceHeaders
	require.NotNil(t, th.AdditionalProperties)
	assert.False(t, *th.AdditionalProperties, "no header but the trace context")
	assert.Equal(t, []string{"traceparent"}, slices.Collect(maps.Keys(th.Properties)))
	assert.Contains(t, schemas, "Traceparent")

	sends, receives := map[string]bool{}, map[string]bool{}
	for id, op := range doc.Operations {
		ch := strings.TrimPrefix(op.Channel["$ref"], "#/channels/")
		require.Contains(t, doc.Channels, ch, "operation %s", id)
		for _, m := range doc.Channels[ch].Messages {
			key := doc.Components.Messages[strings.TrimPrefix(m["$ref"], "#/components/messages/")].Name
			switch op.Action {
			case "send":
				sends[key] = true
			case "receive":
				receives[key] = true
			default:
				t.Errorf("operation %s has action %q", id, op.Action)
			}
		}
	}
	for _, key := range routingKeys {
		assert.True(t, sends[key], "nobody sends %s", key)
		assert.True(t, receives[key], "nobody receives %s", key)
	}
}
