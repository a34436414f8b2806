package auth

import (
	"testing"

	"github.com/google/uuid"
)

func benchToken(b *testing.B) (*env, string) {
	e := newEnv(b)
	token, _, err := e.issuer.Issue(uuid.New(), uuid.New(), uuid.New())
	if err != nil {
		b.Fatal(err)
	}
	return e, token
}

func BenchmarkVerifyCold(b *testing.B) {
	e, token := benchToken(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.verifier.Verify(token); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyCached(b *testing.B) {
	e, token := benchToken(b)
	cv := NewCachingVerifier(e.verifier, 0)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := cv.Verify(token); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkIssue(b *testing.B) {
	e := newEnv(b)
	user, tenant, session := uuid.New(), uuid.New(), uuid.New()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := e.issuer.Issue(user, tenant, session); err != nil {
			b.Fatal(err)
		}
	}
}
