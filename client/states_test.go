package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestStatesAreWordedPlainly(t *testing.T) {
	now := time.Date(2027, 1, 1, 12, 0, 0, 0, time.UTC)
	later, earlier := now.Add(time.Minute), now.Add(-time.Minute)
	at := func(t time.Time) *time.Time { return &t }
	for _, c := range []struct {
		o    order
		want string
	}{
		{order{Status: "created", ExpiresAt: later}, "Awaiting payment"},
		{order{Status: "awaiting:payment", ExpiresAt: later}, "Awaiting payment"},
		{order{Status: "created", ExpiresAt: earlier}, "Expired"}, // before orders gets round to it
		{order{Status: "complete", ExpiresAt: earlier}, "Paid"},
		{order{Status: "cancelled", ExpiresAt: earlier}, "Expired"},
		{order{Status: "cancelled", ExpiresAt: later}, "Cancelled"},
		{order{Status: "cancelled", ExpiresAt: earlier, CancelledAt: at(earlier.Add(-time.Minute))}, "Cancelled"},
		{order{Status: "cancelled", ExpiresAt: earlier, CancelledAt: at(earlier)}, "Expired"},
		{order{Status: "cancelled", ExpiresAt: later, CancelReason: "expired"}, "Expired"}, // fired a little early
		{order{Status: "cancelled", ExpiresAt: earlier, CancelReason: "buyer"}, "Cancelled"},
		{order{Status: "cancelled", ExpiresAt: earlier, Refunded: true}, "Refunded"},
		{order{Status: "cancelled", ExpiresAt: later, Refunded: true}, "Refunded"},
	} {
		assert.Equal(t, c.want, orderLabel(c.o.State(now)), "%+v", c.o)
	}
	for state, want := range map[string]string{statusAvailable: "Available", statusReserved: "Reserved", statusSold: "Sold"} {
		assert.Equal(t, want, ticketLabel(state))
	}
}
