package httpserver

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/shopworks/shop/platform/httpx/problem"
	"github.com/shopworks/shop/platform/httpx/requestid"
)

// net/http answers some requests itself, before any handler runs, with a plain-text body and no
// X-Request-ID: a request line, target (e.g. /products/%zz) or header block it cannot parse (400),
// a header block over MaxHeaderBytes (431), a header name or value with control characters or a
// bad Host (400), an HTTP version other than 1.x (505), an unknown Transfer-Encoding (501) and an
// Expect other than 100-continue (417). http.Server has no hook for these, so Serve wraps every
// accepted connection: a write that is exactly one of those answers is replaced by a problem
// document with a fresh X-Request-ID (the request was not parsed, so the client's ID cannot be
// known), logged once with that ID. Only the connection level can do this; the answers are
// recognised by the exact bytes net/http writes (fmt.Fprintf of a status line followed by
// errServerHeaders, in one Write, straight to the connection; the 417 status line), which no
// handler of ours produces: our responses always carry X-Request-ID and Date.
//
// 505 and 501 become 400: the request is the client's mistake, and a hostile or broken client
// must not show up as a server error in the 5xx rate that alerts and SLOs watch.

// errServerHeaders is what net/http's server writes after the status line of its own errors
// (net/http/server.go, conn.serve).
const errServerHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

// Codes of the problems that replace net/http's own answers.
const (
	CodeBadRequest        = "BAD_REQUEST"
	CodeHeaderTooLarge    = "HEADER_TOO_LARGE"
	CodeExpectationFailed = "EXPECTATION_FAILED"
)

// problemListener wraps the connections it accepts in problemConn.
type problemListener struct {
	net.Listener
	log *slog.Logger
}

func (l problemListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &problemConn{Conn: c, log: l.log}, nil
}

// problemConn rewrites net/http's own error answers; every other write passes through untouched.
type problemConn struct {
	net.Conn
	log *slog.Logger
}

func (c *problemConn) Write(p []byte) (int, error) {
	if len(p) < len("HTTP/1.1 400 ") || p[0] != 'H' || !bytes.HasPrefix(p, []byte("HTTP/1.")) {
		return c.Conn.Write(p)
	}
	prob := serverAnswerProblem(p)
	if prob == nil {
		return c.Conn.Write(p)
	}
	prob.RequestID = requestid.New()
	c.log.Info("http request rejected before routing",
		slog.String("requestId", prob.RequestID), slog.Int("status", prob.Status), slog.String("code", prob.Code),
		slog.String("detail", prob.Detail), slog.String("remote", c.RemoteAddr().String()))
	if _, err := c.Conn.Write(problemResponse(prob)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// CloseWrite keeps net/http's half-close after a 431 (it asserts this method on the conn).
func (c *problemConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// serverAnswerProblem returns the problem for one of net/http's own answers, or nil when p is
// anything else (the start of a handler's response).
func serverAnswerProblem(p []byte) *problem.Problem {
	line, rest, ok := bytes.Cut(p, []byte("\r\n"))
	if !ok || len(line) < len("HTTP/1.1 400") || (line[7] != '0' && line[7] != '1') || line[8] != ' ' {
		return nil
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return nil
	}
	if status == http.StatusExpectationFailed {
		// Written through the response writer (with Date), but never by one of our handlers.
		return problem.New(http.StatusExpectationFailed, CodeExpectationFailed, "Expectation failed",
			"Only \"Expect: 100-continue\" is supported.")
	}
	if line[7] != '1' || !bytes.HasPrefix(rest, []byte(errServerHeaders[2:])) {
		return nil
	}
	reason := ""
	if _, after, found := bytes.Cut(line[12:], []byte(": ")); found {
		reason = string(after) // e.g. "invalid header value", "missing required Host header"
	}
	switch status {
	case http.StatusRequestHeaderFieldsTooLarge:
		return problem.New(status, CodeHeaderTooLarge, "Request header fields too large",
			"The request line and headers exceed the server's limit.")
	case http.StatusHTTPVersionNotSupported:
		return problem.New(http.StatusBadRequest, CodeBadRequest, "Bad request", "Only HTTP/1.0 and HTTP/1.1 are supported.")
	case http.StatusNotImplemented:
		return problem.New(http.StatusBadRequest, CodeBadRequest, "Bad request", "Unsupported Transfer-Encoding; only chunked is supported.")
	}
	if status < 400 || status > 499 {
		return nil
	}
	detail := "The request could not be parsed: its request line, target (e.g. an invalid percent-escape) or header block is malformed."
	if reason != "" {
		detail = "The request is malformed: " + reason + "."
	}
	return problem.New(status, CodeBadRequest, "Bad request", detail)
}

// problemResponse is a complete HTTP/1.1 response carrying prob; the connection closes after it,
// as net/http closes it after its own answers.
func problemResponse(prob *problem.Problem) []byte {
	body, _ := json.Marshal(prob) // a Problem always encodes
	var b bytes.Buffer
	b.Grow(256 + len(body))
	b.WriteString("HTTP/1.1 ")
	b.WriteString(strconv.Itoa(prob.Status))
	b.WriteByte(' ')
	b.WriteString(http.StatusText(prob.Status))
	b.WriteString("\r\nCache-Control: no-store\r\nConnection: close\r\nContent-Length: ")
	b.WriteString(strconv.Itoa(len(body) + 1))
	b.WriteString("\r\nContent-Type: application/problem+json\r\nDate: ")
	b.WriteString(time.Now().UTC().Format(http.TimeFormat))
	b.WriteString("\r\nX-Request-Id: ")
	b.WriteString(prob.RequestID)
	b.WriteString("\r\n\r\n")
	b.Write(body)
	b.WriteByte('\n')
	return b.Bytes()
}
