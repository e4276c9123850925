package main

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/outbox"
)

func TestStaleSaveIsRefusedAndVersionsCountWrites(t *testing.T) {
	ctx := context.Background()
	s := newTicketStore(kit.Mongo(t).Database, &outbox.Locks{})
	created, err := s.Create(ctx, "concert", 5, "u1")
	require.NoError(t, err)
	assert.Equal(t, int64(0), created.Version)

	first, _ := s.Get(ctx, created.ID)
	second, _ := s.Get(ctx, created.ID)

	first.Price, first.Version = 10, 1
	require.NoError(t, s.save(ctx, first, 0))
	second.Price, second.Version = 15, 1
	assert.ErrorIs(t, s.save(ctx, second, 0), errStale, "a write based on version 0 after version 1 exists")

	got, _ := s.Get(ctx, created.ID)
	assert.Equal(t, 10.0, got.Price, "the stale write did not overwrite")
	assert.Equal(t, int64(1), got.Version)

	got, err = s.Change(ctx, created.ID, func(t *ticket) (bool, error) { t.Title = "again"; return true, nil })
	require.NoError(t, err)
	assert.Equal(t, int64(2), got.Version)
}
