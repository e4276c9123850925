package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const creds = `{"email":"test@test.com","password":"password"}`

func TestSignupReturns201WithUserAndSetsSessionCookie(t *testing.T) {
	s := newTestServer(t)
	r := do(t, "POST", s.URL+"/api/users/signup", creds)
	require.Equal(t, 201, r.Status, r.Raw)
	assert.Equal(t, "test@test.com", r.Body["email"])
	assert.Regexp(t, `^[0-9a-f]{24}$`, r.Body["id"])
	assert.Len(t, r.Body, 2, "only id and email: %s", r.Raw)
	c := sessionCookie(t, r)
	assert.True(t, c.HttpOnly)
	assert.True(t, c.Secure)
	assert.Equal(t, "/", c.Path)
	assert.Equal(t, http.SameSiteLaxMode, c.SameSite)
}

func TestSignupRejectsInvalidInputWith400(t *testing.T) {
	s := newTestServer(t)
	cases := map[string]struct {
		body  string
		field string
	}{
		"invalid email":             {`{"email":"notanemail","password":"password"}`, "email"},
		"short password":            {`{"email":"test@test.com","password":"p"}`, "password"},
		"long password":             {`{"email":"test@test.com","password":"` + strings.Repeat("p", 21) + `"}`, "password"},
		"missing email":             {`{"password":"password"}`, "email"},
		"missing password":          {`{"email":"test@test.com"}`, "password"},
		"operator instead of email": {`{"email":{"$gt":""},"password":"password"}`, "email"},
		"password over 72 bytes":    {`{"email":"test@test.com","password":"` + strings.Repeat("\U0001F600", 20) + `"}`, "password"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			r := do(t, "POST", s.URL+"/api/users/signup", c.body)
			assert.Equal(t, 400, r.Status, r.Raw)
			assert.Contains(t, fields(r), c.field)
			assert.Empty(t, r.Cookies)
		})
	}
	r := do(t, "POST", s.URL+"/api/users/signup", `{}`)
	assert.Equal(t, 400, r.Status)
	assert.ElementsMatch(t, []string{"email", "password"}, fields(r))
}

func TestMalformedBodiesAre4xxNever500(t *testing.T) {
	s := newTestServer(t)
	for name, body := range map[string]string{
		"not json":  "email=a@b.co&password=password",
		"array":     `[1,2,3]`,
		"truncated": `{"email":"a@b.co",`,
		"empty":     ``,
	} {
		t.Run(name, func(t *testing.T) {
			for _, path := range []string{"/api/users/signup", "/api/users/signin"} {
				r := do(t, "POST", s.URL+path, body)
				assert.Equal(t, 400, r.Status, "%s %s", path, r.Raw)
				assert.NotEmpty(t, messages(r))
			}
		})
	}
	big := `{"email":"a@b.co","password":"` + strings.Repeat("x", 2<<20) + `"}`
	r := do(t, "POST", s.URL+"/api/users/signup", big)
	assert.GreaterOrEqual(t, r.Status, 400)
	assert.Less(t, r.Status, 500)
}

func TestSigninWithOperatorInjectionIs400(t *testing.T) {
	s := newTestServer(t)
	do(t, "POST", s.URL+"/api/users/signup", creds)
	r := do(t, "POST", s.URL+"/api/users/signin", `{"email":{"$gt":""},"password":"x"}`)
	assert.Equal(t, 400, r.Status, r.Raw)
	assert.Empty(t, r.Cookies)
}

func TestDuplicateEmailIs400EmailInUse(t *testing.T) {
	s := newTestServer(t)
	require.Equal(t, 201, do(t, "POST", s.URL+"/api/users/signup", creds).Status)
	r := do(t, "POST", s.URL+"/api/users/signup", `{"email":"  TEST@test.com ","password":"password"}`)
	assert.Equal(t, 400, r.Status)
	assert.Equal(t, []string{"Email in use"}, messages(r))
}

func TestConcurrentSignupsWithOneEmailCreateExactlyOneUser(t *testing.T) {
	s := newTestServer(t)
	const n = 20
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i] = do(t, "POST", s.URL+"/api/users/signup", creds).Status
		}()
	}
	wg.Wait()
	count := map[int]int{}
	for _, st := range statuses {
		count[st]++
	}
	assert.Equal(t, map[int]int{201: 1, 400: n - 1}, count)
}

func TestSigninReturns200AndCookieForValidCredentials(t *testing.T) {
	s := newTestServer(t)
	up := do(t, "POST", s.URL+"/api/users/signup", creds)
	r := do(t, "POST", s.URL+"/api/users/signin", creds)
	require.Equal(t, 200, r.Status, r.Raw)
	assert.Equal(t, up.Body["id"], r.Body["id"])
	sessionCookie(t, r)
}

func TestSigninIsCaseInsensitiveOnEmail(t *testing.T) {
	s := newTestServer(t)
	do(t, "POST", s.URL+"/api/users/signup", creds)
	r := do(t, "POST", s.URL+"/api/users/signin", `{"email":" Test@TEST.com","password":"password"}`)
	assert.Equal(t, 200, r.Status, r.Raw)
	assert.Equal(t, "test@test.com", r.Body["email"])
}

func TestSigninFailsWithInvalidCredentials(t *testing.T) {
	s := newTestServer(t)
	do(t, "POST", s.URL+"/api/users/signup", creds)
	for name, body := range map[string]string{
		"wrong password": `{"email":"test@test.com","password":"wrongpass"}`,
		"unknown email":  `{"email":"nobody@test.com","password":"password"}`,
	} {
		t.Run(name, func(t *testing.T) {
			r := do(t, "POST", s.URL+"/api/users/signin", body)
			assert.Equal(t, 400, r.Status)
			assert.Equal(t, []string{"Invalid credentials"}, messages(r))
			assert.Empty(t, r.Cookies)
		})
	}
	r := do(t, "POST", s.URL+"/api/users/signin", `{"email":"test@test.com"}`)
	assert.Equal(t, 400, r.Status)
	assert.Equal(t, []string{"password"}, fields(r))
}

func TestSignoutClearsTheCookie(t *testing.T) {
	s := newTestServer(t)
	c := sessionCookie(t, do(t, "POST", s.URL+"/api/users/signup", creds))
	r := do(t, "POST", s.URL+"/api/users/signout", "", c)
	require.Equal(t, 200, r.Status)
	assert.JSONEq(t, `{}`, r.Raw)
	out := sessionCookie(t, r)
	assert.Empty(t, out.Value)
	assert.True(t, out.Expires.Before(time.Now()), "Set-Cookie expires in the past: %v", out.Expires)
}

func TestCurrentUserWithCookieReturnsTheUser(t *testing.T) {
	s := newTestServer(t)
	up := do(t, "POST", s.URL+"/api/users/signup", creds)
	r := do(t, "GET", s.URL+"/api/users/currentuser", "", sessionCookie(t, up))
	require.Equal(t, 200, r.Status)
	cu, ok := r.Body["currentUser"].(map[string]any)
	require.True(t, ok, r.Raw)
	assert.Equal(t, "test@test.com", cu["email"])
	assert.Equal(t, up.Body["id"], cu["id"])
	assert.NotZero(t, cu["iat"])
}

func TestCurrentUserWithoutValidSessionIsNull(t *testing.T) {
	s := newTestServer(t)
	up := do(t, "POST", s.URL+"/api/users/signup", creds)
	good := sessionCookie(t, up)
	raw, err := base64.StdEncoding.DecodeString(good.Value)
	require.NoError(t, err)
	var v map[string]string
	require.NoError(t, json.Unmarshal(raw, &v))
	parts := strings.Split(v["jwt"], ".")

	mk := func(token string) *http.Cookie {
		b, _ := json.Marshal(map[string]string{"jwt": token})
		return &http.Cookie{Name: "session", Value: base64.StdEncoding.EncodeToString(b)}
	}
	otherKey, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"id": up.Body["id"], "email": "test@test.com", "iat": 1}).SignedString([]byte("another-key"))
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"id": up.Body["id"], "email": "test@test.com", "iat": 1}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	forged := base64.RawURLEncoding.EncodeToString([]byte(`{"id":"000000000000000000000000","email":"admin@x.com","iat":1}`))

	cases := map[string][]*http.Cookie{
		"no cookie":       nil,
		"tampered cookie": {{Name: "session", Value: "x" + good.Value[1:]}},
		"forged payload":  {mk(parts[0] + "." + forged + "." + parts[2])},
		"another key":     {mk(otherKey)},
		"alg none":        {mk(none)},
	}
	for name, cookies := range cases {
		t.Run(name, func(t *testing.T) {
			r := do(t, "GET", s.URL+"/api/users/currentuser", "", cookies...)
			assert.Equal(t, 200, r.Status)
			assert.JSONEq(t, `{"currentUser":null}`, r.Raw)
		})
	}
}

func TestUnknownRouteIs404Envelope(t *testing.T) {
	s := newTestServer(t)
	for _, req := range [][2]string{{"GET", "/api/users/nope"}, {"GET", "/api/users/signup"}, {"DELETE", "/api/users/currentuser"}} {
		r := do(t, req[0], s.URL+req[1], "")
		assert.Equal(t, 404, r.Status, req)
		assert.Equal(t, []string{"Not Found"}, messages(r))
	}
}

func TestTrailingSlashRoutesLikeTheOriginal(t *testing.T) {
	s := newTestServer(t)
	r := do(t, "POST", s.URL+"/api/users/signup/", creds)
	assert.Equal(t, 201, r.Status, r.Raw)
}

func TestNoResponseOrLogLineContainsPasswordOrHash(t *testing.T) {
	s := newTestServer(t)
	const secret = "s3cr3t-Pa55"
	body := fmt.Sprintf(`{"email":"leak@test.com","password":%q}`, secret)
	var all strings.Builder
	for _, r := range []response{
		do(t, "POST", s.URL+"/api/users/signup", body),
		do(t, "POST", s.URL+"/api/users/signup", body),
		do(t, "POST", s.URL+"/api/users/signin", body),
		do(t, "POST", s.URL+"/api/users/signin", `{"email":"leak@test.com","password":"wrong-one"}`),
	} {
		all.WriteString(r.Raw)
		for _, c := range r.Cookies {
			raw, _ := base64.StdEncoding.DecodeString(c.Value)
			all.Write(raw)
		}
	}
	logs := s.logs.String()
	require.NotEmpty(t, logs, "debug access logs are on, so there is something to inspect")
	for _, text := range []string{all.String(), logs} {
		assert.NotContains(t, text, secret)
		assert.NotContains(t, text, "wrong-one")
		assert.NotContains(t, text, "$2a$")
		assert.NotContains(t, text, "password\":\"")
	}
}
