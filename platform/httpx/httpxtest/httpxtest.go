// Package httpxtest owns what tests of an HTTP front built on platform/httpx share: serving a
// handler exactly as the services do (httpserver.New + httpserver.Serve on a real TCP port, so the
// connection-level answers and limits are the production ones), sending raw bytes that no
// well-behaved client would produce, and the catalogue of hostile requests that every service
// must answer with a 4xx problem document without running a write.
package httpxtest

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	sdk "github.com/shopworks/shop/clients/requestid"
	"github.com/shopworks/shop/platform/httpx/httpserver"
	"github.com/shopworks/shop/platform/httpx/problem"
	"github.com/shopworks/shop/platform/httpx/requestid"
)

// Serve serves h the way the services do on 127.0.0.1:0 until the test ends and returns its
// host:port.
func Serve(t testing.TB, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- httpserver.Serve(ctx, httpserver.New(ln.Addr().String(), h), ln, 5*time.Second, slog.New(slog.DiscardHandler))
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// Request is one request as raw bytes on a fresh connection.
type Request struct {
	Name string
	Raw  []byte
	// HalfClose closes the sending side after Raw, so a body shorter than its Content-Length
	// ends instead of waiting for the server's read timeout.
	HalfClose bool
	// Mutating says that the method would write if the request got through.
	Mutating bool
}

// Response is what came back; Err is set when no HTTP response could be read.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
	Err    error
}

// Send writes req on a new connection to addr and reads one response (10 s at most). The
// bytes are written concurrently with the read, because the server may answer (e.g. 431) and
// stop reading before a huge request has been sent.
func Send(addr string, req Request) Response {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return Response{Err: err}
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	go func() {
		_, _ = conn.Write(req.Raw)
		if req.HalfClose {
			if tc, ok := conn.(*net.TCPConn); ok {
				_ = tc.CloseWrite()
			}
		}
	}()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return Response{Err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: body, Err: err}
}

// Problem is the decoded problem document of a response.
type Problem struct {
	Type, Title, Detail, Instance, Code, RequestID string
	Status                                         int
	Errors                                         []problem.FieldError
}

// CheckProblem returns why resp is not a 4xx problem document with a sane X-Request-ID that
// matches its requestId, or "" when it is.
func CheckProblem(resp Response) (Problem, string) {
	var p Problem
	switch {
	case resp.Err != nil:
		return p, "no HTTP response: " + resp.Err.Error()
	case resp.Status < 400 || resp.Status > 499:
		return p, "status " + http.StatusText(resp.Status) + ", want a 4xx"
	case resp.Header.Get("Content-Type") != "application/problem+json":
		return p, "content type " + resp.Header.Get("Content-Type")
	case !requestid.Sane(resp.Header.Get(sdk.Header)):
		return p, "no sane X-Request-ID"
	}
	if err := json.Unmarshal(resp.Body, &p); err != nil {
		return p, "body is not JSON: " + err.Error()
	}
	switch {
	case p.Status != resp.Status:
		return p, "problem status differs from the response's"
	case p.Code == "" || p.Title == "" || p.Type == "":
		return p, "problem without code, title or type"
	case p.RequestID != resp.Header.Get(sdk.Header):
		return p, "requestId differs from X-Request-ID"
	}
	return p, ""
}

// Target describes the API a catalogue of hostile requests is aimed at.
type Target struct {
	// Create is the path of the create operation (POST), e.g. "/products".
	Create string
	// Valid is a body that Create accepts, e.g. {"name":"a","price":1,"qty":1}.
	Valid string
	// WithString returns a body for Create in which s (raw JSON text, between the quotes) is a
	// string value.
	WithString func(s string) string
	// Duplicate is Valid with one of its members given twice (the second value out of range).
	Duplicate string
	// Deep returns a body for Create with v (raw JSON) as the value of one member.
	Deep func(v string) string
	// HugeNumber is a body for Create with a number beyond every numeric type.
	HugeNumber string
	// Item is the path of an existing resource, e.g. "/products/1".
	Item string
	// Update and UpdateMethods, when set, name the operations (e.g. PUT and PATCH of
	// "/products/1") that take a body like Create's.
	Update        string
	UpdateMethods []string
}

// raw builds a request; headers are "Name: value" lines. Host and Content-Length are added
// unless a header of that name is given.
func raw(method, target string, headers []string, body string) []byte {
	var b strings.Builder
	b.WriteString(method + " " + target + " HTTP/1.1\r\n")
	hasHost, hasLength := false, false
	for _, h := range headers {
		lower := strings.ToLower(h)
		hasHost = hasHost || strings.HasPrefix(lower, "host:")
		hasLength = hasLength || strings.HasPrefix(lower, "content-length:") || strings.HasPrefix(lower, "transfer-encoding:")
	}
	if !hasHost {
		b.WriteString("Host: svc\r\n")
	}
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	if !hasLength && (body != "" || method == "POST" || method == "PUT" || method == "PATCH") {
		b.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n")
	}
	b.WriteString("Connection: close\r\n\r\n")
	b.WriteString(body)
	return []byte(b.String())
}

const jsonCT = "Content-Type: application/json"

// Hostile returns the catalogue of hostile requests for tg: malformed framing, request lines,
// targets and headers that net/http refuses itself, and JSON bodies that only the strict body
// rules or the spec refuse. Each must be answered with a 4xx problem and change nothing.
func Hostile(tg Target) []Request {
	var out []Request
	add := func(name string, mutating bool, b []byte) {
		out = append(out, Request{Name: name, Raw: b, Mutating: mutating})
	}
	post := func(name, body string, headers ...string) {
		add(name, true, raw("POST", tg.Create, append([]string{jsonCT}, headers...), body))
	}

	// One JSON value, exactly.
	post("trailing object", tg.Valid+`{"x":1}`)
	post("trailing garbage", tg.Valid+` xyz`)
	post("the body twice", tg.Valid+tg.Valid)
	post("two values on two lines", tg.Valid+"\n"+tg.Valid)
	post("trailing NUL byte", tg.Valid+"\x00")
	post("trailing bracket", tg.Valid+"]")
	post("trailing comma", tg.Valid+",")
	post("UTF-8 BOM before the body", "\xef\xbb\xbf"+tg.Valid)
	post("comment in the body", "/*x*/"+tg.Valid)
	post("truncated body", tg.Valid[:len(tg.Valid)-1])
	post("empty body", "")
	post("only whitespace", " \r\n\t ")
	post("null", "null")
	post("an array", "["+tg.Valid+"]")
	post("a string", `"abc"`)
	post("a number", "42")
	post("duplicate member", tg.Duplicate)

	// Strings: control characters, broken escapes, invalid UTF-8.
	for _, s := range []struct{ name, text string }{
		{"escaped NUL", `a\u0000b`},
		{"raw NUL", "a\x00b"},
		{"escaped unit separator", `a\u001fb`},
		{"raw control character", "a\x01b"},
		{"escaped DEL", `a\u007fb`},
		{"raw DEL", "a\x7fb"},
		{"raw C1 control (NEL)", "a\xc2\x85b"},
		{"escaped C1 control", `a\u009bb`},
		{"escaped tab", `a\tb`},
		{"escaped newline", `a\nb`},
		{"escaped carriage return", `a\rb`},
		{"escaped backspace", `a\bb`},
		{"lone high surrogate", `a\ud800b`},
		{"lone low surrogate", `a\udc00b`},
		{"two high surrogates", `\ud800\ud800`},
		{"invalid UTF-8 byte", "a\xffb"},
		{"invalid UTF-8 sequence", "a\xc3\x28b"},
		{"overlong UTF-8", "a\xc0\xafb"},
		{"truncated UTF-8", "a\xe2\x82"},
		{"UTF-8 encoded surrogate", "a\xed\xa0\x80b"},
		{"bad escape", `a\xb`},
	} {
		post("string with "+s.name, tg.WithString(s.text))
	}
	post("member name with escaped NUL", `{"\u0000":1,`+tg.Valid[1:])

	// Numbers and nesting.
	post("huge number", tg.HugeNumber)
	post("NaN", tg.Deep("NaN"))
	post("Infinity", tg.Deep("Infinity"))
	post("hexadecimal number", tg.Deep("0x10"))
	post("leading zero", tg.Deep("01"))
	post("nested 40 deep", tg.Deep(strings.Repeat("[", 40)+strings.Repeat("]", 40)))
	post("nested 100000 deep", tg.Deep(strings.Repeat("[", 100000)+strings.Repeat("]", 100000)))
	post("body over the 1 MiB limit", tg.WithString(strings.Repeat("a", 1<<20)))

	// Content type and framing of the body.
	add("text/plain body", true, raw("POST", tg.Create, []string{"Content-Type: text/plain"}, tg.Valid))
	add("no content type", true, raw("POST", tg.Create, nil, tg.Valid))
	add("UTF-16 body", true, raw("POST", tg.Create, []string{"Content-Type: application/json; charset=utf-16"}, "\xff\xfe{\x00}\x00"))
	out = append(out, Request{Name: "body shorter than Content-Length", Mutating: true, HalfClose: true,
		Raw: raw("POST", tg.Create, []string{jsonCT, "Content-Length: 1000"}, tg.Valid)})
	add("bad chunk size", true, raw("POST", tg.Create, []string{jsonCT, "Transfer-Encoding: chunked"}, "zz\r\n"+tg.Valid+"\r\n0\r\n\r\n"))
	add("unknown transfer encoding", true, raw("POST", tg.Create, []string{jsonCT, "Transfer-Encoding: gzip"}, tg.Valid))
	add("two transfer encodings", true, raw("POST", tg.Create, []string{jsonCT, "Transfer-Encoding: chunked, chunked"}, tg.Valid))
	add("negative Content-Length", true, raw("POST", tg.Create, []string{jsonCT, "Content-Length: -1"}, tg.Valid))
	add("non-numeric Content-Length", true, raw("POST", tg.Create, []string{jsonCT, "Content-Length: abc"}, tg.Valid))
	add("two different Content-Lengths", true, raw("POST", tg.Create, []string{jsonCT, "Content-Length: 1", "Content-Length: 2"}, tg.Valid))
	add("Expect other than 100-continue", true, raw("POST", tg.Create, []string{jsonCT, "Expect: the-unexpected"}, tg.Valid))

	// Headers that net/http refuses.
	for _, h := range []struct{ name, line string }{
		{"control character in a header value", "X-Note: a\x01b"},
		{"NUL in a header value", "X-Note: a\x00b"},
		{"DEL in a header value", "X-Note: a\x7fb"},
		{"control character in X-Request-ID", "X-Request-ID: demo\x02"},
		{"space in a header name", "X Note: 1"},
		{"NUL in a header name", "X-No\x00te: 1"},
		{"header without a name", ": 1"},
		{"header without a colon", "X-Note"},
		{"malformed Host", "Host: a b"},
		{"2 MB header", "X-Big: " + strings.Repeat("a", 2<<20)},
	} {
		add(h.name, true, raw("POST", tg.Create, []string{jsonCT, h.line}, tg.Valid))
	}
	many := []string{jsonCT}
	for i := range 10000 {
		many = append(many, "X-A"+strconv.Itoa(i)+": 1")
	}
	add("10000 headers", true, raw("POST", tg.Create, many, tg.Valid))
	add("two Host headers", true, raw("POST", tg.Create, []string{"Host: a", "Host: b", jsonCT}, tg.Valid))
	add("no Host header in HTTP/1.1", true, []byte("POST "+tg.Create+" HTTP/1.1\r\n"+jsonCT+"\r\nContent-Length: "+strconv.Itoa(len(tg.Valid))+"\r\n\r\n"+tg.Valid))

	// Request lines and targets.
	get := func(name, target string) { add(name, false, raw("GET", target, nil, "")) }
	get("bad percent-escape in the path", tg.Item[:strings.LastIndexByte(tg.Item, '/')+1]+"%zz")
	get("lone percent sign in the path", tg.Item+"%")
	get("encoded NUL in the path", tg.Item+"%00")
	get("encoded slash in the id", tg.Item+"%2F1")
	get("path traversal", tg.Item+"/..%2F..%2Fetc%2Fpasswd")
	get("bad percent-escape in the query", tg.Item+"?x=%zz")
	get("URL over the header limit", tg.Item+"?x="+strings.Repeat("a", 100<<10))
	get("asterisk target", "*")
	get("target without a slash", "products")
	add("raw NUL in the request line", false, []byte("GET "+tg.Item+"\x00 HTTP/1.1\r\nHost: svc\r\n\r\n"))
	add("space inside the target", false, []byte("GET "+tg.Item+" x HTTP/1.1\r\nHost: svc\r\n\r\n"))
	add("no HTTP version", false, []byte("GET "+tg.Item+"\r\nHost: svc\r\n\r\n"))
	add("HTTP/2.0 request line", false, []byte("GET "+tg.Item+" HTTP/2.0\r\nHost: svc\r\n\r\n"))
	add("HTTP/9.9 request line", false, []byte("GET "+tg.Item+" HTTP/9.9\r\nHost: svc\r\n\r\n"))
	add("garbled version", false, []byte("GET "+tg.Item+" HTTP/1.1x\r\nHost: svc\r\n\r\n"))
	add("invalid method token", true, raw("PO(ST", tg.Create, []string{jsonCT}, tg.Valid))
	add("unknown method", true, raw("BREW", tg.Create, []string{jsonCT}, tg.Valid))
	add("lower-case method", true, raw("post", tg.Create, []string{jsonCT}, tg.Valid))
	add("binary garbage", false, []byte("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n"))

	for _, m := range tg.UpdateMethods {
		add(m+" with trailing data", true, raw(m, tg.Update, []string{jsonCT}, tg.Valid+`{"x":1}`))
		add(m+" with trailing garbage", true, raw(m, tg.Update, []string{jsonCT}, tg.Valid+` xyz`))
		add(m+" with escaped NUL", true, raw(m, tg.Update, []string{jsonCT}, tg.WithString(`\u0000`)))
		add(m+" with invalid UTF-8", true, raw(m, tg.Update, []string{jsonCT}, tg.WithString("\xff")))
		add(m+" with a duplicate member", true, raw(m, tg.Update, []string{jsonCT}, tg.Duplicate))
	}
	return out
}

// Check sends every request of reqs to addr, one subtest each, and fails each answer that is
// not a 4xx problem document. It returns the answers by name for further checks.
func Check(t *testing.T, addr string, reqs []Request) map[string]Problem {
	t.Helper()
	got := make(map[string]Problem, len(reqs))
	for _, req := range reqs {
		t.Run(req.Name, func(t *testing.T) {
			resp := Send(addr, req)
			p, why := CheckProblem(resp)
			if why != "" {
				t.Fatalf("%s: %s\n%s", req.Name, why, resp.Body)
			}
			got[req.Name] = p
		})
	}
	return got
}
