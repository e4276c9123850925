package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/infra/bench"
)

// commandBudget is what one listed-and-bought ticket may cost in database
// commands, every service together (the [Lean] issue: 49 before).
const commandBudget = 25

func TestAListedAndBoughtTicketCostsAtMost25DatabaseCommands(t *testing.T) {
	t.Parallel() // a stack (or process) of its own: runs beside the others that have one
	for _, replicas := range []string{"1", "2"} {
		t.Run("REPLICAS="+replicas, func(t *testing.T) {
			s, _ := startStack(t, t.TempDir(), map[string]string{"REPLICAS": replicas})
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			idle, err := bench.MeasureIdle(ctx, s, 5*time.Second)
			require.NoError(t, err)
			cost, err := bench.MeasurePurchaseCost(ctx, s, 10, idle)
			require.NoError(t, err)
			t.Logf("REPLICAS=%s: %s", replicas, cost)
			assert.LessOrEqual(t, cost.TotalCommands(), float64(commandBudget), "commands per listed-and-bought ticket")
		})
	}
}
