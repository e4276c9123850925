// Package ingress routes HTTP requests the way ingress-nginx routes the
// project's Ingress manifest (use-regex): every path is a case-insensitive
// regular expression anchored at the start of the URL path, the longest
// path is tried first, and the host is ignored. The local stack serves its
// routing table from infra/k8s/ingress-srv.yaml itself, so the manifest is
// what local runs and their tests exercise.
package ingress

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/yaml"
	"ticketing.dev/common/httpapi"
)

// Route sends requests whose path matches Pattern to Service:Port.
type Route struct {
	Path    string
	Pattern *regexp.Regexp
	Service string
	Port    int32
	// BodyLimit is the largest request body admitted, in bytes (0: no
	// limit): the Ingress's proxy-body-size annotation, else nginx's 1 MiB.
	BodyLimit int64
}

// BodySizeAnnotation sets an Ingress's body limit, as for ingress-nginx.
const BodySizeAnnotation = "nginx.ingress.kubernetes.io/proxy-body-size"

// DefaultBodyLimit is nginx's client_max_body_size default, 1m.
const DefaultBodyLimit = 1 << 20

// parseSize reads an nginx size: bytes, or a number with k, m or g
// (either case); "0" lifts the limit.
func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	mult := int64(1)
	if s != "" {
		switch s[len(s)-1] {
		case 'k', 'K':
			mult = 1 << 10
		case 'm', 'M':
			mult = 1 << 20
		case 'g', 'G':
			mult = 1 << 30
		}
		if mult > 1 {
			s = s[:len(s)-1]
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s %q is not a size like 1m, 512k or 0", BodySizeAnnotation, s)
	}
	return n * mult, nil
}

// Backend is the service and port a route names, "auth-srv:3000".
func (r Route) Backend() string { return r.Service + ":" + strconv.Itoa(int(r.Port)) }

// Table is the routing table, longest path first.
type Table []Route

// Load reads an Ingress manifest file.
func Load(file string) (Table, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading ingress manifest: %w", err)
	}
	t, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return t, nil
}

// Parse builds the table from an Ingress manifest (networking.k8s.io/v1).
// Unknown fields are an error, as they would be for the API server.
func Parse(data []byte) (Table, error) {
	var ing networkingv1.Ingress
	if err := yaml.UnmarshalStrict(data, &ing); err != nil {
		return nil, fmt.Errorf("decoding Ingress: %w", err)
	}
	if ing.APIVersion != "networking.k8s.io/v1" || ing.Kind != "Ingress" {
		return nil, fmt.Errorf("want a networking.k8s.io/v1 Ingress, got %s %s", ing.APIVersion, ing.Kind)
	}
	limit := int64(DefaultBodyLimit)
	if v, ok := ing.Annotations[BodySizeAnnotation]; ok {
		n, err := parseSize(v)
		if err != nil {
			return nil, err
		}
		limit = n
	}
	var t Table
	for _, rule := range ing.Spec.Rules {
		if rule.HTTP == nil {
			continue
		}
		for _, p := range rule.HTTP.Paths {
			if p.Backend.Service == nil {
				return nil, fmt.Errorf("path %q has no service backend", p.Path)
			}
			// ingress-nginx writes `location ~* "^<path>"`: case-insensitive,
			// anchored at the start only.
			re, err := regexp.Compile("(?i)^" + p.Path)
			if err != nil {
				return nil, fmt.Errorf("path %q: %w", p.Path, err)
			}
			t = append(t, Route{Path: p.Path, Pattern: re, Service: p.Backend.Service.Name, Port: p.Backend.Service.Port.Number,
				BodyLimit: limit})
		}
	}
	if len(t) == 0 {
		return nil, errors.New("the Ingress has no paths")
	}
	// ingress-nginx orders regex locations by path length, longest first.
	slices.SortStableFunc(t, func(a, b Route) int { return cmp.Compare(len(b.Path), len(a.Path)) })
	return t, nil
}

// Match returns the first route, longest first, whose pattern matches path.
func (t Table) Match(path string) (Route, bool) {
	for _, r := range t {
		if r.Pattern.MatchString(path) {
			return r, true
		}
	}
	return Route{}, false
}

// Resolve maps a route's backend ("auth-srv:3000") to a local address.
type Resolve func(backend string) (addr string, ok bool)

// backendTimeout is how long a backend may take to start answering, as
// ingress-nginx's proxy-read-timeout (60 s).
const backendTimeout = 60 * time.Second

// Handler proxies each request to its route's backend, adding the
// X-Forwarded-For/-Proto/-Host and X-Request-ID headers ingress-nginx adds and keeping the
// Host header. As with ingress-nginx: no route or an unknown backend is a
// 404, a body over the route's limit a 413, an unreachable backend a 502,
// a backend that does not run a 503 and one that does not answer in time a
// 504; for /api/ paths each of these carries the APIs' error envelope.
func Handler(t Table, resolve Resolve, log *slog.Logger) http.Handler {
	transport := &http.Transport{
		Proxy:                 nil, // loopback backends; never an outbound proxy
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: backendTimeout,
	}
	proxies := map[string]*httputil.ReverseProxy{}
	for _, r := range t {
		backend := r.Backend()
		if _, done := proxies[backend]; done {
			continue
		}
		proxies[backend] = &httputil.ReverseProxy{
			Transport: transport,
			Rewrite: func(pr *httputil.ProxyRequest) {
				addr, _ := resolve(backend)
				pr.SetURL(&url.URL{Scheme: "http", Host: addr})
				pr.SetXForwarded()
				pr.Out.Host = pr.In.Host
			},
			ErrorHandler: func(w http.ResponseWriter, req *http.Request, err error) {
				proxyError(w, req, err, backend, log)
			},
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		req = withRequestID(req)
		route, ok := t.Match(req.URL.Path)
		if !ok {
			echoRequestID(w, req)
			WriteError(w, req, http.StatusNotFound, "Not Found")
			return
		}
		if _, ok := resolve(route.Backend()); !ok {
			echoRequestID(w, req)
			WriteError(w, req, http.StatusServiceUnavailable, "Service Temporarily Unavailable")
			return
		}
		// A declared length over the limit is refused before a byte is
		// read; a chunked body is cut where it passes the limit.
		if route.BodyLimit > 0 && req.ContentLength > route.BodyLimit {
			tooLarge(w, req, route.BodyLimit)
			return
		}
		// A body of unknown length is read up to the limit before the
		// backend sees any of it, as ingress-nginx buffers request bodies:
		// otherwise a backend that answers before reading (a 415, say)
		// races the 413.
		if route.BodyLimit > 0 && req.ContentLength < 0 && req.Body != nil && req.Body != http.NoBody {
			buf, err := io.ReadAll(io.LimitReader(req.Body, route.BodyLimit+1))
			switch {
			case int64(len(buf)) > route.BodyLimit:
				tooLarge(w, req, route.BodyLimit)
				return
			case err != nil:
				WriteError(w, req, http.StatusBadRequest, "Request body could not be read")
				return
			}
			req.Body, req.ContentLength, req.TransferEncoding = io.NopCloser(bytes.NewReader(buf)), int64(len(buf)), nil
		}
		req = watchBody(w, req, route.BodyLimit)
		serveStream(proxies[route.Backend()], w, req)
	})
}

// bodyWatch remembers why reading the client's body failed, so that a
// proxy error it caused is answered as the client's fault (413, 408), not
// the backend's (502, 504).
type bodyWatch struct {
	io.ReadCloser
	mu  sync.Mutex // the transport reads the body on a goroutine of its own
	err error
}

func (b *bodyWatch) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		b.mu.Lock()
		b.err = err
		b.mu.Unlock()
	}
	return n, err
}

// readErr is why reading the body failed, if it did.
func (b *bodyWatch) readErr() error {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

type bodyWatchKey struct{}

// watchBody bounds the request's body to limit bytes (0: unbounded) and
// watches its reads.
func watchBody(w http.ResponseWriter, req *http.Request, limit int64) *http.Request {
	if req.Body == nil || req.Body == http.NoBody {
		return req
	}
	body := req.Body
	if limit > 0 {
		body = http.MaxBytesReader(w, body, limit)
	}
	bw := &bodyWatch{ReadCloser: body}
	req = req.WithContext(context.WithValue(req.Context(), bodyWatchKey{}, bw))
	req.Body = bw
	return req
}

// proxyError answers a request the backend did not: 413 for a body that
// passed the limit on the way, 408 for one that came too slowly, 504 for a
// backend too slow, 502 otherwise.
func proxyError(w http.ResponseWriter, req *http.Request, err error, backend string, log *slog.Logger) {
	var tooBig *http.MaxBytesError
	var timeout interface{ Timeout() bool }
	bw, _ := req.Context().Value(bodyWatchKey{}).(*bodyWatch)
	bodyErr := bw.readErr()
	echoRequestID(w, req)
	log = log.With("requestId", req.Header.Get(httpapi.RequestIDHeader))
	switch {
	case errors.As(bodyErr, &tooBig):
		tooLarge(w, req, tooBig.Limit)
	case errors.As(bodyErr, &timeout) && timeout.Timeout():
		w.Header().Set("Connection", "close")
		WriteError(w, req, http.StatusRequestTimeout, "Request Timeout")
	case req.Context().Err() != nil:
		// The client went away; nobody is left to answer (nginx's 499).
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &timeout) && timeout.Timeout():
		log.Warn("backend timed out", "backend", backend, "path", req.URL.Path, "err", err)
		WriteError(w, req, http.StatusGatewayTimeout, "Gateway Timeout")
	default:
		log.Warn("backend unreachable", "backend", backend, "path", req.URL.Path, "err", err)
		WriteError(w, req, http.StatusBadGateway, "Bad Gateway")
	}
}

func tooLarge(w http.ResponseWriter, req *http.Request, limit int64) {
	echoRequestID(w, req)
	// The rest of the body is not worth reading: close the connection.
	w.Header().Set("Connection", "close")
	WriteError(w, req, http.StatusRequestEntityTooLarge,
		fmt.Sprintf("Request body too large: the limit is %s", sizeText(limit)))
}

func sizeText(n int64) string {
	switch {
	case n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + " MiB"
	case n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}

// WriteError answers with status: for /api/ paths in the APIs' envelope
// {"errors":[{"message":…}]}, as a client of the API parses every error;
// for pages as plain text, as nginx's own pages are.
func WriteError(w http.ResponseWriter, req *http.Request, status int, message string) {
	if !isAPI(req.URL.Path) {
		http.Error(w, strconv.Itoa(status)+" "+message, status)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	body, _ := json.Marshal(map[string]any{"errors": []map[string]string{{"message": message}}})
	_, _ = w.Write(append(body, '\n'))
}

// isAPI reports whether path is under /api, matched as the routes are
// (case-insensitively).
func isAPI(path string) bool {
	p := strings.ToLower(path)
	return p == "/api" || strings.HasPrefix(p, "/api/")
}
