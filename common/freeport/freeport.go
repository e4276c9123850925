// Package freeport finds loopback TCP ports for child processes that must
// bind a port of their own (redis-server, stripe-mock, FerretDB).
//
// A port from the kernel (listen on :0, close, hand it on) comes from the
// ephemeral range, which every outgoing connection and every other :0 bind
// on the machine draws from too, so it is often taken again before the
// child binds it. Ports below that range are only ever taken on purpose.
package freeport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
)

// floor is the lowest port handed out: clear of the well-known and most
// registered service ports.
const floor = 10000

// Pick returns a loopback port below the ephemeral range that was free when
// checked. Where that range leaves no room, it falls back to the kernel's
// choice.
func Pick() (int, error) {
	top := ephemeralLow()
	for range 64 {
		if top <= floor+1000 {
			break
		}
		port := floor + rand.IntN(top-floor)
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue // taken; try another
		}
		ln.Close()
		return port, nil
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free loopback port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// ephemeralLow is the first port of the kernel's ephemeral range (Linux's
// default when it cannot be read).
func ephemeralLow() int {
	raw, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	low, err := strconv.Atoi(strings.Fields(string(raw) + " x")[0])
	if err != nil {
		return 32768
	}
	return low
}
