package tenantd

import (
	"strconv"
)

// Page asks for one page of a keyset-paginated list.
type Page struct {
	// Limit is the page size: 0 means DefaultPage.
	Limit int
	// Cursor is the next cursor of the previous page; "" for the first.
	Cursor string
}

// Every list of the API pages the same way: a limit between 1 and MaxPage
// (0 means DefaultPage) and an opaque cursor that the previous page
// returned. Cursors never carry a tenant: every query names the caller's
// tenant, so a cursor taken from another tenant's listing (or forged) only
// ever selects the caller's own rows.
const (
	DefaultPage = 50
	MaxPage     = 500
)

// PageSize checks a requested page size: 0 means DefaultPage; otherwise it
// must be between 1 and MaxPage. The one rule of every list.
func PageSize(limit int) (int, error) {
	if limit == 0 {
		return DefaultPage, nil
	}
	if limit < 1 || limit > MaxPage {
		return 0, errBadLimit()
	}
	return limit, nil
}

// ParseLimit reads the limit query parameter of a list.
func ParseLimit(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > MaxPage {
		return 0, errBadLimit()
	}
	return n, nil
}

func errBadLimit() error {
	return Errorf(EBADREQUEST, `Parameter "limit" must be an integer from 1 to %d.`, MaxPage)
}
