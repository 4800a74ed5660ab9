package eventschema_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/shopworks/shop/clients/events"
	"github.com/shopworks/shop/clients/money"
	"github.com/shopworks/shop/platform/eventschema"
)

const (
	eventID = `"eventId":"0b6f1d5e-8d2a-4c1e-9a57-3f7e2b1c9d10"`
	// validOrderCreated is what our order-service publishes; legacyOrderCreated the original's.
	validOrderCreated  = `{` + eventID + `,"orderId":101,"productId":26,"qty":2,"unitPrice":1000,"totalPrice":2000,"status":"PENDING","createdAt":"2026-11-25T10:00:00.000Z"}`
	legacyOrderCreated = `{"orderId":3,"productId":26,"qty":2,"totalPrice":2000.5,"createdAt":"2026-11-25T10:00:00Z"}`
	validProduct       = `{` + eventID + `,"productId":26,"name":"BFF Test","price":1000,"qty":48,"updatedAt":"2026-11-25T10:00:00.000Z"}`
)

func newValidator(t testing.TB) *eventschema.Validator {
	t.Helper()
	v, err := eventschema.New()
	require.NoError(t, err)
	return v
}

func TestDecodeAcceptsWhatThePublishersSend(t *testing.T) {
	v := newValidator(t)

	var o events.OrderCreated
	require.NoError(t, v.Decode([]byte(validOrderCreated), &o))
	assert.EqualValues(t, 101, o.OrderId)
	require.NotNil(t, o.UnitPrice)
	assert.Equal(t, money.FromCents(100000), *o.UnitPrice)

	var legacy events.OrderCreated
	require.NoError(t, v.Decode([]byte(legacyOrderCreated), &legacy), "the original's payload")
	assert.Nil(t, legacy.EventId, "absent, not zero")
	assert.Nil(t, legacy.UnitPrice)

	var p events.ProductUpdated
	require.NoError(t, v.Decode([]byte(validProduct), &p))
	assert.Equal(t, "BFF Test", p.Name)

	for schema, body := range map[string]string{
		"StockResults": `{` + eventID + `,"results":[{"orderId":101,"orderEventId":"0b6f1d5e-8d2a-4c1e-9a57-3f7e2b1c9d10","productId":26,"qty":2,"outcome":"RESERVED"},` +
			`{"orderId":102,"productId":26,"qty":2,"outcome":"PRODUCT_NOT_FOUND"}],"decidedAt":"2026-11-25T10:00:00.050+01:00"}`,
		"OrderCancelled": `{` + eventID + `,"orderId":101,"orderEventId":"0b6f1d5e-8d2a-4c1e-9a57-3f7e2b1c9d10","productId":26,"qty":2,"reason":"UNKNOWN_ORDER","cancelledAt":"2026-11-25T10:00:00.050Z"}`,
		"ProductDeleted": `{` + eventID + `,"productId":26,"deletedAt":"2026-11-25T10:00:00Z"}`,
	} {
		assert.NoError(t, v.Validate(schema, []byte(body)), schema)
	}
}

// TestDecodeRefusesHostileMessages: every body here must be refused with a reason and leave
// the destination untouched.
func TestDecodeRefusesHostileMessages(t *testing.T) {
	v := newValidator(t)
	order := func(replace, with string) string {
		require.Contains(t, validOrderCreated, replace)
		return strings.Replace(validOrderCreated, replace, with, 1)
	}
	product := func(replace, with string) string {
		require.Contains(t, validProduct, replace)
		return strings.Replace(validProduct, replace, with, 1)
	}
	orderCases := map[string]struct{ body, reason string }{
		"trailing data":           {validOrderCreated + `{"x":1}`, "data after the JSON value"},
		"trailing garbage":        {validOrderCreated + ` xyz`, "data after the JSON value"},
		"not JSON":                {`{not json`, "invalid character"},
		"empty":                   {``, "empty"},
		"array":                   {`[` + validOrderCreated + `]`, "must be an object"},
		"null":                    {`null`, "not nullable"},
		"invalid UTF-8":           {order(`"createdAt":"`, "\"createdAt\":\"\xff"), "UTF-8"},
		"duplicate qty":           {order(`"qty":2`, `"qty":2,"qty":9999`), "qty appears more than once"},
		"qty 0":                   {order(`"qty":2`, `"qty":0`), "qty: number must be at least 1"},
		"qty negative":            {order(`"qty":2`, `"qty":-7`), "qty: number must be at least 1"},
		"qty over 10000":          {order(`"qty":2`, `"qty":10001`), "qty: number must be at most 10000"},
		"qty fractional":          {order(`"qty":2`, `"qty":1.5`), "qty: value must be an integer"},
		"qty string":              {order(`"qty":2`, `"qty":"2"`), "qty: value must be an integer"},
		"qty huge":                {order(`"qty":2`, `"qty":1e400`), "qty"},
		"orderId 0":               {order(`"orderId":101`, `"orderId":0`), "orderId: number must be at least 1"},
		"orderId beyond int64":    {order(`"orderId":101`, `"orderId":9223372036854775808`), "orderId"},
		"orderId missing":         {order(`"orderId":101,`, ``), `property "orderId" is missing`},
		"productId null":          {order(`"productId":26`, `"productId":null`), "productId"},
		"negative price":          {order(`"unitPrice":1000`, `"unitPrice":-5`), "unitPrice: number must be at least 0.01"},
		"zero total":              {order(`"totalPrice":2000`, `"totalPrice":0`), "totalPrice: number must be at least 0.01"},
		"three decimals":          {order(`"totalPrice":2000`, `"totalPrice":20.001`), "multiple of 0.01"},
		"status CONFIRMED":        {order(`"status":"PENDING"`, `"status":"CONFIRMED"`), "status: value is not one of the allowed values"},
		"bad date":                {order(`"createdAt":"2026-11-25T10:00:00.000Z"`, `"createdAt":"yesterday"`), "createdAt"},
		"bad eventId":             {order(eventID, `"eventId":"not-a-uuid"`), "eventId"},
		"NUL in eventId":          {order(eventID, `"eventId":"0b6f1d5e-8d2a-4c1e-9a57-3f7e2b1c9d1\u0000"`), "must not contain control characters"},
		"deep nesting":            {order(`"qty":2`, `"qty":`+strings.Repeat("[", 64)+strings.Repeat("]", 64)), "nested deeper"},
		"unpaired surrogate":      {order(`"status":"PENDING"`, `"status":"\ud800"`), "surrogate"},
		"object for a number":     {order(`"qty":2`, `"qty":{}`), "qty"},
		"createdAt missing":       {order(`,"createdAt":"2026-11-25T10:00:00.000Z"`, ``), `property "createdAt" is missing`},
		"legacy with negative":    {strings.Replace(legacyOrderCreated, `"totalPrice":2000.5`, `"totalPrice":-1`, 1), "totalPrice"},
		"legacy with huge number": {strings.Replace(legacyOrderCreated, `"productId":26`, `"productId":1e30`, 1), "productId"},
	}
	for name, tc := range orderCases {
		t.Run("order.created/"+name, func(t *testing.T) {
			dst := events.OrderCreated{OrderId: -1}
			err := v.Decode([]byte(tc.body), &dst)
			require.Error(t, err)
			assert.ErrorIs(t, err, eventschema.ErrInvalid)
			var ve *eventschema.Error
			require.True(t, errors.As(err, &ve))
			assert.Equal(t, "OrderCreated", ve.Schema)
			assert.Contains(t, err.Error(), tc.reason)
			assert.EqualValues(t, -1, dst.OrderId, "untouched")
		})
	}
	productCases := map[string]struct{ body, reason string }{
		"price -5 (the issue's)": {product(`"price":1000`, `"price":-5`), "price: number must be at least 0.01"},
		"price 0":                {product(`"price":1000`, `"price":0`), "price: number must be at least 0.01"},
		"negative stock":         {product(`"qty":48`, `"qty":-1`), "qty: number must be at least 0"},
		"stock beyond int32":     {product(`"qty":48`, `"qty":2147483648`), "qty"},
		"empty name":             {product(`"name":"BFF Test"`, `"name":""`), "name: minimum string length is 1"},
		"NUL in name":            {product(`"name":"BFF Test"`, `"name":"a\u0000b"`), "name must not contain control characters"},
		"unknown field":          {product(`"qty":48`, `"qty":48,"admin":true`), `property "admin" is unsupported`},
		"no eventId":             {product(eventID+`,`, ``), `property "eventId" is missing`},
	}
	for name, tc := range productCases {
		t.Run("product.updated/"+name, func(t *testing.T) {
			var dst events.ProductUpdated
			err := v.Decode([]byte(tc.body), &dst)
			require.ErrorIs(t, err, eventschema.ErrInvalid)
			assert.Contains(t, err.Error(), tc.reason)
		})
	}
	assert.GreaterOrEqual(t, len(orderCases)+len(productCases), 25)
}

func TestDecodeNeedsAPointerToAnEventsType(t *testing.T) {
	v := newValidator(t)
	var o events.OrderCreated
	require.Error(t, v.Decode([]byte(validOrderCreated), o))
	var m map[string]any
	require.Error(t, v.Decode([]byte(validOrderCreated), &m))
	err := v.Validate("NoSuchEvent", []byte(`{}`))
	require.Error(t, err)
	assert.NotErrorIs(t, err, eventschema.ErrInvalid, "a programming error, not a bad message")
}

// TestEveryAsyncAPIMessageHasItsSchemaAndGoType keeps Decode's rule (schema name = Go type name)
// true for every message of api/events.yaml.
func TestEveryAsyncAPIMessageHasItsSchemaAndGoType(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "api", "events.yaml"))
	require.NoError(t, err)
	var doc struct {
		Components struct {
			Messages map[string]struct {
				Payload struct {
					Schema struct {
						Ref string `yaml:"$ref"`
					} `yaml:"schema"`
				} `yaml:"payload"`
			} `yaml:"messages"`
		} `yaml:"components"`
	}
	require.NoError(t, yaml.Unmarshal(raw, &doc))
	require.NotEmpty(t, doc.Components.Messages)
	v := newValidator(t)
	goTypes := map[string]any{
		"OrderCreated": &events.OrderCreated{}, "StockResults": &events.StockResults{}, "OrderCancelled": &events.OrderCancelled{},
		"ProductUpdated": &events.ProductUpdated{}, "ProductDeleted": &events.ProductDeleted{},
	}
	for msg, m := range doc.Components.Messages {
		if msg == "DeadLetter" {
			continue // the original body, whatever it was: not validated
		}
		_, schema, ok := strings.Cut(m.Payload.Schema.Ref, "#/components/schemas/")
		require.True(t, ok, "%s: payload %q is not in event-schemas.yaml", msg, m.Payload.Schema.Ref)
		err := v.Validate(schema, []byte(`{}`))
		require.ErrorIs(t, err, eventschema.ErrInvalid, "%s: schema %s is known to the validator", msg, schema)
		if dst, ok := goTypes[schema]; ok {
			assert.ErrorIs(t, v.Decode([]byte(`{}`), dst), eventschema.ErrInvalid, schema)
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	v := newValidator(b)
	for name, body := range map[string]string{"OrderCreated": validOrderCreated, "ProductUpdated": validProduct} {
		b.Run(name, func(b *testing.B) {
			raw := []byte(body)
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if name == "OrderCreated" {
					var e events.OrderCreated
					err = v.Decode(raw, &e)
				} else {
					var e events.ProductUpdated
					err = v.Decode(raw, &e)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("baseline: json.Unmarshal of OrderCreated", func(b *testing.B) {
		raw := []byte(validOrderCreated)
		b.ReportAllocs()
		for b.Loop() {
			var e events.OrderCreated
			if err := json.Unmarshal(raw, &e); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// FuzzDecode: no body makes Decode panic, and whatever it accepts keeps the domain's rules.
func FuzzDecode(f *testing.F) {
	v, err := eventschema.New()
	require.NoError(f, err)
	for _, s := range []string{validOrderCreated, legacyOrderCreated, validProduct, `{}`, `{"qty":-1}`, validOrderCreated + `{}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var o events.OrderCreated
		if err := v.Decode(body, &o); err == nil {
			if o.OrderId < 1 || o.ProductId < 1 || o.Qty < 1 || o.Qty > 10000 || o.TotalPrice.Cents() < 1 ||
				(o.UnitPrice != nil && o.UnitPrice.Cents() < 1) || o.CreatedAt.IsZero() {
				t.Fatalf("accepted an order.created that breaks the rules: %s → %+v", body, o)
			}
		} else if !errors.Is(err, eventschema.ErrInvalid) {
			t.Fatalf("refusal that is not ErrInvalid: %v", err)
		}
		var p events.ProductUpdated
		if err := v.Decode(body, &p); err == nil {
			if p.ProductId < 1 || p.Qty < 0 || p.Price.Cents() < 1 || p.Name == "" {
				t.Fatalf("accepted a product.updated that breaks the rules: %s → %+v", body, p)
			}
		}
	})
}
