package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"go.mongodb.org/mongo-driver/bson/primitive"

	"ticketing.dev/common/events"
)

// connectTimeout keeps an unreachable server or a wrong cluster id from
// hanging the tool.
const connectTimeout = 5 * time.Second

type bus struct {
	kind, url, cluster string
}

// connect opens a connection with a random client id, so several copies of
// the tool can run at once.
func (b bus) connect(ctx context.Context, role string) (events.Bus, error) {
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	return events.Connect(ctx, events.BusConfig{Kind: b.kind, URL: b.url, ClusterID: b.cluster, ClientID: "nats-test-" + role + "-" + hex.EncodeToString(suffix)}, nil)
}

type ticketFlags struct {
	id, title string
	price     float64
	userID    string
}

// publish sends one ticket:created and prints the sequence the server gave it.
func publish(ctx context.Context, b bus, f ticketFlags, out io.Writer) error {
	conn, err := b.connect(ctx, "publisher")
	if err != nil {
		return err
	}
	defer conn.Close()
	if f.id == "" {
		f.id = primitive.NewObjectID().Hex()
	}
	e := events.TicketCreated{ID: f.id, Version: 0, Title: f.title, Price: f.price, UserID: f.userID}
	if err := events.NewPublisher[events.TicketCreated](conn).Publish(ctx, e); err != nil {
		return err
	}
	data, _ := json.Marshal(e)
	// STAN's publish ack carries no sequence: read the subject's last
	// message back, which is ours unless someone published meanwhile.
	seq := "unknown (another message was published meanwhile)"
	lctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if m, found, err := conn.Last(lctx, e.Subject()); err == nil && found && bytes.Equal(m.Data, data) {
		seq = fmt.Sprint(m.Sequence)
	}
	fmt.Fprintf(out, "published %s sequence %s: %s\n", e.Subject(), seq, data)
	return nil
}

// listen prints each event of subject as it arrives, acks it, and closes the
// connection cleanly when ctx ends.
func listen(ctx context.Context, b bus, subject, group string, out io.Writer) error {
	conn, err := b.connect(ctx, "listener")
	if err != nil {
		return err
	}
	defer conn.Close() // the server forgets this client; the durable group stays
	opts := events.ListenerOptions{QueueGroup: group}
	var sub events.Subscription
	switch events.Subject(subject) {
	case events.SubjectTicketCreated:
		sub, err = printAll[events.TicketCreated](ctx, conn, opts, out)
	case events.SubjectTicketUpdated:
		sub, err = printAll[events.TicketUpdated](ctx, conn, opts, out)
	case events.SubjectOrderCreated:
		sub, err = printAll[events.OrderCreated](ctx, conn, opts, out)
	case events.SubjectOrderCancelled:
		sub, err = printAll[events.OrderCancelled](ctx, conn, opts, out)
	case events.SubjectOrderComplete:
		sub, err = printAll[events.OrderComplete](ctx, conn, opts, out)
	case events.SubjectExpirationComplete:
		sub, err = printAll[events.ExpirationComplete](ctx, conn, opts, out)
	case events.SubjectPaymentCreated:
		sub, err = printAll[events.PaymentCreated](ctx, conn, opts, out)
	case events.SubjectSessionRevoked:
		sub, err = printAll[events.SessionRevoked](ctx, conn, opts, out)
	default:
		return fmt.Errorf("unknown subject %q (one of ticket:created, ticket:updated, order:created, order:cancelled, order:complete, expiration:complete, payment:created, session:revoked)", subject)
	}
	if err != nil {
		return err
	}
	defer sub.Close()
	fmt.Fprintf(out, "listening to %s in queue group %s (Ctrl-C to stop)\n", subject, group)
	<-ctx.Done()
	return nil
}

// printAll listens to E's subject and prints each delivery.
func printAll[E events.Event](ctx context.Context, conn events.Bus, opts events.ListenerOptions, out io.Writer) (events.Subscription, error) {
	return events.Listen(ctx, conn, opts, func(ctx context.Context, _ E) error {
		d, _ := events.DeliveryFrom(ctx)
		_, err := fmt.Fprintf(out, "%s #%d redelivered=%t %s\n", d.Subject, d.Sequence, d.Redelivered, d.Data)
		return err
	})
}
