package stack

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
)

// The console leaves out the known harmless lines and only those.
func TestConsoleLeavesOutKnownHarmlessLinesOnly(t *testing.T) {
	var out bytes.Buffer
	con := &console{out: &out}
	redis := con.filtered("redis", redisOvercommitWarning)
	for _, line := range []string{
		"24837:M 06 Dec 2026 11:46:10.079 # Server initialized",
		"24837:M 06 Dec 2026 11:46:10.079 # WARNING Memory overcommit must be enabled! Without it, a background save or replication may fail under low memory condition.",
		"1:M 06 Dec 2026 11:46:10.079 # WARNING overcommit_memory is set to 0! Background save may fail under low memory condition.",
		"24837:M 06 Dec 2026 11:46:10.080 # WARNING: The TCP backlog setting of 511 cannot be enforced",
	} {
		_, _ = redis.Write([]byte(line + "\n"))
	}
	postgres := con.filtered("postgres", expectedPostgresNoise)
	_, _ = postgres.Write([]byte("2026-12-06 11:46:14.477 UTC [25050] ERROR:  duplicate key value violates unique constraint \"users_email\"\n" +
		"2026-12-06 11:46:14.477 UTC [25050] DETAIL:  Key (email)=(a@b.c) already exists.\n" +
		"2026-12-06 11:46:14.478 UTC [25050] FATAL:  the database system is shutting down\n"))
	assert.Equal(t, "redis      | 24837:M 06 Dec 2026 11:46:10.079 # Server initialized\n"+
		"redis      | 24837:M 06 Dec 2026 11:46:10.080 # WARNING: The TCP backlog setting of 511 cannot be enforced\n"+
		"postgres   | 2026-12-06 11:46:14.478 UTC [25050] FATAL:  the database system is shutting down\n", out.String())
}
