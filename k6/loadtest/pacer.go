package loadtest

import (
	"time"
)

// StagedPacer is a vegeta.Pacer for a k6 ramping-arrival-rate: the rate moves linearly from
// Start to each stage's Target over its Duration, and the attack stops after the last stage. A
// stage of zero Duration is a step: the rate jumps to its Target. One pacer drives one attack, so
// connections and workers live across stages.
type StagedPacer struct {
	Start  float64
	Stages []Stage
}

// total is the schedule's length.
func (p StagedPacer) total() time.Duration {
	var d time.Duration
	for _, s := range p.Stages {
		d += s.Duration
	}
	return d
}

// Rate is the target rate (per second) at elapsed.
func (p StagedPacer) Rate(elapsed time.Duration) float64 {
	from := p.Start
	for _, s := range p.Stages {
		if elapsed < s.Duration {
			return from + (s.Target-from)*elapsed.Seconds()/s.Duration.Seconds()
		}
		elapsed -= s.Duration
		from = s.Target
	}
	return from
}

// hits is how many requests the schedule has sent by elapsed (the integral of Rate).
func (p StagedPacer) hits(elapsed time.Duration) float64 {
	from, sum := p.Start, 0.0
	for _, s := range p.Stages {
		if s.Duration <= 0 { // a step: no time passes, so no hits; its slope would divide by zero
			from = s.Target
			continue
		}
		d := s.Duration
		if elapsed < d {
			d = elapsed
		}
		t := d.Seconds()
		slope := (s.Target - from) / s.Duration.Seconds()
		sum += from*t + slope*t*t/2
		if elapsed <= s.Duration {
			return sum
		}
		elapsed -= s.Duration
		from = s.Target
	}
	return sum
}

// Pace tells the attacker how long to wait before the next hit.
func (p StagedPacer) Pace(elapsed time.Duration, hits uint64) (time.Duration, bool) {
	if elapsed >= p.total() {
		return 0, true
	}
	expected := p.hits(elapsed)
	if float64(hits) < expected {
		return 0, false
	}
	rate := p.Rate(elapsed)
	if rate <= 0 {
		return 10 * time.Millisecond, false
	}
	return time.Duration((float64(hits) + 1 - expected) / rate * float64(time.Second)), false
}
