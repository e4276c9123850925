// Package ingress routes HTTP requests the way ingress-nginx routes the
// project's Ingress manifest (use-regex): every path is a case-insensitive
// regular expression anchored at the start of the URL path, the longest
// path is tried first, and the host is ignored. The local stack serves its
// routing table from infra/k8s/ingress-srv.yaml itself, so the manifest is
// what local runs and their tests exercise.
package ingress

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/yaml"
)

// Route sends requests whose path matches Pattern to Service:Port.
type Route struct {
	Path    string
	Pattern *regexp.Regexp
	Service string
	Port    int32
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
			t = append(t, Route{Path: p.Path, Pattern: re, Service: p.Backend.Service.Name, Port: p.Backend.Service.Port.Number})
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

// Handler proxies each request to its route's backend, adding the
// X-Forwarded-For/-Proto/-Host and X-Request-ID headers ingress-nginx adds
// and keeping the Host header. No route or an unknown backend is a 404, an unreachable
// backend a 502, as with ingress-nginx.
func Handler(t Table, resolve Resolve, log *slog.Logger) http.Handler {
	transport := &http.Transport{
		Proxy:               nil, // loopback backends; never an outbound proxy
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        1024,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
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
				log.Warn("backend unreachable", "backend", backend, "path", req.URL.Path, "requestId", req.Header.Get("X-Request-ID"), "err", err)
				echoRequestID(w, req)
				http.Error(w, "502 Bad Gateway", http.StatusBadGateway)
			},
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		req = withRequestID(req)
		route, ok := t.Match(req.URL.Path)
		if !ok {
			echoRequestID(w, req)
			http.NotFound(w, req)
			return
		}
		if _, ok := resolve(route.Backend()); !ok {
			echoRequestID(w, req)
			http.Error(w, "503 Service Temporarily Unavailable", http.StatusServiceUnavailable)
			return
		}
		proxies[route.Backend()].ServeHTTP(w, req)
	})
}
