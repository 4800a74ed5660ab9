package e2e

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
)

// gen builds JSON values from OpenAPI schemas: valid ones, boundary values included, and values
// that break exactly one rule of the schema (one past a bound, a third decimal, a wrong type, a
// missing required field, an unknown field...). Numbers are json.Number, so that what is sent is
// the exact text generated (1.005 stays 1.005). No Go library generates invalid values from an
// OpenAPI schema, so this is the part of the schema fuzzer written here.
type gen struct {
	r *rand.Rand
	// ids returns an id known to exist for an id field or parameter, or false.
	ids func(name string) (int64, bool)
}

// violation is one value that breaks its schema, which rule it breaks, and where: the path of
// the failing field inside the value ("" for the value itself).
type violation struct {
	value any
	rule  string
	field string
}

// valid returns a value that satisfies s; name is the field or parameter it is for.
func (g *gen) valid(s *openapi3.Schema, name string) any {
	switch {
	case len(s.Enum) > 0:
		return s.Enum[g.r.IntN(len(s.Enum))]
	case s.Type.Is("integer"):
		if id, ok := g.ids(name); ok && g.r.IntN(4) > 0 {
			return json.Number(strconv.FormatInt(id, 10))
		}
		lo, hi := intBounds(s)
		return json.Number(pick(g.r, lo, hi).String())
	case s.Type.Is("number"):
		return g.validNumber(s)
	case s.Type.Is("string"):
		return g.validString(s)
	case s.Type.Is("boolean"):
		return g.r.IntN(2) == 0
	case s.Type.Is("array"):
		var out []any
		for i := g.r.IntN(3); i > 0; i-- {
			out = append(out, g.valid(s.Items.Value, name))
		}
		return out
	case s.Type.Is("object"):
		out := map[string]any{}
		for _, p := range sortedKeys(s.Properties) {
			if contains(s.Required, p) || g.r.IntN(2) == 0 {
				out[p] = g.valid(s.Properties[p].Value, p)
			}
		}
		if len(out) < int(s.MinProps) {
			for _, p := range sortedKeys(s.Properties) {
				if _, ok := out[p]; !ok && len(out) < int(s.MinProps) {
					out[p] = g.valid(s.Properties[p].Value, p)
				}
			}
		}
		return out
	}
	return nil
}

// intBounds are the schema's integer bounds, defaulting to the range of its format.
func intBounds(s *openapi3.Schema) (*big.Int, *big.Int) {
	lo, hi := big.NewInt(math.MinInt64), big.NewInt(math.MaxInt64)
	if s.Format == "int32" {
		lo, hi = big.NewInt(math.MinInt32), big.NewInt(math.MaxInt32)
	}
	if s.Min != nil {
		lo = ratInt(*s.Min)
	}
	if s.Max != nil {
		hi = ratInt(*s.Max)
	}
	return lo, hi
}

// ratInt reads a bound exactly as kin-openapi holds it; int64 max comes back as 2^63, which is
// clamped so that a "valid" value is one Go's int64 can hold.
func ratInt(f float64) *big.Int {
	b, _ := new(big.Float).SetFloat64(f).Int(nil)
	if b.Cmp(big.NewInt(math.MaxInt64)) > 0 {
		return big.NewInt(math.MaxInt64)
	}
	return b
}

// pick returns lo, hi, a neighbour of either, or a random value between, with some weight on
// the bounds (where the bugs are).
func pick(r *rand.Rand, lo, hi *big.Int) *big.Int {
	span := new(big.Int).Sub(hi, lo)
	switch n := r.IntN(8); {
	case n == 0 || span.Sign() == 0:
		return new(big.Int).Set(lo)
	case n == 1:
		return new(big.Int).Set(hi)
	case n == 2:
		return new(big.Int).Add(lo, big.NewInt(1))
	case n == 3:
		return new(big.Int).Sub(hi, big.NewInt(1))
	case n == 4:
		// small values: most real traffic
		small := new(big.Int).Add(lo, big.NewInt(r.Int64N(100)))
		if small.Cmp(hi) > 0 {
			return new(big.Int).Set(hi)
		}
		return small
	default:
		var off uint64
		if span.IsUint64() && span.Uint64() < math.MaxUint64 {
			off = r.Uint64N(span.Uint64() + 1)
		} else {
			off = r.Uint64()
		}
		return new(big.Int).Add(lo, new(big.Int).SetUint64(off))
	}
}

// decimals is how many decimals multipleOf allows (0.01 → 2).
func decimals(s *openapi3.Schema) int {
	if s.MultipleOf == nil {
		return 2
	}
	text := strconv.FormatFloat(*s.MultipleOf, 'f', -1, 64)
	_, frac, _ := strings.Cut(text, ".")
	return len(frac)
}

// validNumber returns a multiple of the schema's step between its bounds, as decimal text.
func (g *gen) validNumber(s *openapi3.Schema) json.Number {
	d := decimals(s)
	lo, hi := scaled(*s.Min, d), scaled(*s.Max, d)
	return json.Number(formatUnits(pick(g.r, lo, hi), d, g.r))
}

// scaled is f × 10^d, exactly as written in the spec.
func scaled(f float64, d int) *big.Int {
	r, _ := new(big.Rat).SetString(strconv.FormatFloat(f, 'f', -1, 64))
	r.Mul(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(d)), nil)))
	return new(big.Int).Quo(r.Num(), r.Denom())
}

// formatUnits writes units × 10^-d in one of the notations JSON allows: 12.5, 12.50, 1.25e1.
func formatUnits(units *big.Int, d int, r *rand.Rand) string {
	text := new(big.Rat).SetFrac(units, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(d)), nil)).FloatString(d)
	switch r.IntN(4) {
	case 0: // trailing zeros kept: 12.50
		return text
	case 1: // exponent form: 1250e-2
		return units.String() + "e-" + strconv.Itoa(d)
	default: // shortest: 12.5, 12
		text = strings.TrimRight(text, "0")
		return strings.TrimSuffix(text, ".")
	}
}

// visible is the printable ASCII without space (0x21–0x7E).
const visible = "!\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~"

func (g *gen) validString(s *openapi3.Schema) string {
	if s.Format == "date-time" {
		return "2026-11-25T10:00:00.000Z"
	}
	lo, hi := int(s.MinLength), 40
	if s.MaxLength != nil {
		hi = int(*s.MaxLength)
	}
	var re *regexp.Regexp
	if s.Pattern != "" {
		re = regexp.MustCompile(s.Pattern)
	}
	// Mostly visible ASCII; spaces and a multi-byte letter too (maxLength counts characters),
	// unless the pattern keeps refusing them.
	pool := []rune(visible + "  é")
	for try := 0; ; try++ {
		if try == 5 {
			pool = []rune(visible)
		}
		n := int(pick(g.r, big.NewInt(int64(lo)), big.NewInt(int64(hi))).Int64())
		out := make([]rune, n)
		for i := range out {
			out[i] = pool[g.r.IntN(len(pool))]
		}
		if re == nil || re.MatchString(string(out)) {
			return string(out)
		}
	}
}

// invalid returns a value that breaks exactly one rule of s, or false when s accepts anything.
func (g *gen) invalid(s *openapi3.Schema, name string) (violation, bool) {
	var options []violation
	add := func(v any, rule string) { options = append(options, violation{v, rule, ""}) }
	addAt := func(v any, rule, field string) { options = append(options, violation{v, rule, field}) }
	switch {
	case len(s.Enum) > 0:
		add("NOT_"+fmt.Sprint(s.Enum[0]), "enum")
	case s.Type.Is("integer"):
		lo, hi := intBounds(s)
		if s.Min != nil {
			add(json.Number(new(big.Int).Sub(lo, big.NewInt(1)).String()), "minimum")
		}
		if s.Max != nil {
			add(json.Number(new(big.Int).Add(ratInt(*s.Max), big.NewInt(1)).String()), "maximum")
		}
		add(json.Number("1.5"), "type")
		add("12", "type")
		_ = hi
	case s.Type.Is("number"):
		d := decimals(s)
		if s.Min != nil {
			add(json.Number(formatUnits(new(big.Int).Sub(scaled(*s.Min, d), big.NewInt(1)), d, g.r)), "minimum")
		}
		if s.Max != nil {
			add(json.Number(formatUnits(new(big.Int).Add(scaled(*s.Max, d), big.NewInt(1)), d, g.r)), "maximum")
		}
		if s.MultipleOf != nil {
			// One digit more than the step allows, on a valid amount: 1000.005, 12.345.
			units := pick(g.r, scaled(*s.Min, d), new(big.Int).Sub(scaled(*s.Max, d), big.NewInt(1)))
			text := new(big.Rat).SetFrac(units, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(d)), nil)).FloatString(d)
			add(json.Number(text+strconv.Itoa(1+g.r.IntN(9))), "multipleOf")
			add(json.Number(text+"000000000000001"), "multipleOf")
		}
		add("10", "type")
	case s.Type.Is("string"):
		if s.MaxLength != nil {
			add(strings.Repeat("x", int(*s.MaxLength)+1), "maxLength")
		}
		if s.MinLength > 0 {
			add("", "minLength")
		}
		if s.Pattern != "" {
			for _, c := range []string{" ", "a b", "\t"} {
				if !regexp.MustCompile(s.Pattern).MatchString(c) && int(s.MinLength) <= len(c) {
					add(c, "pattern")
					break
				}
			}
		}
		if s.Format == "" {
			add(json.Number("7"), "type")
		}
	case s.Type.Is("boolean"):
		add("true", "type")
	case s.Type.Is("object"):
		for _, p := range s.Required {
			addAt(without(g.valid(s, name).(map[string]any), p), "required", p)
		}
		if s.AdditionalProperties.Has != nil && !*s.AdditionalProperties.Has {
			v := g.valid(s, name).(map[string]any)
			v["unknownField"] = "x"
			addAt(v, "additionalProperties", "unknownField")
		}
		if s.MinProps > 0 {
			add(map[string]any{}, "minProperties")
		}
		for _, p := range sortedKeys(s.Properties) {
			if bad, ok := g.invalid(s.Properties[p].Value, p); ok {
				v := g.valid(s, name).(map[string]any)
				v[p] = bad.value
				addAt(v, bad.rule, strings.TrimSuffix(p+"."+bad.field, "."))
			}
		}
		add([]any{}, "type")
	}
	if len(options) == 0 {
		return violation{}, false
	}
	return options[g.r.IntN(len(options))], true
}

func without(m map[string]any, key string) map[string]any {
	delete(m, key)
	return m
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
