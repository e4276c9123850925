package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"ticketing.dev/common/events"
)

// raceRound is one order's race: what was fired, when, and what came back.
type raceRound struct {
	n           int
	payReplica  int // payments replica the payment went to; the cancel went to orders replica 1-payReplica
	withCancel  bool
	cancelLag   time.Duration // the cancel leaves this long after the payment
	expireLag   time.Duration // the expiry leaves this long after the payment (before it, when negative)
	ticketID    string
	orderID     string
	pay, cancel reply
	payTook     time.Duration
	cancelTook  time.Duration
	outcome     string // "complete" or "cancelled", as the answers imply
	wantPayment string // the payment document's status once settled, "" for none
}

func (r *raceRound) race() string {
	if !r.withCancel {
		return "pay vs expire"
	}
	return "pay vs cancel"
}

// direct sends one request to a replica's own URL, bypassing the ingress
// and the balancer, with the buyer's session cookie; it reports errors
// instead of failing the test, as it runs off the test's goroutine.
func direct(client *http.Client, cookies []*http.Cookie, method, rawURL string, body any) (reply, error) {
	var rd io.Reader
	if body != nil {
		j, err := json.Marshal(body)
		if err != nil {
			return reply{}, err
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, rawURL, rd)
	if err != nil {
		return reply{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	resp, err := client.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, err
	}
	r := reply{Status: resp.StatusCode, Raw: string(raw)}
	_ = json.Unmarshal(raw, &r.Body)
	return r, nil
}

// agreement is what every service says about one order once it settled.
type agreement struct {
	api, ordersDB, paymentsReplica string // the order's status
	apiRefunded                    bool   // the orders API says the buyer was refunded
	ordersVersion, replicaVersion  int64
	ticketOrderID                  any    // the ticket's orderId in the tickets API, nil when released
	payment                        string // the payment document's status, "" when there is none
	paymentID, stripeID, refundID  string
}

func (a agreement) String() string {
	return fmt.Sprintf("orders API %q (refunded %v), orders db %q v%d, payments' replica %q v%d, ticket orderId %v, payment %q %s (charge %q, refund %q)",
		a.api, a.apiRefunded, a.ordersDB, a.ordersVersion, a.paymentsReplica, a.replicaVersion, a.ticketOrderID, a.payment, a.paymentID, a.stripeID, a.refundID)
}

// agrees reports whether every service shows the round's outcome: the
// order's status in orders (API and database) and in payments' replica (at
// the same version), the ticket held exactly by a complete order, and a
// payment succeeded exactly for a complete order (refunded, or never made,
// for a cancelled one).
func (a agreement) agrees(r *raceRound) bool {
	if a.api != r.outcome || a.ordersDB != r.outcome || a.paymentsReplica != r.outcome || a.ordersVersion != a.replicaVersion {
		return false
	}
	if a.payment != r.wantPayment || a.apiRefunded != (a.payment == "refunded") {
		return false
	}
	switch a.payment {
	case "succeeded":
		if a.stripeID == "" || a.refundID != "" {
			return false
		}
	case "refunded":
		if a.stripeID == "" || a.refundID == "" {
			return false
		}
	}
	if r.outcome == "complete" {
		return a.ticketOrderID == r.orderID
	}
	return a.ticketOrderID == nil
}

// The race runs on both buses, each on a stack of its own: NATS
// Streaming, and JetStream on three servers (jetStreamEnv). The test plays
// the expiration service's part: it publishes an order's
// expiration:complete itself, at a set time from the payment, as the
// service does when the order's window ends; the window itself is long,
// and the test does not wait for it (the service's own firing is
// TestUnpaidOrderExpiresAndReleasesItsTicketWhilePaidOneStaysComplete's).
// So the rounds are timed by the test, not by the wall clock.
func TestPayCancelAndExpireRacingOverTwoProcessesEndInOneOutcomeEveryServiceAgreesOn(t *testing.T) {
	const window = 10 * time.Minute // the service's own firing stays out of the rounds
	t.Run("stan", func(t *testing.T) {
		payCancelAndExpireRace(t, map[string]string{"REPLICAS": "2", "EXPIRATION_WINDOW": window.String()})
	})
	t.Run("jetstream", func(t *testing.T) {
		payCancelAndExpireRace(t, withEnv(jetStreamEnv, map[string]string{"EXPIRATION_WINDOW": window.String()}))
	})
}

func payCancelAndExpireRace(t *testing.T, env map[string]string) {
	const rounds = 18
	s, _ := startStack(t, t.TempDir(), env)
	require.Equal(t, 2, s.Replicas("payments"))
	require.Equal(t, 2, s.Replicas("orders"))

	ctx := context.Background()
	connect := func(name string) *mongo.Database {
		c, err := mongo.Connect(ctx, options.Client().ApplyURI(s.MongoURIOf(name)))
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Disconnect(context.Background()) })
		return c.Database(name)
	}
	ordersDB, paymentsDB := connect("orders"), connect("payments")
	bus := s.Bus()
	bus.ClientID = "e2e-race-expiry"
	conn, err := events.Connect(ctx, bus, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	expire := events.NewPublisher[events.ExpirationComplete](conn)

	seller := signedUp(t, s.URL(), "race-seller")
	buyer := signedUp(t, s.URL(), "race-buyer")
	anyone := newBrowser(t, s.URL())
	// The buyer's browser sends Host: ticketing.dev, which is what its jar
	// keeps the session cookie under.
	cookies := buyer.c.Jar.Cookies(&url.URL{Scheme: "http", Host: "ticketing.dev", Path: "/"})
	require.NotEmpty(t, cookies, "the buyer has a session cookie")
	client := &http.Client{Timeout: 30 * time.Second}

	status := func(coll *mongo.Collection, id primitive.ObjectID) (string, int64) {
		var doc struct {
			Status  string `bson:"status"`
			Version int64  `bson:"version"`
		}
		if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&doc); err != nil {
			return "error: " + err.Error(), -1
		}
		return doc.Status, doc.Version
	}
	paymentOf := func(a *agreement, id primitive.ObjectID) {
		type attempt struct {
			ID       primitive.ObjectID `bson:"_id"`
			Status   string             `bson:"status"`
			StripeID string             `bson:"stripeId"`
			RefundID string             `bson:"refundId"`
		}
		// An order's attempts are numbered slots; the payment is the one
		// that charged (declined and closed slots charged nothing).
		cur, err := paymentsDB.Collection("payments").Find(ctx, bson.D{{Key: "orderId", Value: id}})
		if err == nil {
			defer cur.Close(ctx)
			for cur.Next(ctx) {
				var doc attempt
				if err = cur.Decode(&doc); err != nil {
					break
				}
				if doc.StripeID != "" {
					a.payment, a.paymentID, a.stripeID, a.refundID = doc.Status, doc.ID.Hex(), doc.StripeID, doc.RefundID
				}
			}
			err = errors.Join(err, cur.Err())
		}
		if err != nil {
			a.payment = "error: " + err.Error()
		}
	}
	look := func(r *raceRound) agreement {
		oid, _ := primitive.ObjectIDFromHex(r.orderID)
		var a agreement
		shown := buyer.do("GET", "/api/orders/"+r.orderID, nil)
		a.api, _ = shown.Body["status"].(string)
		a.apiRefunded, _ = shown.Body["refunded"].(bool)
		a.ordersDB, a.ordersVersion = status(ordersDB.Collection("orders"), oid)
		a.paymentsReplica, a.replicaVersion = status(paymentsDB.Collection("orders"), oid)
		a.ticketOrderID = anyone.do("GET", "/api/tickets/"+r.ticketID, nil).Body["orderId"]
		paymentOf(&a, oid)
		return a
	}

	var all []*raceRound
	tally := map[string]int{}  // by outcome
	byRace := map[string]int{} // by race and outcome
	for n := range rounds {
		r := &raceRound{
			n:          n,
			payReplica: n % 2,
			// Every third round races the payment against the expiry alone.
			withCancel: n%3 != 2,
			// The expiry leaves from 25 ms before to 375 ms after the
			// payment, in 18 steps taken in a scrambled order.
			expireLag: -25*time.Millisecond + time.Duration((n*5)%rounds)*400*time.Millisecond/(rounds-1),
			// The cancel leaves 0 to 30 ms after the payment. Sent together,
			// the cancel wins (one write, where the payment is a charge, a
			// write, an event and orders' decision: about 20 ms); a few ms
			// later it meets the payment's event in orders, and later still
			// it finds the order complete.
			cancelLag: time.Duration((n*3)%7) * 5 * time.Millisecond,
		}
		if !r.withCancel {
			// The payments that race the expiry alone: it leaves from
			// 40 ms before to 60 ms after them, so that either may win.
			r.expireLag = -40*time.Millisecond + time.Duration(n/3)*20*time.Millisecond
		}
		all = append(all, r)

		created := seller.do("POST", "/api/tickets", map[string]any{"title": fmt.Sprintf("Race %d", n), "price": 12.5})
		require.Equal(t, 201, created.Status, created.Raw)
		r.ticketID = created.Body["id"].(string)
		var order reply
		require.Eventually(t, func() bool {
			order = buyer.do("POST", "/api/orders", map[string]any{"ticketId": r.ticketID})
			return order.Status != 404
		}, 15*time.Second, 20*time.Millisecond, "round %d: orders learns the ticket", n)
		require.Equal(t, 201, order.Status, "round %d: %s", n, order.Raw)
		r.orderID = order.Body["id"].(string)

		// Payments learns the order by order:created; a payment before that
		// would be a 404, not part of the race.
		oid, _ := primitive.ObjectIDFromHex(r.orderID)
		require.Eventually(t, func() bool {
			st, _ := status(paymentsDB.Collection("orders"), oid)
			return st == "created"
		}, 10*time.Second, 20*time.Millisecond, "round %d: payments has the order", n)

		// Fire: each leaves at its time from the first to leave.
		var wg sync.WaitGroup
		var payErr, cancelErr, expireErr error
		payAt := max(0, -r.expireLag)
		at := func(d time.Duration, f func()) {
			wg.Go(func() {
				time.Sleep(d) // the race's set lag, not a wait for anything
				f()
			})
		}
		at(payAt, func() {
			start := time.Now()
			r.pay, payErr = direct(client, cookies, "POST", s.ReplicaURL("payments", r.payReplica)+"/api/payments",
				map[string]any{"token": "tok_visa", "orderId": r.orderID})
			r.payTook = time.Since(start)
		})
		if r.withCancel {
			at(payAt+r.cancelLag, func() {
				start := time.Now()
				r.cancel, cancelErr = direct(client, cookies, "DELETE", s.ReplicaURL("orders", 1-r.payReplica)+"/api/orders/"+r.orderID, nil)
				r.cancelTook = time.Since(start)
			})
		}
		at(payAt+r.expireLag, func() {
			expireErr = expire.Publish(ctx, events.ExpirationComplete{OrderID: r.orderID})
		})
		wg.Wait()
		require.NoError(t, payErr, "round %d: payment", n)
		require.NoError(t, cancelErr, "round %d: cancel", n)
		require.NoError(t, expireErr, "round %d: expiry", n)

		// The answers.
		assert.Contains(t, []int{201, 400}, r.pay.Status, "round %d: the payment answers 201 or 400: %s", n, r.pay.Raw)
		if r.withCancel {
			assert.Contains(t, []int{204, 400}, r.cancel.Status, "round %d: the cancel answers 204 or 400: %s", n, r.cancel.Raw)
		}
		switch {
		case r.pay.Status == 201:
			r.outcome, r.wantPayment = "complete", "succeeded"
			assert.Equal(t, true, r.pay.Body["success"], "round %d: %s", n, r.pay.Raw)
			if r.withCancel {
				assert.Equal(t, 400, r.cancel.Status, "round %d: a paid order cannot be cancelled: %s", n, r.cancel.Raw)
				assert.Contains(t, r.cancel.Raw, "Cannot cancel a complete order", "round %d", n)
			}
		default:
			r.outcome = "cancelled"
			assert.Contains(t, r.pay.Raw, "Cannot pay for a cancelled order", "round %d: a refused payment is refused for a cancelled order", n)
			if strings.Contains(r.pay.Raw, "refunded") {
				r.wantPayment = "refunded" // charged, then the cancel or expiry was seen to have won
			}
			if r.withCancel {
				assert.Equal(t, 204, r.cancel.Status, "round %d: the payment lost, so the order was cancelled or expired: %s", n, r.cancel.Raw)
			}
		}
		if r.withCancel && r.cancel.Status == 204 {
			assert.Equal(t, 400, r.pay.Status, "round %d: a cancelled order is not paid: %s", n, r.pay.Raw)
		}

		// Every service agrees within 10 s.
		var last agreement
		ok := assert.Eventually(t, func() bool {
			last = look(r)
			return last.agrees(r)
		}, 10*time.Second, 50*time.Millisecond, "round %d: every service agrees the order %s is %s", n, r.orderID, r.outcome)
		if !ok {
			t.Logf("round %d: last seen: %s", n, last)
		}
		tally[r.outcome]++
		byRace[r.race()+": "+r.outcome]++
		race := fmt.Sprintf("pay (payments-%d) vs expire", r.payReplica)
		if r.withCancel {
			race = fmt.Sprintf("pay (payments-%d) vs cancel (orders-%d, +%2dms)", r.payReplica, 1-r.payReplica, r.cancelLag.Milliseconds())
		}
		t.Logf("round %2d: %-44s expiry %+4dms from the payment: pay %d in %4dms, cancel %3d in %4dms -> %-9s payment %-9q order %s",
			n, race, r.expireLag.Milliseconds(),
			r.pay.Status, r.payTook.Milliseconds(), r.cancel.Status, r.cancelTook.Milliseconds(), r.outcome, last.payment, r.orderID)
	}

	// Once everything settled, no round holds a succeeded payment for an
	// order that is not complete, and every outcome is still the same.
	for _, r := range all {
		a := look(r)
		assert.True(t, a.agrees(r), "round %d: order %s still %s everywhere: %s", r.n, r.orderID, r.outcome, a)
		if a.payment == "succeeded" {
			assert.Equal(t, "complete", a.ordersDB, "round %d: a succeeded payment %s is for a complete order", r.n, a.paymentID)
		}
	}

	t.Logf("tally over %d rounds: %d paid (complete), %d cancelled (cancel or expiry won); %v",
		rounds, tally["complete"], tally["cancelled"], byRace)
	assert.Positive(t, tally["complete"], "some round ended paid")
	assert.Positive(t, tally["cancelled"], "some round ended cancelled")
}
