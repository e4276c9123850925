package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"ticketing.dev/common/events"
)

// Events counts and times the deliveries a service's listeners handle; it
// is an events.Observer (ListenerOptions.Observer).
type Events struct {
	handled     *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	lag         *prometheus.HistogramVec
	redelivered *prometheus.CounterVec
}

// NewEvents registers the event metrics on reg.
func NewEvents(reg prometheus.Registerer) *Events {
	labels := []string{"subject", "queue_group"}
	e := &Events{
		handled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "events_handled_total",
			Help: "Event deliveries handled, by subject, queue group and outcome (acked, retried, parked, dropped).",
		}, []string{"subject", "queue_group", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "event_handling_duration_seconds",
			Help:    "Time a handler took with one delivery, by subject and queue group.",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, labels),
		lag: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "event_lag_seconds",
			Help: "Time from the bus storing an event to a listener finishing a delivery of it, by subject and queue group.",
			// A redelivery waits at least one ack wait (5 s); parking takes minutes.
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
		}, labels),
		redelivered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "events_redelivered_total",
			Help: "Deliveries of events the bus had delivered before (after a failure, a lost ack or a restart), by subject and queue group.",
		}, labels),
	}
	registerer(reg).MustRegister(e.handled, e.duration, e.lag, e.redelivered)
	return e
}

// EventHandled records one finished delivery.
func (e *Events) EventHandled(h events.Handled) {
	subject, group := string(h.Subject), h.QueueGroup
	e.handled.WithLabelValues(subject, group, string(h.Outcome)).Inc()
	if h.Outcome != events.OutcomeDropped {
		e.duration.WithLabelValues(subject, group).Observe(h.Took.Seconds())
	}
	e.lag.WithLabelValues(subject, group).Observe(h.Lag.Seconds())
	if h.Redelivered {
		e.redelivered.WithLabelValues(subject, group).Inc()
	}
}
