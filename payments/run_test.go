package main

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRunRefusesToStartWithoutRequiredConfig(t *testing.T) {
	err := run(context.Background(), func(string) string { return "" }, io.Discard)
	require.Error(t, err)
	lines := strings.Split(err.Error(), "\n")
	assert.Len(t, lines, 6, err.Error())
	for _, name := range []string{"MONGO_URI", "JWT_KEY", "NATS_URL", "NATS_CLUSTER_ID", "NATS_CLIENT_ID", "STRIPE_KEY"} {
		assert.Contains(t, err.Error(), "missing required environment variable "+name)
	}
}
