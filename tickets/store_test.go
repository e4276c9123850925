package main

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestChangesFromTwoProcessesCountEveryWriteAndLoseNone(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	_, twin := e.process(t)
	created, err := e.store.Create(ctx, "concert", 5, "u1")
	require.NoError(t, err)
	assert.Equal(t, int64(0), created.Version)

	const n = 20
	var wg sync.WaitGroup
	for i := range n {
		s := []*store{e.store, twin}[i%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Change(ctx, created.ID, func(t *ticket) (bool, error) { t.Price++; return true, nil })
			assert.NoError(t, err)
		}()
	}
	wg.Wait()
	got, err := e.store.Get(ctx, created.ID)
	require.NoError(t, err)
	assert.Equal(t, int64(n), got.Version)
	assert.Equal(t, 5.0+n, got.Price, "every change built on the one before")

	unchanged, err := twin.Change(ctx, created.ID, func(*ticket) (bool, error) { return false, nil })
	require.NoError(t, err)
	assert.Equal(t, int64(n), unchanged.Version, "a change that changes nothing writes nothing")
}

func TestAProcessStartingWhileANewTicketsRecordIsKeptWithItListsTheTicketOnce(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	// e.store's log publishes nothing: its new ticket's record stays with
	// the ticket until a process with a bus publishes and drops it.
	tk, err := e.store.Create(ctx, "kept with its record", 5, "u1")
	require.NoError(t, err)
	url, _ := e.process(t)
	list := do(t, "GET", url+"/api/tickets", "")
	require.Equal(t, 200, list.Status, list.Raw)
	require.Len(t, list.List, 1)
	assert.Equal(t, tk.ID.Hex(), list.List[0]["id"])
}
