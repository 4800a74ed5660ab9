package testkit

import (
	"bytes"
	"errors"
	"net"
	"sync"
	"testing"
	"time"
)

// Proxy forwards TCP connections from a local port to a target and injects the faults a test
// needs without touching the shared server behind it:
//   - Down cuts every connection and refuses new ones (accepts and closes them at once, so the port
//     stays ours); Up restores it — a server that is stopped or unreachable.
//   - Freeze stops forwarding bytes in both directions while keeping every connection open, and
//     holds new ones; Thaw resumes — a server that hangs (SIGSTOP), where only deadlines help.
//   - CutAfter(pattern) forwards the next client chunk containing pattern to the server and then
//     cuts that connection — e.g. a database connection lost right after COMMIT was sent.
type Proxy struct {
	target string
	ln     net.Listener

	mu       sync.Mutex
	down     bool
	frozen   bool
	thawed   *sync.Cond
	cutAfter []byte
	cuts     int
	conns    map[net.Conn]struct{}

	wg sync.WaitGroup
}

// NewProxy listens on 127.0.0.1:0 and forwards to target; t.Cleanup closes it.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proxy listen: %v", err)
	}
	p := &Proxy{target: target, ln: ln, conns: map[net.Conn]struct{}{}}
	p.thawed = sync.NewCond(&p.mu)
	p.wg.Go(p.accept)
	t.Cleanup(p.Close)
	return p
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Down closes all proxied connections and refuses new ones until Up.
func (p *Proxy) Down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	p.closeAllLocked()
}

// Up lets connections through again.
func (p *Proxy) Up() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = false
}

// Freeze stops forwarding until Thaw; connections stay open and new ones are held.
func (p *Proxy) Freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.frozen = true
}

// Thaw resumes forwarding what was held.
func (p *Proxy) Thaw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.frozen = false
	p.thawed.Broadcast()
}

// CutAfter arms a one-time cut: the next chunk a client sends that contains pattern is forwarded,
// then its connection is closed on both sides before any answer comes back.
func (p *Proxy) CutAfter(pattern []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cutAfter = append([]byte(nil), pattern...)
}

// Cuts is how many armed cuts have happened.
func (p *Proxy) Cuts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cuts
}

// Close stops the proxy and waits for its goroutines.
func (p *Proxy) Close() {
	_ = p.ln.Close()
	p.mu.Lock()
	p.down, p.frozen = true, false
	p.thawed.Broadcast()
	p.closeAllLocked()
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *Proxy) closeAllLocked() {
	for c := range p.conns {
		_ = c.Close()
		delete(p.conns, c)
	}
}

// track registers c unless the proxy is down.
func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

// waitThawed blocks while frozen; it reports false when the proxy went down meanwhile.
func (p *Proxy) waitThawed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.frozen && !p.down {
		p.thawed.Wait()
	}
	return !p.down
}

func (p *Proxy) accept() {
	for {
		client, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if !p.track(client) {
			_ = client.Close()
			continue
		}
		p.wg.Go(func() { p.serve(client) })
	}
}

func (p *Proxy) serve(client net.Conn) {
	var server net.Conn
	var err error
	if p.waitThawed() {
		server, err = net.DialTimeout("tcp", p.target, 2*time.Second)
	}
	if server == nil || err != nil || !p.track(server) {
		if server != nil {
			_ = server.Close()
		}
		_ = client.Close()
		return
	}
	var pipes sync.WaitGroup
	pipes.Go(func() { p.pipe(server, client, true) })
	pipes.Go(func() { p.pipe(client, server, false) })
	pipes.Wait()
	p.mu.Lock()
	delete(p.conns, client)
	delete(p.conns, server)
	p.mu.Unlock()
}

// pipe copies src to dst chunk by chunk, holding chunks while frozen; when one direction ends,
// both end, like a real connection reset.
func (p *Proxy) pipe(dst, src net.Conn, fromClient bool) {
	defer func() { _ = dst.Close(); _ = src.Close() }()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.waitThawed() {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
			if fromClient && p.shouldCut(buf[:n]) {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *Proxy) shouldCut(chunk []byte) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.cutAfter) == 0 || !bytes.Contains(chunk, p.cutAfter) {
		return false
	}
	p.cutAfter = nil
	p.cuts++
	return true
}
