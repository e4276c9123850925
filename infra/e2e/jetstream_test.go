package e2e

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"ticketing.dev/common/testkit"
	"ticketing.dev/infra/stack"
)

// jetStreamEnv is the bus as production runs it: JetStream on three
// clustered nats-servers (the stream and every durable consumer a RAFT
// group of three), with two processes of every service.
var jetStreamEnv = map[string]string{"BUS": "jetstream", "NATS_SERVERS": "3", "REPLICAS": "2"}

// onJetStream is the shared stack on JetStream (jetStreamEnv), started
// once for the binary by the first test that needs it and stopped by
// TestMain. The tests that run on both buses (each also on NATS
// Streaming, the default):
//   - the purchase journey (TestPurchaseJourneyPaysAndCompletesTheOrder),
//     on this stack;
//   - the pay/cancel/expire race over two processes
//     (TestPayCancelAndExpireRacingOverTwoProcesses…), on a stack of its
//     own per bus, for its 2 s expiry window;
//   - on JetStream only, the stream leader's kill under load
//     (bus_faults_test.go), on this stack.
//
// The rest runs on NATS Streaming only, to keep `make test` well inside
// CI's time on two cores: the seam itself runs on both buses in common's
// tests (events, outbox, session, deadletter: testkit.EachBus).
var onJetStream struct {
	once  sync.Once
	stack *stack.Stack
	err   error
	out   *testkit.SyncBuffer
}

func jetStreamStack(t *testing.T) *stack.Stack {
	t.Helper()
	onJetStream.once.Do(func() {
		dir, err := os.MkdirTemp("", "e2e-jetstream-")
		if err != nil {
			onJetStream.err = err
			return
		}
		onJetStream.out = &testkit.SyncBuffer{}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		onJetStream.stack, onJetStream.err = stack.Start(ctx, testConfig(t, dir, onJetStream.out, jetStreamEnv))
	})
	if onJetStream.err != nil {
		t.Fatalf("starting the JetStream stack: %v\n%s", onJetStream.err, onJetStream.out)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("JetStream stack output:\n%s", onJetStream.out)
		}
	})
	return onJetStream.stack
}

// withEnv is env and more, a copy.
func withEnv(env map[string]string, more map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range env {
		out[k] = v
	}
	for k, v := range more {
		out[k] = v
	}
	return out
}
