package postgres

import (
	"crypto/sha256"
	"net/netip"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// The canonical encoding of an audit event: the bytes its hash covers.
// docs/audit-chain.md defines it; the golden vectors in
// auditcanon_test.go pin it. The database computes it when it seals an
// event (app.audit_canonical, called by app.seal_audit_events) and verification
// computes it here, in Go, from the raw columns, so that a replaced
// database function cannot vouch for a changed row.
//
// The encoding is the text of a JSON array of sixteen values, separated by
// ", " (comma, space), in this order:
//
//	tenant_id    string, the UUID in lower case
//	seq          integer
//	id           string, the UUID in lower case
//	occurred_at  integer, microseconds since 1970-01-01T00:00:00Z
//	actor_type, actor_id, action, target_type, target_id, outcome  strings
//	flagged      true or false
//	flag_reason  string
//	ip           string, PostgreSQL's inet text: the address, then "/bits"
//	             unless the mask covers the whole address; null when unknown
//	user_agent, request_id  strings
//	changes      the jsonb value exactly as PostgreSQL renders it
//
// Strings are quoted; `"` and `\` are escaped with a backslash, backspace,
// form feed, newline, carriage return and tab as \b \f \n \r \t, other bytes
// below 0x20 as \u00xx (lower-case hex); every other byte is copied as is.
// The hash of an event is sha256(hash of the previous event || encoding);
// the first event's previous hash is empty (or the chain's origin, after a
// purge).

// chainEvent is one row of audit_events as stored.
type chainEvent struct {
	TenantID   uuid.UUID
	Seq        int64
	ID         uuid.UUID
	OccurredAt time.Time
	ActorType  string
	ActorID    string
	Action     string
	TargetType string
	TargetID   string
	Outcome    string
	Flagged    bool
	FlagReason string
	IP         netip.Prefix // the zero Prefix when the column is NULL
	UserAgent  string
	RequestID  string
	Changes    []byte // the jsonb text
	PrevHash   []byte
	Hash       []byte
}

// chainEventColumns are the columns scan reads, in its order.
const chainEventColumns = `tenant_id, seq, id, occurred_at, actor_type, actor_id, action, target_type,
       target_id, outcome, flagged, flag_reason, ip, user_agent, request_id, changes, prev_hash, hash`

func (e *chainEvent) scan(row pgx.Row) error {
	return row.Scan(&e.TenantID, &e.Seq, &e.ID, &e.OccurredAt, &e.ActorType, &e.ActorID, &e.Action,
		&e.TargetType, &e.TargetID, &e.Outcome, &e.Flagged, &e.FlagReason, &e.IP, &e.UserAgent,
		&e.RequestID, &e.Changes, &e.PrevHash, &e.Hash)
}

// canonical is the event's canonical encoding.
func (e *chainEvent) canonical() []byte {
	b := make([]byte, 0, 320+len(e.UserAgent)+len(e.Changes))
	sep := func() { b = append(b, ", "...) }
	b = append(b, '[')
	b = appendJSONString(b, e.TenantID.String())
	sep()
	b = strconv.AppendInt(b, e.Seq, 10)
	sep()
	b = appendJSONString(b, e.ID.String())
	sep()
	b = strconv.AppendInt(b, e.OccurredAt.UnixMicro(), 10)
	for _, s := range []string{e.ActorType, e.ActorID, e.Action, e.TargetType, e.TargetID, e.Outcome} {
		sep()
		b = appendJSONString(b, s)
	}
	sep()
	b = strconv.AppendBool(b, e.Flagged)
	sep()
	b = appendJSONString(b, e.FlagReason)
	sep()
	if e.IP.IsValid() {
		b = appendJSONString(b, inetText(e.IP))
	} else {
		b = append(b, "null"...)
	}
	sep()
	b = appendJSONString(b, e.UserAgent)
	sep()
	b = appendJSONString(b, e.RequestID)
	sep()
	b = append(b, e.Changes...)
	return append(b, ']')
}

// chainHash is the hash of an event whose previous event's hash is prev.
func chainHash(prev, canonical []byte) []byte {
	h := sha256.New()
	h.Write(prev)
	h.Write(canonical)
	return h.Sum(nil)
}

// appendJSONString quotes s as PostgreSQL's escape_json does.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\b':
			b = append(b, `\b`...)
		case '\f':
			b = append(b, `\f`...)
		case '\n':
			b = append(b, `\n`...)
		case '\r':
			b = append(b, `\r`...)
		case '\t':
			b = append(b, `\t`...)
		default:
			if c < 0x20 {
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			} else {
				b = append(b, c)
			}
		}
	}
	return append(b, '"')
}

// inetText renders an inet value as PostgreSQL's inet output (and abbrev)
// does: the address, then "/bits" unless the mask covers all of it, so a
// netmask is never lost.
func inetText(p netip.Prefix) string {
	a := p.Addr()
	var s string
	if a.Is4() {
		s = a.String()
	} else {
		s = ipv6Text(a.As16())
	}
	if p.Bits() != a.BitLen() {
		s += "/" + strconv.Itoa(p.Bits())
	}
	return s
}

// ipv6Text formats an IPv6 address as PostgreSQL does (its inet_net_ntop):
// lower-case hex words; the longest run of two or more zero words (the
// first of equal ones) as "::"; and the last 32 bits in dotted decimal when
// the first 96 are zero but word 6 is not, or the address is IPv4-mapped
// (::ffff:a.b.c.d). Go's netip differs on the first of these.
func ipv6Text(a [16]byte) string {
	var w [8]uint16
	for i := range w {
		w[i] = uint16(a[2*i])<<8 | uint16(a[2*i+1])
	}
	base, n := -1, 0
	for i := 0; i < len(w); {
		if w[i] != 0 {
			i++
			continue
		}
		j := i
		for j < len(w) && w[j] == 0 {
			j++
		}
		if j-i > n {
			base, n = i, j-i
		}
		i = j
	}
	if n < 2 {
		base = -1
	}
	b := make([]byte, 0, 46)
	for i := 0; i < len(w); i++ {
		if base >= 0 && i >= base && i < base+n {
			if i == base {
				b = append(b, ':')
			}
			continue
		}
		if i != 0 {
			b = append(b, ':')
		}
		if i == 6 && base == 0 && (n == 6 || n == 5 && w[5] == 0xffff) {
			b = netip.AddrFrom4([4]byte(a[12:])).AppendTo(b)
			break
		}
		b = strconv.AppendUint(b, uint64(w[i]), 16)
	}
	if base >= 0 && base+n == len(w) {
		b = append(b, ':')
	}
	return string(b)
}
