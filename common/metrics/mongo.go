package metrics

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
	"go.mongodb.org/mongo-driver/event"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// Mongo returns client options whose command monitor times every MongoDB
// command by its name (find, insert, update, …: a set the driver bounds)
// and outcome (ok, error), for service.ConnectMongo.
func Mongo(reg prometheus.Registerer) *options.ClientOptions {
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "mongodb_command_duration_seconds",
		Help:    "Time of MongoDB commands as the driver saw them, by command name and outcome (ok, error).",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10},
	}, []string{"command", "outcome"})
	registerer(reg).MustRegister(duration)
	return options.Client().SetMonitor(&event.CommandMonitor{
		Succeeded: func(_ context.Context, e *event.CommandSucceededEvent) {
			duration.WithLabelValues(e.CommandName, "ok").Observe(e.Duration.Seconds())
		},
		Failed: func(_ context.Context, e *event.CommandFailedEvent) {
			duration.WithLabelValues(e.CommandName, "error").Observe(e.Duration.Seconds())
		},
	})
}
