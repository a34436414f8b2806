package http

import (
	"encoding/json"
	"log/slog"
	"net/http"

	"github.com/tenantd/tenantd"
)

// Responses and paging, shared by every handler: a JSON answer, and the
// one list envelope {"items", "next_cursor"} of every paginated list.

// writeJSON answers v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		slog.Debug("write response", "err", err)
	}
}

// listPage reads the keyset pagination parameters limit and cursor.
func listPage(r *http.Request) (tenantd.Page, error) {
	q, err := query(r)
	if err != nil {
		return tenantd.Page{}, err
	}
	p := tenantd.Page{Cursor: q.Get("cursor")}
	if v, ok := q["limit"]; ok {
		p.Limit, err = tenantd.ParseLimit(v[0])
	}
	return p, err
}

// itemsPage is one page of a list: next_cursor is null after the last.
type itemsPage[T any] struct {
	Items      []T     `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

func pageOf[T any](items []T, next string) itemsPage[T] {
	if items == nil {
		items = []T{}
	}
	return itemsPage[T]{Items: items, NextCursor: nullString(next)}
}

func nullString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
