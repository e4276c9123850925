// Package idempotency makes a POST safe to retry: a request that carries an
// Idempotency-Key gets the first response to the same user's same key
// replayed, for Window, and nothing is created twice (docs/CONTRACT.md §2a).
//
// The guarantee rests on a claim (package claim): an insert under the
// unique _id (user, route, key), the one atomic primitive of every engine
// the services run on (docs/CONTRACT.md §6). Of any number of requests
// racing with one key, across any number of processes, exactly one runs the
// handler; the others wait for its answer.
package idempotency

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"

	"ticketing.dev/common/claim"
	"ticketing.dev/common/httpapi"
	"ticketing.dev/common/outbox"
	"ticketing.dev/common/session"
	"ticketing.dev/common/validate"
)

// Header is the request header that names a request.
const Header = "Idempotency-Key"

// ReplayedHeader marks a replayed response.
const ReplayedHeader = "Idempotent-Replayed"

// Window is how long a key's response is kept for replay.
const Window = 24 * time.Hour

// maxKeyLen is Stripe's limit, which clients already follow.
const maxKeyLen = 255

// Collection holds the keys of a service's database.
const Collection = "idempotencyKeys"

// Stale is when a key whose first request has not finished is taken to be
// left by a crash, and taken over: the claim rule (claim.StaleAfter) for a
// holder that runs within its longest: httpapi.RequestTimeout (Deadline)
// until its last claim, then that claim's write (outbox.WriteDeadline),
// which outlives the request's deadline. A route that may run longer says
// so (ForRequestsUpTo).
var Stale = claim.StaleAfter(Longest)

// Longest is how long a request with a deadline may run.
const Longest = httpapi.RequestTimeout + outbox.WriteDeadline

// Store keeps a service's idempotency keys and their responses.
type Store struct {
	c   *mongo.Collection
	now func() time.Time
	// takeovers elects the one request that replaces a stale or expired
	// key.
	takeovers *claim.Takeovers
	// wait bounds how long a request waits for the first one with its key
	// to finish; stale is when an unfinished first one is taken to have
	// died with its process.
	wait, stale time.Duration
	poll        time.Duration
	// releasing counts the releases still being retried (Wait).
	releasing sync.WaitGroup
}

// New returns the key store in db.
func New(db *mongo.Database) *Store {
	s := &Store{c: db.Collection(Collection), now: time.Now, takeovers: claim.NewTakeovers(db),
		wait: 10 * time.Second, stale: Stale, poll: 20 * time.Millisecond}
	s.takeovers.SetClock(func() time.Time { return s.now() })
	return s
}

// ForRequestsUpTo sets when a key left unfinished is taken to be left by a
// crash, for a route whose requests may run up to d (longer than
// httpapi.RequestTimeout, the default's bound): the claim rule for d.
func (s *Store) ForRequestsUpTo(d time.Duration) *Store {
	s.stale = claim.StaleAfter(d)
	return s
}

// Wait returns once no failed release is being retried any more (each
// gives up when its key turns stale).
func (s *Store) Wait() { s.releasing.Wait() }

// record is one key: pending while its first request runs, then its response.
type record struct {
	ID          string    `bson:"_id"`
	BodyHash    string    `bson:"bodyHash"`
	CreatedAt   time.Time `bson:"createdAt"`
	Done        bool      `bson:"done"`
	Status      int       `bson:"status,omitempty"`
	ContentType string    `bson:"contentType,omitempty"`
	Body        []byte    `bson:"body,omitempty"`
}

// Middleware applies keys to the requests of a signed-in user (place it
// after session.RequireAuth); a request without the header passes as it is.
func (s *Store) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, has := r.Header[http.CanonicalHeaderKey(Header)]
		user, signedIn := session.CurrentUser(r.Context())
		if !has || !signedIn {
			next.ServeHTTP(w, r)
			return
		}
		if len(key) != 1 || !validKey(key[0]) {
			httpapi.WriteError(w, r, httpapi.BadRequest(fmt.Sprintf("%s must be 1 to %d printable ASCII characters", Header, maxKeyLen)))
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, validate.MaxBodyBytes+1))
		if err != nil {
			httpapi.WriteError(w, r, httpapi.BadRequest("Request body could not be read"))
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		if len(body) > validate.MaxBodyBytes {
			next.ServeHTTP(w, r) // refused with 413 by the handler; nothing to keep
			return
		}
		sum := sha256.Sum256(body)
		id := user.ID + " " + r.Method + " " + r.URL.Path + " " + key[0]
		s.serve(w, r, next, id, hex.EncodeToString(sum[:]))
	})
}

func validKey(k string) bool {
	if k == "" || len(k) > maxKeyLen {
		return false
	}
	for i := range len(k) {
		if k[i] < 0x20 || k[i] > 0x7e {
			return false
		}
	}
	return true
}

func (s *Store) serve(w http.ResponseWriter, r *http.Request, next http.Handler, id, hash string) {
	ctx := r.Context()
	// The wait is real time spent polling; s.now dates the records.
	deadline := time.Now().Add(s.wait)
	for {
		rec := record{ID: id, BodyHash: hash, CreatedAt: s.now().UTC().Truncate(time.Millisecond)}
		held, won, found, err := claim.Take[record](ctx, s.c, rec, bson.D{{Key: "_id", Value: id}})
		switch {
		case err != nil:
			httpapi.WriteError(w, r, fmt.Errorf("idempotency key: %w", err))
			return
		case won:
			s.runFirst(w, r, next, rec)
			return
		case !found:
			continue // the first request failed and let go of the key
		case s.now().Sub(held.CreatedAt) > Window || (!held.Done && s.now().Sub(held.CreatedAt) > s.stale):
			// Expired, or left by a crash: one request replaces it.
			if err := s.takeOver(ctx, held); err != nil {
				httpapi.WriteError(w, r, err)
				return
			}
		case held.BodyHash != hash:
			httpapi.WriteError(w, r, &httpapi.Error{Status: http.StatusUnprocessableEntity,
				Details: []httpapi.Detail{{Message: Header + " was already used for a different request"}}})
			return
		case held.Done:
			replay(w, held)
			return
		}
		if !time.Now().Before(deadline) {
			httpapi.WriteError(w, r, &httpapi.Error{Status: http.StatusConflict,
				Details: []httpapi.Detail{{Message: "A request with this " + Header + " is still in progress; retry shortly"}}})
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(s.poll):
		}
	}
}

// takeOver deletes an expired or stale record if this request is the one
// elected to (claim.Takeovers): another request replacing it meanwhile
// could otherwise have its fresh record deleted.
func (s *Store) takeOver(ctx context.Context, held record) error {
	won, err := s.takeovers.Elect(ctx, Collection+"/"+held.ID+"@"+held.CreatedAt.UTC().Format(time.RFC3339Nano))
	if err != nil || !won {
		return err
	}
	if err := s.delete(ctx, held); err != nil {
		return fmt.Errorf("replacing a stale idempotency key: %w", err)
	}
	return nil
}

// release deletes rec, but not a newer record under the same key, so a
// retry of a request that failed for certain runs at once. A request often
// fails because the database did: the release is then retried in the
// background until the database answers again, and given up only once the
// key is stale anyway.
func (s *Store) release(ctx context.Context, rec record) {
	ctx = context.WithoutCancel(ctx)
	if err := s.delete(ctx, rec); err == nil {
		return
	}
	s.releasing.Add(1)
	go func() {
		defer s.releasing.Done()
		pause := s.poll
		for {
			err := s.delete(ctx, rec)
			if err == nil {
				return
			}
			if !s.now().Before(rec.CreatedAt.Add(s.stale)) {
				httpapi.Logger(ctx).Warn("releasing idempotency key failed; it is taken over as stale", "err", err)
				return
			}
			time.Sleep(pause)
			pause = min(2*pause, time.Second)
		}
	}()
}

// releaseTimeout bounds one attempt to release a key, so a retry comes
// soon after the database is back.
const releaseTimeout = 2 * time.Second

func (s *Store) delete(ctx context.Context, rec record) error {
	ctx, cancel := context.WithTimeout(ctx, releaseTimeout)
	defer cancel()
	_, err := s.c.DeleteOne(ctx, bson.D{{Key: "_id", Value: rec.ID}, {Key: "createdAt", Value: rec.CreatedAt}})
	return err
}

// runFirst runs the handler for the request that holds the key and keeps
// its response. A 5xx is not kept: the request may not have happened, and
// a retry with the same key must be able to make it happen.
func (s *Store) runFirst(w http.ResponseWriter, r *http.Request, next http.Handler, rec record) {
	rw := &recorder{StatusWriter: httpapi.StatusWriter{ResponseWriter: w}}
	completed := false
	defer func() {
		if s.now().Sub(rec.CreatedAt) > s.stale {
			// Past its bound the key may have been taken over, and a
			// write filtered by createdAt is read-then-write on FerretDB:
			// leave the key alone (a later request takes it over).
			return
		}
		if !completed {
			// The handler panicked (its recovery sits outside): the client
			// gets a 500, and the key must not replay anything else.
			s.release(r.Context(), rec)
			return
		}
		status := rw.Status()
		if status >= 500 || r.Context().Err() != nil && !rw.wrote {
			s.release(r.Context(), rec)
			return
		}
		// Only into its own record: a holder taken over as stale (it ran
		// past its bound) must not overwrite the answer of the request
		// that took the key over.
		_, err := s.c.UpdateOne(context.WithoutCancel(r.Context()), bson.D{{Key: "_id", Value: rec.ID}, {Key: "createdAt", Value: rec.CreatedAt}},
			bson.D{{Key: "$set", Value: bson.D{
				{Key: "done", Value: true}, {Key: "status", Value: status},
				{Key: "contentType", Value: rw.Header().Get("Content-Type")}, {Key: "body", Value: rw.body.Bytes()},
			}}})
		if err != nil {
			httpapi.Logger(r.Context()).Error("keeping an idempotent response failed; a retry may run again", "err", err)
			s.release(r.Context(), rec)
		}
	}()
	next.ServeHTTP(rw, r)
	completed = true
}

func replay(w http.ResponseWriter, rec record) {
	if rec.ContentType != "" {
		w.Header().Set("Content-Type", rec.ContentType)
	}
	w.Header().Set(ReplayedHeader, "true")
	w.WriteHeader(rec.Status)
	_, _ = w.Write(rec.Body)
}

// recorder passes a response through and keeps a copy of it.
type recorder struct {
	httpapi.StatusWriter
	wrote bool
	body  bytes.Buffer
}

func (rw *recorder) Write(p []byte) (int, error) {
	rw.wrote = true
	rw.body.Write(p)
	return rw.StatusWriter.Write(p)
}

// Prune deletes the keys older than Window, which no request can replay
// any more: without it the collection grows with every keyed request. It
// filters on a range, a scan on FerretDB, so it runs rarely (hourly).
func (s *Store) Prune(ctx context.Context) (int64, error) {
	res, err := s.c.DeleteMany(ctx, bson.D{{Key: "createdAt", Value: bson.D{{Key: "$lt", Value: s.now().Add(-Window)}}}})
	if err != nil {
		return 0, fmt.Errorf("pruning idempotency keys: %w", err)
	}
	return res.DeletedCount, nil
}
