package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"ticketing.dev/common/events"
)

// Outbox measures the outbox relay; it is an outbox.Observer.
type Outbox struct {
	pending    prometheus.Gauge
	oldest     prometheus.Gauge
	publish    *prometheus.HistogramVec
	delay      *prometheus.HistogramVec
	publishErr *prometheus.CounterVec
}

// NewOutbox registers the outbox metrics on reg.
func NewOutbox(reg prometheus.Registerer) *Outbox {
	o := &Outbox{
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "outbox_pending_records",
			Help: "Outbox records not marked published past the time their writer has to mark them, as the last sweep found them (every replica of a service sees the same records).",
		}),
		oldest: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "outbox_oldest_pending_age_seconds",
			Help: "Age of the oldest of those records at the last sweep; 0 when none is pending.",
		}),
		publish: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "outbox_publish_duration_seconds",
			Help:    "Time the bus took to store a relayed event, by subject.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 5},
		}, []string{"subject"}),
		delay: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "outbox_publish_delay_seconds",
			Help:    "Time from an event's version being claimed to its publication, by subject.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"subject"}),
		publishErr: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "outbox_publish_failures_total",
			Help: "Events the bus did not take (their change waits for the sweep), by subject.",
		}, []string{"subject"}),
	}
	registerer(reg).MustRegister(o.pending, o.oldest, o.publish, o.delay, o.publishErr)
	return o
}

// Published records an event the bus stored: took is the bus's part,
// delay the whole way from its claim.
func (o *Outbox) Published(subject events.Subject, took, delay time.Duration) {
	o.publish.WithLabelValues(string(subject)).Observe(took.Seconds())
	o.delay.WithLabelValues(string(subject)).Observe(delay.Seconds())
}

// PublishFailed records an event the bus refused or did not answer for.
func (o *Outbox) PublishFailed(subject events.Subject) {
	o.publishErr.WithLabelValues(string(subject)).Inc()
}

// Backlog records what a sweep found pending.
func (o *Outbox) Backlog(pending int, oldest time.Duration) {
	o.pending.Set(float64(pending))
	o.oldest.Set(oldest.Seconds())
}
