package testkit

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"

	"github.com/go-chi/chi/v5"
)

// paramRe matches a chi route parameter, "{id}" or "{id:[0-9]+}".
var paramRe = regexp.MustCompile(`\{[^}]*\}`)

// GetRoutes walks a chi router and returns the path of every GET route,
// with each parameter filled by a well-formed ObjectID and each wildcard
// by a file name.
func GetRoutes(t testing.TB, h http.Handler) []string {
	t.Helper()
	routes, ok := h.(chi.Routes)
	if !ok {
		t.Fatalf("%T is not a chi router", h)
	}
	var paths []string
	err := chi.Walk(routes, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		if method == http.MethodGet {
			p := paramRe.ReplaceAllString(route, "0123456789abcdef01234567")
			paths = append(paths, regexp.MustCompile(`\*$`).ReplaceAllString(p, "app.css"))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walking the router: %v", err)
	}
	if len(paths) == 0 {
		t.Fatal("the router has no GET route")
	}
	return paths
}

// HeadAnswersEveryGet sends GET and then HEAD to every GET route of the chi
// router h, with the given cookies, and fails unless HEAD gets the same
// status and Content-Type as GET (never the router's 405); the server
// itself drops a HEAD answer's body.
func HeadAnswersEveryGet(t *testing.T, h http.Handler, cookies ...*http.Cookie) {
	t.Helper()
	for _, path := range GetRoutes(t, h) {
		get, head := serve(h, http.MethodGet, path, cookies), serve(h, http.MethodHead, path, cookies)
		if head.Code == http.StatusMethodNotAllowed || head.Code != get.Code {
			t.Errorf("HEAD %s: %d, GET: %d", path, head.Code, get.Code)
		}
		if ct := get.Header().Get("Content-Type"); head.Header().Get("Content-Type") != ct {
			t.Errorf("HEAD %s: Content-Type %q, GET: %q", path, head.Header().Get("Content-Type"), ct)
		}
	}
}

func serve(h http.Handler, method, path string, cookies []*http.Cookie) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, nil)
	for _, c := range cookies {
		req.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// HeadAnswersEveryGetSignedInOrOut is HeadAnswersEveryGet signed out and
// then signed in (a session cookie signed with jwtKey), so the routes that
// answer differently for a user are reached both ways.
func HeadAnswersEveryGetSignedInOrOut(t *testing.T, h http.Handler, jwtKey string) {
	t.Helper()
	HeadAnswersEveryGet(t, h)
	HeadAnswersEveryGet(t, h, SessionCookie(t, jwtKey, "0123456789abcdef01234567", "head@test.com"))
}
