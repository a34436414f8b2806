package auth

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

func TestIssueVerifyRoundTrip(t *testing.T) {
	t.Parallel()
	for _, alg := range []string{AlgEdDSA, AlgES256} {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			k := mustKey(t, alg, e.now)
			k.Active = true
			e.set = mustSet(t, k)
			user, tenant, session := uuid.New(), uuid.New(), uuid.New()
			token, issued, err := e.issuer.Issue(user, tenant, session)
			if err != nil {
				t.Fatal(err)
			}
			h := tokenHeader(t, token)
			if h["alg"] != alg || h["kid"] != k.ID || h["typ"] != TypAccess {
				t.Fatalf("header = %v, want alg %s, kid %s, typ %s", h, alg, k.ID, TypAccess)
			}
			got, err := e.verifier.Verify(token)
			if err != nil {
				t.Fatal(err)
			}
			if got.UserID() != user || got.TenantID != tenant || got.SessionID != session {
				t.Fatalf("verified claims %+v do not carry user %s tenant %s session %s", got, user, tenant, session)
			}
			if got.ID == "" || got.ID != issued.ID || !got.ExpiresAt.Equal(e.now.Add(DefaultTTL)) {
				t.Fatalf("jti/exp: verified %v %v, issued %v %v", got.ID, got.ExpiresAt, issued.ID, issued.ExpiresAt)
			}
		})
	}
}

// TestVerifyRejects builds every kind of hostile or broken token and checks
// that it is refused for the right reason.
func TestVerifyRejects(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ed, es := e.ed, e.es
	esActive := es
	esActive.Active = true
	stranger := mustKey(t, AlgEdDSA, e.now)

	valid := sign(t, ed, e.header(ed), e.claims())
	with := func(changes map[string]any) map[string]any {
		c := e.claims()
		for k, v := range changes {
			if v == nil {
				delete(c, k)
			} else {
				c[k] = v
			}
		}
		return c
	}
	headerWith := func(k Key, changes map[string]any) map[string]any {
		h := e.header(k)
		for name, v := range changes {
			if v == nil {
				delete(h, name)
			} else {
				h[name] = v
			}
		}
		return h
	}
	edPKIX, err := x509.MarshalPKIXPublicKey(ed.Public)
	if err != nil {
		t.Fatal(err)
	}
	edPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: edPKIX})
	hs256 := func(key []byte) string {
		return signWith(t, jwt.SigningMethodHS256, key, headerWith(ed, map[string]any{"alg": "HS256"}), e.claims())
	}
	noneToken := func(alg string) string {
		return signingInput(t, headerWith(ed, map[string]any{"alg": alg}), e.claims()) + "."
	}

	cases := []struct {
		name  string
		token string
		want  error
	}{
		{"100 KB token", valid + strings.Repeat("A", 100<<10), ErrTooLarge},
		{"one byte over the limit", strings.Repeat("a", DefaultMaxTokenBytes+1), ErrTooLarge},
		{"empty", "", ErrMalformed},
		{"garbage", "not a token at all", ErrMalformed},
		{"garbage segments", "a.b.c", ErrMalformed},
		{"four segments", valid + ".x", ErrMalformed},
		{"truncated: no signature segment", valid[:strings.LastIndexByte(valid, '.')], ErrMalformed},
		{"truncated: half", valid[:len(valid)/2], ErrMalformed},
		{"padded base64", strings.Replace(valid, ".", "=.", 1), ErrMalformed},
		{"header not JSON", "bm90IGpzb24." + strings.SplitN(valid, ".", 2)[1], ErrMalformed},
		{"crit header", sign(t, ed, headerWith(ed, map[string]any{"crit": []string{"exp"}}), e.claims()), ErrMalformed},
		{"tid not a UUID", sign(t, ed, e.header(ed), with(map[string]any{"tid": "acme"})), ErrMalformed},

		{"alg none", noneToken("none"), ErrAlgorithm},
		{"alg None", noneToken("None"), ErrAlgorithm},
		{"alg NONE", noneToken("NONE"), ErrAlgorithm},
		{"alg missing", noneToken(""), ErrAlgorithm},
		{"HS256 with raw public key", hs256([]byte(ed.Public.(ed25519.PublicKey))), ErrAlgorithm},
		{"HS256 with PKIX public key", hs256(edPKIX), ErrAlgorithm},
		{"HS256 with PEM public key", hs256(edPEM), ErrAlgorithm},
		{"HS256 with JWK x", hs256([]byte(base64.RawURLEncoding.EncodeToString([]byte(ed.Public.(ed25519.PublicKey))))), ErrAlgorithm},
		{"HS512", signWith(t, jwt.SigningMethodHS512, edPKIX, headerWith(ed, map[string]any{"alg": "HS512"}), e.claims()), ErrAlgorithm},
		{"ES384 not allowed", noneToken("ES384") + "AAAA", ErrAlgorithm},
		{"RS256 not allowed", noneToken("RS256") + "AAAA", ErrAlgorithm},
		{"ES256 token whose header says EdDSA",
			signWith(t, jwt.SigningMethodES256, es.Private, headerWith(es, map[string]any{"alg": AlgEdDSA}), e.claims()), ErrAlgorithm},
		{"EdDSA token whose header says ES256",
			signWith(t, jwt.SigningMethodEdDSA, ed.Private, headerWith(ed, map[string]any{"alg": AlgES256}), e.claims()), ErrAlgorithm},

		{"unknown kid", sign(t, ed, headerWith(ed, map[string]any{"kid": "AAAAAAAAAAAAAAAAAAAAAA"}), e.claims()), ErrUnknownKey},
		{"kid path traversal", sign(t, ed, headerWith(ed, map[string]any{"kid": "../../etc/passwd"}), e.claims()), ErrUnknownKey},
		{"kid SQL injection", sign(t, ed, headerWith(ed, map[string]any{"kid": "' OR 1=1--"}), e.claims()), ErrUnknownKey},
		{"kid missing", sign(t, ed, headerWith(ed, map[string]any{"kid": nil}), e.claims()), ErrUnknownKey},
		{"kid not a string", sign(t, ed, headerWith(ed, map[string]any{"kid": 1}), e.claims()), ErrUnknownKey},
		{"signed by a key not in the set", sign(t, stranger, e.header(stranger), e.claims()), ErrUnknownKey},
		{"signed by a stranger claiming our kid", sign(t, stranger, e.header(ed), e.claims()), ErrSignature},
		{"ES256 by a stranger claiming our kid", signWith(t, jwt.SigningMethodES256, mustKey(t, AlgES256, e.now).Private, e.header(es), e.claims()), ErrSignature},
		{"claims changed after signing", tamper(t, valid), ErrSignature},
		{"signature cut short", shortenSignature(t, valid), ErrSignature},

		{"typ JWT", sign(t, ed, headerWith(ed, map[string]any{"typ": "JWT"}), e.claims()), ErrType},
		{"typ missing", sign(t, ed, headerWith(ed, map[string]any{"typ": nil}), e.claims()), ErrType},
		{"typ operator", sign(t, ed, headerWith(ed, map[string]any{"typ": TypOperator}), e.claims()), ErrType},

		{"wrong iss", sign(t, ed, e.header(ed), with(map[string]any{"iss": "https://evil.test"})), ErrIssuer},
		{"missing iss", sign(t, ed, e.header(ed), with(map[string]any{"iss": nil})), ErrIssuer},
		{"wrong aud", sign(t, ed, e.header(ed), with(map[string]any{"aud": "tenantd-operator"})), ErrAudience},
		{"missing aud", sign(t, ed, e.header(ed), with(map[string]any{"aud": nil})), ErrAudience},

		{"expired", sign(t, ed, e.header(ed), with(map[string]any{"exp": e.now.Add(-time.Hour).Unix()})), ErrExpired},
		{"expired just beyond the leeway", sign(t, ed, e.header(ed), with(map[string]any{"exp": e.now.Add(-DefaultLeeway - time.Second).Unix()})), ErrExpired},
		{"nbf in the future", sign(t, ed, e.header(ed), with(map[string]any{"nbf": e.now.Add(time.Hour).Unix()})), ErrNotYetValid},
		{"iat in the future", sign(t, ed, e.header(ed), with(map[string]any{"iat": e.now.Add(time.Hour).Unix()})), ErrNotYetValid},

		{"missing exp", sign(t, ed, e.header(ed), with(map[string]any{"exp": nil})), ErrClaims},
		{"missing iat", sign(t, ed, e.header(ed), with(map[string]any{"iat": nil})), ErrClaims},
		{"missing sub", sign(t, ed, e.header(ed), with(map[string]any{"sub": nil})), ErrClaims},
		{"sub not a UUID", sign(t, ed, e.header(ed), with(map[string]any{"sub": "admin"})), ErrClaims},
		{"sub not canonical", sign(t, ed, e.header(ed), with(map[string]any{"sub": "urn:uuid:" + uuid.NewString()})), ErrClaims},
		{"missing tid", sign(t, ed, e.header(ed), with(map[string]any{"tid": nil})), ErrClaims},
		{"nil tid", sign(t, ed, e.header(ed), with(map[string]any{"tid": uuid.Nil.String()})), ErrClaims},
		{"missing sid", sign(t, ed, e.header(ed), with(map[string]any{"sid": nil})), ErrClaims},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			claims, err := e.verifier.Verify(tc.token)
			requireOnly(t, err, tc.want)
			if claims.Subject != "" || claims.TenantID != uuid.Nil {
				t.Fatalf("claims returned with an error: %+v", claims)
			}
		})
	}

	// The verify-only ES256 key is in the set, but it is only in the
	// allow-list of a Verifier that admits ES256.
	esToken := sign(t, es, e.header(es), e.claims())
	if _, err := e.verifier.Verify(esToken); err != nil {
		t.Fatalf("ES256 token by a key in the set: %v", err)
	}
	edOnly := *e.verifier
	edOnly.Algorithms = []string{AlgEdDSA}
	_, err = edOnly.Verify(esToken)
	requireOnly(t, err, ErrAlgorithm)
}

// tamper moves a signed token to another tenant and keeps its signature.
func tamper(t *testing.T, token string) string {
	parts := strings.Split(token, ".")
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	c["tid"] = uuid.NewString()
	if b, err = json.Marshal(c); err != nil {
		t.Fatal(err)
	}
	parts[1] = base64.RawURLEncoding.EncodeToString(b)
	return strings.Join(parts, ".")
}

// shortenSignature drops the last bytes of a token's signature.
func shortenSignature(t *testing.T, token string) string {
	i := strings.LastIndexByte(token, '.')
	sig, err := base64.RawURLEncoding.DecodeString(token[i+1:])
	if err != nil {
		t.Fatal(err)
	}
	return token[:i+1] + base64.RawURLEncoding.EncodeToString(sig[:len(sig)-3])
}

func TestVerifyTooLargeIsCheckedBeforeParsing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var keyLookups atomic.Int32
	v := *e.verifier
	v.Keys = func() *KeySet { keyLookups.Add(1); return e.set }
	v.MaxTokenBytes = 64
	_, err := v.Verify(strings.Repeat("x", 65))
	requireOnly(t, err, ErrTooLarge)
	if keyLookups.Load() != 0 {
		t.Fatal("an oversized token reached the key lookup")
	}
	token, _, err := e.issuer.Issue(uuid.New(), uuid.New(), uuid.New())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(token); len(token) > 64 {
		requireOnly(t, err, ErrTooLarge) // a real token, over a small limit
	}
}

func TestVerifyAcceptsWithinLeewayAndTypVariants(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.claims()
	c["exp"] = e.now.Add(-10 * time.Second).Unix()
	c["nbf"] = e.now.Add(10 * time.Second).Unix()
	if _, err := e.verifier.Verify(sign(t, e.ed, e.header(e.ed), c)); err != nil {
		t.Fatalf("token 10 s past exp and 10 s before nbf, within a 30 s leeway: %v", err)
	}
	for _, typ := range []string{"at+jwt", "AT+JWT", "application/at+jwt"} {
		h := e.header(e.ed)
		h["typ"] = typ
		if _, err := e.verifier.Verify(sign(t, e.ed, h, e.claims())); err != nil {
			t.Fatalf("typ %q (RFC 9068 allows it): %v", typ, err)
		}
	}
}

func TestOperatorAndAccessTokensAreNotInterchangeable(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	opIssuer := *e.issuer
	opIssuer.Audience, opIssuer.Typ = "tenantd-operator", TypOperator
	opVerifier := *e.verifier
	opVerifier.Audience, opVerifier.Typ = "tenantd-operator", TypOperator

	access, _, err := e.issuer.Issue(uuid.New(), uuid.New(), uuid.New())
	if err != nil {
		t.Fatal(err)
	}
	operator, _, err := opIssuer.Issue(uuid.New(), uuid.New(), uuid.New())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := opVerifier.Verify(operator); err != nil {
		t.Fatalf("operator token on the operator verifier: %v", err)
	}
	_, err = e.verifier.Verify(operator)
	requireOnly(t, err, ErrType)
	_, err = opVerifier.Verify(access)
	requireOnly(t, err, ErrType)
}

func TestVerifierMisconfigurationFailsClosed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	token, _, err := e.issuer.Issue(uuid.New(), uuid.New(), uuid.New())
	if err != nil {
		t.Fatal(err)
	}
	for name, change := range map[string]func(v *Verifier){
		"no issuer":        func(v *Verifier) { v.Issuer = "" },
		"no audience":      func(v *Verifier) { v.Audience = "" },
		"no key set":       func(v *Verifier) { v.Keys = func() *KeySet { return nil } },
		"HS256 allowed":    func(v *Verifier) { v.Algorithms = []string{"HS256", AlgEdDSA} },
		"none allowed":     func(v *Verifier) { v.Algorithms = []string{"none"} },
		"empty allow-list": func(v *Verifier) { v.Algorithms = []string{} },
	} {
		v := *e.verifier
		change(&v)
		if _, err := v.Verify(token); !errorsIs(err, ErrConfig) {
			t.Errorf("%s: Verify = %v, want ErrConfig", name, err)
		}
	}
}

func TestIssueRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if _, _, err := e.issuer.Issue(uuid.Nil, uuid.New(), uuid.New()); err == nil {
		t.Error("issued a token for the nil user")
	}
	if _, _, err := e.issuer.Issue(uuid.New(), uuid.Nil, uuid.New()); err == nil {
		t.Error("issued a token for the nil tenant")
	}
	verifyOnly := *e.issuer
	es := e.es
	verifyOnly.Keys = func() *KeySet { return mustSet(t, es) }
	if _, _, err := verifyOnly.Issue(uuid.New(), uuid.New(), uuid.New()); !errorsIs(err, ErrNoSigningKey) {
		t.Errorf("verify-only set: Issue = %v, want ErrNoSigningKey", err)
	}
	retiring := e.ed
	retiring.NotAfter = e.now.Add(time.Minute) // before now + TTL
	short := *e.issuer
	short.Keys = func() *KeySet { return mustSet(t, retiring) }
	if _, _, err := short.Issue(uuid.New(), uuid.New(), uuid.New()); !errorsIs(err, ErrNoSigningKey) {
		t.Errorf("key retiring before the token expires: Issue = %v, want ErrNoSigningKey", err)
	}
}
