package stack

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func configWith(env map[string]string) (Config, error) {
	return ConfigFromEnv(func(k string) string { return env[k] }, "/repo", io.Discard)
}

func TestReplicasDefaultsToOne(t *testing.T) {
	c, err := configWith(nil)
	require.NoError(t, err)
	assert.Equal(t, 1, c.Replicas)
}

func TestReplicasIsReadFromREPLICAS(t *testing.T) {
	for v, want := range map[string]int{"1": 1, "2": 2, "8": 8, " 3 ": 3} {
		c, err := configWith(map[string]string{"REPLICAS": v})
		require.NoError(t, err, v)
		assert.Equal(t, want, c.Replicas, v)
	}
}

func TestBadREPLICASIsOneClearLine(t *testing.T) {
	for _, v := range []string{"0", "9", "-1", "two", "1.5", "0x2"} {
		_, err := configWith(map[string]string{"REPLICAS": v})
		require.Error(t, err, v)
		assert.Contains(t, err.Error(), "REPLICAS=", v)
		assert.Contains(t, err.Error(), "must be an integer from 1 to 8", v)
		assert.NotContains(t, err.Error(), "\n", v)
	}
}

func TestStartRejectsReplicasOutOfRangeBeforeAnythingElse(t *testing.T) {
	for _, n := range []int{-1, 9} {
		_, err := Start(context.Background(), Config{Replicas: n, DataDir: t.TempDir(), Out: io.Discard})
		require.Error(t, err)
		assert.True(t, strings.HasPrefix(err.Error(), "REPLICAS="), err.Error())
	}
}

func TestBusDefaultsToOneNATSStreamingServer(t *testing.T) {
	c, err := configWith(nil)
	require.NoError(t, err)
	assert.Equal(t, "stan", c.Bus)
	assert.Equal(t, 1, c.NATSServers)
}

func TestJetStreamMayRunAsAClusterOfNATSServers(t *testing.T) {
	c, err := configWith(map[string]string{"BUS": "jetstream", "NATS_SERVERS": "3"})
	require.NoError(t, err)
	assert.Equal(t, "jetstream", c.Bus)
	assert.Equal(t, 3, c.NATSServers)
}

func TestBadBusSettingsAreOneClearLine(t *testing.T) {
	for msg, env := range map[string]map[string]string{
		`BUS="kafka" must be stan or jetstream`:           {"BUS": "kafka"},
		`NATS_SERVERS=3 needs BUS=jetstream`:              {"NATS_SERVERS": "3"},
		`NATS_SERVERS=0 must be an integer from 1 to 5`:   {"BUS": "jetstream", "NATS_SERVERS": "0"},
		`NATS_SERVERS="x" must be an integer from 1 to 5`: {"BUS": "jetstream", "NATS_SERVERS": "x"},
	} {
		_, err := configWith(env)
		require.Error(t, err, msg)
		assert.Contains(t, err.Error(), msg)
		assert.NotContains(t, err.Error(), "\n")
	}
}

func TestLogLevelIsPassedOnAndABadOneStopsTheStackAtOnce(t *testing.T) {
	c, err := configWith(nil)
	require.NoError(t, err)
	assert.Equal(t, "info", c.LogLevel)
	c, err = configWith(map[string]string{"LOG_LEVEL": "debug"})
	require.NoError(t, err)
	assert.Equal(t, "debug", c.LogLevel)
	_, err = configWith(map[string]string{"LOG_LEVEL": "loud"})
	require.Error(t, err)
	assert.Equal(t, `environment variable LOG_LEVEL="loud" is not one of debug, info, warn, error`, err.Error())
}
