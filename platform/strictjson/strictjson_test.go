package strictjson_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shopworks/shop/platform/strictjson"
)

func TestCheck(t *testing.T) {
	ok := []string{
		`{"name":"a","price":1,"qty":1}`,
		" \t\r\n{\"a\":[1,2,{\"b\":null}]} \n",
		`{"name":"Käse – ü € 😀"}`,
		`{"e":"\ud83d\ude00 \" \\ \/ \u00e9 \u00a0 \ufffd"}`,
		`{"a":{"x":1},"b":{"x":2}}`, // the same name in two objects
		`[{"a":1},{"a":1}]`,
		`"just a string"`, `0`, `-1.5e+300`, `true`, `null`, `[]`, `{}`,
		strings.Repeat("[", strictjson.MaxDepth) + strings.Repeat("]", strictjson.MaxDepth),
	}
	for _, body := range ok {
		assert.NoError(t, strictjson.Check([]byte(body)), body)
	}

	malformed := map[string]string{
		`{"a":1}{"b":2}`:   "data after the JSON value (at byte 7)",
		`{"a":1} xyz`:      "data after the JSON value",
		`{"a":1`:           "unexpected EOF",
		"{\"a\":\"\xff\"}": "not valid UTF-8 (at byte 6)",
		"":                 "the body is empty",
		" ":                "the body is empty",
		strings.Repeat("[", strictjson.MaxDepth+1) + strings.Repeat("]", strictjson.MaxDepth+1): "nested deeper than 32 levels",
		`{"a":"\x"}`: "invalid character 'x' in string escape code",
	}
	for body, want := range malformed {
		err := strictjson.Check([]byte(body))
		require.ErrorIs(t, err, strictjson.ErrMalformed, body)
		assert.Contains(t, err.Error(), want, "%q", body)
	}

	fields := map[string][]strictjson.Fault{
		`{"name":"a\u0000b"}`:               {{Path: "name", Message: "must not contain control characters (U+0000–U+001F, U+007F–U+009F)"}},
		`{"a":[{"b":"x"},{"b":"\n"}]}`:      {{Path: "a.1.b", Message: "must not contain control characters (U+0000–U+001F, U+007F–U+009F)"}},
		`["ok","\u0085"]`:                   {{Path: "1", Message: "must not contain control characters (U+0000–U+001F, U+007F–U+009F)"}},
		`"\t"`:                              {{Path: "body", Message: "must not contain control characters (U+0000–U+001F, U+007F–U+009F)"}},
		`{"s":"\ud800"}`:                    {{Path: "s", Message: "has an unpaired UTF-16 surrogate escape"}},
		`{"s":"\udc00\ud800"}`:              {{Path: "s", Message: "has an unpaired UTF-16 surrogate escape"}},
		`{"qty":1,"qty":2}`:                 {{Path: "qty", Message: "appears more than once in the object"}},
		`{"qty":1,"q\u0074y":2}`:            {{Path: "qty", Message: "appears more than once in the object"}},
		`{"o":{"a\u0000":1}}`:               {{Path: "o", Message: `member name "a\x00" must not contain control characters (U+0000–U+001F, U+007F–U+009F)`}},
		`{"a":"\u0001","b":"\u007f","a":1}`: {{Path: "a", Message: "must not contain control characters (U+0000–U+001F, U+007F–U+009F)"}, {Path: "b", Message: "must not contain control characters (U+0000–U+001F, U+007F–U+009F)"}, {Path: "a", Message: "appears more than once in the object"}},
		"{\"raw DEL\":\"a\x7fb\"}":          {{Path: "raw DEL", Message: "must not contain control characters (U+0000–U+001F, U+007F–U+009F)"}},
		"{\"raw C1\":\"a\xc2\x9fb\"}":       {{Path: "raw C1", Message: "must not contain control characters (U+0000–U+001F, U+007F–U+009F)"}},
		`{"not C1":"\u00a0 \u0100 \u2028"}`: nil,
		"{\"not C1 either\":\"\xc3\x85\"}":  nil, // Å: 0xC3 0x85, the 0x85 is a continuation byte
	}
	for body, want := range fields {
		err := strictjson.Check([]byte(body))
		if want == nil {
			assert.NoError(t, err, body)
			continue
		}
		var got strictjson.FieldErrors
		require.True(t, errors.As(err, &got), "%s: %v", body, err)
		assert.Equal(t, want, []strictjson.Fault(got), body)
	}
}

// FuzzCheck holds CheckJSON to its promise against encoding/json: whatever it accepts is one
// valid JSON value in valid UTF-8 whose decoded strings have no control character and no
// U+FFFD that was not in the input; whatever json.Valid refuses, it refuses too.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{
		`{"name":"a","price":1,"qty":1}`, `{"a":1}{"b":2}`, `{"a":"\u0000"}`, `{"a":"\ud800"}`,
		`{"a":1,"a":2}`, "{\"a\":\"\xff\"}", `[[[[[]]]]]`, `"\ud83d\ude00"`, `{"a":"\u00e9","b":[1,{"c":"\t"}]}`,
		"{\"a\":\"\xc2\x85\"}", `{"\u0061":1,"a":2}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		err := strictjson.Check(body)
		if !json.Valid(body) || !utf8.Valid(body) {
			if !errors.Is(err, strictjson.ErrMalformed) {
				t.Fatalf("%q: json.Valid=%v utf8.Valid=%v but Check said %v", body, json.Valid(body), utf8.Valid(body), err)
			}
			return
		}
		if err != nil {
			var fe strictjson.FieldErrors
			if !errors.As(err, &fe) && !strings.Contains(err.Error(), "nested deeper") {
				t.Fatalf("%q: valid JSON refused for an unexpected reason: %v", body, err)
			}
			return
		}
		var v any
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("%q accepted but does not decode: %v", body, err)
		}
		hadFFFD := bytes.Contains(body, []byte("\uFFFD")) || bytes.Contains(bytes.ToLower(body), []byte(`\ufffd`))
		var check func(any)
		check = func(v any) {
			switch v := v.(type) {
			case string:
				for _, r := range v {
					if r < 0x20 || (r >= 0x7f && r <= 0x9f) {
						t.Fatalf("%q accepted with control character %U", body, r)
					}
					if r == utf8.RuneError && !hadFFFD {
						t.Fatalf("%q accepted but decodes to U+FFFD (a replaced surrogate or byte)", body)
					}
				}
			case []any:
				for _, e := range v {
					check(e)
				}
			case map[string]any:
				for k, e := range v {
					check(k)
					check(e)
				}
			}
		}
		check(v)
	})
}

func BenchmarkCheck(b *testing.B) {
	for _, body := range []string{`{"productId":26,"qty":2}`, `{"name":"BFF Test – Käse","price":1000.5,"qty":50}`} {
		b.Run(body, func(b *testing.B) {
			raw := []byte(body)
			b.ReportAllocs()
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				if err := strictjson.Check(raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
