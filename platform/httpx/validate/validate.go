// Package validate owns what a request must be before a handler sees it: the service's OpenAPI
// document (LoadSpec), and the middleware that holds every request to it — after the strict JSON
// rules of platform/strictjson and a lossless query string — answering one problem that lists
// every failing field.
package validate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/go-chi/chi/v5"

	"github.com/shopworks/shop/platform/httpx/problem"
	"github.com/shopworks/shop/platform/strictjson"
)

// defaultMaxBodyBytes is the largest request body accepted (413 above it) when Middleware is
// given no limit.
const defaultMaxBodyBytes = 1 << 20

// LoadSpec parses and validates an OpenAPI document.
func LoadSpec(doc []byte) (*openapi3.T, error) {
	spec, err := openapi3.NewLoader().LoadFromData(doc)
	if err != nil {
		return nil, fmt.Errorf("load OpenAPI document: %w", err)
	}
	if err := spec.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("validate OpenAPI document: %w", err)
	}
	return spec, nil
}

// Middleware checks every request against spec before a handler runs and answers a problem
// listing every failing field at once; a body over maxBodyBytes (1 MiB when <= 0) is 413. A JSON
// body is first held to the strict rules of platform/strictjson, and a query string must decode
// without loss. spec must have been validated already (LoadSpec).
//
// It must be installed on the chi router that also routes the generated handlers: it finds the
// operation through chi's own routing table (see docs/adr/0002-request-validation.md), the spec's
// paths being the router's patterns, so there is one routing decision per request and
// `/products/{id}-with-orders` can never be taken for `/products/{id}`.
func Middleware(spec *openapi3.T, maxBodyBytes int64) func(http.Handler) http.Handler {
	return newValidator(spec, maxBodyBytes).middleware
}

// validator holds the spec's operations by "METHOD pattern", and the request body schemas whose
// multipleOf it checks exactly.
type validator struct {
	routes       map[string]*routers.Route // "METHOD pattern"
	exact        map[*routers.Route]*openapi3.Schema
	maxBodyBytes int64
	options      *openapi3filter.Options
}

func newValidator(spec *openapi3.T, maxBodyBytes int64) *validator {
	if maxBodyBytes <= 0 {
		maxBodyBytes = defaultMaxBodyBytes
	}
	v := &validator{
		routes:       map[string]*routers.Route{},
		exact:        map[*routers.Route]*openapi3.Schema{},
		maxBodyBytes: maxBodyBytes,
		options: &openapi3filter.Options{
			MultiError:         true,
			AuthenticationFunc: openapi3filter.NoopAuthenticationFunc,
		},
	}
	for path, item := range spec.Paths.Map() {
		for method, op := range item.Operations() {
			route := &routers.Route{Spec: spec, Path: path, PathItem: item, Method: method, Operation: op}
			v.routes[method+" "+path] = route
			if op.RequestBody != nil && op.RequestBody.Value != nil {
				if mt := op.RequestBody.Value.Content.Get("application/json"); mt != nil && mt.Schema != nil &&
					hasMultipleOf(mt.Schema.Value, map[*openapi3.Schema]bool{}) {
					v.exact[route] = mt.Schema.Value
				}
			}
		}
	}
	return v
}

func (v *validator) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = http.MaxBytesReader(w, r.Body, v.maxBodyBytes)
		}
		if r.URL.RawQuery != "" {
			if _, err := url.ParseQuery(r.URL.RawQuery); err != nil {
				// encoding/json is not the only lenient parser: r.URL.Query() drops what it
				// cannot decode, so a bad escape would silently lose a parameter.
				problem.Write(w, r, problem.Validation([]problem.FieldError{{Field: "query", Message: problem.CleanMessage(err.Error())}}))
				return
			}
		}
		rctx := chi.RouteContext(r.Context())
		if rctx == nil || rctx.Routes == nil {
			next.ServeHTTP(w, r)
			return
		}
		// chi routes on the escaped path when it differs from the decoded one (RawPath), which
		// would let /products/1%2F1 reach the {id} route unvalidated while the match below,
		// on the decoded path, finds nothing. One path for both: the decoded one.
		rctx.RoutePath = r.URL.Path
		match := chi.NewRouteContext()
		if !rctx.Routes.Match(match, r.Method, r.URL.Path) {
			next.ServeHTTP(w, r) // chi answers 404/405
			return
		}
		route, ok := v.routes[r.Method+" "+match.RoutePattern()]
		if !ok {
			next.ServeHTTP(w, r) // not an API operation (/docs, /metrics, /openapi.json)
			return
		}
		params := make(map[string]string, len(match.URLParams.Keys))
		for i, k := range match.URLParams.Keys {
			params[k] = match.URLParams.Values[i]
		}
		body, fields, p := strictBody(r, route)
		if p != nil {
			problem.Write(w, r, p)
			return
		}
		err := openapi3filter.ValidateRequest(r.Context(), &openapi3filter.RequestValidationInput{
			Request: r, PathParams: params, Route: route, Options: v.options,
		})
		if schema, ok := v.exact[route]; ok && body != nil {
			fields = append(fields, inexactMultiples(body, schema)...)
		}
		if err != nil || len(fields) > 0 {
			// Every failing field at once: the strict rules', the exact multiples' and the spec's.
			problem.Write(w, r, problemFromValidation(err, fields))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// hasMultipleOf reports whether s or a schema inside it has multipleOf.
func hasMultipleOf(s *openapi3.Schema, seen map[*openapi3.Schema]bool) bool {
	if s == nil || seen[s] {
		return false
	}
	seen[s] = true
	if s.MultipleOf != nil {
		return true
	}
	for _, p := range s.Properties {
		if p != nil && hasMultipleOf(p.Value, seen) {
			return true
		}
	}
	if s.Items != nil && hasMultipleOf(s.Items.Value, seen) {
		return true
	}
	for _, sub := range s.AllOf {
		if sub != nil && hasMultipleOf(sub.Value, seen) {
			return true
		}
	}
	return false
}

// inexactMultiples checks multipleOf on the JSON text of every number of the request body that
// schema constrains with it. kin-openapi checks multipleOf through float64, with a tolerance of a
// few ulps so that 1234567.89 passes for 0.01; so does 1.0000000000000001, which parses to the
// same float as 1 but has more than two decimals: for money that is a validation failure, not
// something to round. An undecodable body was already reported as malformed.
func inexactMultiples(raw []byte, schema *openapi3.Schema) []problem.FieldError {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var body any
	if dec.Decode(&body) != nil {
		return nil
	}
	var out []problem.FieldError
	walkMultiples(schema, body, nil, &out)
	return out
}

func walkMultiples(s *openapi3.Schema, v any, path []string, out *[]problem.FieldError) {
	if s == nil {
		return
	}
	for _, sub := range s.AllOf {
		if sub != nil {
			walkMultiples(sub.Value, v, path, out)
		}
	}
	switch x := v.(type) {
	case json.Number:
		if s.MultipleOf != nil && !exactMultipleOf(string(x), *s.MultipleOf) {
			field := strings.Join(path, ".")
			if field == "" {
				field = "body"
			}
			*out = append(*out, problem.FieldError{Field: field, Message: fmt.Sprintf("number must be a multiple of %g", *s.MultipleOf)})
		}
	case map[string]any:
		for k, pv := range x {
			if p := s.Properties[k]; p != nil {
				walkMultiples(p.Value, pv, append(path[:len(path):len(path)], k), out)
			}
		}
	case []any:
		if s.Items != nil {
			for i, item := range x {
				walkMultiples(s.Items.Value, item, append(path[:len(path):len(path)], strconv.Itoa(i)), out)
			}
		}
	}
}

// exactMultipleOf reports whether the JSON number text is an exact multiple of step (as written
// in the spec, e.g. 0.01), in decimal arithmetic. A number whose exponent is beyond ±400 is out of
// every range a schema here declares, which kin-openapi reports; it is not checked again.
func exactMultipleOf(text string, step float64) bool {
	if i := strings.IndexAny(text, "eE"); i >= 0 {
		if exp, err := strconv.Atoi(text[i+1:]); err != nil || exp > 400 || exp < -400 {
			return true
		}
	}
	x, ok := new(big.Rat).SetString(text)
	if !ok {
		return true
	}
	m, ok := new(big.Rat).SetString(strconv.FormatFloat(step, 'f', -1, 64))
	if !ok || m.Sign() <= 0 {
		return true
	}
	return new(big.Rat).Quo(x, m).IsInt()
}

// problemFromValidation turns kin-openapi's errors (and the field errors found before and beside
// it) into one problem: 413 and 415 win, then malformed JSON, otherwise a 400 listing every
// failing field.
func problemFromValidation(err error, inexact []problem.FieldError) *problem.Problem {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return problem.New(http.StatusRequestEntityTooLarge, problem.CodePayloadTooLarge, "Payload too large",
			fmt.Sprintf("The body is larger than %d bytes.", tooBig.Limit))
	}
	fields := inexact
	var walk func(error)
	// Type switches, not errors.As: a RequestError unwraps to a MultiError of schema errors, and
	// MultiError.As matches any member, so errors.As would skip the level that names the field.
	walk = func(e error) {
		switch e := e.(type) {
		case openapi3.MultiError:
			for _, inner := range e {
				walk(inner)
			}
		case *openapi3filter.RequestError:
			fields = append(fields, requestErrorFields(e)...)
		default:
			fields = append(fields, problem.FieldError{Field: "request", Message: problem.CleanMessage(e.Error())})
		}
	}
	if err != nil {
		walk(err)
	}
	for _, f := range fields {
		if f.Field == "Content-Type" {
			return problem.New(http.StatusUnsupportedMediaType, problem.CodeUnsupportedMediaType, "Unsupported media type",
				"The body must be application/json.")
		}
		if f.Field == "body" && strings.HasPrefix(f.Message, "malformed JSON") {
			return problem.New(http.StatusBadRequest, problem.CodeBadJSON, "Malformed JSON body", f.Message)
		}
	}
	sort.SliceStable(fields, func(i, j int) bool { return fields[i].Field < fields[j].Field })
	return problem.Validation(dedupe(fields))
}

func requestErrorFields(e *openapi3filter.RequestError) []problem.FieldError {
	var tooBig *http.MaxBytesError
	if errors.As(e, &tooBig) {
		return []problem.FieldError{{Field: "body", Message: "too large"}}
	}
	if strings.Contains(e.Reason, "header Content-Type has unexpected value") ||
		strings.HasPrefix(e.Reason, "unsupported content type") {
		return []problem.FieldError{{Field: "Content-Type", Message: e.Reason}}
	}
	prefix := "body"
	if e.Parameter != nil {
		prefix = e.Parameter.Name
	}
	if e.Parameter == nil && errors.Is(e.Err, openapi3filter.ErrInvalidRequired) {
		return []problem.FieldError{{Field: "body", Message: "a JSON body is required"}}
	}
	var parseErr *openapi3filter.ParseError
	if e.Parameter == nil && errors.As(e.Err, &parseErr) {
		return []problem.FieldError{{Field: "body", Message: "malformed JSON: " + problem.CleanMessage(parseErr.Error())}}
	}
	var out []problem.FieldError
	var walk func(error)
	walk = func(err error) {
		if err == nil {
			return
		}
		if multi, ok := err.(openapi3.MultiError); ok {
			for _, inner := range multi {
				walk(inner)
			}
			return
		}
		var se *openapi3.SchemaError
		if errors.As(err, &se) {
			out = append(out, schemaField(prefix, e.Parameter != nil, se))
			return
		}
		msg := err.Error()
		if errors.Is(err, openapi3filter.ErrInvalidRequired) {
			msg = "is required"
		}
		out = append(out, problem.FieldError{Field: prefix, Message: problem.CleanMessage(msg)})
	}
	if e.Err == nil {
		return []problem.FieldError{{Field: prefix, Message: problem.CleanMessage(e.Reason)}}
	}
	walk(e.Err)
	return out
}

func schemaField(prefix string, isParam bool, se *openapi3.SchemaError) problem.FieldError {
	ptr := se.JSONPointer()
	field := strings.Join(ptr, ".")
	msg := se.Reason
	if se.SchemaField == "additionalProperties" || strings.HasSuffix(msg, "is unsupported") {
		if name, ok := quoted(msg); ok {
			field = strings.TrimPrefix(field+"."+name, ".")
			msg = "unknown field"
		}
	}
	if se.SchemaField == "required" {
		if name, ok := quoted(msg); ok {
			if len(ptr) == 0 || ptr[len(ptr)-1] != name {
				field = strings.TrimPrefix(field+"."+name, ".")
			}
			msg = "is required"
		}
	}
	if isParam {
		field = prefix
	}
	if field == "" {
		field = prefix
	}
	return problem.FieldError{Field: field, Message: msg}
}

func quoted(s string) (string, bool) {
	_, rest, ok := strings.Cut(s, `"`)
	if !ok {
		return "", false
	}
	name, _, ok := strings.Cut(rest, `"`)
	return name, ok
}

func dedupe(in []problem.FieldError) []problem.FieldError {
	seen := map[problem.FieldError]bool{}
	out := in[:0]
	for _, f := range in {
		if !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	return out
}

// strictBody reads the JSON body of an operation that takes one and applies strictjson.Check
// (one value, valid UTF-8, no control characters, no duplicate members; see that package). It
// returns the body, the field errors to report with the spec's, or the problem that ends the
// request (a syntax error, a body too large or unreadable). The body is put back for the spec
// validation and the handler, which therefore decode exactly the bytes that were checked.
func strictBody(r *http.Request, route *routers.Route) ([]byte, []problem.FieldError, *problem.Problem) {
	if route.Operation.RequestBody == nil || r.Body == nil || r.Body == http.NoBody || !isJSONMediaType(r.Header.Get("Content-Type")) {
		return nil, nil, nil // no body to check, or a wrong content type that the spec validation answers (415)
	}
	body, err := io.ReadAll(r.Body)
	_ = r.Body.Close()
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, nil, problem.New(http.StatusRequestEntityTooLarge, problem.CodePayloadTooLarge, "Payload too large",
				fmt.Sprintf("The body is larger than %d bytes.", tooBig.Limit))
		}
		return nil, nil, problem.New(http.StatusBadRequest, problem.CodeBadJSON, "Malformed JSON body", "The body could not be read completely.")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		r.Body = http.NoBody // the spec validation says that a body is required
		return nil, nil, nil
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	err = strictjson.Check(body)
	var faults strictjson.FieldErrors
	switch {
	case err == nil:
		return body, nil, nil
	case errors.As(err, &faults):
		fields := make([]problem.FieldError, len(faults))
		for i, f := range faults {
			fields[i] = problem.FieldError{Field: f.Path, Message: f.Message}
		}
		return body, fields, nil
	default:
		return nil, nil, problem.New(http.StatusBadRequest, problem.CodeBadJSON, "Malformed JSON body", upperFirst(strings.TrimPrefix(err.Error(), strictjson.ErrMalformed.Error()+": "))+".")
	}
}

// isJSONMediaType reports application/json or a +json type, whatever the parameters.
func isJSONMediaType(contentType string) bool {
	mt, _, _ := strings.Cut(contentType, ";")
	mt = strings.ToLower(strings.TrimSpace(mt))
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
