package postgres

import (
	"encoding/hex"
	"net/netip"
	"testing"
	"time"

	"github.com/google/uuid"
)

// goldenEvent is one test vector of the canonical encoding: a fixed event,
// its fixed encoding and its fixed hash (docs/audit-chain.md). The expected
// values were computed by PostgreSQL (app.audit_canonical and sha256), so
// they pin both sides; TestGoldenVectorsInTheDatabase checks the database
// against the same vectors.
type goldenEvent struct {
	Event     chainEvent
	Canonical string
	Hash      string // hex
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func goldenTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

var goldenTenant = uuid.MustParse("6f1c1a52-3c1e-4d53-9a4e-0d4b8e2f7a10")

// GoldenEvents are exported to the database test through export_test.go.
var goldenEvents = []goldenEvent{
	{
		Event: chainEvent{
			TenantID: goldenTenant, Seq: 7, ID: uuid.MustParse("0b7e6f43-5a2d-4c8e-b1f0-9d3c2a1e4f56"),
			OccurredAt: goldenTime("2026-03-01T12:34:56.789012Z"),
			ActorType:  "user", ActorID: "4e3a9c1d-2b7f-4a60-8e15-c0d9f8a7b6e5", Action: "workspace.updated",
			TargetType: "workspace", TargetID: "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d", Outcome: "denied",
			Flagged: true, FlagReason: "foreign_id", IP: netip.MustParsePrefix("10.1.2.3/8"),
			UserAgent: "curl/8.5 \"quoted\" \\ back\ttab\x01 é", RequestID: "req-1",
			Changes:  []byte(`{"name": {"new": "Ünïcode 😀", "old": "Old"}, "limit": 1.50}`),
			PrevHash: mustHex("6da0633528deaa0144e7b058315f0b753ec0b945163a72bf96a0d18180f9de0d"), // sha256("previous")
		},
		Canonical: `["6f1c1a52-3c1e-4d53-9a4e-0d4b8e2f7a10", 7, "0b7e6f43-5a2d-4c8e-b1f0-9d3c2a1e4f56", 1772368496789012, ` +
			`"user", "4e3a9c1d-2b7f-4a60-8e15-c0d9f8a7b6e5", "workspace.updated", "workspace", "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d", ` +
			`"denied", true, "foreign_id", "10.1.2.3/8", "curl/8.5 \"quoted\" \\ back\ttab\u0001 é", "req-1", ` +
			`{"name": {"new": "Ünïcode 😀", "old": "Old"}, "limit": 1.50}]`,
		Hash: "13edb2ea09654ec5cadb6c1cb0fa98d4867627776d5eb5a049cc7ce0a5904dc2",
	},
	{
		// The first event of a chain: no previous hash, no client address.
		Event: chainEvent{
			TenantID: goldenTenant, Seq: 1, ID: uuid.MustParse("11111111-2222-4333-8444-555555555555"),
			OccurredAt: goldenTime("1999-12-31T23:59:59.999999Z"),
			ActorType:  "system", Action: "tenant.created", TargetType: "tenant",
			TargetID: "6f1c1a52-3c1e-4d53-9a4e-0d4b8e2f7a10", Outcome: "success",
			Changes: []byte(`{}`), PrevHash: []byte{},
		},
		Canonical: `["6f1c1a52-3c1e-4d53-9a4e-0d4b8e2f7a10", 1, "11111111-2222-4333-8444-555555555555", 946684799999999, ` +
			`"system", "", "tenant.created", "tenant", "6f1c1a52-3c1e-4d53-9a4e-0d4b8e2f7a10", "success", false, "", null, "", "", {}]`,
		Hash: "3a3ddb67dd6b537791237216ee9146e512470e0a42fe0777cb81900592d34f48",
	},
	{
		// An IPv6 address with two equal runs of zero words, and every
		// escaped control character.
		Event: chainEvent{
			TenantID: goldenTenant, Seq: 42, ID: uuid.MustParse("aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"),
			OccurredAt: goldenTime("2030-06-15T00:00:00Z"),
			ActorType:  "anonymous", Action: "auth.login.failed", TargetType: "user",
			TargetID: "someone@example.com", Outcome: "failed",
			IP:        netip.MustParsePrefix("2001:db8:0:0:1:0:0:1/128"),
			UserAgent: "line\nbreak\r\b\f\x1f", RequestID: "r-42",
			Changes:  []byte(`{"reason": "bad password", "attempts": [1, 2.0, -300]}`),
			PrevHash: mustHex("074ec9ddfe4408e61a4101f7f27bfaffe71d7941c99cb730d64e03cdeeb582fc"), // sha256("forty-one")
		},
		Canonical: `["6f1c1a52-3c1e-4d53-9a4e-0d4b8e2f7a10", 42, "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee", 1907712000000000, ` +
			`"anonymous", "", "auth.login.failed", "user", "someone@example.com", "failed", false, "", "2001:db8::1:0:0:1", ` +
			`"line\nbreak\r\b\f\u001f", "r-42", {"reason": "bad password", "attempts": [1, 2.0, -300]}]`,
		Hash: "b12128f0ce8203e9cfc1dca02e1738fa4bae85a2996b9c20200b1814b7fa9062",
	},
}

func TestCanonicalGoldenVectors(t *testing.T) {
	t.Parallel()
	for _, g := range goldenEvents {
		got := g.Event.canonical()
		if string(got) != g.Canonical {
			t.Errorf("event %d:\n got %s\nwant %s", g.Event.Seq, got, g.Canonical)
		}
		if h := hex.EncodeToString(chainHash(g.Event.PrevHash, got)); h != g.Hash {
			t.Errorf("event %d: hash %s, want %s", g.Event.Seq, h, g.Hash)
		}
	}
}

// PostgreSQL's rendering of addresses, where it is easy to get wrong.
func TestInetText(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"10.1.2.3/32":          "10.1.2.3",
		"10.1.2.3/8":           "10.1.2.3/8",
		"0.0.0.0/0":            "0.0.0.0/0",
		"::/128":               "::",
		"::1/128":              "::1",
		"1::/128":              "1::",
		"::1.2.3.4/128":        "::1.2.3.4", // netip says ::102:304
		"::0.0.1.2/128":        "::102",
		"::ffff:1.2.3.4/128":   "::ffff:1.2.3.4",
		"::ffff:1.2.3.4/100":   "::ffff:1.2.3.4/100",
		"::ffff:0:0/128":       "::ffff:0.0.0.0",
		"1:0:0:1:0:0:0:1/128":  "1:0:0:1::1",
		"1:0:1:0:1:0:1:0/128":  "1:0:1:0:1:0:1:0",
		"2001:db8::1:0:0:1/64": "2001:db8::1:0:0:1/64",
		"fe80::abcd/10":        "fe80::abcd/10",
	} {
		if got := inetText(netip.MustParsePrefix(in)); got != want {
			t.Errorf("inetText(%s) = %s, want %s", in, got, want)
		}
	}
}
