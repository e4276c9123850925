// Command nats-test publishes and watches events on the NATS Streaming bus,
// to learn and debug it (the original's nats-test publisher and listener):
//
//	go run ./nats-test publish [--id ID] [--title T] [--price P]
//	go run ./nats-test listen  [--subject ticket:created] [--group payments-service]
//	go run ./nats-test deadletters --mongo URI|--redis ADDR [--replay ID|all]
//
// All take --bus (stan or jetstream, default $BUS or stan), --url (default
// $NATS_URL or nats://127.0.0.1:4222, where `make run` serves the bus) and
// --cluster (STAN's cluster id, default ticketing).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"ticketing.dev/common/events"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "nats-test:", err)
		os.Exit(1)
	}
}

const usage = `usage: nats-test publish|listen [flags]

  publish   publish a ticket:created event and print its sequence
  listen    print every event of a subject as it arrives, and ack it
  deadletters  list a service's parked events, or replay them (--replay ID|all)

Run "nats-test COMMAND -h" for the flags`

// errUsage is returned for a command line that names no known command.
var errUsage = errors.New(usage)

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 0 {
		return errUsage
	}
	cmd, args := args[0], args[1:]
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stdout)
	defURL := getenv("NATS_URL")
	if defURL == "" {
		defURL = "nats://127.0.0.1:4222"
	}
	defBus := getenv("BUS")
	if defBus == "" {
		defBus = events.KindSTAN
	}
	kind := fs.String("bus", defBus, "stan or jetstream (default $BUS)")
	url := fs.String("url", defURL, "NATS URL, a comma list for a JetStream cluster (default $NATS_URL)")
	cluster := fs.String("cluster", "ticketing", "NATS Streaming cluster id")
	switch cmd {
	case "publish":
		id := fs.String("id", "", "ticket id (default: a new ObjectID)")
		title := fs.String("title", "concert", "ticket title")
		price := fs.Float64("price", 20, "ticket price")
		userID := fs.String("user", "nats-test", "ticket owner's user id")
		if err := fs.Parse(args); err != nil {
			return err
		}
		return publish(ctx, bus{kind: *kind, url: *url, cluster: *cluster}, ticketFlags{*id, *title, *price, *userID}, stdout)
	case "listen":
		subject := fs.String("subject", "ticket:created", "subject to listen to")
		group := fs.String("group", "payments-service", "queue group (and durable name)")
		if err := fs.Parse(args); err != nil {
			return err
		}
		return listen(ctx, bus{kind: *kind, url: *url, cluster: *cluster}, *subject, *group, stdout)
	case "deadletters":
		var f deadLetterFlags
		fs.StringVar(&f.mongoURI, "mongo", "", "the service's MONGO_URI (tickets, orders, payments)")
		fs.StringVar(&f.db, "db", "", "database name when the URI has none")
		fs.StringVar(&f.redisAddr, "redis", "", "expiration's Redis host:port")
		fs.StringVar(&f.replay, "replay", "", `publish this dead letter again (or "all"), then remove it`)
		if err := fs.Parse(args); err != nil {
			return err
		}
		return listOrReplay(ctx, bus{kind: *kind, url: *url, cluster: *cluster}, f, stdout)
	default:
		return fmt.Errorf("unknown command %q\n%s", cmd, usage)
	}
}
