package amqpx

import (
	"net"
	"sync"
)

// corkConn is the broker connection's socket with a cork: while corked, writes are gathered and
// sent in one write when the last cork comes off. amqp091-go flushes after every message it
// publishes; a batch of confirmed publishes corked costs one system call instead of one per
// message, for the service and for the broker that reads them. Writes by other goroutines
// meanwhile (acks, heartbeats) are held as briefly, and a cork is only ever held around writes
// that wait for nothing, so nothing can wait for a held frame.
type corkConn struct {
	net.Conn
	mu    sync.Mutex
	corks int
	buf   []byte
}

func (c *corkConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.corks > 0 {
		c.buf = append(c.buf, p...)
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// cork holds writes until the matching uncork. A nil corkConn does nothing.
func (c *corkConn) cork() {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.corks++
	c.mu.Unlock()
}

// uncork sends what was held once no cork is left.
func (c *corkConn) uncork() error {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.corks--
	if c.corks > 0 || len(c.buf) == 0 {
		return nil
	}
	_, err := c.Conn.Write(c.buf)
	c.buf = c.buf[:0]
	if cap(c.buf) > 1<<20 {
		c.buf = nil // do not keep a huge batch's buffer
	}
	return err
}
