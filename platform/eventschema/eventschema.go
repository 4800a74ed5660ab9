// Package eventschema owns the validation of message bodies against the event payload schemas
// of the AsyncAPI document (api/event-schemas.yaml, embedded in clients/events by its generator):
// nothing from the bus is trusted more than an HTTP request. A consumer decodes every message
// with one call,
//
//	var e events.OrderCreated
//	if err := v.Decode(d.Body, &e); err != nil {
//		return amqpx.Permanent(err) // dead-lettered with the reason in x-death-reason
//	}
//
// which holds the body to the strict JSON rules (platform/strictjson: one value, valid UTF-8, no
// control characters, no duplicate members), validates it against the schema named like the Go
// type (events.OrderCreated → OrderCreated: required fields, types, formats, enums, minimums and
// maximums — the domain's rules such as price ≥ 0.01 and 1 ≤ qty ≤ 10000 are the schemas'
// bounds — and, where the schema says additionalProperties: false, no unknown field), then
// decodes it into the generated type. A *Error says why a body was refused.
//
// The schemas are loaded and resolved once by New; a Validator is safe for concurrent use, so a
// service builds one at start and shares it.
package eventschema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/google/uuid"

	"github.com/shopworks/shop/clients/events"
	"github.com/shopworks/shop/platform/strictjson"
)

// ErrInvalid is matched (errors.Is) by every refusal of Decode and Validate.
var ErrInvalid = errors.New("invalid event payload")

// Error is why a body was refused: the schema it was checked against and the reason, which
// names the field (e.g. `OrderCreated: qty: number must be at most 10000`).
type Error struct {
	Schema string
	Reason string
}

func (e *Error) Error() string { return e.Schema + ": " + e.Reason }

// Is makes errors.Is(err, ErrInvalid) true.
func (e *Error) Is(target error) bool { return target == ErrInvalid }

// Validator checks bodies against the event payload schemas.
type Validator struct {
	schemas map[string]*openapi3.Schema
	opts    []openapi3.SchemaValidationOption
}

// New loads the embedded schemas. It fails only if the generated package is broken.
func New() (*Validator, error) {
	doc, err := events.GetSpec()
	if err != nil {
		return nil, fmt.Errorf("eventschema: load the embedded event schemas: %w", err)
	}
	v := &Validator{
		schemas: make(map[string]*openapi3.Schema, len(doc.Components.Schemas)),
		opts: []openapi3.SchemaValidationOption{
			openapi3.VisitAsRequest(),
			// Format checks per validation, not in kin-openapi's package-global registry (a side
			// effect on every other user); date-time by time.Parse, which is several times
			// cheaper than kin-openapi's regular expression and is what the typed decode uses.
			openapi3.WithStringFormatValidators(map[string]openapi3.StringFormatValidator{
				"uuid": openapi3.NewCallbackValidator(func(s string) error {
					if err := uuid.Validate(s); err != nil {
						return errors.New("not a UUID")
					}
					return nil
				}),
				"date-time": openapi3.NewCallbackValidator(func(s string) error {
					if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
						return errors.New("not an RFC 3339 date-time")
					}
					return nil
				}),
			}),
		},
	}
	for name, ref := range doc.Components.Schemas {
		if ref == nil || ref.Value == nil {
			return nil, fmt.Errorf("eventschema: schema %q is empty", name)
		}
		v.schemas[name] = ref.Value
	}
	return v, nil
}

// Validate checks body against the schema called schema (e.g. "OrderCreated").
func (v *Validator) Validate(schema string, body []byte) error {
	_, err := v.validate(schema, body)
	return err
}

// Decode validates body against the schema named like dst's type (dst is a pointer to a type of
// clients/events, e.g. *events.OrderCreated) and decodes it into dst. On a refusal dst is left
// untouched and the error is a *Error (errors.Is(err, ErrInvalid)).
func (v *Validator) Decode(body []byte, dst any) error {
	t := reflect.TypeOf(dst)
	if t == nil || t.Kind() != reflect.Pointer || t.Elem().Name() == "" {
		return fmt.Errorf("eventschema: Decode needs a pointer to an events type, got %T", dst)
	}
	name := t.Elem().Name()
	if _, err := v.validate(name, body); err != nil {
		return err
	}
	// The schema passed, so this only fails where a Go type is narrower than its schema (e.g.
	// money with more than two decimals); that is a refusal too. Decoded into a fresh value so
	// that a refusal leaves dst untouched.
	fresh := reflect.New(t.Elem())
	if err := json.Unmarshal(body, fresh.Interface()); err != nil {
		return &Error{Schema: name, Reason: strings.TrimPrefix(err.Error(), "json: ")}
	}
	reflect.ValueOf(dst).Elem().Set(fresh.Elem())
	return nil
}

func (v *Validator) validate(name string, body []byte) (any, error) {
	schema, ok := v.schemas[name]
	if !ok {
		return nil, fmt.Errorf("eventschema: no schema %q in the event schemas", name)
	}
	if err := strictjson.Check(body); err != nil {
		return nil, &Error{Schema: name, Reason: strings.TrimPrefix(err.Error(), strictjson.ErrMalformed.Error()+": ")}
	}
	var value any
	// Numbers become float64, exact for every bound the schemas state (ids beyond 2^53 are
	// checked exactly by the typed decode that follows); json.Number would cost a third more.
	if err := json.Unmarshal(body, &value); err != nil {
		return nil, &Error{Schema: name, Reason: v.explain(schema, body, err)}
	}
	if err := schema.VisitJSON(value, v.opts...); err != nil {
		return nil, &Error{Schema: name, Reason: reason(err)}
	}
	return value, nil
}

// explain finds the field of a number that float64 cannot hold (e.g. 1e400), which
// json.Unmarshal does not name, by validating the exact json.Number against the schema: only
// refused messages take this path.
func (v *Validator) explain(schema *openapi3.Schema, body []byte, err error) string {
	var value any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if dec.Decode(&value) == nil {
		if verr := schema.VisitJSON(value, v.opts...); verr != nil {
			return reason(verr)
		}
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

// reason turns kin-openapi's error into "field: why", without the schema and value dump.
func reason(err error) string {
	var se *openapi3.SchemaError
	if errors.As(err, &se) {
		field := strings.Join(se.JSONPointer(), ".")
		msg := se.Reason
		if se.SchemaField == "additionalProperties" || se.SchemaField == "required" {
			return msg
		}
		if field == "" {
			return msg
		}
		return field + ": " + msg
	}
	return err.Error()
}
