package ingress

import (
	"net/http"

	"ticketing.dev/common/httpapi"
)

// withRequestID gives req an X-Request-ID, as ingress-nginx does: the
// caller's when it is fit to log, else a new one. The backend logs it on
// every line of the request and answers it back.
func withRequestID(req *http.Request) *http.Request {
	id := httpapi.RequestIDOf(req)
	if req.Header.Get(httpapi.RequestIDHeader) == id {
		return req
	}
	req = req.Clone(req.Context())
	req.Header.Set(httpapi.RequestIDHeader, id)
	return req
}

// echoRequestID puts req's id on an answer the ingress makes itself (404,
// 502, 503). Proxied answers carry the backend's echo; setting it on those
// too would double it, as the proxy adds the backend's headers.
func echoRequestID(w http.ResponseWriter, req *http.Request) {
	w.Header().Set(httpapi.RequestIDHeader, req.Header.Get(httpapi.RequestIDHeader))
}
