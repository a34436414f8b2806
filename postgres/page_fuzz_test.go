package postgres

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/tenantd/tenantd"
)

// FuzzDecodeCursor: no cursor, however forged, panics or decodes into a
// position the API did not produce; what decodes re-encodes to a cursor
// that decodes the same.
func FuzzDecodeCursor(f *testing.F) {
	f.Add(encodeCursor(listKey{At: time.Unix(1700000000, 0).UTC(), ID: uuid.MustParse("5f35fec1-4f92-4ee9-a9a7-4467f6956ab2")}))
	f.Add(encodeCursor(auditCursor{BeforePos: 42}))
	f.Add("")
	f.Add("garbage")
	f.Add("eyJiZWZvcmUiOi0xfQ")  // {"before":-1}
	f.Add("eyJ4IjoxfQ")          // {"x":1}
	f.Add("eyJiZWZvcmUiOjF9e30") // {"before":1}{}
	f.Fuzz(func(t *testing.T, s string) {
		if before, err := decodeAuditCursor(s); err == nil && s != "" {
			if before < 1 {
				t.Fatalf("audit cursor %q decoded to %d", s, before)
			}
			if again, err := decodeAuditCursor(encodeCursor(auditCursor{BeforePos: before})); err != nil || again != before {
				t.Fatalf("audit cursor %d does not round-trip", before)
			}
		}
		if _, k, err := parsePage(tenantd.Page{Cursor: s}); err == nil && k != nil {
			if k.At.IsZero() || k.ID == uuid.Nil {
				t.Fatalf("list cursor %q decoded to an empty position", s)
			}
			_, k2, err := parsePage(tenantd.Page{Cursor: encodeCursor(*k)})
			if err != nil || !k2.At.Equal(k.At) || k2.ID != k.ID {
				t.Fatalf("list cursor %+v does not round-trip: %v", k, err)
			}
		}
	})
}
