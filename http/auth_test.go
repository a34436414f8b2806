package http_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	nethttp "net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/tenantd/tenantd"
	"github.com/tenantd/tenantd/auth"
	api "github.com/tenantd/tenantd/http"
)

func TestLoginAndMe(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	acme := a.newTenant("pro")
	res := a.do("GET", "/v1/me", acme.Token, nil)
	if res.Status != 200 {
		t.Fatalf("me: %d %s", res.Status, res.Body)
	}
	var me struct {
		User   struct{ ID, Email, Role string }
		Tenant struct{ ID, Slug, Name string }
	}
	res.json(t, &me)
	if me.Tenant.ID != acme.ID.String() || me.User.ID != acme.OwnerID.String() || me.User.Role != "owner" || me.Tenant.Slug != acme.Slug {
		t.Fatalf("me = %+v", me)
	}
	if got := a.events(acme.ID, "login.succeeded"); len(got) != 1 {
		t.Fatalf("login events: %v", got)
	}
}

// The same email in two tenants is two accounts with separate passwords;
// a token of one never reaches the other.
func TestSameEmailInTwoTenantsIsTwoAccounts(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	acme := a.newTenant("pro")
	globex := a.newTenant("pro") // same owner@example.com, another password
	if acme.OwnerID == globex.OwnerID {
		t.Fatal("one user row shared by two tenants")
	}
	res := a.do("POST", "/v1/auth/login", "", map[string]any{"tenant": acme.Slug, "email": acme.Email, "password": password + globex.Slug})
	if res.Status != 401 {
		t.Fatalf("acme login with globex's password: %d", res.Status)
	}
	var me struct{ Tenant struct{ ID string } }
	a.do("GET", "/v1/me", globex.Token, nil).json(t, &me)
	if me.Tenant.ID != globex.ID.String() {
		t.Fatalf("globex token answered for tenant %s", me.Tenant.ID)
	}
}

// Unknown tenant, unknown email, wrong password, disabled user and
// suspended tenant get the same status and the same body.
func TestLoginFailuresAreIndistinguishable(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	acme := a.newTenant("pro")
	susp := a.newTenant("pro")
	a.sql(`UPDATE tenants SET status = 'suspended' WHERE id = $1`, susp.ID)
	cases := map[string]map[string]any{
		"unknown tenant":   {"tenant": "no-such-tenant", "email": acme.Email, "password": password + acme.Slug},
		"unknown email":    {"tenant": acme.Slug, "email": "nobody@example.com", "password": "whatever-password-1"},
		"wrong password":   {"tenant": acme.Slug, "email": acme.Email, "password": "wrong-password-123"},
		"suspended tenant": {"tenant": susp.Slug, "email": susp.Email, "password": password + susp.Slug},
	}
	var first []byte
	for name, body := range cases {
		res := a.do("POST", "/v1/auth/login", "", body)
		if res.Status != 401 {
			t.Fatalf("%s: status %d", name, res.Status)
		}
		body := withoutRequestID(t, res.Body) // the only field that differs, by design
		if first == nil {
			first = body
		} else if !bytes.Equal(first, body) {
			t.Fatalf("%s: body %s differs from %s", name, body, first)
		}
	}
}

func TestRefreshRotationAndReuseDetection(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	acme := a.newTenant("pro")
	res := a.do("POST", "/v1/auth/refresh", "", map[string]any{"refresh_token": acme.Refresh})
	if res.Status != 200 {
		t.Fatalf("refresh: %d %s", res.Status, res.Body)
	}
	var tok struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	res.json(t, &tok)
	if tok.RefreshToken == acme.Refresh || tok.AccessToken == "" {
		t.Fatal("refresh did not rotate")
	}
	// The old refresh token again: reuse. The session dies with it.
	if res := a.do("POST", "/v1/auth/refresh", "", map[string]any{"refresh_token": acme.Refresh}); res.Status != 401 {
		t.Fatalf("reused refresh token: %d", res.Status)
	}
	if len(a.flagged(acme.ID, "refresh_reuse")) != 1 {
		t.Fatal("no flagged refresh_reuse event")
	}
	if res := a.do("POST", "/v1/auth/refresh", "", map[string]any{"refresh_token": tok.RefreshToken}); res.Status != 401 {
		t.Fatalf("the rotated refresh token still works after reuse: %d", res.Status)
	}
	time.Sleep(1100 * time.Millisecond) // the principal cache's bound
	if res := a.do("GET", "/v1/me", tok.AccessToken, nil); res.Status != 401 {
		t.Fatalf("access token of a session revoked by reuse: %d", res.Status)
	}
}

// Only a secret that really was rotated out counts as reuse. A made-up
// secret for a real session (its ids are in any access token) is refused
// and does nothing to the session; an old secret, however many rotations
// ago, still revokes it and is flagged.
func TestForgedRefreshSecretLeavesTheSessionAlone(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	acme := a.newTenant("pro")
	parts := strings.Split(acme.Refresh, ".")
	for _, secret := range []string{"AAAA", auth.NewSecret()} {
		forged := strings.Join(append(parts[:3:3], secret), ".")
		if res := a.do("POST", "/v1/auth/refresh", "", map[string]any{"refresh_token": forged}); res.Status != 401 {
			t.Fatalf("forged refresh secret: %d %s", res.Status, res.Body)
		}
	}
	if got := a.flagged(acme.ID, tenantd.FlagRefreshReuse); len(got) != 0 {
		t.Fatalf("a forged secret was flagged as reuse: %+v", got)
	}
	if res := a.do("GET", "/v1/me", acme.Token, nil); res.Status != 200 {
		t.Fatalf("the victim's access token after the forgeries: %d", res.Status)
	}
	rotate := func(rt string) (string, int) {
		res := a.do("POST", "/v1/auth/refresh", "", map[string]any{"refresh_token": rt})
		var tok struct {
			RefreshToken string `json:"refresh_token"`
		}
		if res.Status == 200 {
			res.json(t, &tok)
		}
		return tok.RefreshToken, res.Status
	}
	second, status := rotate(acme.Refresh)
	if status != 200 {
		t.Fatalf("the victim's own refresh after the forgeries: %d", status)
	}
	third, status := rotate(second)
	if status != 200 {
		t.Fatalf("second rotation: %d", status)
	}
	// The first secret, two rotations old: reuse.
	if _, status := rotate(acme.Refresh); status != 401 {
		t.Fatalf("a secret rotated out two rotations ago: %d", status)
	}
	if got := a.flagged(acme.ID, tenantd.FlagRefreshReuse); len(got) != 1 {
		t.Fatalf("reuse of a rotated-out secret: %d flagged events", len(got))
	}
	if _, status := rotate(third); status != 401 {
		t.Fatalf("the current secret of a session revoked by reuse: %d", status)
	}
}

func TestLogoutTakesEffectAtOnce(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	acme := a.newTenant("pro")
	if res := a.do("GET", "/v1/me", acme.Token, nil); res.Status != 200 {
		t.Fatal(res.Status)
	}
	if res := a.do("POST", "/v1/auth/logout", acme.Token, nil); res.Status != 204 {
		t.Fatalf("logout: %d %s", res.Status, res.Body)
	}
	if res := a.do("GET", "/v1/me", acme.Token, nil); res.Status != 401 {
		t.Fatalf("token after logout: %d", res.Status)
	}
	if res := a.do("POST", "/v1/auth/refresh", "", map[string]any{"refresh_token": acme.Refresh}); res.Status != 401 {
		t.Fatalf("refresh after logout: %d", res.Status)
	}
	if len(a.events(acme.ID, "session.revoked")) != 1 {
		t.Fatal("no logout event")
	}
}

// hostile builds tokens the way an attacker would, each of which must be
// refused with 401 (or 403 where the signature is valid but the tenant
// does not match).
func TestHostileTokensAreRejected(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	acme := a.newTenant("pro")
	globex := a.newTenant("pro")
	ks := a.ring.Keys()
	kid := ks.ActiveKID()
	var jwks struct {
		Keys []struct{ Kid, X string }
	}
	json.Unmarshal(ks.JWKS(), &jwks)
	pubRaw, _ := base64.RawURLEncoding.DecodeString(jwks.Keys[0].X)
	pubDER, _ := x509.MarshalPKIXPublicKey(ed25519.PublicKey(pubRaw))

	now := time.Now()
	claims := func(mut func(jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{"iss": "tenantd", "aud": "tenantd-api", "sub": acme.OwnerID.String(),
			"tid": acme.ID.String(), "sid": uuid.NewString(), "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Minute).Unix()}
		if mut != nil {
			mut(c)
		}
		return c
	}
	_, attackerKey, _ := ed25519.GenerateKey(nil)
	sign := func(method jwt.SigningMethod, key any, kid string, c jwt.MapClaims) string {
		tok := jwt.NewWithClaims(method, c)
		tok.Header["kid"] = kid
		tok.Header["typ"] = "at+jwt"
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	// A token the server itself would issue, for the cases that need a
	// valid signature.
	issuer := &auth.Issuer{Keys: a.ring.Keys, Issuer: "tenantd", Audience: "tenantd-api"}
	crossTenant, _, err := issuer.Issue(acme.OwnerID, globex.ID, uuid.New())
	if err != nil {
		t.Fatal(err)
	}
	noneTok := func() string {
		s, _ := jwt.NewWithClaims(jwt.SigningMethodNone, claims(nil)).SignedString(jwt.UnsafeAllowNoneSignatureType)
		return s
	}()
	cases := []struct {
		name, token string
		status      int
	}{
		{"alg none", noneTok, 401},
		{"HS256 with the public key", sign(jwt.SigningMethodHS256, pubDER, kid, claims(nil)), 401},
		{"unknown kid", sign(jwt.SigningMethodEdDSA, attackerKey, "attacker", claims(nil)), 401},
		{"kid with path characters", sign(jwt.SigningMethodEdDSA, attackerKey, "../../etc/passwd", claims(nil)), 401},
		{"kid with SQL", sign(jwt.SigningMethodEdDSA, attackerKey, "' OR 1=1 --", claims(nil)), 401},
		{"signed by another key under our kid", sign(jwt.SigningMethodEdDSA, attackerKey, kid, claims(nil)), 401},
		{"truncated", acme.Token[:len(acme.Token)-10], 401},
		{"garbage", "not.a.token", 401},
		{"100 KB", strings.Repeat("a", 100<<10), 401},
		{"tid of another tenant, valid signature", crossTenant, 403},
		{"empty", "", 401},
	}
	for _, c := range cases {
		res := a.do("GET", "/v1/me", c.token, nil)
		if res.Status != c.status {
			t.Errorf("%s: status %d, want %d", c.name, res.Status, c.status)
		}
		if bytes.Contains(res.Body, []byte(acme.ID.String())) || bytes.Contains(res.Body, []byte(globex.ID.String())) {
			t.Errorf("%s: response names a tenant: %s", c.name, res.Body)
		}
	}
	if len(a.flagged(globex.ID, "token_user_tenant")) != 1 {
		t.Error("the cross-tenant token was not flagged in the tenant it targeted")
	}
}

// Claims-level rejections with a valid signature: expired, not yet valid,
// wrong issuer or audience.
func TestTokenClaimsAreChecked(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	acme := a.newTenant("pro")
	sid := uuid.New()
	mk := func(iss, aud string, now time.Time, ttl time.Duration) string {
		i := &auth.Issuer{Keys: a.ring.Keys, Issuer: iss, Audience: aud, TTL: ttl, Now: func() time.Time { return now }}
		tok, _, err := i.Issue(acme.OwnerID, acme.ID, sid)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	now := time.Now()
	for name, tok := range map[string]string{
		"expired":         mk("tenantd", "tenantd-api", now.Add(-time.Hour), time.Minute),
		"not yet valid":   mk("tenantd", "tenantd-api", now.Add(time.Hour), time.Minute),
		"wrong issuer":    mk("evil", "tenantd-api", now, time.Minute),
		"wrong audience":  mk("tenantd", "tenantd-operator", now, time.Minute),
		"unknown session": mk("tenantd", "tenantd-api", now, time.Minute),
	} {
		if res := a.do("GET", "/v1/me", tok, nil); res.Status != 401 {
			t.Errorf("%s: %d, want 401", name, res.Status)
		}
	}
}

// Disabled users, suspended tenants and revoked sessions lose access
// within the principal cache's one-second bound.
func TestStateChangesRevokeAccess(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	cases := map[string]struct {
		sql    string
		status int
	}{
		"disabled user":    {`UPDATE users SET status = 'disabled' WHERE tenant_id = $1`, 401},
		"suspended tenant": {`UPDATE tenants SET status = 'suspended' WHERE id = $1`, 403},
		"revoked session":  {`UPDATE sessions SET revoked_at = now() WHERE tenant_id = $1`, 401},
	}
	for name, c := range cases {
		tn := a.newTenant("pro")
		if res := a.do("GET", "/v1/me", tn.Token, nil); res.Status != 200 {
			t.Fatalf("%s: before: %d", name, res.Status)
		}
		a.sql(`ALTER TABLE users DISABLE TRIGGER keep_an_owner`)
		a.sql(c.sql, tn.ID)
		a.sql(`ALTER TABLE users ENABLE TRIGGER keep_an_owner`)
		time.Sleep(1100 * time.Millisecond)
		if res := a.do("GET", "/v1/me", tn.Token, nil); res.Status != c.status {
			t.Errorf("%s: %d, want %d", name, res.Status, c.status)
		}
	}
}

// A request naming another tenant anywhere is refused and flagged.
func TestNamingAnotherTenantIsForbidden(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	acme := a.newTenant("pro")
	globex := a.newTenant("pro")
	if res := a.do("GET", "/v1/me", acme.Token, nil, "X-Tenant-ID", globex.ID.String()); res.Status != 403 {
		t.Fatalf("X-Tenant-ID: %d", res.Status)
	}
	if res := a.do("GET", "/v1/me?tenant_id="+globex.ID.String(), acme.Token, nil); res.Status != 403 {
		t.Fatalf("tenant_id parameter: %d", res.Status)
	}
	if res := a.do("POST", "/v1/auth/logout", acme.Token, map[string]any{"tenant_id": globex.ID.String()}); res.Status != 403 {
		t.Fatalf("tenant_id field: %d", res.Status)
	}
	if res := a.do("GET", "/v1/me", acme.Token, nil, "X-Tenant-ID", acme.ID.String()); res.Status != 200 {
		t.Fatalf("naming its own tenant: %d", res.Status)
	}
	if n := len(a.flagged(acme.ID, "tenant_mismatch")); n != 3 {
		t.Fatalf("%d tenant_mismatch events, want 3", n)
	}
	for _, e := range a.events(globex.ID, "") {
		if e.Outcome != "success" {
			t.Fatalf("the named tenant's log has an event of another tenant's request: %+v", e)
		}
	}
}

func TestLoginIsThrottled(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	acme := a.newTenant("pro")
	var last *response
	for i := 0; i < 7; i++ {
		last = a.do("POST", "/v1/auth/login", "", map[string]any{"tenant": acme.Slug, "email": acme.Email, "password": "wrong-password-123"})
	}
	if last.Status != 429 || last.Header.Get("Retry-After") == "" {
		t.Fatalf("7th failed login: %d, Retry-After %q", last.Status, last.Header.Get("Retry-After"))
	}
	if len(a.flagged(acme.ID, "login_failures")) == 0 {
		t.Fatal("repeated failures not flagged")
	}
}

// Key rotation: old tokens verify until expiry, new tokens carry the new
// kid, and the JWKS shows both, then only the new one.
func TestKeyRotation(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	acme := a.newTenant("pro")
	oldKid := a.ring.Keys().ActiveKID()
	now := time.Now()
	ring := &auth.KeyRing{Store: a.env.DB.Keys(), Master: make([]byte, auth.MasterKeySize), RotateAfter: time.Nanosecond,
		PublishFor: time.Nanosecond, Now: func() time.Time { return now }}
	// First refresh adds a pending key; the second (later) activates it.
	ring.Refresh(t.Context())
	now = now.Add(time.Second)
	if err := ring.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := a.ring.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	newKid := a.ring.Keys().ActiveKID()
	if newKid == oldKid {
		t.Fatal("no rotation")
	}
	if res := a.do("GET", "/v1/me", acme.Token, nil); res.Status != 200 {
		t.Fatalf("a token of the old key after rotation: %d", res.Status)
	}
	var jwks struct{ Keys []struct{ Kid string } }
	a.do("GET", "/.well-known/jwks.json", "", nil).json(t, &jwks)
	kids := map[string]bool{}
	for _, k := range jwks.Keys {
		kids[k.Kid] = true
	}
	if !kids[oldKid] || !kids[newKid] {
		t.Fatalf("JWKS %v lacks old %s or new %s", kids, oldKid, newKid)
	}
	tok, _ := a.login(acme.Slug, acme.Email, password+acme.Slug)
	h, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	if !strings.Contains(string(h), newKid) {
		t.Fatalf("new token header %s lacks the new kid", h)
	}
	// Once the old key is past its retirement, it is removed.
	a.sql(`UPDATE signing_keys SET not_after = now() - interval '1 hour' WHERE kid = $1`, oldKid)
	if err := a.ring.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	a.do("GET", "/.well-known/jwks.json", "", nil).json(t, &jwks)
	if len(jwks.Keys) != 1 || jwks.Keys[0].Kid != newKid {
		t.Fatalf("JWKS after retirement: %+v", jwks.Keys)
	}
	if res := a.do("GET", "/v1/me", acme.Token, nil); res.Status != 401 {
		t.Fatalf("a token of a removed key: %d", res.Status)
	}
}

// Two instances share the database: a logout on one is refused at once on
// the other, whose principal cache still holds the session (the session
// guard runs in every transaction's first round trip).
func TestRevocationWinsAtOnceAcrossInstances(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	acme := a.newTenant("pro")
	other := httptest.NewServer(api.NewServer(api.Deps{Stores: a.env.DB.Stores(), Keys: a.ring.Keys,
		Logger: slog.New(slog.DiscardHandler)}, api.Config{}).Handler())
	defer other.Close()
	get := func(base string) int {
		req, _ := nethttp.NewRequest("GET", base+"/v1/me", nil)
		req.Header.Set("Authorization", "Bearer "+acme.Token)
		res, err := other.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if got := get(other.URL); got != 200 { // warms the other instance's cache
		t.Fatalf("other instance before logout: %d", got)
	}
	if res := a.do("POST", "/v1/auth/logout", acme.Token, nil); res.Status != 204 {
		t.Fatalf("logout: %d", res.Status)
	}
	if got := get(other.URL); got != 401 {
		t.Fatalf("other instance right after logout: %d, want 401", got)
	}
}

// A demotion wins at once, though the principal was cached as owner.
func TestDemotionWinsAtOnce(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	acme := a.newTenant("pro")
	id, token := a.member(acme)
	a.sql(`UPDATE users SET role = 'admin' WHERE tenant_id = $1 AND id = $2`, acme.ID, id)
	time.Sleep(10 * time.Millisecond)
	if res := a.do("GET", "/v1/audit-events", token, nil); res.Status != 200 {
		t.Fatalf("as admin: %d", res.Status)
	}
	a.sql(`UPDATE users SET role = 'member' WHERE tenant_id = $1 AND id = $2`, acme.ID, id)
	if res := a.do("GET", "/v1/audit-events", token, nil); res.Status != 403 {
		t.Fatalf("right after the demotion: %d, want 403", res.Status)
	}
}

// withoutRequestID is a problem body without its request_id.
func withoutRequestID(t *testing.T, body []byte) []byte {
	t.Helper()
	var p map[string]any
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("problem %s: %v", body, err)
	}
	delete(p, "request_id")
	out, _ := json.Marshal(p)
	return out
}
