package postgres

import (
	"context"
	"time"

	"encoding/base64"
	"encoding/json"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tenantd/tenantd"
)

func badCursor() error {
	return tenantd.Errorf(tenantd.EBADREQUEST, `Parameter "cursor" is not a cursor this API returned.`)
}

// encodeCursor and decodeCursor make opaque page cursors: base64url of a
// small JSON object, decoded strictly.
func encodeCursor(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string, v any) error {
	if len(s) > 200 {
		return badCursor()
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return badCursor()
	}
	return nil
}

// listPage runs a keyset-paginated list query for the scope and returns up
// to limit rows and the cursor of the next page ("" on the last one). The
// query asks for limit+1 rows; the extra one only says that more follow.
func listPage[T any](ctx context.Context, db *DB, s tenantd.Scope, sql string, args []any, limit int,
	scan func(pgx.Row) (T, error), key func(T) (time.Time, uuid.UUID)) (items []T, next string, err error) {
	err = db.Run(ctx, s, Statement{SQL: sql, Args: args, Scan: func(rows pgx.Rows) error {
		for rows.Next() {
			item, err := scan(rows)
			if err != nil {
				return err
			}
			items = append(items, item)
		}
		return rows.Err()
	}})
	if err != nil {
		return nil, "", err
	}
	items, next = trimPage(items, limit, func(last T) any {
		at, id := key(last)
		return listKey{At: at, ID: id}
	})
	return items, next, nil
}

// trimPage keeps the first limit items of a query that asked for limit+1
// and returns the cursor after the last one kept, "" when none follow: the
// one place every list builds its next cursor.
func trimPage[T any](items []T, limit int, cursor func(last T) any) ([]T, string) {
	if len(items) <= limit {
		return items, ""
	}
	items = items[:limit]
	return items, encodeCursor(cursor(items[limit-1]))
}
