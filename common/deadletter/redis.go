package deadletter

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/redis/go-redis/v9"

	"ticketing.dev/common/events"
)

// RedisKey is the hash that holds dead letters in Redis, for a service
// whose only store is Redis (expiration).
const RedisKey = "ticketing:deadletters"

// RedisStore keeps dead letters in one Redis hash, by message id.
type RedisStore struct {
	c redis.UniversalClient
}

// NewRedis returns the dead-letter store in c's Redis.
func NewRedis(c redis.UniversalClient) *RedisStore { return &RedisStore{c: c} }

// Park stores d; a record of the same message already there is kept.
func (s *RedisStore) Park(ctx context.Context, d events.DeadLetter) error {
	data, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("encoding dead letter %s: %w", d.ID(), err)
	}
	if err := s.c.HSetNX(ctx, RedisKey, d.ID(), data).Err(); err != nil {
		return fmt.Errorf("parking %s: %w", d.ID(), err)
	}
	return nil
}

// List returns every dead letter, oldest first.
func (s *RedisStore) List(ctx context.Context) ([]events.DeadLetter, error) {
	all, err := s.c.HGetAll(ctx, RedisKey).Result()
	if err != nil {
		return nil, fmt.Errorf("listing dead letters: %w", err)
	}
	out := make([]events.DeadLetter, 0, len(all))
	for id, raw := range all {
		var d events.DeadLetter
		if err := json.Unmarshal([]byte(raw), &d); err != nil {
			return nil, fmt.Errorf("decoding dead letter %s: %w", id, err)
		}
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].LastSeen.Before(out[j].LastSeen) })
	return out, nil
}

// Replay publishes the dead letter's payload again on its subject, then
// removes it (see Store.Replay).
func (s *RedisStore) Replay(ctx context.Context, bus events.Bus, id string) error {
	raw, err := s.c.HGet(ctx, RedisKey, id).Result()
	if err == redis.Nil {
		return fmt.Errorf("%s: %w", id, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("reading dead letter %s: %w", id, err)
	}
	var d events.DeadLetter
	if err := json.Unmarshal([]byte(raw), &d); err != nil {
		return fmt.Errorf("decoding dead letter %s: %w", id, err)
	}
	if err := events.PublishData(ctx, bus, d.Subject, replayID(d), []byte(d.Data)); err != nil {
		return fmt.Errorf("replaying %s: %w", id, err)
	}
	if err := s.c.HDel(ctx, RedisKey, id).Err(); err != nil {
		return fmt.Errorf("removing replayed dead letter %s: %w", id, err)
	}
	return nil
}
