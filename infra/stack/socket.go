package stack

import (
	"fmt"
	"net"
	"os"
	"sync"
)

// socket is one replica's listening address. The stack binds it before
// anything else starts and passes it to each run of the replica's process,
// so the port is never free for another process to take.
type socket struct {
	mu   sync.Mutex
	ln   *net.TCPListener // held until the first start; nil while a child has it
	addr string
	port int
}

func listenSocket() (*socket, error) {
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, fmt.Errorf("listening on a loopback port: %w", err)
	}
	a := ln.Addr().(*net.TCPAddr)
	return &socket{ln: ln, addr: a.String(), port: a.Port}, nil
}

// file returns the listening socket as a file for a child, and gives up the
// stack's own copy: once the child is gone nothing listens, and dials are
// refused at once. A restart binds the same address again.
func (s *socket) file() (*os.File, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ln := s.ln
	s.ln = nil
	if ln == nil {
		a, err := net.ResolveTCPAddr("tcp", s.addr)
		if err != nil {
			return nil, err
		}
		if ln, err = net.ListenTCP("tcp", a); err != nil {
			return nil, fmt.Errorf("listening on %s again: %w", s.addr, err)
		}
	}
	defer ln.Close()
	f, err := ln.File()
	if err != nil {
		return nil, fmt.Errorf("passing on %s: %w", s.addr, err)
	}
	return f, nil
}

// close releases the address if no child took it.
func (s *socket) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		s.ln.Close()
		s.ln = nil
	}
}
