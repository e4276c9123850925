package stack

import (
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestSocketIsHeldUntilHandedOnThenRefusesOnceItsHolderIsGoneAndRebindsTheSamePort(t *testing.T) {
	s, err := listenSocket()
	require.NoError(t, err)
	defer s.close()

	// Held by the stack: another bind of the port fails.
	_, err = net.Listen("tcp", s.addr)
	require.Error(t, err, "the port is held before any child starts")

	// Handed on: the file is the listener (as the child sees it).
	f, err := s.file()
	require.NoError(t, err)
	ln, err := net.FileListener(f)
	require.NoError(t, err)
	f.Close()
	c, err := net.DialTimeout("tcp", s.addr, time.Second)
	require.NoError(t, err)
	c.Close()

	// Its holder gone, nothing listens: dials are refused at once, so a
	// balancer skips the replica.
	ln.Close()
	_, err = net.DialTimeout("tcp", s.addr, time.Second)
	require.Error(t, err)

	// A restart gets the same port again.
	f, err = s.file()
	require.NoError(t, err)
	ln, err = net.FileListener(f)
	require.NoError(t, err)
	f.Close()
	defer ln.Close()
	require.Equal(t, s.addr, ln.Addr().String())
}
