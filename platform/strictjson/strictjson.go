// Package strictjson owns the rules every JSON document from the wire meets before anything
// decodes it — HTTP request bodies (platform/httpx/validate) and message bodies (platform/eventschema) —
// and their one-pass check.
//
// encoding/json (used by kin-openapi, by the generated handlers and by the consumers) is lenient
// in ways that let a sender smuggle data past a schema: it stops at the end of the first value
// (so `{…}{"x":1}` and `{…} xyz` pass), replaces invalid UTF-8 and unpaired surrogate escapes
// with U+FFFD, lets the last of two equal member names win, and accepts control characters
// written as escapes (`"a\u0000b"`). Check therefore holds the bytes to these rules first:
//
//   - exactly one JSON value (whitespace around it is fine), nested at most MaxDepth deep;
//   - valid UTF-8, and every \u escape a real character (no unpaired surrogate);
//   - no control character — Unicode category Cc: U+0000–U+001F, U+007F–U+009F — in any
//     string, member names included, whether raw or escaped (so no NUL, tab or newline either:
//     no field of the services' APIs or events is multi-line text);
//   - no member name twice in one object.
//
// Breaking one of the first two is a syntax error (ErrMalformed); the last two name the member
// (FieldErrors).
package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxDepth bounds the nesting of a document: the APIs' bodies and the events are flat
// objects, so anything deeper is hostile, and a bound keeps the walk cheap.
const MaxDepth = 32

// maxFaults bounds the field errors reported for one document.
const maxFaults = 20

// ErrMalformed is wrapped by every syntax error Check returns.
var ErrMalformed = errors.New("malformed JSON")

// Fault names one offending member: its path ("name", "items.2.name"; "body" for the top level)
// and what is wrong with it.
type Fault struct {
	Path    string
	Message string
}

// FieldErrors is Check's error for a syntactically valid document whose strings or members
// break the rules; it lists every offending member.
type FieldErrors []Fault

func (e FieldErrors) Error() string {
	parts := make([]string, len(e))
	for i, f := range e {
		parts[i] = f.Path + " " + f.Message
	}
	return strings.Join(parts, "; ")
}

// Check reports why body is not exactly one strict JSON value (the rules above): nil when it is,
// an error wrapping ErrMalformed for a syntax error, or FieldErrors. It does not allocate for a
// valid body.
func Check(body []byte) error {
	if !utf8.Valid(body) {
		return fmt.Errorf("%w: the body is not valid UTF-8 (at byte %d)", ErrMalformed, firstInvalidUTF8(body))
	}
	if !json.Valid(body) {
		return syntaxError(body)
	}
	w := jsonWalker{b: body}
	w.walk()
	if w.tooDeep {
		return fmt.Errorf("%w: nested deeper than %d levels", ErrMalformed, MaxDepth)
	}
	if len(w.faults) > 0 {
		return FieldErrors(w.faults)
	}
	return nil
}

// syntaxError explains why json.Valid refused body: data after the first value, or where the
// syntax broke. Only rejected bodies take this path.
func syntaxError(body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	var first json.RawMessage
	if err := dec.Decode(&first); err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%w: the body is empty", ErrMalformed)
		}
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return fmt.Errorf("%w: %s (at byte %d)", ErrMalformed, strings.TrimPrefix(se.Error(), "json: "), se.Offset)
		}
		return fmt.Errorf("%w: %s", ErrMalformed, strings.TrimPrefix(err.Error(), "json: "))
	}
	return fmt.Errorf("%w: data after the JSON value (at byte %d); send exactly one value", ErrMalformed, dec.InputOffset())
}

func firstInvalidUTF8(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return len(b)
}

// span is a member name: its raw bytes (between the quotes) in the body, and its decoded text
// when it has escapes, so that "a" and "\u0061" are recognised as the same name.
type span struct {
	start, end int32
	escaped    bool
	decoded    string
}

// frame is one open object or array on the walk.
type frame struct {
	object    bool
	index     int32 // array: element index
	keysStart int32 // object: where its names start in jsonWalker's names
	key       span  // object: current member name
}

// jsonWalker walks a body that json.Valid accepted (so the structure is sound and every string
// is closed) and checks strings, member names and depth.
//
// It lives on the caller's stack (no pointers into itself), so a valid body costs no allocation.
type jsonWalker struct {
	b       []byte
	i       int
	depth   int
	stack   [MaxDepth]frame
	nnames  int32
	names   [24]span // member names of the open objects; more spill into extra
	extra   []span
	faults  []Fault
	tooDeep bool
}

func (w *jsonWalker) name(i int32) span {
	if int(i) < len(w.names) {
		return w.names[i]
	}
	return w.extra[int(i)-len(w.names)]
}

func (w *jsonWalker) addName(s span) {
	if int(w.nnames) < len(w.names) {
		w.names[w.nnames] = s
	} else {
		w.extra = append(w.extra[:int(w.nnames)-len(w.names)], s)
	}
	w.nnames++
}

func (w *jsonWalker) walk() {
	for w.i < len(w.b) && !w.tooDeep && len(w.faults) < maxFaults {
		switch c := w.b[w.i]; c {
		case '{', '[':
			if w.depth == MaxDepth {
				w.tooDeep = true
				return
			}
			w.stack[w.depth] = frame{object: c == '{', keysStart: w.nnames}
			w.depth++
			w.i++
		case '}', ']':
			w.depth--
			if w.stack[w.depth].object {
				w.nnames = w.stack[w.depth].keysStart
			}
			w.i++
		case ',':
			if w.depth > 0 && !w.stack[w.depth-1].object {
				w.stack[w.depth-1].index++
			}
			w.i++
		case '"':
			start := w.i + 1
			end, escaped, msg := w.scanString(start)
			w.i = end + 1
			if w.isMemberName() {
				w.member(span{start: int32(start), end: int32(end), escaped: escaped}, msg)
			} else if msg != "" {
				w.fault(w.path(w.depth), msg)
			}
		default: // literals, numbers, ':' and whitespace need no check beyond json.Valid's
			w.i++
		}
	}
}

// isMemberName reports whether the string just scanned is followed by ':'.
func (w *jsonWalker) isMemberName() bool {
	j := w.i
	for j < len(w.b) && (w.b[j] == ' ' || w.b[j] == '\t' || w.b[j] == '\n' || w.b[j] == '\r') {
		j++
	}
	return j < len(w.b) && w.b[j] == ':'
}

// member records the name of the next member of the innermost object.
func (w *jsonWalker) member(name span, msg string) {
	top := &w.stack[w.depth-1]
	if name.escaped {
		name.decoded = decodeJSONString(w.b[name.start-1 : name.end+1])
	}
	if msg != "" {
		// The field is the enclosing object: the name itself is what is broken.
		w.fault(w.path(w.depth-1), "member name "+w.text(name)+" "+msg)
		return
	}
	top.key = name
	for i := top.keysStart; i < w.nnames; i++ {
		if w.sameName(w.name(i), name) {
			w.fault(w.path(w.depth), "appears more than once in the object")
			return
		}
	}
	w.addName(name)
}

func (w *jsonWalker) text(s span) string {
	if s.escaped {
		return strconv.Quote(s.decoded)
	}
	return strconv.Quote(string(w.b[s.start:s.end]))
}

func (w *jsonWalker) sameName(a, b span) bool {
	if !a.escaped && !b.escaped {
		return bytes.Equal(w.b[a.start:a.end], w.b[b.start:b.end])
	}
	as, bs := a.decoded, b.decoded
	if !a.escaped {
		as = string(w.b[a.start:a.end])
	}
	if !b.escaped {
		bs = string(w.b[b.start:b.end])
	}
	return as == bs
}

// path names the position in the innermost depth containers: member
// names and array indexes joined with dots ("name", "items.2.name"); "body" for the top level.
func (w *jsonWalker) path(depth int) string {
	var parts []string
	for _, f := range w.stack[:depth] {
		if f.object {
			if f.key.escaped {
				parts = append(parts, f.key.decoded)
			} else {
				parts = append(parts, string(w.b[f.key.start:f.key.end]))
			}
		} else {
			parts = append(parts, strconv.Itoa(int(f.index)))
		}
	}
	if len(parts) == 0 {
		return "body"
	}
	return strings.Join(parts, ".")
}

func (w *jsonWalker) fault(field, msg string) {
	w.faults = append(w.faults, Fault{Path: field, Message: msg})
}

// msgControl is the message for a control character in a string value.
const msgControl = "must not contain control characters (U+0000–U+001F, U+007F–U+009F)"

// scanString scans the string whose content starts at start and returns the index of its
// closing quote, whether it has escapes, and what is wrong with it ("" when nothing).
func (w *jsonWalker) scanString(start int) (end int, escaped bool, msg string) {
	b := w.b
	for i := start; i < len(b); {
		c := b[i]
		switch {
		case c == '"':
			return i, escaped, msg
		case c == '\\':
			escaped = true
			switch b[i+1] {
			case 'b', 'f', 'n', 'r', 't':
				msg = msgControl
				i += 2
			case 'u':
				r := hex4(b[i+2 : i+6])
				i += 6
				switch {
				case r >= 0xD800 && r <= 0xDBFF:
					if i+6 <= len(b) && b[i] == '\\' && b[i+1] == 'u' {
						if lo := hex4(b[i+2 : i+6]); lo >= 0xDC00 && lo <= 0xDFFF {
							i += 6
							continue
						}
					}
					msg = "has an unpaired UTF-16 surrogate escape"
				case r >= 0xDC00 && r <= 0xDFFF:
					msg = "has an unpaired UTF-16 surrogate escape"
				case isControl(r):
					msg = msgControl
				}
			default: // \" \\ \/
				i += 2
			}
		case c < 0x20 || c == 0x7f:
			msg = msgControl
			i++
		case c == 0xC2 && i+1 < len(b) && b[i+1] >= 0x80 && b[i+1] <= 0x9F: // U+0080–U+009F
			msg = msgControl
			i += 2
		default:
			i++
		}
	}
	return len(b), escaped, msg // unreachable after json.Valid
}

func isControl(r rune) bool { return r < 0x20 || (r >= 0x7f && r <= 0x9f) }

func hex4(b []byte) rune {
	var r rune
	for _, c := range b {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		}
	}
	return r
}

// decodeJSONString decodes a quoted JSON string that json.Valid accepted.
func decodeJSONString(quoted []byte) string {
	var s string
	if err := json.Unmarshal(quoted, &s); err != nil {
		return string(quoted)
	}
	return s
}
