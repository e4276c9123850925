package freeport

import (
	"net"
	"strconv"
	"testing"
)

func TestPickReturnsABindablePortBelowTheEphemeralRange(t *testing.T) {
	low := ephemeralLow()
	for range 20 {
		port, err := Pick()
		if err != nil {
			t.Fatal(err)
		}
		if low > floor+1000 && (port < floor || port >= low) {
			t.Fatalf("port %d outside [%d, %d)", port, floor, low)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			t.Fatalf("picked port %d cannot be bound: %v", port, err)
		}
		ln.Close()
	}
}

func TestPickSkipsAPortThatIsTaken(t *testing.T) {
	// Hold many ports below the range; none of them may come back.
	held := map[int]bool{}
	for range 200 {
		port, err := Pick()
		if err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			t.Fatalf("picked port %d cannot be bound: %v", port, err)
		}
		defer ln.Close()
		if held[port] {
			t.Fatalf("port %d handed out while held", port)
		}
		held[port] = true
	}
}
