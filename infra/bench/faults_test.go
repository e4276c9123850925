package bench

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// every lists times from from (inclusive) to to (exclusive), step apart.
func every(from, to time.Time, step time.Duration) []time.Time {
	var out []time.Time
	for t := from; t.Before(to); t = t.Add(step) {
		out = append(out, t)
	}
	return out
}

func TestRecoveryIsWhenPurchasesCompleteAtHalfTheirEarlierRateAgainForGood(t *testing.T) {
	start := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	fault, deadline := start.Add(5*time.Second), start.Add(20*time.Second)
	// 20/s, then nothing for 3 s after the fault, then 20/s again.
	done := append(every(start, fault, 50*time.Millisecond), every(fault.Add(3*time.Second), deadline.Add(time.Second), 50*time.Millisecond)...)
	var f FaultResult
	f.recovery(done, start, fault, deadline)
	assert.InDelta(t, 20, f.Baseline, 0.5)
	assert.Equal(t, 3*time.Second, f.Pause)
	assert.InDelta(t, 3*time.Second, f.Recovery, float64(200*time.Millisecond), "read over two-second windows, 0.2 s apart")

	var steady FaultResult
	steady.recovery(every(start, deadline.Add(time.Second), 50*time.Millisecond), start, fault, deadline)
	assert.Zero(t, steady.Recovery, "the rate never fell")
	assert.Equal(t, 50*time.Millisecond, steady.Pause)

	// Clients in step: 20 at once every 1.5 s, fault or not.
	var bursts []time.Time
	for at := start; at.Before(deadline.Add(time.Second)); at = at.Add(1500 * time.Millisecond) {
		for range 20 {
			bursts = append(bursts, at)
		}
	}
	var bursty FaultResult
	bursty.recovery(bursts, start, fault, deadline)
	assert.Zero(t, bursty.Recovery, "bursts are no dip")

	var never FaultResult
	never.recovery(every(start, fault, 50*time.Millisecond), start, fault, deadline)
	assert.Equal(t, time.Duration(-1), never.Recovery, "not recovered within the load")
	assert.Equal(t, 15*time.Second, never.Pause)
}

func TestServedCountsAnswersThatWere5xxOrNeverCameFromTheFault(t *testing.T) {
	fault := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	var f FaultResult
	f.served([]answer{
		{at: fault.Add(-time.Second), what: "GET /api/orders/:id", status: 200},
		{at: fault.Add(2 * time.Second), what: "POST /api/orders", status: 502},
		{at: fault.Add(time.Second), what: "POST /api/payments", err: errors.New("connection reset")},
		{at: fault.Add(3 * time.Second), what: "POST /api/orders", status: 404},
		{at: fault.Add(4 * time.Second), what: "POST /api/tickets", status: 503},
	}, fault)
	assert.Equal(t, 5, f.Requests)
	assert.Equal(t, 3, f.FiveXX)
	assert.Equal(t, time.Second, f.FirstFiveXX)
	assert.Equal(t, 4*time.Second, f.LastFiveXX)
	assert.Equal(t, "POST /api/orders: 502", f.FirstError, "the first one seen")
}
