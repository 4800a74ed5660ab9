package amqpx

import (
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// recordingChannel records the acks an acker sends.
type recordingChannel struct {
	mu   sync.Mutex
	acks []string
}

func (c *recordingChannel) Ack(tag uint64, multiple bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := "single"
	if multiple {
		s = "upto"
	}
	c.acks = append(c.acks, s+" "+string(rune('0'+tag)))
	return nil
}

func TestAckerAcksRunsWithOneFrameAndSpillsBehindASlowDelivery(t *testing.T) {
	ch := &recordingChannel{}
	counted := 0
	a := newAcker(ch, slog.New(slog.DiscardHandler), 3, func(n int) { counted += n })
	a.settled(1)   // nacked on its own
	a.succeeded(3) // waits for 2
	a.succeeded(2)
	a.close()
	assert.Equal(t, []string{"upto 3"}, ch.acks[len(ch.acks)-1:], "1 was settled alone, 2 and 3 go in one frame")
	assert.Equal(t, 2, counted)

	ch = &recordingChannel{}
	a = newAcker(ch, slog.New(slog.DiscardHandler), 2, func(int) {})
	for _, tag := range []uint64{2, 3, 4, 5} { // 1 is slow
		a.succeeded(tag)
	}
	acked := func() []string { ch.mu.Lock(); defer ch.mu.Unlock(); return append([]string(nil), ch.acks...) }
	require.Eventually(t, func() bool { return len(acked()) == 4 }, 5*time.Second, time.Millisecond,
		"successes held back by a slow delivery are acked one by one")
	assert.ElementsMatch(t, []string{"single 2", "single 3", "single 4", "single 5"}, acked())
	a.succeeded(1)
	a.close()
	assert.Equal(t, "upto 1", acked()[4], "the run resumes once the slow one is done; 2–5 are not acked twice")
	assert.Len(t, acked(), 5)
}
