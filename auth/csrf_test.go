package auth_test

import (
	"bytes"
	"testing"

	"github.com/google/uuid"

	"github.com/tenantd/tenantd/auth"
)

func TestCSRFTokensAreBoundToTheSessionAndKey(t *testing.T) {
	csrf, err := auth.NewCSRFTokens(bytes.Repeat([]byte{1}, auth.MasterKeySize))
	if err != nil {
		t.Fatal(err)
	}
	other, _ := auth.NewCSRFTokens(bytes.Repeat([]byte{2}, auth.MasterKeySize))
	s1, s2 := uuid.New(), uuid.New()
	tok := csrf.Token(s1)
	if !csrf.Check(s1, tok) {
		t.Fatal("a session's own token is refused")
	}
	for name, ok := range map[string]bool{
		"another session's token":     csrf.Check(s2, tok),
		"a token under another key":   csrf.Check(s1, other.Token(s1)),
		"an empty token":              csrf.Check(s1, ""),
		"a truncated token":           csrf.Check(s1, tok[:len(tok)-2]),
		"a token that is not base64":  csrf.Check(s1, tok+"!"),
		"a random secret of its size": csrf.Check(s1, auth.NewSecret()),
	} {
		if ok {
			t.Errorf("%s is accepted", name)
		}
	}
	if _, err := auth.NewCSRFTokens(make([]byte, 16)); err == nil {
		t.Error("a short master key is accepted")
	}
}
