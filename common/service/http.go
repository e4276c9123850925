package service

import (
	"fmt"
	"net"
	"strconv"
)

// HTTP is where a service listens.
type HTTP struct {
	Host string // empty means every interface
	Port string
	// PprofAddr, when set, serves net/http/pprof there (keep it on
	// loopback): for profiling, never through the ingress.
	PprofAddr string
	// Inherited means the parent process passed the listening socket as
	// file descriptor 3 (LISTEN_FDS=1, systemd's socket-activation
	// convention): the local stack binds every port itself, so no other
	// process can take one between choosing it and the service binding it.
	Inherited bool
	// HSTS sends Strict-Transport-Security on every answer: the service is
	// behind HTTPS (COOKIE_SECURE, on unless a plain-HTTP local run says
	// otherwise).
	HSTS bool
}

// Addr is host:port for net.Listen.
func (h HTTP) Addr() string { return net.JoinHostPort(h.Host, h.Port) }

// HTTP reads HOST, PORT (default 3000), PPROF_ADDR (default off),
// LISTEN_FDS (1: listen on the inherited descriptor 3 instead of PORT) and
// COOKIE_SECURE (default true: HSTS).
func (e *Env) HTTP() HTTP {
	h := HTTP{Host: e.String("HOST", ""), Port: e.Port("PORT", "3000"), PprofAddr: e.String("PPROF_ADDR", ""),
		HSTS: hsts(e.getenv("COOKIE_SECURE"))}
	switch fds := e.String("LISTEN_FDS", ""); fds {
	case "":
	case "1":
		h.Inherited = true
	default:
		e.errs = append(e.errs, fmt.Errorf("LISTEN_FDS=%q: only one inherited listener (1) is supported", fds))
	}
	return h
}

// hsts reads COOKIE_SECURE for HSTS: on unless plainly "false". A value
// that is not a boolean is reported by the service's own COOKIE_SECURE,
// not a second time here.
func hsts(cookieSecure string) bool {
	on, err := strconv.ParseBool(cookieSecure)
	return on || err != nil
}
