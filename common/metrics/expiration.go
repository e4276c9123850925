package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Expiration measures how punctually orders expire.
type Expiration struct {
	lateness prometheus.Histogram
}

// NewExpiration registers the expiration metrics on reg.
func NewExpiration(reg prometheus.Registerer) *Expiration {
	x := &Expiration{lateness: prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "expiration_lateness_seconds",
		Help: "Time from an order's expiresAt to its expiry being published (never negative by design).",
		// Due times are rounded up to whole seconds, so ~0–1.1 s is normal.
		Buckets: []float64{.1, .25, .5, .75, 1, 1.5, 2, 5, 10, 30, 60, 300, 3600},
	})}
	registerer(reg).MustRegister(x.lateness)
	return x
}

// Fired records an expiry published at fired for an order due at due.
func (x *Expiration) Fired(due, fired time.Time) {
	x.lateness.Observe(fired.Sub(due).Seconds())
}
