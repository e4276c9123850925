package main

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo/options"

	"ticketing.dev/common/claim"
	"ticketing.dev/common/events"
	"ticketing.dev/common/testkit"
)

// slots are every attempt to pay the order, in slot order.
func slots(t *testing.T, e env, orderID string) []payment {
	t.Helper()
	oid, _ := primitive.ObjectIDFromHex(orderID)
	cur, err := e.store.paymentsColl.Find(context.Background(), bson.M{"orderId": oid}, options.Find().SetSort(bson.M{"n": 1}))
	require.NoError(t, err)
	var out []payment
	require.NoError(t, cur.All(context.Background(), &out))
	return out
}

// storedPayments are the order's attempts that charged the buyer.
func storedPayments(t *testing.T, e env, orderID string) []payment {
	t.Helper()
	var out []payment
	for _, p := range slots(t, e, orderID) {
		switch p.Status {
		case paymentSucceeded, paymentRefunding, paymentRefunded:
			out = append(out, p)
		}
	}
	return out
}

// latestAttempt is the order's last attempt (zero if none).
func latestAttempt(t *testing.T, e env, orderID string) payment {
	t.Helper()
	all := slots(t, e, orderID)
	if len(all) == 0 {
		return payment{}
	}
	return all[len(all)-1]
}

// seedAttempt stores attempt n of the order as a process left it.
func seedAttempt(t *testing.T, e env, orderID string, n int64, status string, createdAt time.Time, intent *chargeIntent) {
	t.Helper()
	oid, _ := primitive.ObjectIDFromHex(orderID)
	_, err := e.store.paymentsColl.InsertOne(context.Background(), payment{ID: primitive.NewObjectID(), Slot: slotKey(oid, n), OrderID: oid, N: n,
		Status: status, CreatedAt: createdAt, Intent: intent})
	require.NoError(t, err)
}

// longStale is well past an attempt holder's deadline.
var longStale = 2 * claim.StaleAfter(chargeDeadline)

func TestPaymentRequiresAuth(t *testing.T) {
	e := newEnv(t)
	r := pay(t, e, primitive.NewObjectID().Hex(), "tok_visa")
	assert.Equal(t, 401, r.Status)
	assert.JSONEq(t, `{"errors":[{"message":"Not authorized"}]}`, r.Raw)
}

func TestMissingOrInvalidFieldsAre400(t *testing.T) {
	e := newEnv(t)
	for body, field := range map[string]string{
		`{"orderId":"` + primitive.NewObjectID().Hex() + `"}`:                   "token",
		`{"token":"tok_visa"}`:                                                  "orderId",
		`{"token":"tok_visa","orderId":"nope"}`:                                 "orderId",
		`{"token":{"$ne":1},"orderId":"` + primitive.NewObjectID().Hex() + `"}`: "token",
	} {
		r := do(t, "POST", e.URL+"/api/payments", body, user(t, "u1"))
		assert.Equal(t, 400, r.Status, body)
		assert.Contains(t, r.Raw, `"field":"`+field+`"`, body)
	}
	assert.Empty(t, e.stripe.charges())
}

func TestUnknownOrderIs404(t *testing.T) {
	e := newEnv(t)
	r := pay(t, e, primitive.NewObjectID().Hex(), "tok_visa", user(t, "u1"))
	assert.Equal(t, 404, r.Status)
	assert.Empty(t, e.stripe.charges())
}

func TestAnotherUsersOrderIs401(t *testing.T) {
	e := newEnv(t)
	id := seedOrder(t, e, "owner", 20, events.StatusCreated)
	r := pay(t, e, id, "tok_visa", user(t, "intruder"))
	assert.Equal(t, 401, r.Status)
	assert.Empty(t, e.stripe.charges())
}

func TestCancelledOrderCannotBePaid(t *testing.T) {
	e := newEnv(t)
	id := seedOrder(t, e, "owner", 20, events.StatusCancelled)
	r := pay(t, e, id, "tok_visa", user(t, "owner"))
	assert.Equal(t, 400, r.Status)
	assert.JSONEq(t, `{"errors":[{"message":"Cannot pay for a cancelled order"}]}`, r.Raw)
	assert.Empty(t, e.stripe.charges())
}

func TestValidPaymentChargesStripeStoresAndPublishes(t *testing.T) {
	e := newEnv(t)
	got := testkit.Capture[events.PaymentCreated](t, e.bus)
	id := seedOrder(t, e, "owner", 20, events.StatusCreated)

	r := pay(t, e, id, "tok_visa", user(t, "owner"))
	require.Equal(t, 201, r.Status, r.Raw)
	assert.Equal(t, true, r.Body["success"])
	paymentID := r.Body["id"].(string)

	charges := e.stripe.charges()
	require.Len(t, charges, 1)
	assert.Equal(t, "2000", charges[0].Form.Get("amount"))
	assert.Equal(t, "usd", charges[0].Form.Get("currency"))
	assert.Equal(t, "tok_visa", charges[0].Form.Get("source"))
	assert.Contains(t, charges[0].IdempotencyKey, id, "the key is derived from the order id")

	stored := storedPayments(t, e, id)
	require.Len(t, stored, 1)
	assert.Equal(t, paymentID, stored[0].ID.Hex())
	assert.True(t, strings.HasPrefix(stored[0].StripeID, "ch_"), stored[0].StripeID)
	assert.Equal(t, paymentSucceeded, stored[0].Status)

	ev := got.Wait(t, 1, 5*time.Second)[0]
	assert.Equal(t, events.PaymentCreated{ID: paymentID, OrderID: id, StripeID: stored[0].StripeID}, ev)
	assert.ElementsMatch(t, []string{"id", "orderId", "stripeId"}, testkit.Keys(got.Raw(t, 0)))
}

func TestAmountIsExactIntegerCents(t *testing.T) {
	e := newEnv(t)
	for price, cents := range map[float64]string{20.10: "2010", 0.29: "29", 19.99: "1999"} {
		id := seedOrder(t, e, "owner", price, events.StatusCreated)
		require.Equal(t, 201, pay(t, e, id, "tok_visa", user(t, "owner")).Status)
		charges := e.stripe.charges()
		assert.Equal(t, cents, charges[len(charges)-1].Form.Get("amount"), "price %v", price)
	}
}

func TestConcurrentPaymentsOverTwoProcessesChargeOnce(t *testing.T) {
	e := newEnv(t)
	twinURL, _ := e.process(t)
	id := seedOrder(t, e, "owner", 20, events.StatusCreated)
	const n = 10
	statuses := make([]int, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			base := []string{e.URL, twinURL}[i%2]
			b := `{"orderId":"` + id + `","token":"tok_visa"}`
			statuses[i] = do(t, "POST", base+"/api/payments", b, user(t, "owner")).Status
		}()
	}
	close(start)
	wg.Wait()
	count := map[int]int{}
	for _, s := range statuses {
		count[s]++
	}
	assert.Equal(t, map[int]int{201: 1, 400: n - 1}, count)
	assert.Len(t, e.stripe.charges(), 1, "exactly one charge request reached Stripe")
	assert.Len(t, storedPayments(t, e, id), 1)
}

func TestSecondPaymentAfterSuccessIs400(t *testing.T) {
	e := newEnv(t)
	id := seedOrder(t, e, "owner", 20, events.StatusCreated)
	require.Equal(t, 201, pay(t, e, id, "tok_visa", user(t, "owner")).Status)
	r := pay(t, e, id, "tok_visa", user(t, "owner"))
	assert.Equal(t, 400, r.Status)
	assert.JSONEq(t, `{"errors":[{"message":"Order has already been paid"}]}`, r.Raw)
	assert.Len(t, e.stripe.charges(), 1)
}

func TestStripeDeclineIs400WithItsMessageAndNothingStored(t *testing.T) {
	e := newEnv(t)
	got := testkit.Capture[events.PaymentCreated](t, e.bus)
	id := seedOrder(t, e, "owner", 20, events.StatusCreated)
	e.stripe.answerWith(func(w http.ResponseWriter) bool {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusPaymentRequired)
		_, _ = w.Write([]byte(`{"error":{"type":"card_error","code":"card_declined","message":"Your card was declined."}}`))
		return true
	})
	r := pay(t, e, id, "tok_chargeDeclined", user(t, "owner"))
	assert.Equal(t, 400, r.Status)
	assert.JSONEq(t, `{"errors":[{"message":"Your card was declined."}]}`, r.Raw)
	assert.Empty(t, storedPayments(t, e, id))
	assert.Equal(t, paymentDeclined, latestAttempt(t, e, id).Status)
	// The answer comes after the attempt's outcome is recorded, and a
	// recorded payment publishes payment:created before it is written
	// (outbox: publish, then write), so once the 400 is in any event of
	// this attempt is on the bus.
	got.Exactly(t, 0)

	// Another card works, under a new idempotency key (Stripe refuses a
	// reused key with other parameters).
	e.stripe.answerWith(nil)
	require.Equal(t, 201, pay(t, e, id, "tok_visa", user(t, "owner")).Status)
	charges := e.stripe.charges()
	require.Len(t, charges, 2)
	assert.NotEqual(t, charges[0].IdempotencyKey, charges[1].IdempotencyKey)
	got.Wait(t, 1, 5*time.Second)
}

func TestStripeUnreachableIs5xxNothingStoredAndALaterRetrySucceeds(t *testing.T) {
	e := newEnv(t)
	got := testkit.Capture[events.PaymentCreated](t, e.bus)
	id := seedOrder(t, e, "owner", 20, events.StatusCreated)
	e.stripe.answerWith(func(w http.ResponseWriter) bool {
		hj, ok := w.(http.Hijacker)
		if !ok {
			return false
		}
		conn, _, _ := hj.Hijack()
		conn.Close() // the connection drops, as in an outage
		return true
	})
	r := pay(t, e, id, "tok_visa", user(t, "owner"))
	assert.Equal(t, http.StatusBadGateway, r.Status, r.Raw)
	assert.JSONEq(t, `{"errors":[{"message":"The payment provider could not be reached; please try again"}]}`, r.Raw)
	assert.Empty(t, storedPayments(t, e, id))
	// As for a decline: the 502 comes after the attempt is recorded
	// uncertain, and an event would have been published before that.
	got.Exactly(t, 0)

	e.stripe.answerWith(nil)
	require.Equal(t, 201, pay(t, e, id, "tok_visa", user(t, "owner")).Status)
	charges := e.stripe.charges()
	assert.Equal(t, charges[0].IdempotencyKey, charges[len(charges)-1].IdempotencyKey,
		"the outcome was unknown, so the retry reuses the key and cannot charge twice")
	got.Wait(t, 1, 5*time.Second)
}

func TestStripeServerErrorIs5xx(t *testing.T) {
	e := newEnv(t)
	id := seedOrder(t, e, "owner", 20, events.StatusCreated)
	e.stripe.answerWith(func(w http.ResponseWriter) bool {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(`{"error":{"type":"api_error","message":"internal"}}`))
		return true
	})
	r := pay(t, e, id, "tok_visa", user(t, "owner"))
	assert.Equal(t, http.StatusBadGateway, r.Status)
	assert.Empty(t, storedPayments(t, e, id))
}

func TestAnAttemptLeftByACrashBlocksPaymentsUntilStaleThenItsChargeIsRepeated(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	id := seedOrder(t, e, "owner", 20, events.StatusCreated)
	oid, _ := primitive.ObjectIDFromHex(id)
	key := attemptKey(oid, 0)
	seedAttempt(t, e, id, 0, paymentPending, time.Now(), &chargeIntent{Key: key, Cents: 2000, Token: "tok_visa"})
	r := pay(t, e, id, "tok_mastercard", user(t, "owner"))
	assert.Equal(t, 400, r.Status, "a live attempt means a charge may be under way")

	_, err := e.store.paymentsColl.UpdateOne(ctx, bson.M{"orderId": oid}, bson.M{"$set": bson.M{"createdAt": time.Now().Add(-longStale)}})
	require.NoError(t, err)
	require.Equal(t, 201, pay(t, e, id, "tok_mastercard", user(t, "owner")).Status)
	assert.Len(t, storedPayments(t, e, id), 1)
	requireOneChargeRequest(t, e, key, "tok_visa")
}
