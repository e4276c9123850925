package stack

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"ticketing.dev/common/events"
)

// BusLeaders is where a JetStream cluster's RAFT groups are led: the
// stream's (every publish waits for it) and each durable consumer's (its
// queue group's deliveries do), as bus server indexes (KillBus takes them).
// Ordered consumers (Watch, Replay) are left out: each is one process's,
// and its client recreates it elsewhere.
type BusLeaders struct {
	Stream    int
	Consumers map[string]int // by consumer name
}

// Led lists the consumers server i leads.
func (l BusLeaders) Led(i int) []string {
	var out []string
	for name, at := range l.Consumers {
		if at == i {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// errNoStream: the bus is not JetStream, so it has no stream to lead.
var errNoStream = errors.New("the bus has no JetStream stream (BUS=stan)")

// jetStream opens a JetStream client of the stack's bus, closed by the
// returned func.
func (s *Stack) jetStream() (jetstream.JetStream, func(), error) {
	if s.cfg.Bus != events.KindJetStream {
		return nil, nil, errNoStream
	}
	nc, err := nats.Connect(s.Bus().URL, nats.Name("stack-"+randomSuffix()), nats.Timeout(2*time.Second))
	if err != nil {
		return nil, nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return js, nc.Close, nil
}

// index is the bus server named name (its -name), -1 for none.
func (s *Stack) index(name string) int {
	for i, p := range s.bus {
		if p.name == name {
			return i
		}
	}
	return -1
}

// Leaders finds who leads the stream and its consumers now, from the
// servers' own account (StreamInfo and ConsumerInfo's Cluster.Leader);
// -1 for a group without a leader (an election under way).
func (s *Stack) Leaders(ctx context.Context) (BusLeaders, error) {
	js, closeJS, err := s.jetStream()
	if err != nil {
		return BusLeaders{}, err
	}
	defer closeJS()
	stream, err := js.Stream(ctx, events.StreamName)
	if err != nil {
		return BusLeaders{}, fmt.Errorf("stream %s: %w", events.StreamName, err)
	}
	info := stream.CachedInfo()
	l := BusLeaders{Stream: -1, Consumers: map[string]int{}}
	if info.Cluster != nil {
		l.Stream = s.index(info.Cluster.Leader)
	}
	list := stream.ListConsumers(ctx)
	for ci := range list.Info() {
		if ci.Config.Durable == "" {
			continue // an ordered consumer: one process's own
		}
		at := -1
		if ci.Cluster != nil {
			at = s.index(ci.Cluster.Leader)
		}
		l.Consumers[ci.Name] = at
	}
	if err := list.Err(); err != nil {
		return BusLeaders{}, fmt.Errorf("listing the consumers of %s: %w", events.StreamName, err)
	}
	return l, nil
}

// heardWithin: a member the leader last heard from longer ago is not
// taken to be back (the leader sends a heartbeat every second; a member
// it lost stays "current" for up to 10 s if the group is idle).
const heardWithin = 3 * time.Second

// whole reports whether a RAFT group has a leader and every other member
// is current (caught up), online and heard from lately.
func whole(c *jetstream.ClusterInfo, servers int) bool {
	if c == nil || c.Leader == "" || len(c.Replicas) != servers-1 {
		return false
	}
	for _, p := range c.Replicas {
		if !p.Current || p.Offline || p.Active > heardWithin {
			return false
		}
	}
	return true
}

// WaitForBusWhole waits until the bus serves and, on JetStream, the stream
// and every durable consumer have a leader and all their copies current
// (on every server):
// a killed server is back and has caught up, so the next fault meets the
// whole cluster.
func (s *Stack) WaitForBusWhole(ctx context.Context) error {
	if err := s.WaitForBus(ctx); err != nil || s.cfg.Bus != events.KindJetStream {
		return err
	}
	js, closeJS, err := s.jetStream()
	if err != nil {
		return err
	}
	defer closeJS()
	n := len(s.bus)
	var last string
	for {
		last = s.notWhole(ctx, js, n)
		if last == "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the bus is not whole: %s", last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// notWhole says which group is not whole yet, or "".
func (s *Stack) notWhole(ctx context.Context, js jetstream.JetStream, servers int) string {
	tctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	stream, err := js.Stream(tctx, events.StreamName)
	if err != nil {
		return fmt.Sprintf("stream %s: %v", events.StreamName, err)
	}
	if !whole(stream.CachedInfo().Cluster, servers) {
		return "the stream " + events.StreamName
	}
	list := stream.ListConsumers(tctx)
	missing := ""
	for ci := range list.Info() {
		// Ordered consumers (Watch, Replay) are one process's, single
		// copies that their client recreates elsewhere: not the bus's.
		if missing == "" && ci.Config.Durable != "" && !whole(ci.Cluster, servers) {
			missing = "the consumer " + ci.Name
		}
	}
	if err := list.Err(); err != nil {
		return fmt.Sprintf("listing consumers: %v", err)
	}
	return missing
}
